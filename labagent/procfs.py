"""Readers of /proc for one tick: the process's memory and faults, and the system's memory.

Each reader takes a `root` (default /proc) so tests can point it at a directory of captures.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

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


def read_anon_huge_kib(pid: int, root: str = "/proc") -> Optional[int]:
    """AnonHugePages of one process (smaps_rollup); None when it is gone or the kernel has no rollup."""
    try:
        text = _read(os.path.join(root, str(pid), "smaps_rollup"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not text:
        return None  # the address space is already gone (the process is exiting)
    return parsers.parse_smaps_rollup(text, ROLLUP_KEYS).anon_huge_pages_kib


def read_system(root: str = "/proc") -> Dict[str, Optional[int]]:
    """The whole machine's memory, as /proc/meminfo says (what free and sar -r summarise)."""
    return _system_record(parsers.parse_meminfo(_read(os.path.join(root, "meminfo")), MEMINFO_KEYS))


def _system_record(info: parsers.Meminfo) -> Dict[str, Optional[int]]:
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


# --------------------------------------------------------------------------- the sampler's tick

# status and meminfo are under 2 KiB; a longer file is read again, whole. Not larger: each read makes a
# bytes of this size first, and at 16 KiB the allocation cost the 10 ms sampler ~2 µs a file.
_READ_SIZE = 4096
# `\nKey:` for each field a tick records, in the order the kernel prints them (a miss costs only a scan).
_STATUS_NEEDLES = ((b"\nVmSize:", "vsz_kib"), (b"\nVmRSS:", "rss_kib"), (b"\nRssAnon:", "rss_anon_kib"),
                   (b"\nRssFile:", "rss_file_kib"))
_MEMINFO_NEEDLES = tuple((b"\n" + key.encode() + b":", key) for key in (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Active", "Inactive", "Dirty", "SReclaimable",
    "Committed_AS", "AnonHugePages"))


def _pread_all(fd: int) -> bytes:
    """A /proc file through an fd kept open: it is generated anew by each read from offset 0."""
    data = os.pread(fd, _READ_SIZE, 0)
    size = _READ_SIZE
    while len(data) == size:
        size *= 4
        data = os.pread(fd, size, 0)
    return data


def _kib_values(data: bytes, needles) -> Dict[str, Optional[int]]:
    """{name: N} for each `\nKey:   N kB` line of data (None when the line is absent): a C-level find
    per field, no split of the ~50 lines."""
    find = data.find
    out: Dict[str, Optional[int]] = {}
    for needle, name in needles:
        at = find(needle)
        out[name] = None if at < 0 else int(data[at + len(needle):find(b"\n", at + 1)].split()[0])
    return out


def parse_tick_stat(data: bytes) -> Optional[Tuple[int, int, int, int]]:
    """(min_flt, maj_flt, vsize_bytes, rss_pages) from /proc/PID/stat's bytes; None for a process
    that is exiting (Z, X)."""
    fields = data[data.rindex(b")") + 2:].split(None, 22)
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[7]), int(fields[9]), int(fields[20]), int(fields[21])


def parse_tick_status(data: bytes) -> Optional[Dict[str, Optional[int]]]:
    """VSZ and RSS fields (KiB) from /proc/PID/status's bytes; None once the address space is gone."""
    values = _kib_values(data, _STATUS_NEEDLES)
    if values["vsz_kib"] is None:
        return None  # a zombie, or a process between releasing its memory and becoming one
    return values


def parse_tick_meminfo(data: bytes) -> Dict[str, Optional[int]]:
    """The SYSTEM_FIELDS record (what read_system returns) from /proc/meminfo's bytes."""
    m = _kib_values(b"\n" + data, _MEMINFO_NEEDLES)
    parts = (m["MemTotal"], m["MemFree"], m["Buffers"], m["Cached"])
    used = None if None in parts else parts[0] - parts[1] - parts[2] - parts[3] - (m["SReclaimable"] or 0)  # type: ignore[operator]
    return {"mem_total_kib": m["MemTotal"], "mem_free_kib": m["MemFree"], "mem_available_kib": m["MemAvailable"],
            "mem_used_kib": used, "cached_kib": m["Cached"], "active_kib": m["Active"],
            "inactive_kib": m["Inactive"], "dirty_kib": m["Dirty"], "committed_as_kib": m["Committed_AS"],
            "sys_anon_huge_kib": m["AnonHugePages"]}


class TickReader:
    """The sampler's per-tick read of one process and the system, as cheap as Python allows: the
    /proc files stay open and are re-read with one pread each (no open, no text layer), and only the
    recorded fields are parsed from the bytes. Gives what `read_process` (without smaps_rollup) and
    `read_system` give; the fds follow the process, not its PID, so a reused PID is never read.
    Takes a `root` like the other readers.

    status is re-read only when stat says the memory may have changed: its VmSize and VmRSS are
    stat's vsize and rss, and RssAnon/RssFile/RssShmem (whose sum is VmRSS) cannot move without a
    fault or a change of VmRSS. On a tick where the workload did nothing, that is one file fewer; and
    when stat's bytes are those of the last tick (a process that has not run since: its times,
    faults, sizes and state are all in them), nothing is parsed at all."""

    def __init__(self, pid: int, root: str = "/proc") -> None:
        self._meminfo = os.open(os.path.join(root, "meminfo"), os.O_RDONLY)
        self._process: Optional[Dict[str, int]] = None
        self._stat: Optional[Tuple[int, int, int, int]] = None  # the last tick's, and its status fields:
        self._sizes: Dict[str, Optional[int]] = {}
        self._stat_bytes = b""  # the last tick's stat as read, and the record it gave
        self._record: Optional[Dict[str, Optional[int]]] = None
        base = os.path.join(root, str(pid))
        try:
            self._process = {"stat": os.open(os.path.join(base, "stat"), os.O_RDONLY)}
            self._process["status"] = os.open(os.path.join(base, "status"), os.O_RDONLY)
        except (FileNotFoundError, ProcessLookupError):
            self._close_process()

    def process(self) -> Optional[Dict[str, Optional[int]]]:
        """PROCESS_FIELDS but anon_huge_kib (read apart, at most once a second); None once it is gone.
        While nothing moves it is the same dict, tick after tick: read it, do not change it."""
        if self._process is None:
            return None
        try:
            data = _pread_all(self._process["stat"])
            if data == self._stat_bytes:
                return self._record
            stat = parse_tick_stat(data)
            if stat is not None and stat != self._stat:
                sizes = parse_tick_status(_pread_all(self._process["status"]))
                self._stat, self._sizes = (stat, sizes) if sizes is not None else (None, {})
                if sizes is None:
                    stat = None
        except ProcessLookupError:  # reaped: its files answer ESRCH
            stat = None
        if stat is None:
            self._close_process()  # it does not come back
            return None
        record = dict(self._sizes)
        record["min_flt"], record["maj_flt"] = stat[0], stat[1]
        self._stat_bytes, self._record = data, record
        return record

    def system(self) -> Dict[str, Optional[int]]:
        return parse_tick_meminfo(self.system_bytes())

    def system_bytes(self) -> bytes:
        """/proc/meminfo as read, for a caller that parses it later (parse_tick_meminfo)."""
        return _pread_all(self._meminfo)

    def _close_process(self) -> None:
        for fd in (self._process or {}).values():
            os.close(fd)
        self._process = None

    def close(self) -> None:
        self._close_process()
        os.close(self._meminfo)
