"""One host's writeup view: every figure and string host.md.j2 shows, computed from a loaded run.

Pure functions over results.json's content and the verbatim captures (no I/O): templates only loop
and format what these return. The jobs around it live in their own modules: formatting (numbers),
captures (maps, sar, free, capture.sh), runs (summary, phases, plot columns), faults (how the touch
faults add up), source (the allocate.c lines a variant runs), index (the run's index). Their names
are re-exported here for the renderer and the tests.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import analysis, parsers, vocab
from .. import captures as declared  # the capture tools' declarations: their commands, as the writeup shows them
from ..record import RunParams, RunRecord
from ..vocab import PHASES
from ..units import format_size
from . import faults, source
from .captures import (PhaseWindow, _sar_wall, capture_highlights, free_cell, maps_diff,  # noqa: F401
                       maps_excerpt, maps_range, sar_by_phase, sar_clock)
from .formatting import (clock_text, code_block, hexaddr, mib_text, num, seconds_text, signed,  # noqa: F401
                         size_text)
from .index import (FIGURES, EntryKey, entry_key, host_row, index_view, is_grouped, repeats_view,  # noqa: F401
                    spread, spread_text, variant_order)
from .runs import (PROCESS_SERIES, SYSTEM_SERIES, Record, _delta, _int, _phase_t, _windows,  # noqa: F401
                   expected_faults, huge_page_size, knob, maps_of, reading_of, recording_length, series,
                   summary_of, variant_of)

KIB = 1024
MIB = 1024 * 1024
GLIBC_MMAP_THRESHOLD = 128 * KIB  # M_MMAP_THRESHOLD's default: larger mallocs are served by mmap
GLIBC_MMAP_THRESHOLD_MAX = 32 * MIB  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: 4 MiB * sizeof(long)
LANGS = ("en", "ja")
# How allocate.c's variants get their memory: the call, and what the writeup may say about it.
VARIANT_CALLS = {"malloc": "malloc", "free": "malloc", "fullspeed": "malloc", "calloc": "calloc",
                 "small-mallocs": "malloc", "mmap": "mmap", "mmap-populate": "mmap", "madv-hugepage": "mmap",
                 "madv-nohugepage": "mmap"}
VARIANT_MADVISE = {"madv-hugepage": "MADV_HUGEPAGE", "madv-nohugepage": "MADV_NOHUGEPAGE"}
SMALL_MALLOC_BYTES = 64 * KIB  # allocate.c's SMALL_CHUNK: the small-mallocs variant's block size
MALLOC_HEADER_BYTES = faults.MALLOC_HEADER_BYTES  # glibc's chunk header in front of each block
# An RSS change at allocation below this share of the size is "RSS did not move".
RSS_STILL_SHARE = 0.05


@dataclass(frozen=True)
class HostInput:
    """One host's run as render.py read it: results.json as its typed record (samples filled), raw/
    texts, allocate.c."""
    name: str
    data: Record
    raw: Mapping[str, str] = field(default_factory=dict)
    source: Optional[str] = None
    status: Optional[Mapping[str, Any]] = None  # run.json's entry for this host, when there is one
    run: Optional[Mapping[str, Any]] = None  # run.json, when the host is part of a fetched run


def _raw_or(raw: Mapping[str, str], name: str, fallback: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(text, where it came from): the verbatim file under raw/, else the copy in results.json."""
    if name in raw:
        return raw[name], vocab.raw_path(name)
    return fallback, None


def _maps_pair(before: str, after: str) -> str:
    """The caption of a maps diff: the two raw captures it compares."""
    return f"{vocab.raw_path(vocab.maps_file(before))} -> {vocab.raw_path(vocab.maps_file(after))}"


def agent_command(argv: Sequence[str]) -> Optional[str]:
    """The agent's command line as typed: argv[0] of `python3 -m labagent` is labagent/__main__.py."""
    if not argv:
        return None
    head = argv[0]
    if head.endswith("__main__.py"):
        prog = "python3 -m labagent"
    elif head.endswith(".pyz"):
        prog = f"python3 {shlex.quote(head)}"
    else:
        prog = shlex.quote(head)
    return " ".join([prog] + [shlex.quote(a) for a in argv[1:]])


def equivalent_command(params: RunParams) -> Optional[str]:
    """The agent command that repeats a run with these parameters."""
    if not params.size_bytes:
        return None
    parts = ["python3 -m labagent run", f"--size {format_size(int(params.size_bytes))}"]
    if params.step_bytes:
        parts.append(f"--step {format_size(int(params.step_bytes))}")
    for value, flag in ((params.step_interval_s, "--step-interval"), (params.sample_interval_s, "--sample-interval"),
                        (params.pause_s, "--pause"), (params.tail_s, "--tail")):
        if value is not None:
            parts.append(f"{flag} {seconds_text(float(value))}")
    if params.variant and params.variant != "malloc":
        parts.append(f"--variant {params.variant}")
    parts.append("--out DIR")
    return " ".join(parts)


def note_texts(notes: Any, lang: str) -> List[str]:
    """results.json `notes`: strings, or {lang: text} dicts (the text in `lang`, else English)."""
    out = []
    for note in notes or []:
        if isinstance(note, Mapping):
            text = note.get(lang) or note.get("en") or next(iter(note.values()), None)
            if text:
                out.append(str(text))
        elif note:
            out.append(str(note))
    return out


def _steps_view(rec: RunRecord, allocated: Mapping[str, Any], step_bytes: Optional[int]) -> List[Dict[str, Any]]:
    rows = []
    prev = {"rss_kib": allocated.get("rss_kib"), "min_flt": allocated.get("min_flt")}
    prev_bytes = 0
    for step in rec.steps:
        written = int(step.bytes)
        now = {"rss_kib": step.rss_kib, "min_flt": step.min_flt}
        d_rss = _delta(now, prev, "rss_kib")
        d_flt = _delta(now, prev, "min_flt")
        chunk = written - prev_bytes
        rows.append({
            "index": step.index, "written": mib_text(written), "chunk_kib": num(chunk / KIB),
            "rss_kib": num(step.rss_kib), "rss_delta_kib": signed(d_rss),
            "min_flt": num(step.min_flt), "min_flt_delta": signed(d_flt),
            "kib_per_fault": num(chunk / KIB / d_flt, 1) if d_flt else None,
            "anon_huge_kib": num(step.anon_huge_kib), "ms": num(step.ms, 2) if step.ms is not None else None,
        })
        prev, prev_bytes = now, written
    return rows


def _span_pages(start: int, length: int, page_size: int) -> int:
    """Pages that [start, start + length) touches."""
    return (-(-(start + length) // page_size)) - start // page_size


def _covered_bytes(start: int, end: int, maps: Sequence[parsers.Mapping]) -> int:
    """Bytes of [start, end) that some mapping in `maps` still covers."""
    return sum(max(0, min(end, m.end) - max(start, m.start)) for m in maps)


def variant_view(variant: str, rec: RunRecord, summary: Mapping[str, Any], size_bytes: Optional[int],
                 page_size: int, freed_maps: Sequence[parsers.Mapping] = ()) -> Dict[str, Any]:
    """What the run's variant shows, with its own numbers: the figures the writeup's paragraph on the
    variant needs (allocate.c's variants: malloc, calloc, mmap, mmap-populate, madv-hugepage,
    madv-nohugepage, small-mallocs, free, fullspeed)."""
    base_r, touched_r, freed_r = reading_of(rec, "baseline"), reading_of(rec, "touched"), reading_of(rec, "freed")
    size = int(size_bytes or 0)
    region = summary.get("region") or {}
    heap = summary.get("heap") or {}
    rss_alloc = summary.get("rss_alloc_delta_kib")
    min_flt_alloc = summary.get("min_flt_alloc")
    huge_kib = huge_page_size(page_size) // KIB
    peak = summary.get("anon_huge_kib_peak")
    out: Dict[str, Any] = {
        "name": variant, "other": variant != "malloc",
        "size_text": size_text(size) if size else None, "size": num(size) if size else None,
        "rss_alloc_delta": signed(rss_alloc), "min_flt_alloc": num(min_flt_alloc),
        "min_flt_alloc_delta": signed(min_flt_alloc),
        # RSS did not move at allocation: less than a few percent of the size
        "rss_alloc_still": rss_alloc is not None and bool(size) and abs(rss_alloc) * KIB < RSS_STILL_SHARE * size,
        "faults": num(summary.get("min_flt_touch")),
        "faults_per_mib": num(summary.get("faults_per_mib"), 2) if summary.get("faults_per_mib") is not None else None,
        "granularity": num(summary.get("fault_granularity_kib"), 1)
        if summary.get("fault_granularity_kib") is not None else None,
        "mode": summary.get("fault_mode"), "thp_enabled": summary.get("thp_enabled"),
        "rss_touch_delta": signed(summary.get("rss_touch_delta_kib")),
        "anon_huge_peak": num(peak), "huge_text": size_text(huge_kib * KIB), "huge_kib": num(huge_kib),
        "huge_pages": num(peak // huge_kib) if peak and huge_kib else None,
        "page_kib": num(page_size / KIB),
        "in_heap": bool(region.get("in_heap")),
    }
    # mmap: the mapping is exactly the size asked for, the pointer at its start
    added = region.get("added_bytes")
    out["region_added"] = num(added)
    out["pointer_offset"] = num(region.get("pointer_offset"))
    out["exact"] = bool(size and added == size and region.get("pointer_offset") == 0)
    out["malloc_region"] = num(size + page_size) if size else None  # what malloc's block of this size maps
    # mmap-populate: the pages are faulted in by mmap itself
    alloc_granularity = round(rss_alloc / min_flt_alloc, 1) if rss_alloc and min_flt_alloc else None
    out["alloc_granularity"] = num(alloc_granularity, 1) if alloc_granularity is not None else None
    out["alloc_mode"] = analysis.fault_mode(alloc_granularity, page_size // KIB)
    out["alloc_pages"] = num(size // page_size) if size else None
    out["prefaulted"] = summary.get("fault_mode") == "prefaulted"
    # small-mallocs: the blocks come from [heap], which brk grows
    blocks = -(-size // SMALL_MALLOC_BYTES) if size else 0
    before, after = heap.get("before") or {}, heap.get("after") or {}
    span = _span_pages(int(region["pointer"], 16) - MALLOC_HEADER_BYTES,
                       blocks * (SMALL_MALLOC_BYTES + MALLOC_HEADER_BYTES), page_size) \
        if blocks and region.get("pointer") else None
    touch_faults = summary.get("min_flt_touch")
    out["small"] = {
        "block_text": size_text(SMALL_MALLOC_BYTES), "blocks": num(blocks),
        "threshold": size_text(GLIBC_MMAP_THRESHOLD),
        "heap_changed": bool(heap.get("changed")), "heap_delta": signed(heap.get("delta_bytes")),
        "heap_before": num(before.get("size_bytes")), "heap_after": num(after.get("size_bytes")),
        "heap_before_range": f"{int(before['start'], 16):08x}-{int(before['end'], 16):08x}" if before else None,
        "heap_after_range": f"{int(after['start'], 16):08x}-{int(after['end'], 16):08x}" if after else None,
        "headers": num(blocks * MALLOC_HEADER_BYTES), "header_pages_kib": num(blocks * page_size / KIB),
        "blocks_bytes": num(blocks * (SMALL_MALLOC_BYTES + MALLOC_HEADER_BYTES)) if blocks else None,
        # malloc writes each block's header: one page per block is touched at allocation
        # the blocks with their headers, end to end from the first header: the pages they span
        "stride": num(SMALL_MALLOC_BYTES + MALLOC_HEADER_BYTES),
        "span_pages": num(span),
        # one header page per block was resident since malloc: the rest were new to the writes
        "new_pages": num(span - blocks) if span else None,
        "other": signed(touch_faults - (span - blocks)) if span and touch_faults is not None else None,
        "headers_touch_pages": bool(rss_alloc and blocks and SMALL_MALLOC_BYTES >= page_size
                                    and abs(rss_alloc - blocks * page_size / KIB) <= 0.25 * blocks * page_size / KIB),
    }
    # free: what free() gave back, from the `touched` and `freed` snapshots
    freed = None
    if freed_r and touched_r:
        vsz_d = _delta(freed_r, touched_r, "vsz_kib")
        rss_d = _delta(freed_r, touched_r, "rss_kib")
        commit_d = _delta(freed_r, touched_r, "committed_as_kib")
        start, end = (int(region["start"], 16), int(region["end"], 16)) if region.get("start") else (0, 0)
        left = _covered_bytes(start, end, freed_maps) if region.get("start") and freed_maps else None
        region_size = end - start
        freed = {
            "vsz_before": num(touched_r.get("vsz_kib")), "vsz_after": num(freed_r.get("vsz_kib")),
            "vsz_delta": signed(vsz_d), "rss_before": num(touched_r.get("rss_kib")),
            "rss_after": num(freed_r.get("rss_kib")), "rss_delta": signed(rss_d),
            "commit_delta": signed(commit_d),
            "vsz_baseline": num(base_r.get("vsz_kib")),
            "vsz_back": freed_r.get("vsz_kib") is not None and freed_r.get("vsz_kib") == base_r.get("vsz_kib"),
            "rss_over_baseline": signed(_delta(freed_r, base_r, "rss_kib")),
            # the block was unmapped: VSZ fell by at least half the size
            "unmapped": bool(size and vsz_d is not None and -vsz_d * KIB >= size / 2),
            "region_range": f"{start:08x}-{end:08x}" if region.get("start") else None,
            "region_left": num(left) if left is not None else None,
            "region_gone": num(region_size - left) if left is not None else None,
            "region_all_gone": left is not None and region_size - left == int(added or region_size),
            "added": num(added),
            # glibc's free() of an mmapped chunk raises the mmap threshold to the chunk's size, when
            # that is at most DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit): malloc.c __libc_free
            "chunk": num(added), "threshold_max": size_text(GLIBC_MMAP_THRESHOLD_MAX),
            "threshold_raised": bool(added and GLIBC_MMAP_THRESHOLD < int(added) <= GLIBC_MMAP_THRESHOLD_MAX),
        }
    out["freed"] = freed
    # fullspeed: one timed write of the block, then a second over the same, mapped pages
    first_ns, second_ns = (rec.timing.first_touch_ns, rec.timing.second_pass_ns) if rec.timing else (None, None)
    faults = summary.get("min_flt_touch")
    out["timing"] = {
        "first_ms": num(first_ns / 1e6, 3), "second_ms": num(second_ns / 1e6, 3),
        "first_ns": num(first_ns), "second_ns": num(second_ns), "extra_ns": num(first_ns - second_ns),
        "first_gib_s": num(summary.get("first_touch_gib_s"), 3) if summary.get("first_touch_gib_s") is not None else None,
        "second_gib_s": num(summary.get("second_pass_gib_s"), 3) if summary.get("second_pass_gib_s") is not None else None,
        "ns_per_fault": num(summary.get("ns_per_fault"), 1) if summary.get("ns_per_fault") is not None else None,
        "us_per_fault": num(summary["ns_per_fault"] / 1000, 2) if summary.get("ns_per_fault") is not None else None,
        "slowdown": num(summary.get("first_touch_slowdown"), 2) if summary.get("first_touch_slowdown") is not None else None,
        "faults": num(faults),
    } if first_ns and second_ns else None
    return out


def _entry_of(inp: HostInput) -> Optional[Dict[str, Any]]:
    """Where this directory sits in a run of several variants or repeats (run.json `entries`), or None
    when it is the host's only run."""
    entries = (inp.run or {}).get("entries") or {}
    if not isinstance(entries, Mapping) or inp.name not in entries:
        return None
    key = entry_key(inp.name, entries, inp.data)
    if key.host == inp.name:
        return None
    repeats = (((inp.run or {}).get("params") or {}).get("repeats"))
    return {"host": key.host, "variant": key.variant, "repeat": key.repeat,
            "repeats": int(repeats) if isinstance(repeats, (int, str)) and str(repeats).isdigit() else None}


def _phases_view(rec: RunRecord, raw: Mapping[str, str], windows: Sequence[PhaseWindow], offset: int,
                 pid: Any) -> Tuple[List[Dict[str, Any]], Dict[str, Tuple[Optional[str], Optional[str]]], Dict[str, Any]]:
    """Each phase with its times, sample count and verbatim captures (maps, free -h, its sar rows);
    the maps texts by phase; sar's split by phase."""
    snaps = rec.snapshots
    samples = rec.samples or ()
    tools = rec.tools
    sar_text = raw.get(vocab.SAR_R)
    sar_split = sar_by_phase(sar_text, windows, offset, sar_started(rec)) if sar_text else {"phases": {}, "rows": {}, "before": 0, "after": 0}
    sample_counts: Dict[str, int] = {}
    for sample in samples:
        sample_counts[sample.get("phase")] = sample_counts.get(sample.get("phase"), 0) + 1
    sar_cmd = (tools.get("sar") or {}).get("command") or declared.SAR_R.text
    maps_text: Dict[str, Tuple[Optional[str], Optional[str]]] = {}
    phases = []
    for window in windows:
        name = window.name
        snap = snaps.get(name)
        start, end = _phase_t(rec, window)
        maps, maps_src = _raw_or(raw, vocab.maps_file(name), snap.maps if snap else None)
        maps_text[name] = (maps, maps_src)
        free_h, free_src = _raw_or(raw, vocab.free_h_file(name), snap.free_h if snap else None)
        sar_part = sar_split["phases"].get(name)
        phases.append({
            "name": name, "start": seconds_text(start), "end": seconds_text(end),
            "duration": seconds_text(None if start is None or end is None else end - start),
            "clock_start": clock_text(window.start_wall, offset), "clock_end": clock_text(window.end_wall, offset),
            "samples": sample_counts.get(name, 0), "snapshot": bool(snap),
            "maps": code_block(maps, "", maps_src or f"results.json snapshots.{name}.maps",
                               " ".join(declared.MAPS.argv(pid))) if maps else None,
            "free_h": code_block(free_h, "", free_src or f"results.json snapshots.{name}.free_h", declared.FREE_H.text)
            if free_h else None,
            "sar": code_block(sar_part, "", vocab.raw_path(vocab.SAR_R), sar_cmd) if sar_part else None,
            "sar_rows": sar_split["rows"].get(name, 0),
        })
    return phases, maps_text, sar_split


def _region_view(region: Optional[Mapping[str, Any]], after_text: Optional[str], maps_before: Sequence[parsers.Mapping],
                 size_bytes: Optional[int], page_size: int) -> Optional[Dict[str, Any]]:
    """The mapping the block landed in: its range and size, what the call added (a mapping it merged
    with), the pointer's offset into it (glibc's chunk header), and the heap's threshold."""
    if not region:
        return None
    start, end = int(region["start"], 16), int(region["end"], 16)
    added = int(region.get("added_bytes") or region["size_bytes"])
    pointer = int(region["pointer"], 16) if region.get("pointer") else None
    line = next((ln for ln in (after_text or "").splitlines()
                 if ln.startswith(f"{start:08x}-{end:08x} ")), None)
    grown = None
    if not region.get("new"):
        old = next((m for m in maps_before if m.start < end and start < m.end), None)
        if old is not None:
            grown = {"range": maps_range(old), "size": num(old.size_bytes),
                     "size_text": size_text(old.size_bytes), "perms": old.perms,
                     "below": old.start > start, "above": old.end < end}
    extra = added - size_bytes if size_bytes else None
    region_v = {
        "range": f"{start:08x}-{end:08x}", "start_hex": hexaddr(start), "end_hex": hexaddr(end),
        "size": num(region["size_bytes"]), "size_bytes": int(region["size_bytes"]),
        "size_text": mib_text(region["size_bytes"]), "line": line,
        "added": num(added), "added_text": mib_text(added),
        "requested": num(size_bytes), "requested_text": size_text(size_bytes),
        "extra": num(extra), "extra_text": size_text(extra) if extra and extra > 0 else None,
        "extra_pages": (extra // page_size) if extra and extra % page_size == 0 else None,
        "pointer_hex": hexaddr(pointer), "pointer_offset": num(region.get("pointer_offset")),
        "pointer_offset_hex": hexaddr(region.get("pointer_offset")),
        "chunk_header": region.get("pointer_offset") == 16,
        "anonymous": bool(region.get("anonymous")), "in_heap": bool(region.get("in_heap")),
        "pathname": region.get("pathname") or "", "perms": region.get("perms"),
        "new": bool(region.get("new")), "grown": grown,
        "above_threshold": bool(size_bytes and size_bytes >= GLIBC_MMAP_THRESHOLD),
        "threshold": size_text(GLIBC_MMAP_THRESHOLD),
        "huge_head": size_text((-start) % huge_page_size(page_size)) if (-start) % huge_page_size(page_size) else None,
    }
    return region_v


def _split_view(region: Optional[Mapping[str, Any]], host: Mapping[str, Any], summary: Mapping[str, Any],
                variant: str, page_size: int) -> Optional[Dict[str, Any]]:
    """How the touch faults add up (faults.split), formatted: pages resident before the writes, huge
    pages, the head and tail page by page, the rest; None where the split does not apply (no region,
    prefaulted memory, small-mallocs' many blocks)."""
    split_v = None
    fs = faults.of_run(summary, host, variant, page_size, huge_page_size(page_size)) if region else None
    if fs is not None:
        split_v = {
            "measured": num(fs.measured), "written_pages": num(fs.written_pages), "new_pages_n": fs.new_pages,
            "resident": fs.resident_pages, "new_pages": num(fs.new_pages),
            "huge": num(fs.huge_faults), "huge_used": fs.huge_used,
            "huge_known": fs.huge_faults is not None and not fs.huge_inferred,
            "huge_inferred": fs.huge_inferred, "aligned": num(fs.aligned_ranges),
            "pmd_text": size_text(fs.pmd_size), "pmd_kib": num(fs.pmd_size // KIB),
            "first_boundary": hexaddr(fs.first_boundary), "last_boundary": hexaddr(fs.last_boundary),
            "misalign": hexaddr(fs.start_misalign), "misalign_kib": num(fs.start_misalign / KIB),
            "aligned_start": fs.start_misalign == 0,
            "head": num(fs.head_pages), "tail": num(fs.tail_pages), "fallback": num(fs.fallback_pages),
            "base": num(fs.base_faults), "other": signed(fs.other_faults), "other_abs": num(abs(fs.other_faults)),
            "other_negative": fs.other_faults < 0,
            "anon_huge_peak": num(summary.get("anon_huge_kib_peak")),
            # AnonHugePages grew past what the faults can explain: khugepaged collapsed ranges
            "collapsed": bool(fs.huge_faults and fs.huge_faults > fs.aligned_ranges),
            # the chunk header's huge page, resident since malloc (its pages are not new to the writes)
            "resident_huge": fs.resident_huge, "header_in_head": fs.header_in_head,
            "anon_huge_before": num(summary.get("anon_huge_kib_before_touch")),
            "base_one": fs.base_faults == 1,
            # aligned, though this kernel aligns only lengths that are a multiple of a huge page: chance
            "aligned_by_chance": bool(fs.start_misalign == 0 and region is not None
                                      and int(region.get("added_bytes") or region.get("size_bytes") or 0) % fs.pmd_size
                                      and kernel_thp_alignment(host.get("kernel")) in ("never", "multiple")),
        }
    return split_v


def kernel_thp_alignment(kernel: Optional[str]) -> Optional[str]:
    """Which rule placed a new anonymous mapping on a THP (PMD) boundary in this kernel, by its
    version: "never" before 6.7; "large" from 6.7 (commit efa7df3e3bb5, "mm: align larger anonymous
    mappings on THP boundaries": every mapping of at least PMD size, no address hint); "multiple"
    from 6.12 ("mm, mmap: limit THP alignment of anonymous mappings to PMD-aligned sizes", also taken
    into stable kernels, so a 6.7-6.11 kernel may follow it too); None for a version it cannot read."""
    match = re.match(r"(\d+)\.(\d+)", kernel or "")
    if not match:
        return None
    version = (int(match.group(1)), int(match.group(2)))
    if version < (6, 7):
        return "never"
    return "large" if version < (6, 12) else "multiple"


def ps_command(ps_text: Optional[str], pid: Any) -> Optional[str]:
    """The COMMAND column of `ps u`'s row for `pid`: the argv the process really ran with."""
    for line in (ps_text or "").splitlines()[1:]:
        fields = line.split(None, 10)
        if len(fields) == 11 and fields[1] == str(pid):
            return fields[10].strip()
    return None


def _commit_view(rec: RunRecord, raw: Mapping[str, str], summary: Mapping[str, Any],
                 windows: Sequence[PhaseWindow], offset: int, size_bytes: Optional[int]) -> Dict[str, Any]:
    """The commit charge and the machine's used memory at the call and after the exit: the
    snapshots' figures, sar's rows around the call, free's used cells (whole-machine figures all)."""
    snaps = rec.snapshots

    def reading(name: str) -> Dict[str, Any]:
        return reading_of(rec, name)

    def free_h(name: str) -> Optional[str]:
        snap = snaps.get(name)
        return raw.get(vocab.free_h_file(name)) or (snap.free_h if snap else None)

    base_r, alloc_r, touched_r, exited_r = reading("baseline"), reading("allocated"), reading("touched"), reading("exited")
    freed_r = reading("freed")
    sar_rows = rec.sar or ()
    sar_start = sar_started(rec)
    sar_commit = _sar_around(sar_rows, windows, offset, "allocated", "kbcommit", sar_start)
    sar_used = _sar_around(sar_rows, windows, offset, "allocated", "kbmemused", sar_start)
    # over the writes: the last row before `touching` began and the first after it ended
    sar_used_touch = _sar_around(sar_rows, windows, offset, "touching", "kbmemused", sar_start, past_end=True)
    commit_delta = summary.get("committed_as_delta_kib")
    last_r = freed_r or touched_r or alloc_r  # the last snapshot of the live process
    used_delta = summary.get("mem_used_alloc_delta_kib")
    commit_v = {
        "before": num(base_r.get("committed_as_kib")), "after": num(alloc_r.get("committed_as_kib")),
        "delta": signed(commit_delta), "delta_mib": mib_text(commit_delta * KIB) if commit_delta is not None else None,
        "used_before": num(base_r.get("mem_used_kib")), "used_after": num(alloc_r.get("mem_used_kib")),
        "used_delta": signed(used_delta),
        # the machine's charge grew well past the mapping: other processes' charge moved in the same interval
        "above_size": bool(commit_delta is not None and size_bytes and commit_delta * KIB > 1.05 * size_bytes),
        "size_kib": num(size_bytes / KIB) if size_bytes else None,
        "about_size": bool(commit_delta is not None and size_bytes and abs(commit_delta * KIB - size_bytes) <= 0.05 * size_bytes),
        # to the KiB what VSZ grew: the new mapping's size, nothing else moved the machine's charge
        "equals_mapping": commit_delta is not None and commit_delta == summary.get("vsz_delta_kib"),
        "sar_equals_mapping": None not in sar_commit and sar_commit[1] - sar_commit[0] == summary.get("vsz_delta_kib"),
        "used_small": bool(used_delta is not None and size_bytes and abs(used_delta * KIB) < 0.25 * size_bytes),
        "sar_before": num(sar_commit[0]), "sar_after": num(sar_commit[1]),
        "sar_delta": signed(sar_commit[1] - sar_commit[0]) if None not in sar_commit else None,
        "sar_used_before": num(sar_used[0]), "sar_used_after": num(sar_used[1]),
        "sar_used_delta": signed(sar_used[1] - sar_used[0]) if None not in sar_used else None,
        "free_used_before": free_cell(free_h("baseline"), "used"),
        "free_used_after": free_cell(free_h("allocated"), "used"),
        "free_used_touched": free_cell(free_h("touched"), "used"),
        "sar_used_touch_before": num(sar_used_touch[0]), "sar_used_touch_after": num(sar_used_touch[1]),
        "sar_used_touch_delta": signed(sar_used_touch[1] - sar_used_touch[0]) if None not in sar_used_touch else None,
        # where those figures come from (raw/ names), for the writeup's captions
        # kbmemused moved by far less than the block at the call (the original note's "not grown")
        "sar_used_small": bool(None not in sar_used and size_bytes and abs(sar_used[1] - sar_used[0]) * KIB < 0.25 * size_bytes),
        "sar_commit_about_size": bool(None not in sar_commit and size_bytes
                                      and abs((sar_commit[1] - sar_commit[0]) * KIB - size_bytes) <= 0.05 * size_bytes),
        # kbmemused grew over the writes by at least half what the process's RSS did
        "sar_used_touch_follows": bool(None not in sar_used_touch and summary.get("rss_touch_delta_kib")
                                       and summary["rss_touch_delta_kib"] > 1024
                                       and sar_used_touch[1] - sar_used_touch[0] >= 0.5 * summary["rss_touch_delta_kib"]),
        "sar_src": vocab.raw_path(vocab.SAR_R) if raw.get(vocab.SAR_R) else "`results.json` sar",
        "free_src": [vocab.raw_path(vocab.free_h_file(n)) if raw.get(vocab.free_h_file(n)) else f"results.json snapshots.{n}.free_h"
                     for n in ("baseline", "allocated", "touched") if free_h(n)],
        "exited": num(exited_r.get("committed_as_kib")),
        "exited_delta": signed(_delta(exited_r, last_r, "committed_as_kib")),
        "exited_vs_baseline": signed(_delta(exited_r, base_r, "committed_as_kib")),
        "exit_returned": bool(size_bytes and _delta(exited_r, last_r, "committed_as_kib") is not None
                              and (_delta(exited_r, last_r, "committed_as_kib") or 0) * KIB <= -size_bytes / 2),
        # free() gave the commit charge back before the exit
        "returned_at_free": bool(size_bytes and freed_r and _delta(freed_r, touched_r, "committed_as_kib") is not None
                                 and (_delta(freed_r, touched_r, "committed_as_kib") or 0) * KIB <= -size_bytes / 2),
        "used_touched_delta": signed(summary.get("mem_used_touch_delta_kib")),
        "free_touched_delta": signed(_delta(touched_r, alloc_r, "mem_free_kib")),
        # the machine's used grew by less than half what the process's RSS did: these whole-machine
        # figures cannot resolve the process's pages (other processes, or per-CPU free lists)
        "used_lags_rss": bool(summary.get("mem_used_touch_delta_kib") is not None
                              and (summary.get("rss_touch_delta_kib") or 0) > 1024
                              and summary["mem_used_touch_delta_kib"] < 0.5 * summary["rss_touch_delta_kib"]),
        "used_exited_delta": signed(_delta(exited_r, touched_r, "mem_used_kib")),
    }
    return commit_v


def host_view(inp: HostInput, lang: str = "en") -> Dict[str, Any]:
    """Everything host.md.j2 shows for one host."""
    rec, raw = inp.data, inp.raw
    assert isinstance(rec, RunRecord), "a recording has its own view (recording.recording_view)"
    host = rec.host
    params = rec.params
    snaps = rec.snapshots
    workload = rec.workload
    tools = rec.tools
    versions = tools.get("versions") or {}
    outcome = rec.outcome
    summary = summary_of(rec)
    samples = rec.samples or ()
    page_size = int(host.get("page_size") or summary.get("page_size") or 4096)
    offset = int(host.get("utc_offset_s") or 0)
    pid = workload.pid if workload else None
    size_bytes = _int(params.size_bytes) or _int(summary.get("size_bytes"))

    base_r, alloc_r = reading_of(rec, "baseline"), reading_of(rec, "allocated")
    variant = params.variant or "malloc"

    # ---- phases, with the verbatim captures of each
    windows = _windows(rec)
    phases, maps_text, sar_split = _phases_view(rec, raw, windows, offset, pid)
    sar_text = raw.get(vocab.SAR_R)
    phase_names = [p["name"] for p in phases]
    expected = [p for p in PHASES if p != "freed" or params.variant == "free"]
    missing = [p for p in expected if p not in phase_names]
    missing_snaps = [p for p in expected if p != "touching" and p not in snaps]

    # maps: before/after malloc, and the diff that marks the new region
    before_text = maps_text.get("baseline", (None, None))[0]
    after_text = maps_text.get("allocated", (None, None))[0]
    touched_text = maps_text.get("touched", (None, None))[0]
    freed_text = maps_text.get("freed", (None, None))[0]
    maps_before = parsers.parse_maps(before_text) if before_text else ()
    maps_after = parsers.parse_maps(after_text) if after_text else ()
    for p in phases:
        if p["name"] == "allocated" and before_text and after_text:
            p["maps_diff"] = code_block(maps_diff(before_text, after_text), "diff",
                                        _maps_pair("baseline", "allocated"))
        elif p["name"] == "touched" and after_text and touched_text:
            p["maps_unchanged"] = after_text == touched_text
            p["maps_diff"] = None if after_text == touched_text else code_block(
                maps_diff(after_text, touched_text), "diff", _maps_pair("allocated", "touched"))
        elif p["name"] == "freed" and touched_text and freed_text:
            p["maps_diff"] = code_block(maps_diff(touched_text, freed_text), "diff",
                                        _maps_pair("touched", "freed"))
        else:
            p.setdefault("maps_diff", None)
        p.setdefault("maps_unchanged", None)

    stack = next((m for m in maps_before if m.pathname == "[stack]"), None)
    heap_before = analysis.heap_mapping(maps_before)
    heap_after = analysis.heap_mapping(maps_after)

    # ---- the region malloc returned
    region = summary.get("region") or None
    region_v = _region_view(region, after_text, maps_before, size_bytes, page_size)
    heap_v = {
        "before": maps_range(heap_before) if heap_before else None,
        "after": maps_range(heap_after) if heap_after else None,
        "changed": bool((summary.get("heap") or {}).get("changed")),
        "delta": signed((summary.get("heap") or {}).get("delta_bytes")),
        "size": num(heap_before.size_bytes) if heap_before else None,
    }
    log_text = raw.get(vocab.PROGRAM_LOG)
    program = None
    if log_text:
        try:
            program = parsers.parse_program_log(log_text)
        except ValueError:
            program = None
    stack_v = None
    if stack is not None:
        addresses = [a for a, _ in program.stack] if program and program.stack else []
        stack_v = {"range": maps_range(stack), "size": num(stack.size_bytes),
                   "first": hexaddr(addresses[0]) if addresses else None,
                   "last": hexaddr(addresses[-1]) if addresses else None,
                   "inside": bool(addresses) and all(stack.start <= a < stack.end for a in addresses)}

    # ---- VSZ / RSS at malloc
    vsz_delta = _delta(alloc_r, base_r, "vsz_kib")
    malloc_v = {
        "vsz_before": num(base_r.get("vsz_kib")), "vsz_after": num(alloc_r.get("vsz_kib")),
        "vsz_delta": signed(vsz_delta), "vsz_delta_bytes": num(vsz_delta * KIB) if vsz_delta is not None else None,
        "vsz_is_region": bool(region_v and vsz_delta is not None and vsz_delta * KIB == int(region["added_bytes"])),
        "rss_before": num(base_r.get("rss_kib")), "rss_after": num(alloc_r.get("rss_kib")),
        "rss_delta": signed(_delta(alloc_r, base_r, "rss_kib")),
        "rss_still": _delta(alloc_r, base_r, "rss_kib") is not None and abs(_delta(alloc_r, base_r, "rss_kib") or 0) < 1024,
        # grew, but by a small part of the size (small-mallocs: the blocks' headers)
        "rss_partial": bool(size_bytes and _delta(alloc_r, base_r, "rss_kib") is not None
                            and abs(_delta(alloc_r, base_r, "rss_kib") or 0) >= 1024
                            and abs(_delta(alloc_r, base_r, "rss_kib") or 0) * KIB < 0.25 * size_bytes),
        "min_flt_delta": signed(_delta(alloc_r, base_r, "min_flt")),
        # /proc/PID/status splits RSS: RssAnon (anonymous pages: the chunk header's page) and RssFile
        # (file pages: the program's and libc's code and data as they are first used); None before 4.5
        "rss_anon_before": num(base_r.get("rss_anon_kib")), "rss_anon_after": num(alloc_r.get("rss_anon_kib")),
        "rss_anon_delta": signed(_delta(alloc_r, base_r, "rss_anon_kib")),
        "rss_file_delta": signed(_delta(alloc_r, base_r, "rss_file_kib")),
        "anon_one_page": _delta(alloc_r, base_r, "rss_anon_kib") is not None
        and (_delta(alloc_r, base_r, "rss_anon_kib") or 0) * KIB == page_size,
        # the chunk header's write brought a whole huge page (an aligned mapping start under THP always)
        "anon_huge_delta": signed(_delta(alloc_r, base_r, "anon_huge_kib")),
        "huge_at_malloc": bool((_delta(alloc_r, base_r, "anon_huge_kib") or 0) > 0),
    }

    # ---- commit charge and used memory at malloc
    commit_v = _commit_view(rec, raw, summary, windows, offset, size_bytes)

    # ---- touching: RSS per byte written, faults and their granularity
    touched_bytes = int(summary.get("touched_bytes") or 0)
    mode = summary.get("fault_mode")
    min_flt_touch = summary.get("min_flt_touch")
    exp = {"base": None, "huge": None}
    if region and region.get("pointer") and touched_bytes:
        exp = expected_faults(int(region["start"], 16), int(region["end"], 16), int(region["pointer"], 16),
                              touched_bytes, page_size)
    huge = huge_page_size(page_size)
    huge_values = sorted({int(s.anon_huge_kib) for s in rec.steps if s.anon_huge_kib is not None})
    # fullspeed writes the whole block in one step, whatever --step said
    step_bytes = size_bytes if variant == "fullspeed" and size_bytes else _int(params.step_bytes)
    touch_v = {
        "bytes": num(touched_bytes), "text": mib_text(touched_bytes), "kib": num(touched_bytes / KIB),
        "partial": bool(size_bytes and 0 < touched_bytes < size_bytes), "none": touched_bytes == 0,
        "size_text": size_text(size_bytes),
        "rss_before": num(summary.get("rss_before_touch_kib")), "rss_after": num(summary.get("rss_after_touch_kib")),
        "rss_delta": signed(summary.get("rss_touch_delta_kib")),
        "rss_per_written": num(summary.get("rss_per_written_kib"), 3) if summary.get("rss_per_written_kib") is not None else None,
        "min_flt_before": num(alloc_r.get("min_flt")),
        "min_flt_after": num(alloc_r["min_flt"] + min_flt_touch) if min_flt_touch is not None and alloc_r.get("min_flt") is not None else None,
        "min_flt_delta": signed(min_flt_touch), "min_flt_count": num(min_flt_touch),
        "maj_flt_delta": signed(summary.get("maj_flt_touch")),
        "faults_per_mib": num(summary.get("faults_per_mib"), 2) if summary.get("faults_per_mib") is not None else None,
        "faults_per_step": num(min_flt_touch * step_bytes / touched_bytes, 1)
        if min_flt_touch is not None and step_bytes and touched_bytes else None,
        "step_text": size_text(step_bytes),
        "granularity": num(summary.get("fault_granularity_kib"), 1) if summary.get("fault_granularity_kib") is not None else None,
        "mode": mode, "page_kib": num(page_size / KIB), "page_size": num(page_size),
        "pages_per_mib": num(MIB / page_size),
        "expected_base": num(exp["base"]), "expected_huge": num(exp["huge"]),
        "extra_over_expected": signed((min_flt_touch - exp["huge" if mode == "huge" else "base"]))
        if min_flt_touch is not None and exp.get("huge" if mode == "huge" else "base") is not None else None,
        # fewer faults than pages written: some were mapped before the writes (small-mallocs' headers)
        "fewer_than_expected": bool(min_flt_touch is not None and exp.get("base") is not None and mode == "base"
                                    and min_flt_touch < exp["base"]),
        "thp_enabled": host.get("thp_enabled"), "thp_defrag": host.get("thp_defrag"),
        "anon_huge_peak": num(summary.get("anon_huge_kib_peak")),
        "anon_huge_peak_mib": mib_text(summary["anon_huge_kib_peak"] * KIB) if summary.get("anon_huge_kib_peak") else None,
        "anon_huge_captured": summary.get("anon_huge_kib_peak") is not None,
        "anon_huge_steps": bool(huge_values) and all(v % (huge // KIB) == 0 for v in huge_values) and huge_values[-1] > 0,
        "huge_text": size_text(huge), "huge_kib": num(huge // KIB),
        "huge_pages_used": summary.get("huge_pages_used"),
        "step_ms_median": num(summary.get("step_ms_median"), 2) if summary.get("step_ms_median") is not None else None,
        "step_ms_min": num(summary.get("step_ms_min"), 2) if summary.get("step_ms_min") is not None else None,
        "step_ms_max": num(summary.get("step_ms_max"), 2) if summary.get("step_ms_max") is not None else None,
        "steps": _steps_view(rec, alloc_r, step_bytes),
        "from_step": bool(summary.get("touch_from_step")),
        "src": "`results.json` snapshots.allocated and the last of steps" if summary.get("touch_from_step")
        else "`results.json` summary",
        "steps_have_huge": any(s.anon_huge_kib is not None for s in rec.steps),
        "steps_have_ms": any(s.ms is not None for s in rec.steps),
    }

    # ---- how the touch faults split (pages resident before, huge pages, head and tail, the rest)
    split_v = _split_view(region, host, summary, variant, page_size)
    # the same split over the writes: RssAnon against the new pages the writes took, RssFile
    touched_r = reading_of(rec, "touched")
    anon_touch = _delta(touched_r, alloc_r, "rss_anon_kib")
    file_touch = _delta(touched_r, alloc_r, "rss_file_kib")
    touch_v["rss_anon_delta"] = signed(anon_touch)
    touch_v["rss_file_delta"] = signed(file_touch)
    if split_v is not None and anon_touch is not None:
        extra = anon_touch * KIB - split_v["new_pages_n"] * page_size
        split_v["anon_extra_pages"] = num(extra // page_size) if extra >= 0 and extra % page_size == 0 else None
        split_v["new_kib"] = num(split_v["new_pages_n"] * page_size // KIB)
    elif split_v is not None:
        split_v["anon_extra_pages"] = None
    excerpt = source.excerpt(inp.source, variant)
    excerpt_v = {"block": code_block(excerpt.text, "c", None),
                 "spans": ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in excerpt.spans),
                 "lines": excerpt.lines} if excerpt and excerpt.lines <= source.MAX_LINES else None
    maps_ex = {}
    if before_text:
        maps_ex["baseline"] = code_block(maps_excerpt(None, before_text, ("[heap]", "[stack]")), "",
                                         None, f"grep -E 'heap|stack' /proc/{pid}/maps")
    if before_text and after_text:
        # the line a new mapping merged with, replaced ('-'), unless it is the [heap] line shown above
        maps_ex["allocated"] = code_block(maps_excerpt(before_text, after_text, (),
                                                       removed=not (region or {}).get("in_heap")), "diff", None)

    # ---- the original's tools, verbatim
    ps_cmd = (tools.get("ps_aux") or {}).get("command") or (" ".join(declared.PS_U.argv(pid)) if pid else "ps u")
    command = " ".join(workload.command if workload else ()) or "./allocate"
    captures = {
        "uname": code_block(raw.get(vocab.UNAME), "sh", vocab.raw_path(vocab.UNAME), declared.UNAME_A.text),
        "os_release": code_block(raw.get(vocab.OS_RELEASE), "sh", vocab.raw_path(vocab.OS_RELEASE),
                                 declared.OS_RELEASE.text),
        "gcc": code_block(raw.get(vocab.GCC_LOG), "sh", vocab.raw_path(vocab.GCC_LOG)),
        "source": code_block(inp.source, "c", vocab.WORKLOAD_SOURCE),
        "ps_aux": code_block(raw.get(vocab.PS_AUX), "sh", vocab.raw_path(vocab.PS_AUX), ps_cmd),
        "program_log": code_block(log_text, "sh", vocab.raw_path(vocab.PROGRAM_LOG), command),
        "program_stderr": code_block(raw.get(vocab.PROGRAM_STDERR), "sh", vocab.raw_path(vocab.PROGRAM_STDERR))
        if raw.get(vocab.PROGRAM_STDERR) else None,
        "capture_log": code_block(raw.get(vocab.CAPTURE_LOG), "sh", vocab.raw_path(vocab.CAPTURE_LOG), ". capture.sh")
        if raw.get(vocab.CAPTURE_LOG) else None,
    }
    highlights = capture_highlights(raw.get(vocab.CAPTURE_LOG))
    sampler = rec.ticks or {}
    ps_loop = tools.get("ps_loop") or {}

    reason = outcome.reason or (inp.status or {}).get("reason")
    alloc_v = {
        "variant": variant, "call": VARIANT_CALLS.get(variant, variant),
        # glibc's allocator decided where the block went (the original's case)
        "via_malloc": VARIANT_CALLS.get(variant) in ("malloc", "calloc"),
        "direct_mmap": VARIANT_CALLS.get(variant) == "mmap",
        "populate": variant == "mmap-populate", "small": variant == "small-mallocs",
        "madvise": VARIANT_MADVISE.get(variant),
        "fullspeed": variant == "fullspeed", "free": variant == "free",
    }
    return {
        "lang": lang,
        "name": inp.name,
        "hostname": host.get("hostname") or inp.name,
        "complete": bool(rec.complete),
        "outcome": {"status": outcome.status, "reason": reason, "signal": outcome.signal,
                    # the phase, unless the reason already names it
                    "phase": outcome.phase if outcome.phase and outcome.phase not in (reason or "") else None},
        "phases_present": phase_names, "phases_missing": missing, "snapshots_missing": missing_snaps,
        "notes": note_texts(rec.notes, lang),
        # captures the agent ran but could not parse (results.json tools.<name>.parse.ok false):
        # their figures are missing for that reason, which the writeup says instead of leaving gaps
        "unparsed": [{"tool": name, "error": (tool.get("parse") or {}).get("error"),
                      "locale": tool.get("locale")}
                     for name, tool in sorted(tools.items())
                     if isinstance(tool, Mapping) and isinstance(tool.get("parse"), Mapping)
                     and tool["parse"].get("ok") is False],
        "alloc": alloc_v,
        "variant": variant_view(variant, rec, summary, size_bytes, page_size,
                                parsers.parse_maps(freed_text) if freed_text else ()),
        "params": {
            "size": f"{size_text(size_bytes)} ({num(size_bytes)} bytes)" if size_bytes else None,
            "step": f"{size_text(step_bytes)} ({num(step_bytes)} bytes)" if step_bytes else None,
            "steps": num(-(-size_bytes // step_bytes)) if size_bytes and step_bytes else None,
            "step_interval": seconds_text(params.step_interval_s),
            "sample_interval": seconds_text(params.sample_interval_s),
            "pause": seconds_text(params.pause_s), "tail": seconds_text(params.tail_s),
            "variant": params.variant,
        },
        "workload": {"pid": pid, "command": command, "exit_status": workload.exit_status if workload else None,
                     # what `ps u` saw, when it is not the command as typed by hand (the agent's own path and options)
                     "ran": (lambda ran: ran if ran and ran != command else None)(ps_command(raw.get(vocab.PS_AUX), pid)),
                     "ran_src": vocab.raw_path(vocab.PS_AUX)},
        "host": {
            "hostname": host.get("hostname"), "instance_type": host.get("ec2_instance_type"),
            "on_ec2": host.get("on_ec2"), "arch": host.get("arch"), "kernel": host.get("kernel"),
            "distro": host.get("distro"), "page_size": num(host.get("page_size")),
            "thp_enabled": host.get("thp_enabled"), "thp_defrag": host.get("thp_defrag"),
            # not read from /sys but assumed (the seed: RHEL 9's default, what its faults show)
            "thp_inferred": bool(host.get("thp_inferred")),
            "overcommit": host.get("overcommit_memory"), "glibc": host.get("glibc"),
            "thp_alignment": kernel_thp_alignment(host.get("kernel")),
            "cpu": host.get("cpu_model"), "cpus": host.get("cpus"),
            "mem_total": f"{num(host['mem_total_kib'])} KiB ({mib_text(host['mem_total_kib'] * KIB)})"
            if host.get("mem_total_kib") else None,
            "timezone": host.get("timezone"),
            "utc_offset": f"{'+' if offset >= 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}",
            "sysstat": versions.get("sysstat"), "gcc": versions.get("gcc"), "procps": versions.get("procps"),
            "python": versions.get("python"),
        },
        "phases": phases,
        "sar": {"available": bool(sar_text), "reason": (tools.get("sar") or {}).get("reason"),
                # sar started more than once (the seed's three captures by hand): one "Linux ..." line each
                "segments": sum(1 for line in (sar_text or "").splitlines() if line.startswith("Linux ")),
                "before": sar_split.get("before", 0), "after": sar_split.get("after", 0)},
        "captures": captures,
        "highlights": highlights,
        "stack": stack_v, "heap": heap_v, "region": region_v, "malloc": malloc_v, "commit": commit_v,
        "touch": touch_v, "split": split_v, "excerpt": excerpt_v, "maps_excerpt": maps_ex,
        "reproduce": {
            "run_id": (inp.run or {}).get("run_id"),
            "entry": _entry_of(inp),
            "controller_command": (inp.run or {}).get("command") or None,
            "lab_version": (inp.run or {}).get("lab_version"),
            "lab_commit": (inp.run or {}).get("lab_commit"),
            "agent_version": rec.agent.version,
            "agent_command": agent_command(rec.agent.argv),
            "equivalent": equivalent_command(params),
            "python": rec.agent.python,
            "sampler": {"interval": seconds_text(sampler.get("interval_s")), "ticks": num(sampler.get("ticks")),
                        "late": num(sampler.get("late")), "missed": num(sampler.get("missed")),
                        "late_ms_max": num(sampler.get("lateness_ms_max"), 1)
                        if sampler.get("lateness_ms_max") is not None else None} if sampler else None,
            "ps_loop_missed": num((ps_loop.get("ticks") or {}).get("missed")) if isinstance(ps_loop.get("ticks"), Mapping) else None,
        },
        "samples": num(len(samples)),
    }


def sar_started(rec: RunRecord) -> Optional[float]:
    """The wall time sar was started at (tools.sar.started_wall), which places its rows in their second."""
    started = (rec.tools.get("sar") or {}).get("started_wall")
    return float(started) if isinstance(started, (int, float)) else None


def _sar_around(rows: Sequence[Mapping[str, Any]], windows: Sequence[PhaseWindow], offset: int,
                phase: str, column: str, started_wall: Optional[float],
                past_end: bool = False) -> Tuple[Optional[int], Optional[int]]:
    """sar's `column` in the last row before `phase` began and the first row inside it (`past_end`: the
    first row after it ended, so that the pair spans the whole phase)."""
    window = next((w for w in windows if w.name == phase), None)
    if window is None or not rows or not windows:
        return None, None
    first_local = windows[0].start_wall + offset
    before: Optional[int] = None
    after: Optional[int] = None
    for row in rows:
        if row.get("seconds") is None or row.get(column) is None:
            continue
        wall = _sar_wall(int(row["seconds"]), first_local, offset, started_wall)
        if wall < window.start_wall:
            before = int(row[column])
        elif after is None and (wall > window.end_wall if past_end else wall <= window.end_wall):
            after = int(row[column])
    return before, after
