"""The verbatim captures, read for the writeup: maps lines and their changes, sar's rows split by
phase (sar prints local time), free's cells, and the capture.sh lines worth pointing at."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import parsers
from .formatting import num


def maps_range(mapping: parsers.Mapping) -> str:
    """The address range as /proc/PID/maps prints it (at least 8 hex digits)."""
    return f"{mapping.start:08x}-{mapping.end:08x}"


def maps_diff(before: str, after: str) -> str:
    """Every line of `after`, prefixed ' ' if it was in `before`, '+' if new or changed, with the
    lines it replaced as '-' (a ```diff block colours them)."""
    old, new = before.splitlines(), after.splitlines()
    out: List[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(" " + line for line in new[j1:j2])
            continue
        out.extend("-" + line for line in old[i1:i2])
        out.extend("+" + line for line in new[j1:j2])
    return "\n".join(out) + "\n"


def maps_excerpt(before: Optional[str], after: str, keep: Sequence[str] = ("[heap]",), removed: bool = True) -> str:
    """The lines of `after` that prove a point: those named in `keep` (by pathname) and, when
    `before` is given, the lines that changed, the new ones marked '+' and (with `removed`) each
    line they replaced marked '-'."""
    old = before.splitlines() if before else []
    new = after.splitlines()
    out: List[str] = []
    if before is None:
        return "\n".join(line for line in new if line.split()[-1:] and line.split()[-1] in keep) + "\n"
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(" " + line for line in new[j1:j2] if line.split()[-1:] and line.split()[-1] in keep)
            continue
        if removed:
            out.extend("-" + line for line in old[i1:i2])
        out.extend("+" + line for line in new[j1:j2])
    return "\n".join(out) + "\n"


_SAR_ROW_RE = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(?: ([AP]M))?\s+(\S.*)$")


def sar_clock(line: str) -> Optional[Tuple[int, bool]]:
    """(seconds since midnight, is a data row) for a timed sar line; None for other lines."""
    match = _SAR_ROW_RE.match(line)
    if match is None:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if match.group(4) is not None:
        hour = hour % 12 + (12 if match.group(4) == "PM" else 0)
    rest = match.group(5)
    return hour * 3600 + minute * 60 + second, rest[:1].isdigit()


# How far sar's rows run behind its start: sar starts sadc (a fork and an exec) before the first read,
# then reads once an interval on that grid. A row is placed at (start + this) modulo 1 s in its second.
SAR_LAG_S = 0.01


def _sar_wall(seconds: int, first_local: float, utc_offset_s: int, started_wall: Optional[float] = None) -> float:
    """The epoch time of a sar row labelled `seconds` since local midnight, on the run's day (the day
    after, if the run crossed midnight). A row labelled HH:MM:SS was taken within that second (sar
    prints the time of day cut to the second). `sar -r 1` samples once a second from its start, so with
    the wall time sar was started at (results.json tools.sar.started_wall) a row was taken at that
    start's fraction of a second, SAR_LAG_S later (a start at 14.285 gives rows at 15.295, 16.295,
    ...); without it, the middle of the second is the best guess."""
    day0 = (first_local // 86400) * 86400
    local = day0 + seconds
    if local < first_local - 43200:
        local += 86400
    second = local - utc_offset_s  # the epoch time the label's second began
    if started_wall is None:
        return second + 0.5
    return second + (started_wall + SAR_LAG_S) % 1.0


@dataclass(frozen=True)
class PhaseWindow:
    name: str
    start_wall: float
    end_wall: float


def sar_by_phase(text: str, windows: Sequence[PhaseWindow], utc_offset_s: int,
                 started_wall: Optional[float] = None) -> Dict[str, Any]:
    """Splits sar's verbatim output by phase. sar prints the local time of day: the phases' epoch
    times plus the host's UTC offset place each row, at sar's start's fraction of a second (_sar_wall).
    Returns {phase: text (sar's first line, the
    column header and the phase's rows)}, and counts of rows before the first and after the last phase."""
    result: Dict[str, Any] = {"phases": {}, "rows": {}, "before": 0, "after": 0, "header": None}
    if not windows:
        return result
    lines = text.splitlines()
    first_local = windows[0].start_wall + utc_offset_s
    header: Optional[str] = None
    columns: Optional[str] = None
    chunks: Dict[str, List[str]] = {}
    shown_columns: Dict[str, Optional[str]] = {}
    counts: Dict[str, int] = {}
    for line in lines:
        clock = sar_clock(line)
        if clock is None:
            if line.startswith("Linux "):
                header = line
            continue
        seconds, is_row = clock
        if not is_row:
            columns = line
            continue
        wall = _sar_wall(seconds, first_local, utc_offset_s, started_wall)
        name = next((w.name for w in reversed(windows) if wall >= w.start_wall), None)
        if name is None:
            result["before"] += 1
            continue
        if wall > windows[-1].end_wall and name == windows[-1].name:
            result["after"] += 1
            continue
        chunk = chunks.setdefault(name, [header] if header else [])
        if columns and shown_columns.get(name) != columns:  # each capture's own column header
            chunk.append(columns)
            shown_columns[name] = columns
        chunk.append(line)
        counts[name] = counts.get(name, 0) + 1
    result["header"] = header
    result["phases"] = {name: "\n".join(chunk) + "\n" for name, chunk in chunks.items()}
    result["rows"] = counts
    return result


def _table_cells(text: str) -> Dict[str, Dict[str, str]]:
    """free's Mem:/Swap: rows as {row: {column: cell as printed}}."""
    rows: Dict[str, Dict[str, str]] = {}
    columns: Optional[List[str]] = None
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if columns is None and "total" in tokens:
            columns = tokens
            continue
        if columns is not None and tokens[0].endswith(":"):
            rows[tokens[0].rstrip(":")] = dict(zip(columns if tokens[0] == "Mem:" else columns[:3], tokens[1:]))
    return rows


def free_cell(text: Optional[str], column: str) -> Optional[str]:
    """One cell of free's Mem: row as printed ('675Mi')."""
    if not text:
        return None
    return _table_cells(text).get("Mem", {}).get(column)


def capture_highlights(text: Optional[str]) -> Dict[str, Any]:
    """The capture.sh lines worth pointing at, as the original did: where VSZ jumps (malloc),
    where RSS starts to grow (the first touch), and the last line."""
    out: Dict[str, Any] = {"jump": None, "growth": None, "finished": None, "rows": 0}
    if not text:
        return out
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        rows = parsers.parse_capture(text)
    except ValueError:
        return out
    out["rows"] = len(rows)
    live = [(line, row) for line, row in zip(lines, rows) if not row.finished]
    if live:
        first = live[0][1]
        for index, (line, row) in enumerate(live):
            if index and out["jump"] is None and row.vsz_kib != first.vsz_kib:
                prev = live[index - 1][1]
                out["jump"] = {"line": line, "vsz_before": num(prev.vsz_kib), "vsz_after": num(row.vsz_kib),
                               "rss_before": num(prev.rss_kib), "rss_after": num(row.rss_kib),
                               "rss_same": prev.rss_kib == row.rss_kib, "min_flt_before": num(prev.min_flt),
                               "min_flt_after": num(row.min_flt)}
            if out["jump"] is not None and out["growth"] is None and index and \
                    (row.rss_kib or 0) > (live[index - 1][1].rss_kib or 0) and row.vsz_kib == live[index - 1][1].vsz_kib:
                prev = live[index - 1][1]
                out["growth"] = {"line": line, "rss_before": num(prev.rss_kib), "rss_after": num(row.rss_kib),
                                 "min_flt_before": num(prev.min_flt), "min_flt_after": num(row.min_flt),
                                 "maj_flt_before": num(prev.maj_flt), "maj_flt_after": num(row.maj_flt)}
    finished = [line for line, row in zip(lines, rows) if row.finished]
    out["finished"] = finished[0] if finished else None
    return out
