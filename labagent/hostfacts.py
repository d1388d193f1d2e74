"""Facts about the host that explain its numbers: kernel, distro, THP, page size, glibc, EC2 type.

Readers take `root` (default /) so tests point them at a directory tree.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Dict, Optional

from . import parsers

IMDS = "http://169.254.169.254"


def _read(root: str, path: str) -> Optional[str]:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def looks_like_ec2(root: str = "/") -> bool:
    """True only where the firmware says EC2, so the metadata service is never asked elsewhere."""
    vendor = (_read(root, "/sys/devices/virtual/dmi/id/sys_vendor") or "").strip()
    asset = (_read(root, "/sys/devices/virtual/dmi/id/board_asset_tag") or "").strip()
    uuid = (_read(root, "/sys/hypervisor/uuid") or "").strip().lower()
    return vendor == "Amazon EC2" or asset.startswith("i-") or uuid.startswith("ec2")


def ec2_instance_type(timeout: float = 1.0) -> Optional[str]:
    """The instance type from IMDSv2 (token first), or None: never fatal, never slow."""
    # Imported here, on EC2 only: urllib.request is a tenth of check-tools' start-up elsewhere.
    import urllib.error
    import urllib.request

    try:
        token_req = urllib.request.Request(
            f"{IMDS}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(token_req, timeout=timeout) as resp:
            token = resp.read().decode()
        req = urllib.request.Request(f"{IMDS}/latest/meta-data/instance-type",
                                     headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read().decode().strip() or None
    except (OSError, urllib.error.URLError, ValueError):
        return None


def read_host_facts(root: str = "/", ask_imds: bool = True) -> Dict[str, object]:
    os_release = parsers.parse_os_release(_read(root, "/etc/os-release") or "")
    meminfo = parsers.parse_meminfo(_read(root, "/proc/meminfo") or "MemTotal: 0 kB\n")
    cpu_model = None
    for line in (_read(root, "/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "CPU part", "Model") and value.strip():
            cpu_model = value.strip()
            break
    thp = _read(root, "/sys/kernel/mm/transparent_hugepage/enabled")
    pmd = (_read(root, "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") or "").strip()
    defrag = _read(root, "/sys/kernel/mm/transparent_hugepage/defrag")
    overcommit = (_read(root, "/proc/sys/vm/overcommit_memory") or "").strip()
    libc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    on_ec2 = looks_like_ec2(root)
    return {
        "hostname": (_read(root, "/proc/sys/kernel/hostname") or platform.node()).strip(),
        "kernel": (_read(root, "/proc/sys/kernel/osrelease") or platform.release()).strip(),
        "distro": os_release.get("PRETTY_NAME") or os_release.get("NAME"),
        "distro_id": os_release.get("ID"),
        "distro_version": os_release.get("VERSION_ID"),
        "os_family": _os_family(os_release),
        "arch": platform.machine(),
        "page_size": os.sysconf("SC_PAGE_SIZE"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "mem_total_kib": meminfo.mem_total_kib,
        "thp_enabled": parsers.parse_thp_mode(thp) if thp else None,
        "thp_defrag": parsers.parse_thp_mode(defrag) if defrag else None,
        "thp_pmd_size": int(pmd) if pmd.isdigit() else None,
        "overcommit_memory": int(overcommit) if overcommit.isdigit() else None,
        "glibc": libc,
        # sar prints local wall-clock times: the offset maps them onto the run's phases.
        "utc_offset_s": time.localtime().tm_gmtoff,
        "timezone": time.strftime("%Z"),
        "on_ec2": on_ec2,
        "ec2_instance_type": ec2_instance_type() if (on_ec2 and ask_imds) else None,
    }


def os_family(root: str = "/") -> Optional[str]:
    """RedHat or Debian (Ansible's os_family names) from /etc/os-release; None for any other."""
    return _os_family(parsers.parse_os_release(_read(root, "/etc/os-release") or ""))


def _os_family(os_release: Dict[str, str]) -> Optional[str]:
    ids = " ".join([os_release.get("ID", ""), os_release.get("ID_LIKE", "")]).split()
    if any(i in ("rhel", "fedora", "centos") for i in ids):
        return "RedHat"
    if any(i in ("debian", "ubuntu") for i in ids):
        return "Debian"
    return None
