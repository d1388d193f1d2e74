"""What a run shows, computed from parsed captures: pure functions, no I/O.

The same functions read a live run and the original lab note's captures (tests feed them both).
"""
from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence

from .parsers import Mapping

KIB = 1024
MIB = 1024 * 1024
# A touch that maps at least this much per fault is being served by huge pages (2 MiB on x86_64
# and on arm64 with 4 KiB base pages); base pages give one fault per page.
HUGE_GRANULARITY_KIB = 512


def find_region(before: Sequence[Mapping], after: Sequence[Mapping],
                pointer: Optional[int]) -> Optional[Dict[str, object]]:
    """The mapping malloc's pointer landed in, and whether it is new, grown, or `[heap]`.

    Without a pointer (an old capture), the largest mapping that is new or grew is taken.
    """
    old = {(m.start, m.end, m.pathname) for m in before}
    changed = [m for m in after if (m.start, m.end, m.pathname) not in old]
    target: Optional[Mapping] = None
    if pointer is not None:
        target = next((m for m in after if m.start <= pointer < m.end), None)
    if target is None and changed:
        target = max(changed, key=lambda m: m.size_bytes)
    if target is None:
        return None
    overlapping = [m for m in before if m.start < target.end and target.start < m.end]
    grown_from = overlapping[0] if overlapping else None
    return {
        "start": f"{target.start:x}",
        "end": f"{target.end:x}",
        "size_bytes": target.size_bytes,
        "perms": target.perms,
        "pathname": target.pathname,
        "anonymous": target.inode == 0 and not target.pathname.startswith("/"),
        "in_heap": target.pathname == "[heap]",
        "new": grown_from is None,
        "grown_from_bytes": grown_from.size_bytes if grown_from is not None else None,
        # An mmap next to an existing anonymous mapping merges with it: count only what was added.
        "added_bytes": target.size_bytes - (grown_from.size_bytes if grown_from is not None else 0),
        "pointer": f"{pointer:x}" if pointer is not None else None,
        "pointer_offset": pointer - target.start if pointer is not None else None,
    }


def heap_mapping(maps: Sequence[Mapping]) -> Optional[Mapping]:
    return next((m for m in maps if m.pathname == "[heap]"), None)


def heap_change(before: Sequence[Mapping], after: Sequence[Mapping]) -> Dict[str, object]:
    """`[heap]` (the brk area) before and after: the original's text confused it with the mmap region."""
    b, a = heap_mapping(before), heap_mapping(after)

    def describe(m: Optional[Mapping]) -> Optional[Dict[str, object]]:
        return None if m is None else {"start": f"{m.start:x}", "end": f"{m.end:x}", "size_bytes": m.size_bytes}

    return {
        "before": describe(b),
        "after": describe(a),
        "changed": (b is None) != (a is None) or (b is not None and a is not None and (b.start, b.end) != (a.start, a.end)),
        "delta_bytes": (a.size_bytes if a else 0) - (b.size_bytes if b else 0),
    }


def fault_mode(granularity_kib: Optional[float], page_size_kib: int) -> Optional[str]:
    """`huge` when faults map huge pages, `base` when one fault maps one page, `mixed` between.

    summarize() also says `prefaulted` when the writes found the pages already resident."""
    if granularity_kib is None:
        return None
    if granularity_kib >= HUGE_GRANULARITY_KIB:
        return "huge"
    if granularity_kib <= 2 * page_size_kib:
        return "base"
    return "mixed"


def _delta(after: Optional[Dict[str, object]], before: Optional[Dict[str, object]], key: str) -> Optional[int]:
    if not after or not before or after.get(key) is None or before.get(key) is None:
        return None
    return int(after[key]) - int(before[key])  # type: ignore[arg-type]


def summarize(*, snapshots: Dict[str, Dict[str, object]], maps_before: Sequence[Mapping],
              maps_after: Sequence[Mapping], pointer: Optional[int], size_bytes: int,
              touched_bytes: int, thp_enabled: Optional[str], page_size: int,
              samples: Sequence[Dict[str, object]] = (), steps: Sequence[Dict[str, object]] = (),
              timing: Optional[Dict[str, int]] = None, anon_huge_peak_kib: Optional[int] = None) -> Dict[str, object]:
    """The run's figures. `snapshots` maps a phase to the process/system record taken at its start
    (baseline's at its end, right before malloc).

    baseline: before malloc; allocated: after malloc, before any write; touched: after the last write.
    """
    base = snapshots.get("baseline") or {}
    alloc = snapshots.get("allocated") or {}
    touched = snapshots.get("touched") or {}
    freed = snapshots.get("freed") or {}
    min_flt_touch = _delta(touched, alloc, "min_flt")
    touched_kib = touched_bytes / KIB
    granularity = (round(touched_kib / min_flt_touch, 1) if min_flt_touch else None)
    per_mib = (round(min_flt_touch / (touched_bytes / MIB), 2) if min_flt_touch is not None and touched_bytes else None)
    huge_values = [s.get("anon_huge_kib") for s in list(samples) + list(snapshots.values()) + list(steps)]
    huge_values.append(anon_huge_peak_kib)  # the samples' peak, when they were streamed, not passed
    huge_known = [int(v) for v in huge_values if v is not None]  # type: ignore[arg-type]
    anon_huge_peak = max(huge_known) if huge_known else None
    step_ms = [float(s["ms"]) for s in steps if s.get("ms") is not None]  # type: ignore[arg-type]
    rss_delta = _delta(touched, alloc, "rss_kib")
    mode = fault_mode(granularity, page_size // KIB)
    rss_alloc = _delta(alloc, base, "rss_kib")
    min_flt_alloc = _delta(alloc, base, "min_flt")
    if rss_delta is not None and touched_kib and rss_delta < touched_kib / 2 and rss_alloc and min_flt_alloc:
        # The writes found the pages already resident (MAP_POPULATE): the faults came at allocation.
        mode = "prefaulted"
        granularity = round(rss_alloc / min_flt_alloc, 1)
    summary: Dict[str, object] = {
        "size_bytes": size_bytes,
        "touched_bytes": touched_bytes,
        "vsz_before_kib": base.get("vsz_kib"),
        "vsz_after_alloc_kib": alloc.get("vsz_kib"),
        "vsz_delta_kib": _delta(alloc, base, "vsz_kib"),
        "rss_before_alloc_kib": base.get("rss_kib"),
        "rss_before_touch_kib": alloc.get("rss_kib"),
        "rss_after_touch_kib": touched.get("rss_kib"),
        "rss_alloc_delta_kib": rss_alloc,
        "rss_touch_delta_kib": rss_delta,
        "rss_per_written_kib": (round(rss_delta / touched_kib, 3) if rss_delta is not None and touched_kib else None),
        "min_flt_alloc": min_flt_alloc,
        "min_flt_touch": min_flt_touch,
        "maj_flt_touch": _delta(touched, alloc, "maj_flt"),
        "faults_per_mib": per_mib,
        "fault_granularity_kib": granularity,
        "fault_mode": mode,
        "page_size": page_size,
        "thp_enabled": thp_enabled,
        "anon_huge_kib_peak": anon_huge_peak,
        # the process's AnonHugePages before the writes: a huge page the chunk header's write faulted in
        "anon_huge_kib_before_touch": alloc.get("anon_huge_kib"),
        "huge_pages_used": (anon_huge_peak > 0) if anon_huge_peak is not None else (
            mode == "huge" if granularity is not None else None),
        "committed_as_delta_kib": _delta(alloc, base, "committed_as_kib"),
        "mem_used_alloc_delta_kib": _delta(alloc, base, "mem_used_kib"),
        "mem_used_touch_delta_kib": _delta(touched, alloc, "mem_used_kib"),
        "step_ms_median": round(statistics.median(step_ms), 3) if step_ms else None,
        "step_ms_min": round(min(step_ms), 3) if step_ms else None,
        "step_ms_max": round(max(step_ms), 3) if step_ms else None,
        # the free variant: what free() gave back, from the touched and freed snapshots
        "vsz_freed_delta_kib": _delta(freed, touched, "vsz_kib"),
        "rss_freed_delta_kib": _delta(freed, touched, "rss_kib"),
        **fault_cost(timing, touched_bytes, min_flt_touch),
        "region": find_region(maps_before, maps_after, pointer),
        "heap": heap_change(maps_before, maps_after),
    }
    return summary


def fault_cost(timing: Optional[Dict[str, int]], touched_bytes: int,
               faults: Optional[int]) -> Dict[str, Optional[float]]:
    """The fullspeed variant's figures: what a first touch costs against writing mapped pages."""
    if not timing or not touched_bytes:
        return {"first_touch_gib_s": None, "second_pass_gib_s": None, "ns_per_fault": None,
                "first_touch_slowdown": None}
    first, second = timing["first_touch_ns"], timing["second_pass_ns"]
    gib = touched_bytes / 1024 ** 3
    return {
        "first_touch_gib_s": round(gib / (first / 1e9), 3) if first else None,
        "second_pass_gib_s": round(gib / (second / 1e9), 3) if second else None,
        # The first pass's time beyond a plain write of mapped memory, per fault.
        "ns_per_fault": round((first - second) / faults, 1) if faults else None,
        "first_touch_slowdown": round(first / second, 2) if second else None,
    }


def step_deltas(steps: Sequence[Dict[str, object]], start: Dict[str, object]) -> List[Dict[str, object]]:
    """Per touch step: bytes written, RSS and minor faults gained since the previous step."""
    rows = []
    prev = start
    for step in steps:
        rows.append({
            "index": step["index"],
            "bytes": step["bytes"],
            "rss_kib": step.get("rss_kib"),
            "rss_delta_kib": _delta(step, prev, "rss_kib"),
            "min_flt": step.get("min_flt"),
            "min_flt_delta": _delta(step, prev, "min_flt"),
            "ms": step.get("ms"),
        })
        prev = step
    return rows
