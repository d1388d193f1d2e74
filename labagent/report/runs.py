"""What a loaded run says before any wording: its summary (recomputed when the agent stopped
early), its phases as time windows, and the columns the plots draw."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from .. import analysis, parsers
from .captures import PhaseWindow

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


def _int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def _delta(after: Optional[Mapping[str, Any]], before: Optional[Mapping[str, Any]], key: str) -> Optional[int]:
    if not after or not before or after.get(key) is None or before.get(key) is None:
        return None
    return int(after[key]) - int(before[key])


def summary_of(data: Mapping[str, Any]) -> Dict[str, Any]:
    """results.json's summary. When the run stopped before its `touched` snapshot, the same analysis
    with the last step's reading (taken right after that step) standing in for it, and
    `touch_from_step` set; when the agent was killed before its analysis, that analysis."""
    snaps = data.get("snapshots") or {}
    steps = data.get("steps") or []
    from_step = "touched" not in snaps and bool(steps) and steps[-1].get("rss_kib") is not None
    if data.get("summary") and not from_step:
        return dict(data["summary"], touch_from_step=False)
    host = data.get("host") or {}
    params = data.get("params") or {}
    pointer = (data.get("workload") or {}).get("pointer")
    readings = {k: v.get("reading") or {} for k, v in snaps.items()}
    if from_step:
        last = steps[-1]
        readings["touched"] = {key: last.get(key) for key in ("rss_kib", "min_flt", "anon_huge_kib")}
    summary = analysis.summarize(
        snapshots=readings,
        maps_before=parsers.parse_maps(snaps["baseline"]["maps"]) if (snaps.get("baseline") or {}).get("maps") else (),
        maps_after=parsers.parse_maps(snaps["allocated"]["maps"]) if (snaps.get("allocated") or {}).get("maps") else (),
        pointer=int(pointer, 16) if pointer else None, size_bytes=int(params.get("size_bytes") or 0),
        touched_bytes=max((int(s["bytes"]) for s in steps), default=0), thp_enabled=host.get("thp_enabled"),
        page_size=int(host.get("page_size") or 4096), samples=data.get("samples") or [], steps=steps)
    summary["touch_from_step"] = from_step
    return summary


def _windows(data: Mapping[str, Any]) -> List[PhaseWindow]:
    """The phases as epoch intervals; a phase the agent never closed lasts until the next one or the
    last sample."""
    phases = data.get("phases") or []
    samples = data.get("samples") or []
    windows = []
    for index, phase in enumerate(phases):
        start = phase.get("start_wall")
        end = phase.get("end_wall")
        if start is None:
            continue
        if end is None:  # the agent was killed inside this phase: it lasted until the last sample
            nxt = phases[index + 1].get("start_wall") if index + 1 < len(phases) else None
            last = samples[-1].get("wall") if samples else None
            end = nxt if nxt is not None else (last if last is not None and last >= start else start)
        windows.append(PhaseWindow(phase["name"], float(start), float(end)))
    return windows


def _phase_t(data: Mapping[str, Any], window: PhaseWindow) -> Tuple[Optional[float], Optional[float]]:
    phase = next((p for p in data.get("phases") or [] if p.get("name") == window.name), {})
    start, end = phase.get("start"), phase.get("end")
    if end is None and start is not None:
        end = start + (window.end_wall - window.start_wall)
    return start, end


def series(data: Mapping[str, Any]) -> Dict[str, Any]:
    """Columns for the plots: t (s since the run began) and the sample keys, None where not captured;
    phases as (name, start, end) in the same seconds."""
    samples = data.get("samples") or []
    out: Dict[str, Any] = {"t": [s.get("t") for s in samples]}
    for key in PROCESS_SERIES + SYSTEM_SERIES:
        out[key] = [s.get(key) for s in samples]
    windows = _windows(data)
    phases = []
    for window in windows:
        start, end = _phase_t(data, window)
        if start is not None:
            phases.append((window.name, float(start), float(end if end is not None else start)))
    out["phases"] = phases
    touching = next((p for p in phases if p[0] == "touching"), None)
    out["touch_start"] = touching[1] if touching else None
    summary = summary_of(data)
    out["fault_mode"] = summary.get("fault_mode")
    # the faults plot's reference lines over the touch phase: one fault per page, one per huge page
    host = data.get("host") or {}
    page = int(host.get("page_size") or 4096)
    allocated = ((data.get("snapshots") or {}).get("allocated") or {}).get("reading") or {}
    touched = int(summary.get("touched_bytes") or 0)
    out["reference"] = {
        "start": touching[1], "end": touching[2], "min_flt": allocated.get("min_flt"),
        "pages": -(-touched // page), "huge_pages": -(-touched // int(host.get("thp_pmd_size") or huge_page_size(page))),
        "page_kib": page // KIB, "huge_kib": int(host.get("thp_pmd_size") or huge_page_size(page)) // KIB,
    } if touching and touched and allocated.get("min_flt") is not None else None
    return out
