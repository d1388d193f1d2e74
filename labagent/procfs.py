"""Readers of /proc for one tick: the process's memory and faults, and the system's memory.

Each reader takes a `root` (default /proc) so tests can point it at a directory of captures.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from . import parsers

# The per-tick record: these keys, in this order, are the columns of samples.csv.
PROCESS_FIELDS = (
    "vsz_kib", "rss_kib", "rss_anon_kib", "rss_file_kib", "min_flt", "maj_flt", "anon_huge_kib",
)
SYSTEM_FIELDS = (
    "mem_total_kib", "mem_free_kib", "mem_available_kib", "mem_used_kib", "cached_kib",
    "active_kib", "inactive_kib", "dirty_kib", "committed_as_kib", "sys_anon_huge_kib",
)


# Only the fields a tick records are parsed: the sampler runs up to a hundred times a second.
STATUS_KEYS = frozenset(("VmSize", "VmRSS", "RssAnon", "RssFile"))
ROLLUP_KEYS = frozenset(("AnonHugePages",))
MEMINFO_KEYS = frozenset(("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SReclaimable", "Active",
                          "Inactive", "Dirty", "Committed_AS", "AnonHugePages"))


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def read_process(pid: int, root: str = "/proc", with_rollup: bool = True) -> Optional[Dict[str, Optional[int]]]:
    """VSZ, RSS, faults and huge pages of one process; None once the process is gone.

    with_rollup=False skips smaps_rollup (anon_huge_kib None): the kernel walks every page table
    entry to answer it, which costs more than the rest of the tick on a large touched region."""
    base = os.path.join(root, str(pid))
    try:
        stat = parsers.parse_proc_stat(_read(os.path.join(base, "stat")))
        if stat.state in ("Z", "X"):
            return None  # exiting: the address space is already gone
        status = parsers.parse_proc_status(_read(os.path.join(base, "status")), STATUS_KEYS)
        rollup: Optional[parsers.SmapsRollup] = None
        if with_rollup:
            try:
                rollup = parsers.parse_smaps_rollup(_read(os.path.join(base, "smaps_rollup")), ROLLUP_KEYS)
            except (FileNotFoundError, PermissionError):
                rollup = None  # kernels before 4.14 have no smaps_rollup
    except (FileNotFoundError, ProcessLookupError):
        return None
    if status.vm_size_kib is None:
        return None  # a zombie: the address space is already gone
    return {
        "vsz_kib": status.vm_size_kib,
        "rss_kib": status.vm_rss_kib,
        "rss_anon_kib": status.rss_anon_kib,
        "rss_file_kib": status.rss_file_kib,
        "min_flt": stat.min_flt,
        "maj_flt": stat.maj_flt,
        "anon_huge_kib": rollup.anon_huge_pages_kib if rollup is not None else None,
    }


def read_system(root: str = "/proc") -> Dict[str, Optional[int]]:
    """The whole machine's memory, as /proc/meminfo says (what free and sar -r summarise)."""
    info = parsers.parse_meminfo(_read(os.path.join(root, "meminfo")), MEMINFO_KEYS)
    return {
        "mem_total_kib": info.mem_total_kib,
        "mem_free_kib": info.mem_free_kib,
        "mem_available_kib": info.mem_available_kib,
        "mem_used_kib": info.used_kib,
        "cached_kib": info.cached_kib,
        "active_kib": info.active_kib,
        "inactive_kib": info.inactive_kib,
        "dirty_kib": info.dirty_kib,
        "committed_as_kib": info.committed_as_kib,
        "sys_anon_huge_kib": info.anon_huge_pages_kib,
    }


def read_maps(pid: int, root: str = "/proc") -> str:
    """The verbatim /proc/PID/maps text."""
    return _read(os.path.join(root, str(pid), "maps"))
