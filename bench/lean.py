"""A what-if for goal 1: the same tick as procfs.read_process + read_system (same four files, same
fields, same values) read as bytes and parsed for the needed keys only, to show what the agent's
tick could cost. Not used by the agent; tests/unit/test_bench_helpers.py checks it against procfs."""
from __future__ import annotations

import os
from typing import Dict, FrozenSet, Optional

from labagent.procfs import PROCESS_FIELDS

STATUS_KEYS = {b"VmSize": "vsz_kib", b"VmRSS": "rss_kib", b"RssAnon": "rss_anon_kib", b"RssFile": "rss_file_kib"}
MEMINFO_KEYS: FrozenSet[bytes] = frozenset((
    b"MemTotal", b"MemFree", b"MemAvailable", b"Buffers", b"Cached", b"SReclaimable", b"Active", b"Inactive",
    b"Dirty", b"Committed_AS", b"AnonHugePages"))


def read_bytes(path: str) -> bytes:
    """The whole file through one fd, no text layer (a /proc file is generated on read: read to EOF)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def kib_values(data: bytes, wanted) -> Dict[bytes, int]:
    """`Key:   N kB` lines -> {key: N} for the wanted keys only."""
    out = {}
    for line in data.split(b"\n"):
        key, _, rest = line.partition(b":")
        if key in wanted:
            out[key] = int(rest.split()[0])
    return out


def parse_system(meminfo: bytes) -> Dict[str, Optional[int]]:
    """The SYSTEM_FIELDS record of procfs.read_system, from /proc/meminfo's bytes."""
    m = kib_values(meminfo, MEMINFO_KEYS)
    parts = [m.get(k) for k in (b"MemTotal", b"MemFree", b"Buffers", b"Cached")]
    used = None if None in parts else parts[0] - parts[1] - parts[2] - parts[3] - m.get(b"SReclaimable", 0)  # type: ignore[operator]
    return {
        "mem_total_kib": m.get(b"MemTotal"), "mem_free_kib": m.get(b"MemFree"),
        "mem_available_kib": m.get(b"MemAvailable"), "mem_used_kib": used, "cached_kib": m.get(b"Cached"),
        "active_kib": m.get(b"Active"), "inactive_kib": m.get(b"Inactive"), "dirty_kib": m.get(b"Dirty"),
        "committed_as_kib": m.get(b"Committed_AS"), "sys_anon_huge_kib": m.get(b"AnonHugePages"),
    }


def parse_process(stat: bytes, status: bytes, rollup: Optional[bytes]) -> Optional[Dict[str, Optional[int]]]:
    """The PROCESS_FIELDS record of procfs.read_process; None for a process without an address space
    (a zombie, or one between releasing its memory and becoming a zombie: its status has no Vm lines)."""
    fields = stat.rpartition(b")")[2].split()
    if fields[0] in (b"Z", b"X"):
        return None
    values = kib_values(status, STATUS_KEYS)
    if b"VmSize" not in values:
        return None
    huge = kib_values(rollup, (b"AnonHugePages",)).get(b"AnonHugePages") if rollup is not None else None
    record: Dict[str, Optional[int]] = {name: values.get(key) for key, name in STATUS_KEYS.items()}
    record.update({"min_flt": int(fields[7]), "maj_flt": int(fields[9]), "anon_huge_kib": huge})
    return record


def read_tick(pid: int, root: str = "/proc") -> Dict[str, Optional[int]]:
    """One tick: the process's fields (None when it is gone) and the system's, like Run.reading."""
    base = f"{root}/{pid}"
    try:
        stat = read_bytes(f"{base}/stat")
        status = read_bytes(f"{base}/status")
        try:
            rollup: Optional[bytes] = read_bytes(f"{base}/smaps_rollup")
        except (FileNotFoundError, PermissionError):
            rollup = None
        process = parse_process(stat, status, rollup)
    except (FileNotFoundError, ProcessLookupError):
        process = None
    record: Dict[str, Optional[int]] = dict.fromkeys(PROCESS_FIELDS)
    if process is not None:
        record.update(process)
    record.update(parse_system(read_bytes(f"{root}/meminfo")))
    return record
