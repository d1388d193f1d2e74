"""Runs ansible-playbook from the repo as a user would, in its own process group, stopped by PID."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from tests.hosts.procs import run_ansible

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMALL = {"lab_size": "8MiB", "lab_step": "4MiB", "lab_step_interval": "0.1", "lab_sample_interval": "0.1",
         "lab_pause": "0.2", "lab_tail": "0.2"}


def extra_vars(values: Dict[str, str]) -> List[str]:
    args: List[str] = []
    for key, value in values.items():
        args += ["-e", f"{key}={value}"]
    return args


def ansible_playbook(args: List[str], *, env: Optional[Dict[str, str]] = None, timeout: float = 600,
                     playbook: str = "run.yml") -> subprocess.CompletedProcess:
    """ansible-playbook PLAYBOOK ARGS from the repo root, in its own process group (killed on timeout)."""
    environment = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{os.environ['PATH']}")
    environment.update(env or {})
    done = run_ansible([str(BIN / "ansible-playbook"), playbook, *args], cwd=ROOT, env=environment, timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, (done.stdout or "") + (done.stderr or ""), "")


def task_results(output: str, task: str) -> Dict[str, str]:
    """host -> ok/changed/skipping/failed/fatal for one task of the default callback's output."""
    results: Dict[str, str] = {}
    blocks = re.split(r"^TASK \[", output, flags=re.M)
    for block in blocks:
        title = block.split("]", 1)[0]
        if title.endswith(task):
            for state, host in re.findall(r"^(ok|changed|skipping|failed|fatal): \[([^\]]+)\]", block, flags=re.M):
                results[host] = state
    return results
