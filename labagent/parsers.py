"""Pure parsers from captured text (/proc files, free, sar -r, ps, the lab's logs) to typed records.
Units are normalised here and named in each field; bad input raises ValueError naming the kind and line."""
from __future__ import annotations

import datetime
import re
import types
import typing
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

PAGE_SIZE_BYTES = 4096  # x86_64 and the lab's hosts; only used by convenience properties


def _error(kind: str, lineno: int, line: str, problem: str) -> ValueError:
    return ValueError(f"{kind}: line {lineno}: {problem}: {line!r}")


def _lines(text: str) -> List[Tuple[int, str]]:
    """(1-based line number, line without its newline) for every line of text."""
    return list(enumerate(text.splitlines(), start=1))


def _frozen_dict(values: Dict[str, typing.Any]) -> typing.Mapping[str, typing.Any]:
    return types.MappingProxyType(dict(values))


# --------------------------------------------------------------------------- /proc/PID/maps

_MAPS_RE = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) ([0-9]+)(?: +(.*))?$")


@dataclass(frozen=True)
class Mapping:
    """One line of /proc/PID/maps: a virtual address range and what backs it."""
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    pathname: str  # "" for anonymous memory; "[heap]", "[stack]", a path, maybe ending " (deleted)"

    @property
    def size_bytes(self) -> int:
        return self.end - self.start

    @property
    def deleted(self) -> bool:
        return self.pathname.endswith(" (deleted)")


def parse_maps(text: str) -> Tuple[Mapping, ...]:
    """/proc/PID/maps -> one Mapping per line (empty text, as for a kernel thread, gives ())."""
    maps = []
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        match = _MAPS_RE.match(line)
        if match is None:
            raise _error("maps", lineno, line, "not a /proc/PID/maps line")
        start, end = int(match.group(1), 16), int(match.group(2), 16)
        if end < start:
            raise _error("maps", lineno, line, "end address before start")
        # The kernel pads the pathname to a column, and leaves a trailing space when there is none.
        maps.append(Mapping(start=start, end=end, perms=match.group(3), offset=int(match.group(4), 16),
                            dev=match.group(5), inode=int(match.group(6)), pathname=match.group(7) or ""))
    return tuple(maps)


# --------------------------------------------------------------------------- free

_BINARY_SUFFIX = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_HUMAN_RE = re.compile(r"^([0-9]+(?:[.,][0-9]+)?)(B|[KMGTPE]i?)?$")
_FREE_IGNORED_ROWS = ("Low:", "High:", "Total:", "Comm:")


@dataclass(frozen=True)
class FreeMem:
    """The Mem: and Swap: rows of free(1), in bytes. exact is False when free rounded them (-h)."""
    total_bytes: int
    used_bytes: int
    free_bytes: int
    shared_bytes: int
    buff_cache_bytes: int
    available_bytes: Optional[int]  # None for the old procps layout, which has no such column
    swap_total_bytes: int
    swap_used_bytes: int
    swap_free_bytes: int
    exact: bool


def _free_number(token: str, *, plain_unit_bytes: int, si: bool) -> Tuple[int, bool]:
    """(bytes, exact) for one cell of free output: "675Mi", "8.0Mi", "0B", "1.5G" or a plain number."""
    match = _HUMAN_RE.match(token)
    if match is None:
        raise ValueError(token)
    number, suffix = match.group(1).replace(",", "."), match.group(2)
    if suffix is None:
        if "." in number:
            raise ValueError(token)
        return int(number) * plain_unit_bytes, True
    if suffix == "B":
        return int(float(number)), False
    # "Mi" is always binary; a bare "M" is binary from procps before "Mi" existed, decimal from -h --si.
    base = 1000 if (si and not suffix.endswith("i")) else 1024
    return int(round(float(number) * base ** _BINARY_SUFFIX[suffix[0]])), False


def parse_free(text: str, *, plain_unit_bytes: int = 1, si: bool = False) -> FreeMem:
    """free -b (exact) or free -h (rounded, converted to bytes); also the old procps layout with
    buffers/cached columns and a -/+ buffers/cache: row. Plain numbers are multiplied by
    plain_unit_bytes (1 for -b, 1024 for plain free); si=True reads bare K/M/G as powers of 1000."""
    columns: Optional[List[str]] = None
    mem: Optional[Dict[str, int]] = None
    swap: Optional[Dict[str, int]] = None
    exact = True
    for lineno, line in _lines(text):
        tokens = line.split()
        if not tokens or tokens[0] in _FREE_IGNORED_ROWS or line.lstrip().startswith("-/+ buffers/cache:"):
            continue
        if columns is None:
            if "total" not in tokens or "used" not in tokens:
                raise _error("free", lineno, line, "expected the header line (total used free ...)")
            columns = tokens
            continue
        if tokens[0] not in ("Mem:", "Swap:"):
            raise _error("free", lineno, line, "unexpected row")
        names = columns if tokens[0] == "Mem:" else ["total", "used", "free"]
        if len(tokens) - 1 != len(names):
            raise _error("free", lineno, line, f"expected {len(names)} numbers")
        row = {}
        for name, cell in zip(names, tokens[1:]):
            try:
                value, cell_exact = _free_number(cell, plain_unit_bytes=plain_unit_bytes, si=si)
            except ValueError:
                raise _error("free", lineno, line, f"{cell!r} is not a size") from None
            row[name] = value
            exact = exact and cell_exact
        if tokens[0] == "Mem:":
            mem = row
        else:
            swap = row
    if mem is None or swap is None:
        raise ValueError(f"free: no {'Mem:' if mem is None else 'Swap:'} row in {text[:80]!r}")
    if "buff/cache" in mem:
        buff_cache = mem["buff/cache"]
    elif "buffers" in mem and ("cached" in mem or "cache" in mem):
        buff_cache = mem["buffers"] + mem.get("cached", mem.get("cache", 0))  # old layout and free -w
    else:
        raise ValueError(f"free: no buff/cache or buffers+cached columns in header {columns!r}")
    missing = [name for name in ("total", "used", "free", "shared") if name not in mem]
    if missing:
        raise ValueError(f"free: header lacks {', '.join(missing)}: {columns!r}")
    return FreeMem(total_bytes=mem["total"], used_bytes=mem["used"], free_bytes=mem["free"],
                   shared_bytes=mem["shared"], buff_cache_bytes=buff_cache,
                   available_bytes=mem.get("available"), swap_total_bytes=swap["total"],
                   swap_used_bytes=swap["used"], swap_free_bytes=swap["free"], exact=exact)


# --------------------------------------------------------------------------- sar -r

_SAR_HEADER_RE = re.compile(r"^(\S+) (\S+) \((\S*)\)\s+(\S+)\s+(\S+)\s+\(([0-9]+) CPU\)\s*$")
_CLOCK_RE = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(?: (AM|PM))?$")
_SAR_AVERAGE = "Average:"


def _seconds_since_midnight(clock: str) -> Optional[int]:
    """"03:19:52 AM" or "15:04:05" -> seconds since midnight; None if not a clock time."""
    match = _CLOCK_RE.match(clock)
    if match is None:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if match.group(4) is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(4) == "PM" else 0)  # 12:xx AM is just after midnight
    if hour > 23 or minute > 59 or second > 60:
        return None
    return hour * 3600 + minute * 60 + second


@dataclass(frozen=True)
class SarHeader:
    """The first line of sar output: 'Linux RELEASE (HOST) DATE ARCH (N CPU)'."""
    kernel: str  # the release, e.g. 5.14.0-427.20.1.el9_4.x86_64
    hostname: str
    date: str  # as printed: 12/09/2024, 11/25/26 or 2024-12-09 depending on locale
    arch: str
    cpus: int


@dataclass(frozen=True)
class SarMemRow:
    """One row of sar -r, every column by its header name. The Average: row has seconds None."""
    time: str  # as printed: "03:19:52 AM", "15:04:05" or "Average:"
    seconds: Optional[int]  # since midnight
    values: typing.Mapping[str, float]

    def _kb(self, name: str) -> Optional[int]:
        value = self.values.get(name)
        return None if value is None else int(value)

    @property
    def kbmemfree(self) -> Optional[int]:
        return self._kb("kbmemfree")

    @property
    def kbavail(self) -> Optional[int]:
        return self._kb("kbavail")

    @property
    def kbmemused(self) -> Optional[int]:
        return self._kb("kbmemused")

    @property
    def memused_pct(self) -> Optional[float]:
        return self.values.get("%memused")

    @property
    def kbbuffers(self) -> Optional[int]:
        return self._kb("kbbuffers")

    @property
    def kbcached(self) -> Optional[int]:
        return self._kb("kbcached")

    @property
    def kbcommit(self) -> Optional[int]:
        return self._kb("kbcommit")

    @property
    def commit_pct(self) -> Optional[float]:
        return self.values.get("%commit")

    @property
    def kbactive(self) -> Optional[int]:
        return self._kb("kbactive")

    @property
    def kbinact(self) -> Optional[int]:
        return self._kb("kbinact")

    @property
    def kbdirty(self) -> Optional[int]:
        return self._kb("kbdirty")


@dataclass(frozen=True)
class SarMemReport:
    header: Optional[SarHeader]
    rows: Tuple[SarMemRow, ...]
    average: Optional[SarMemRow]


def _parse_sar_header(line: str) -> Optional[SarHeader]:
    match = _SAR_HEADER_RE.match(line)
    if match is None:
        return None
    return SarHeader(kernel=match.group(2), hostname=match.group(3), date=match.group(4),
                     arch=match.group(5), cpus=int(match.group(6)))


def parse_sar_r(text: str) -> SarMemReport:
    """sar -r [ALL] output: columns found by header name, repeated headers, LINUX RESTART, ^C and
    the Average: row handled."""
    kind = "sar -r"
    header: Optional[SarHeader] = None
    columns: Optional[List[str]] = None
    rows: List[SarMemRow] = []
    average: Optional[SarMemRow] = None
    for lineno, line in _lines(text):
        tokens = line.split()
        if not tokens or tokens[0] == "^C" or "LINUX RESTART" in line:
            continue
        if tokens[0] == _SAR_AVERAGE:
            label, rest, seconds = _SAR_AVERAGE, tokens[1:], None
        else:
            if len(tokens) > 1 and tokens[1] in ("AM", "PM"):
                label, rest = " ".join(tokens[:2]), tokens[2:]
            else:
                label, rest = tokens[0], tokens[1:]
            seconds = _seconds_since_midnight(label)
            if seconds is None:
                parsed = _parse_sar_header(line)
                if parsed is None:
                    raise _error(kind, lineno, line, "neither a sar header nor a timed row")
                if header is None:
                    header = parsed
                continue
        if rest and not _is_number(rest[0]):
            if seconds is None or "kbmemfree" not in rest:
                raise _error(kind, lineno, line, "not a memory (sar -r) column header")
            columns = rest
            continue
        if columns is None:
            raise _error(kind, lineno, line, "row before any column header")
        if len(rest) != len(columns):
            raise _error(kind, lineno, line, f"expected {len(columns)} values")
        try:
            values = {name: float(cell) for name, cell in zip(columns, rest)}
        except ValueError:
            raise _error(kind, lineno, line, "a value is not a number") from None
        row = SarMemRow(time=label, seconds=seconds, values=_frozen_dict(values))
        if seconds is not None:
            rows.append(row)
        elif average is not None:
            raise _error(kind, lineno, line, "second Average: row")
        else:
            average = row
    if header is None and not rows and average is None:
        raise ValueError(f"{kind}: no header and no rows in {text[:80]!r}")
    return SarMemReport(header=header, rows=tuple(rows), average=average)


# --------------------------------------------------------------------------- vmstat 1

@dataclass(frozen=True)
class VmstatRow:
    """One line of `vmstat N`: each column by vmstat's own header name (r, b, swpd, free, buff, cache,
    si, so, bi, bo, in, cs, us, sy, id, wa, st, and gu in newer procps). Memory columns are in KiB
    (vmstat's default unit), si/so in KiB/s, bi/bo in blocks/s, the CPU columns in percent."""
    values: Dict[str, int]


def parse_vmstat(text: str) -> Tuple[VmstatRow, ...]:
    """`vmstat N` output (its two header lines, repeated or not) -> one VmstatRow per line of numbers."""
    kind = "vmstat"
    columns: Optional[List[str]] = None
    rows = []
    for lineno, line in _lines(text):
        tokens = line.split()
        if not tokens or tokens[0] == "procs":
            continue
        if tokens[:2] == ["r", "b"]:
            columns = tokens
            continue
        if columns is None:
            raise _error(kind, lineno, line, "a row before the 'r b swpd ...' header")
        if len(tokens) != len(columns) or not all(t.isdigit() for t in tokens):
            raise _error(kind, lineno, line, f"expected {len(columns)} whole numbers")
        rows.append(VmstatRow({name: int(token) for name, token in zip(columns, tokens)}))
    if columns is None:
        raise ValueError("vmstat: no header line with 'r b swpd' (run with LC_ALL=C)")
    return tuple(rows)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- capture.sh

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DATE_RE = re.compile(
    r"^(?P<wday>[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) +(?P<day>[0-9]{1,2}) "
    r"(?P<clock>[0-9]{2}:[0-9]{2}:[0-9]{2}(?: [AP]M)?)(?: (?P<zone>[A-Za-z0-9+:_/-]+))? (?P<year>[0-9]{4})$")
_CAPTURE_RE = re.compile(
    r"^(?P<when>[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]{1,2} [0-9:]{8}(?: [AP]M)?(?: \S+)? [0-9]{4}):\s+(?P<rest>.*)$")
_FINISHED = "target process seems to be finished"


def _parse_date(when: str) -> Tuple[datetime.datetime, Optional[str]]:
    match = _DATE_RE.match(when)
    if match is None or match.group("mon") not in _MONTHS:
        raise ValueError(f"date: not a date(1) time like 'Mon Dec  9 03:19:44 AM UTC 2024': {when!r}")
    seconds = _seconds_since_midnight(match.group("clock"))
    if seconds is None:
        raise ValueError(f"date: bad clock time: {when!r}")
    try:
        day = datetime.date(int(match.group("year")), _MONTHS[match.group("mon")], int(match.group("day")))
    except ValueError:
        raise ValueError(f"date: no such day: {when!r}") from None
    if _WEEKDAYS[day.weekday()] != match.group("wday"):
        raise ValueError(f"date: weekday does not match the day: {when!r}")
    at = datetime.datetime(day.year, day.month, day.day) + datetime.timedelta(seconds=seconds)
    return at, match.group("zone")


def parse_capture_time(when: str) -> datetime.datetime:
    """'Mon Dec  9 03:19:44 AM UTC 2024' (or 24h, or without zone) -> naive datetime; the zone stays text."""
    return _parse_date(when)[0]


@dataclass(frozen=True)
class CaptureRow:
    """One line of capture.sh: date, then ps's pid comm vsz rss maj_flt min_flt, or the finished note."""
    when: str  # date(1) output as printed, zone included
    pid: Optional[int]
    comm: str
    vsz_kib: Optional[int]
    rss_kib: Optional[int]
    maj_flt: Optional[int]
    min_flt: Optional[int]
    finished: bool

    @property
    def at(self) -> datetime.datetime:
        return parse_capture_time(self.when)

    @property
    def zone(self) -> Optional[str]:
        return _parse_date(self.when)[1]


def parse_capture(text: str) -> Tuple[CaptureRow, ...]:
    """capture.sh output -> one CaptureRow per line."""
    kind = "capture"
    rows = []
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        match = _CAPTURE_RE.match(line)
        if match is None:
            raise _error(kind, lineno, line, "expected 'DATE: PID COMM VSZ RSS MAJFL MINFL'")
        when, rest = match.group("when"), match.group("rest").strip()
        try:
            _parse_date(when)
        except ValueError as exc:
            raise _error(kind, lineno, line, str(exc)) from None
        if rest == _FINISHED:
            rows.append(CaptureRow(when=when, pid=None, comm="", vsz_kib=None, rss_kib=None,
                                   maj_flt=None, min_flt=None, finished=True))
            continue
        tokens = rest.split()
        # comm may hold spaces, so the four numbers are taken from the right.
        if len(tokens) < 6 or not all(t.isdigit() for t in [tokens[0]] + tokens[-4:]):
            raise _error(kind, lineno, line, "expected PID COMM VSZ RSS MAJFL MINFL")
        vsz, rss, maj, minor = (int(t) for t in tokens[-4:])
        rows.append(CaptureRow(when=when, pid=int(tokens[0]), comm=" ".join(tokens[1:-4]), vsz_kib=vsz,
                               rss_kib=rss, maj_flt=maj, min_flt=minor, finished=False))
    return tuple(rows)


# --------------------------------------------------------------------------- ps aux

@dataclass(frozen=True)
class PsAuxRow:
    user: str
    pid: int
    cpu_pct: float
    mem_pct: float
    vsz_kib: int
    rss_kib: int
    tty: str
    stat: str
    start: str
    time: str
    command: str


def parse_ps_aux(text: str) -> Tuple[PsAuxRow, ...]:
    """ps aux / ps u output (header optional, so `ps aux | grep` lines work too)."""
    kind = "ps aux"
    rows = []
    for lineno, line in _lines(text):
        if not line.strip():
            continue
        fields = line.split(None, 10)
        if fields[:2] == ["USER", "PID"]:
            continue
        if len(fields) < 11:
            raise _error(kind, lineno, line, "expected 11 columns USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND")
        try:
            rows.append(PsAuxRow(user=fields[0], pid=int(fields[1]), cpu_pct=float(fields[2]),
                                 mem_pct=float(fields[3]), vsz_kib=int(fields[4]), rss_kib=int(fields[5]),
                                 tty=fields[6], stat=fields[7], start=fields[8], time=fields[9],
                                 command=fields[10]))
        except ValueError:
            raise _error(kind, lineno, line, "PID, %CPU, %MEM, VSZ or RSS is not a number") from None
    return tuple(rows)


# --------------------------------------------------------------------------- the lab's C program

_STACK_RE = re.compile(r"^stack: (0x[0-9a-fA-F]+): (-?[0-9]+)$")
_ALLOC_RE = re.compile(r"^Succeeded to allocate memory: address = (0x[0-9a-fA-F]+); size = (0x[0-9a-fA-F]+) \*\*\*$")
_TOUCH_RE = re.compile(r"^(.+): touched ([0-9]+)MB$")
_PROMPT_RE = re.compile(r"^\[[^\]]*\][$#]( |$)")


@dataclass(frozen=True)
class ProgramLog:
    """What the lab's allocate program printed: stack slots, the malloc result and each touch."""
    stack: Tuple[Tuple[int, int], ...]  # (address, value)
    pointer: Optional[int]
    size_bytes: Optional[int]
    touches: Tuple[Tuple[str, int], ...]  # (date as printed, MB touched so far)
    lines: Tuple[str, ...]  # every line of the program's own output


def parse_program_log(text: str) -> ProgramLog:
    """Output of ./allocate (shell prompt and command lines ignored)."""
    kind = "program log"
    stack = []
    touches = []
    kept = []
    pointer: Optional[int] = None
    size: Optional[int] = None
    for lineno, line in _lines(text):
        stripped = line.strip()
        if not stripped or _PROMPT_RE.match(stripped) or stripped.startswith("./"):
            continue
        kept.append(line)
        if stripped.startswith("stack:"):
            match = _STACK_RE.match(stripped)
            if match is None:
                raise _error(kind, lineno, line, "expected 'stack: 0xADDRESS: VALUE'")
            stack.append((int(match.group(1), 16), int(match.group(2))))
        elif stripped.startswith("Succeeded to allocate memory"):
            match = _ALLOC_RE.match(stripped)
            if match is None:
                raise _error(kind, lineno, line, "expected 'address = 0x...; size = 0x... ***'")
            if pointer is not None:
                raise _error(kind, lineno, line, "second allocation line")
            pointer, size = int(match.group(1), 16), int(match.group(2), 16)
        elif ": touched " in stripped:
            match = _TOUCH_RE.match(stripped)
            if match is None:
                raise _error(kind, lineno, line, "expected 'DATE: touched NMB'")
            touches.append((match.group(1), int(match.group(2))))
    return ProgramLog(stack=tuple(stack), pointer=pointer, size_bytes=size, touches=tuple(touches),
                      lines=tuple(kept))


# --------------------------------------------------------------------------- /proc/PID/stat

@dataclass(frozen=True)
class ProcStat:
    """/proc/PID/stat fields the lab uses (proc(5) numbering in comments)."""
    pid: int
    comm: str
    state: str
    min_flt: int  # 10
    maj_flt: int  # 12
    utime_ticks: int  # 14
    stime_ticks: int  # 15
    num_threads: int  # 20
    vsize_bytes: int  # 23
    rss_pages: int  # 24
    ppid: int = 0  # 4
    start_time_ticks: int = 0  # 22, since boot

    @property
    def rss_kib(self) -> int:
        return self.rss_pages * PAGE_SIZE_BYTES // 1024


def parse_proc_stat(text: str) -> ProcStat:
    """/proc/PID/stat; comm may hold spaces and parentheses, so it ends at the last ')'."""
    kind = "proc stat"
    line = text.strip()
    head, sep, tail = line.rpartition(")")
    pid_text, open_paren, comm = head.partition(" (")
    rest = tail.split()
    if not sep or not open_paren or len(rest) < 22:
        raise _error(kind, 1, line, "expected 'PID (COMM) STATE ...' with at least 24 fields")
    try:
        return ProcStat(pid=int(pid_text), comm=comm, state=rest[0], min_flt=int(rest[7]),
                        maj_flt=int(rest[9]), utime_ticks=int(rest[11]), stime_ticks=int(rest[12]),
                        num_threads=int(rest[17]), vsize_bytes=int(rest[20]), rss_pages=int(rest[21]),
                        ppid=int(rest[1]), start_time_ticks=int(rest[19]))
    except ValueError:
        raise _error(kind, 1, line, "a numeric field is not a number") from None


# --------------------------------------------------------------------------- "Key:  N kB" files

_KB_RE = re.compile(r"^([^:\s]+):\s+([0-9]+)(?: (kB))?\s*$")


def _wanted_kib_fields(text: str, kind: str, keys: typing.AbstractSet[str]) -> Dict[str, int]:
    """Only the named Key: N kB fields: the sampler's path, up to a hundred files a second."""
    fields: Dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            words = rest.split()
            if not words or not words[0].isdigit():
                raise ValueError(f"{kind}: not 'Key: N kB': {line!r}")
            fields[key] = int(words[0])
    return fields


def _kib_fields(text: str, kind: str, *, strict: bool, skip_first_if: Optional[re.Pattern] = None,
                unitless: bool = False, allow_empty: bool = False,
                keys: Optional[typing.AbstractSet[str]] = None) -> Dict[str, int]:
    """Key: N kB lines -> {key: N}. strict raises on other lines; unitless keeps counts with no unit;
    `keys` keeps only those fields (and checks only those lines).

    A split per line, and the regex only for the lines that do not fit (to say what is wrong)."""
    if keys is not None:
        fields = _wanted_kib_fields(text, kind, keys)
        if not fields and not allow_empty:
            raise ValueError(f"{kind}: none of {sorted(keys)} in {text[:80]!r}")
        return fields
    fields: Dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        key, colon, rest = line.partition(":")
        words = rest.split()
        if (colon and words and words[0].isdigit() and key and not key[-1:].isspace()
                and (words[1:] == ["kB"] or (unitless and len(words) == 1))):
            fields[key] = int(words[0])
            continue
        if not strict and not line.rstrip().endswith(" kB"):
            continue  # Name:, State:, masks ...: not a size
        if not line.strip():
            continue
        if lineno == 1 and skip_first_if is not None and skip_first_if.match(line):
            continue
        match = _KB_RE.match(line)
        if match is not None and (match.group(3) == "kB" or unitless):
            fields[match.group(1)] = int(match.group(2))
        elif strict:
            raise _error(kind, lineno, line, "expected 'Key: N kB'")
        else:
            raise _error(kind, lineno, line, "a kB field that is not 'Key: N kB'")
    if not fields and not allow_empty:
        raise ValueError(f"{kind}: no 'Key: N kB' fields in {text[:80]!r}")
    return fields


class _KibFields:
    fields: typing.Mapping[str, int]

    def _get(self, name: str) -> Optional[int]:
        return self.fields.get(name)


@dataclass(frozen=True)
class ProcStatus(_KibFields):
    """The kB fields of /proc/PID/status, in KiB. Absent fields (RssAnon before 4.5) read as None."""
    fields: typing.Mapping[str, int]

    @property
    def vm_size_kib(self) -> Optional[int]:
        return self._get("VmSize")

    @property
    def vm_rss_kib(self) -> Optional[int]:
        return self._get("VmRSS")

    @property
    def rss_anon_kib(self) -> Optional[int]:
        return self._get("RssAnon")

    @property
    def rss_file_kib(self) -> Optional[int]:
        return self._get("RssFile")

    @property
    def rss_shmem_kib(self) -> Optional[int]:
        return self._get("RssShmem")

    @property
    def vm_peak_kib(self) -> Optional[int]:
        return self._get("VmPeak")

    @property
    def vm_hwm_kib(self) -> Optional[int]:
        return self._get("VmHWM")


def parse_proc_status(text: str, keys: Optional[typing.AbstractSet[str]] = None) -> ProcStatus:
    """/proc/PID/status -> its kB fields as KiB ints (Name:, State:, masks ... are left out);
    with `keys`, only those fields."""
    fields = _kib_fields(text, "proc status", strict=False, allow_empty=True, keys=keys)
    # A process between releasing its memory and becoming a zombie has no kB fields at all; its
    # Name:/Pid: lines say the text is still a status file.
    if not fields and not text.startswith("Name:") and "\nPid:" not in text:
        raise ValueError(f"proc status: no 'Key: N kB' fields and no Name: in {text[:80]!r}")
    return ProcStatus(fields=_frozen_dict(fields))


_ROLLUP_HEADER_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S{4} [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ [0-9]+")


@dataclass(frozen=True)
class SmapsRollup(_KibFields):
    """/proc/PID/smaps_rollup, in KiB."""
    fields: typing.Mapping[str, int]

    @property
    def rss_kib(self) -> Optional[int]:
        return self._get("Rss")

    @property
    def pss_kib(self) -> Optional[int]:
        return self._get("Pss")

    @property
    def anonymous_kib(self) -> Optional[int]:
        return self._get("Anonymous")

    @property
    def anon_huge_pages_kib(self) -> Optional[int]:
        return self._get("AnonHugePages")


def parse_smaps_rollup(text: str, keys: Optional[typing.AbstractSet[str]] = None) -> SmapsRollup:
    """/proc/PID/smaps_rollup (its first, maps-like [rollup] line is skipped); with `keys`, only those."""
    return SmapsRollup(fields=_frozen_dict(
        _kib_fields(text, "smaps_rollup", strict=True, skip_first_if=_ROLLUP_HEADER_RE, keys=keys)))


@dataclass(frozen=True)
class Meminfo(_KibFields):
    """/proc/meminfo in KiB (HugePages_* are counts, kept as they are)."""
    fields: typing.Mapping[str, int]

    @property
    def mem_total_kib(self) -> Optional[int]:
        return self._get("MemTotal")

    @property
    def mem_free_kib(self) -> Optional[int]:
        return self._get("MemFree")

    @property
    def mem_available_kib(self) -> Optional[int]:
        return self._get("MemAvailable")

    @property
    def buffers_kib(self) -> Optional[int]:
        return self._get("Buffers")

    @property
    def cached_kib(self) -> Optional[int]:
        return self._get("Cached")

    @property
    def active_kib(self) -> Optional[int]:
        return self._get("Active")

    @property
    def inactive_kib(self) -> Optional[int]:
        return self._get("Inactive")

    @property
    def dirty_kib(self) -> Optional[int]:
        return self._get("Dirty")

    @property
    def committed_as_kib(self) -> Optional[int]:
        return self._get("Committed_AS")

    @property
    def anon_huge_pages_kib(self) -> Optional[int]:
        return self._get("AnonHugePages")

    @property
    def used_kib(self) -> Optional[int]:
        """MemTotal - MemFree - Buffers - Cached - SReclaimable: free's 'used' in procps-ng 3.3.x
        (RHEL 9). procps-ng 4 prints MemTotal - MemAvailable instead: see used_procps4_kib."""
        parts = [self._get(name) for name in ("MemTotal", "MemFree", "Buffers", "Cached")]
        if any(part is None for part in parts):
            return None
        total, free, buffers, cached = typing.cast(List[int], parts)
        return total - free - buffers - cached - (self._get("SReclaimable") or 0)

    @property
    def used_procps4_kib(self) -> Optional[int]:
        """MemTotal - MemAvailable: what free from procps-ng 4 (Debian 12) prints as 'used'."""
        total, available = self._get("MemTotal"), self._get("MemAvailable")
        return None if total is None or available is None else total - available


def parse_meminfo(text: str, keys: Optional[typing.AbstractSet[str]] = None) -> Meminfo:
    """/proc/meminfo -> {field: KiB}, HugePages_* counts included; with `keys`, only those."""
    return Meminfo(fields=_frozen_dict(_kib_fields(text, "meminfo", strict=True, unitless=True, keys=keys)))


# --------------------------------------------------------------------------- host facts

_OS_RELEASE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_os_release(text: str) -> Dict[str, str]:
    """/etc/os-release -> {KEY: value} with shell quoting removed (empty text gives {})."""
    kind = "os-release"
    result = {}
    for lineno, line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _OS_RELEASE_RE.match(stripped)
        if match is None:
            raise _error(kind, lineno, line, "expected KEY=value")
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if match.group(2)[0] == '"':
                value = re.sub(r'\\([$"\\`])', r"\1", value)
        elif value[:1] in ("'", '"'):
            raise _error(kind, lineno, line, "unterminated quote")
        result[match.group(1)] = value
    return result


def parse_thp_mode(text: str) -> str:
    """'always [madvise] never' -> 'madvise' (transparent_hugepage/enabled or defrag)."""
    selected = re.findall(r"\[([^\]\s]+)\]", text)
    if len(selected) != 1:
        raise ValueError(f"thp mode: expected exactly one [selected] word: {text.strip()!r}")
    return selected[0]


# Machine names uname(1) prints; 'unknown' is what it prints for an unknown processor/platform.
_MACHINES = frozenset((
    "x86_64", "i386", "i486", "i586", "i686", "aarch64", "aarch64_be", "arm64", "armv6l", "armv7l", "armv8l",
    "ppc", "ppc64", "ppc64le", "s390", "s390x", "riscv64", "mips", "mips64", "loongarch64", "sparc64",
    "ia64", "alpha", "unknown"))


@dataclass(frozen=True)
class UnameInfo:
    kernel_name: str
    hostname: str
    kernel_release: str
    kernel_version: str
    machine: str
    operating_system: str = ""


def parse_uname(text: str) -> UnameInfo:
    """uname -a output (GNU: the processor and platform words are left out when 'unknown')."""
    line = text.strip()
    tokens = list(re.finditer(r"\S+", line))
    words = [t.group(0) for t in tokens]
    os_name = ""
    end = len(words)
    if words and words[-1] not in _MACHINES:
        os_name, end = words[-1], end - 1
    first_machine = end
    while first_machine > 4 and end - first_machine < 3 and words[first_machine - 1] in _MACHINES:
        first_machine -= 1
    if len(words) < 5 or first_machine == end:
        raise _error("uname -a", 1, line, "expected 'NAME HOST RELEASE VERSION... MACHINE [OS]'")
    version = line[tokens[3].start():tokens[first_machine - 1].end()]
    return UnameInfo(kernel_name=words[0], hostname=words[1], kernel_release=words[2],
                     kernel_version=version, machine=words[first_machine], operating_system=os_name)
