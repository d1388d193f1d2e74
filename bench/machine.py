"""The machine the figures were measured on: they mean little without it."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from typing import Dict, Optional

from labagent import hostfacts


def _first_line(argv) -> Optional[str]:
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=10, check=False)
    except OSError:
        return None
    return next((line.strip() for line in done.stdout.splitlines() if line.strip()), None)


def describe() -> Dict[str, object]:
    """CPU model, cores, kernel, distro, Python, tool versions, load and date (UTC)."""
    facts = hostfacts.read_host_facts("/", ask_imds=False)
    try:
        from ansible.release import __version__ as ansible_version  # the controller's venv
    except ImportError:
        ansible_version = None
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": facts.get("cpu_model"),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "distro": facts.get("distro"),
        "arch": facts.get("arch"),
        "mem_total_kib": facts.get("mem_total_kib"),
        "thp_enabled": facts.get("thp_enabled"),
        "python": sys.version.split()[0],
        "ansible_core": ansible_version,
        "procps": _first_line(["ps", "--version"]),
        "sysstat": _first_line(["pidstat", "-V"]),
        "loadavg_at_start": os.getloadavg(),
    }
