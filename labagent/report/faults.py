"""How the touch faults split: pages already resident, one fault per page where a huge page cannot
fit (the region's unaligned head and tail), one per huge page where one was used, and the rest."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

KIB = 1024
MALLOC_HEADER_BYTES = 16  # glibc's chunk header in front of each block (two 8-byte sizes)


@dataclass(frozen=True)
class FaultSplit:
    """The accounting of one run's touch faults (counts of pages or faults; addresses as ints)."""
    measured: int  # min_flt during the touch phase
    page_size: int
    pmd_size: int  # a huge page: one page-middle-directory entry
    written_pages: int  # pages the writes span
    resident_pages: int  # of them, already resident before the writes (the chunk header's page, or the
    # whole huge page it lies in when its write at malloc faulted one in)
    new_pages: int  # written_pages - resident_pages
    huge_faults: Optional[int]  # huge pages the writes faulted in: (peak AnonHugePages - before) / pmd_size
    # (None when not captured)
    aligned_ranges: int  # pmd-aligned ranges inside both the mapping and the writes
    first_boundary: Optional[int]  # the first and last pmd boundary inside the mapping
    last_boundary: Optional[int]
    start_misalign: int  # bytes from the boundary below the mapping's start to its start
    head_pages: int  # written pages below the first boundary, not resident before
    tail_pages: int  # written pages above the last boundary
    fallback_pages: int  # pages of aligned ranges that got no huge page
    base_faults: int  # faults taken page by page
    other_faults: int  # measured - huge - base: the program's other pages
    huge_inferred: bool = False  # no AnonHugePages: huge_faults is the aligned ranges written
    resident_huge: int = 0  # huge pages resident before the writes: the chunk header's write at malloc
    # faulted in the huge page of an aligned range it lies in
    header_in_head: bool = False  # the resident header page lies in the head (it is not in head_pages)

    @property
    def huge_used(self) -> bool:
        return bool(self.huge_faults)


def _pages(lo: int, hi: int, page: int) -> int:
    """Pages that [lo, hi) touches."""
    if hi <= lo:
        return 0
    return (-(-hi // page) * page - (lo // page) * page) // page


def split(start: int, end: int, pointer: int, touched: int, measured: int, page_size: int, pmd_size: int,
          anon_huge_peak_kib: Optional[int], header_resident: bool, huge_mode: bool = False,
          anon_huge_before_kib: Optional[int] = None) -> Optional[FaultSplit]:
    """The split for writes of `touched` bytes from `pointer` into the mapping [start, end).
    `huge_mode`: the faults show huge pages; without AnonHugePages, every aligned range is taken to
    have got one (`huge_inferred`). `header_resident`: the allocator wrote a header in the page holding the pointer before the
    writes (glibc's malloc does), so that page faulted at malloc, not during the writes; when that page
    lies in an aligned range and the process had AnonHugePages before the writes
    (`anon_huge_before_kib`, at `allocated`), that fault brought the whole huge page, resident since."""
    if touched <= 0 or not start <= pointer < end or page_size <= 0 or pmd_size <= 0:
        return None
    lo, hi = pointer, min(end, pointer + touched)
    written = _pages(lo, hi, page_size)
    resident = 1 if header_resident and pointer % page_size else 0
    # huge pages fit only in pmd-aligned ranges wholly inside the mapping
    first = -(-start // pmd_size) * pmd_size
    last = (end // pmd_size) * pmd_size
    before = int(anon_huge_before_kib or 0) * KIB // pmd_size
    resident_huge = 0
    header_in_head = False
    if last > first:
        a_lo, a_hi = max(lo, first), min(hi, last)
        aligned = _pages(a_lo, a_hi, pmd_size) if a_hi > a_lo else 0
        head = _pages(lo, min(hi, first), page_size)
        tail = _pages(max(lo, last), hi, page_size)
        header_in_head = bool(resident) and lo < first
        head -= resident if header_in_head else 0
        if resident and not header_in_head and before:
            resident_huge = 1  # the header's huge page: written pages in it were all resident already
            resident = _pages(lo, min(hi, (lo // pmd_size + 1) * pmd_size), page_size)
    else:
        first = last = 0
        aligned, head, tail = 0, written - resident, 0
    peak = None if anon_huge_peak_kib is None else int(anon_huge_peak_kib) * KIB // pmd_size
    huge = None if peak is None else max(0, peak - before)
    inferred = huge is None and huge_mode
    if inferred:  # resident_huge is 0 here: without a peak there was no AnonHugePages before the writes either
        huge = aligned
    if huge or resident_huge:
        fallback = max(0, aligned - resident_huge - (huge or 0)) * (pmd_size // page_size)
        base = head + tail + fallback
    else:
        fallback = 0
        base = written - resident
    return FaultSplit(measured=measured, page_size=page_size, pmd_size=pmd_size, written_pages=written,
                      resident_pages=resident, new_pages=written - resident, huge_faults=huge,
                      aligned_ranges=aligned, first_boundary=first if last > first else None,
                      last_boundary=last if last > first else None, start_misalign=start % pmd_size,
                      head_pages=head, tail_pages=tail, fallback_pages=fallback, base_faults=base,
                      other_faults=measured - (huge or 0) - base, huge_inferred=inferred,
                      resident_huge=resident_huge, header_in_head=header_in_head)


def of_run(summary: Mapping[str, Any], host: Mapping[str, Any], variant: str, page_size: int,
           pmd_size: int) -> Optional[FaultSplit]:
    """The split of one run's touch faults from its results.json summary (the region the maps show,
    the pointer, the bytes written, min_flt, peak AnonHugePages); None where it does not apply: no
    region, prefaulted memory, small-mallocs' many blocks. `pmd_size`: the host's huge page size when
    it was read, else the architecture's. The writeup and the index both state this one split."""
    region = summary.get("region") or {}
    touched_bytes = int(summary.get("touched_bytes") or 0)
    min_flt_touch = summary.get("min_flt_touch")
    mode = summary.get("fault_mode")
    if not (region.get("pointer") and region.get("start") and region.get("end")) or not touched_bytes \
            or min_flt_touch is None or mode == "prefaulted" or variant == "small-mallocs":
        return None
    try:
        pmd = int(host.get("thp_pmd_size") or 0) or pmd_size
    except (TypeError, ValueError):
        pmd = pmd_size
    return split(int(region["start"], 16), int(region["end"], 16), int(region["pointer"], 16), touched_bytes,
                 int(min_flt_touch), page_size, pmd, summary.get("anon_huge_kib_peak"),
                 header_resident=region.get("pointer_offset") == MALLOC_HEADER_BYTES,
                 huge_mode=mode in ("huge", "mixed"), anon_huge_before_kib=summary.get("anon_huge_kib_before_touch"))
