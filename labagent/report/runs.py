"""What a loaded run says before any wording: its summary (recomputed when the agent stopped
early), its phases as time windows, and the columns the plots draw."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .. import analysis, parsers
from ..record import RecordedPhase, RecordingRecord, RunRecord
from .captures import PhaseWindow

# results.json as the report reads it: record.from_json's typed records, samples filled in
# (results.load_record).
Record = Union[RunRecord, RecordingRecord]

KIB = 1024
# Sample columns the plots draw.
PROCESS_SERIES = ("vsz_kib", "rss_kib", "min_flt", "anon_huge_kib")
SYSTEM_SERIES = ("mem_used_kib", "mem_available_kib", "committed_as_kib")


def huge_page_size(page_size: int) -> int:
    """The size of a transparent huge page: one page-middle-directory entry, i.e. a page-table page's
    worth of pages (page_size / 8 entries of 8 bytes): 2 MiB with 4 KiB pages, 32 MiB with 16 KiB,
    512 MiB with 64 KiB."""
    return page_size * (page_size // 8)


def expected_faults(start: int, end: int, pointer: int, touched: int, page_size: int) -> Dict[str, Optional[int]]:
    """Faults that writing [pointer, pointer + touched) would take inside the mapping [start, end):
    `base`, one per page; `huge`, one per huge page where the mapping has aligned huge-page ranges,
    one per page at its unaligned head and tail."""
    if touched <= 0 or pointer < start:
        return {"base": None, "huge": None}
    huge = huge_page_size(page_size)
    first, last = pointer, pointer + touched  # [first, last)
    base = -(-(last - (first - first % page_size)) // page_size)
    huge_lo = -(-start // huge) * huge  # the mapping's huge-page-aligned interior
    huge_hi = (end // huge) * huge
    count = 0
    if huge_hi > huge_lo:
        lo, hi = max(first, huge_lo), min(last, huge_hi)
        if hi > lo:
            count += -(-(hi - (lo - lo % huge)) // huge)
        for a, b in ((first, min(last, huge_lo)), (max(first, huge_hi), last)):
            if b > a:
                count += -(-(b - (a - a % page_size)) // page_size)
    else:
        count = base
    return {"base": base, "huge": count}


def phase_end(phase: RecordedPhase, samples: Any) -> Optional[float]:
    """A recording's phase's end; the last sample's time when the recorder was killed inside it."""
    if phase.end is not None:
        return float(phase.end)
    last = samples[-1].get("t") if samples else None
    return float(last) if last is not None else phase.start


def recording_length(rec: RecordingRecord) -> Optional[float]:
    """How long a recording lasted: the end of its last phase (the writeup's and the index's length)."""
    return phase_end(rec.phases[-1], rec.samples or ()) if rec.phases else None


def _int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _delta(after: Optional[Mapping[str, Any]], before: Optional[Mapping[str, Any]], key: str) -> Optional[int]:
    if not after or not before or after.get(key) is None or before.get(key) is None:
        return None
    return int(after[key]) - int(before[key])


def reading_of(rec: Record, name: str) -> Dict[str, Any]:
    """The reading of the snapshot `name` (procfs fields and the phase), {} when it was not taken."""
    snap = rec.snapshots.get(name)
    return dict(snap.reading) if snap is not None else {}


def maps_of(rec: Record, name: str) -> Optional[str]:
    """The maps text results.json keeps for the snapshot `name` (raw/maps-<name>.txt is the same)."""
    snap = rec.snapshots.get(name)
    return snap.maps if snap is not None else None


def variant_of(rec: Optional[Record]) -> Optional[str]:
    """The variant a run ran; None for a recording (or no record)."""
    return rec.params.variant if isinstance(rec, RunRecord) else None


def knob(rec: Record, name: str) -> Any:
    """A recorded parameter by name (RunParams' fields; a recording's own params), None when absent."""
    return getattr(rec.params, name, None) if isinstance(rec, RunRecord) else rec.params.get(name)


def pointer_of(rec: Record) -> Optional[str]:
    """The block's address as allocate.c printed it (hex), when the run got that far."""
    workload = rec.workload if isinstance(rec, RunRecord) else None
    return workload.pointer if workload is not None else None


def summary_of(rec: Record) -> Dict[str, Any]:
    """results.json's summary. When the run stopped before its `touched` snapshot, the same analysis
    with the last step's reading (taken right after that step) standing in for it, and
    `touch_from_step` set; when the agent was killed before its analysis, that analysis."""
    snaps = rec.snapshots
    steps = [dataclasses.asdict(s) if dataclasses.is_dataclass(s) else dict(s) for s in rec.steps]
    from_step = "touched" not in snaps and bool(steps) and steps[-1].get("rss_kib") is not None
    if rec.summary and not from_step:
        return dict(rec.summary, touch_from_step=False)
    host = rec.host
    pointer = pointer_of(rec)
    readings = {k: dict(v.reading) for k, v in snaps.items()}
    if from_step:
        last = steps[-1]
        readings["touched"] = {key: last.get(key) for key in ("rss_kib", "min_flt", "anon_huge_kib")}
    maps_before, maps_after = maps_of(rec, "baseline"), maps_of(rec, "allocated")
    summary = analysis.summarize(
        snapshots=readings,
        maps_before=parsers.parse_maps(maps_before) if maps_before else (),
        maps_after=parsers.parse_maps(maps_after) if maps_after else (),
        pointer=int(pointer, 16) if pointer else None, size_bytes=int(knob(rec, "size_bytes") or 0),
        touched_bytes=max((int(s["bytes"]) for s in steps), default=0), thp_enabled=host.get("thp_enabled"),
        page_size=int(host.get("page_size") or 4096), samples=list(rec.samples or ()), steps=steps)
    summary["touch_from_step"] = from_step
    return summary


def _windows(rec: Record) -> List[PhaseWindow]:
    """The phases as epoch intervals; a phase the agent never closed lasts until the next one or the
    last sample."""
    phases = rec.phases
    samples = rec.samples or ()
    windows = []
    for index, phase in enumerate(phases):
        start = phase.start_wall
        end = phase.end_wall
        if start is None:
            continue
        if end is None:  # the agent was killed inside this phase: it lasted until the last sample
            nxt = phases[index + 1].start_wall if index + 1 < len(phases) else None
            last = samples[-1].get("wall") if samples else None
            end = nxt if nxt is not None else (last if last is not None and last >= start else start)
        windows.append(PhaseWindow(phase.name, float(start), float(end)))
    return windows


def _phase_t(rec: Record, window: PhaseWindow) -> Tuple[Optional[float], Optional[float]]:
    phase = next((p for p in rec.phases if p.name == window.name), None)
    start, end = (phase.start, phase.end) if phase is not None else (None, None)
    if end is None and start is not None:
        end = start + (window.end_wall - window.start_wall)
    return start, end


def series(rec: Record) -> Dict[str, Any]:
    """Columns for the plots: t (s since the run began) and the sample keys, None where not captured;
    phases as (name, start, end) in the same seconds."""
    samples = rec.samples or ()
    out: Dict[str, Any] = {"t": [s.get("t") for s in samples]}
    for key in PROCESS_SERIES + SYSTEM_SERIES:
        out[key] = [s.get(key) for s in samples]
    windows = _windows(rec)
    phases = []
    for window in windows:
        start, end = _phase_t(rec, window)
        if start is not None:
            phases.append((window.name, float(start), float(end if end is not None else start)))
    out["phases"] = phases
    touching = next((p for p in phases if p[0] == "touching"), None)
    out["touch_start"] = touching[1] if touching else None
    summary = summary_of(rec)
    out["fault_mode"] = summary.get("fault_mode")
    # the faults plot's reference lines over the touch phase: one fault per page, one per huge page
    host = rec.host
    page = int(host.get("page_size") or 4096)
    allocated = reading_of(rec, "allocated")
    touched = int(summary.get("touched_bytes") or 0)
    out["reference"] = {
        "start": touching[1], "end": touching[2], "min_flt": allocated.get("min_flt"),
        "pages": -(-touched // page), "huge_pages": -(-touched // int(host.get("thp_pmd_size") or huge_page_size(page))),
        "page_kib": page // KIB, "huge_kib": int(host.get("thp_pmd_size") or huge_page_size(page)) // KIB,
    } if touching and touched and allocated.get("min_flt") is not None else None
    return out
