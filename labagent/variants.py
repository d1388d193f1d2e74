"""The workload's variants, each declared once: how it gets its memory (allocate.c's -v), the phases
it goes through, the figures it reports. The CLI, validation, Params.steps and the Ansible role's
argument_specs (scripts/sync-roles.py) read this; nothing else lists variants.

Adding a variant: a declaration here, its branch in allocate.c, and one prose partial per language
(labagent/report/templates/<lang>/variants/<name>.md.j2).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .errors import LabError

# Summary fields (results.json `summary`) every variant reports: the original's findings.
COMMON_FIGURES = ("vsz_delta_kib", "rss_alloc_delta_kib", "rss_touch_delta_kib", "min_flt_touch", "faults_per_mib",
                  "fault_granularity_kib", "fault_mode", "committed_as_delta_kib", "step_ms_median")


@dataclass(frozen=True)
class Variant:
    """One way for the workload to get its memory."""

    name: str
    summary: str  # one line: what the variant shows
    call: str  # what obtains the memory: malloc, calloc or mmap
    figures: Tuple[str, ...] = ()  # summary fields it reports beyond COMMON_FIGURES
    madvise: Optional[str] = None  # the madvise(2) advice given to the region, if any
    frees: bool = False  # free()s the block after touching: adds the `freed` phase
    one_timed_step: bool = False  # writes the whole block in one timed step (no pacing)

    @property
    def workload_flag(self) -> Tuple[str, str]:
        """allocate.c's option that selects this variant."""
        return ("-v", self.name)

    @property
    def phases(self) -> Tuple[str, ...]:
        """The phases a complete run of this variant records, in order."""
        from .vocab import FREED, PHASES  # vocab imports this module for the names
        return tuple(p for p in PHASES if p != FREED or self.frees)

    @property
    def all_figures(self) -> Tuple[str, ...]:
        return COMMON_FIGURES + self.figures

    def step_bytes(self, size_bytes: int, step_bytes: int) -> int:
        """Bytes per touch step: the whole block when the variant writes it in one timed step."""
        return size_bytes if self.one_timed_step else step_bytes

    def steps(self, size_bytes: int, step_bytes: int) -> int:
        """Touch steps for a block of size_bytes written step_bytes at a time (the last may be short)."""
        return -(-size_bytes // self.step_bytes(size_bytes, step_bytes))


VARIANTS: Tuple[Variant, ...] = (
    Variant("malloc", "the original: malloc(size), pages become resident as they are written", "malloc"),
    Variant("calloc", "calloc(size, 1): fresh mmap pages are already zero, so RSS does not move at allocation",
            "calloc"),
    Variant("mmap", "an anonymous mmap of exactly the size: no malloc header, pointer at offset 0", "mmap",
            figures=("region",)),
    Variant("mmap-populate", "MAP_POPULATE: RSS and the faults arrive at allocation, the writes take almost none",
            "mmap", figures=("min_flt_alloc", "region")),
    Variant("madv-hugepage", "madvise(MADV_HUGEPAGE) on a 2 MiB-aligned region: huge pages even with THP madvise",
            "mmap", figures=("anon_huge_kib_peak", "huge_pages_used"), madvise="MADV_HUGEPAGE"),
    Variant("madv-nohugepage", "madvise(MADV_NOHUGEPAGE): one fault per base page even with THP always", "mmap",
            figures=("anon_huge_kib_peak", "huge_pages_used"), madvise="MADV_NOHUGEPAGE"),
    Variant("small-mallocs", "the same total in 64 KiB mallocs, below glibc's mmap threshold: [heap] grows",
            "malloc", figures=("heap",)),
    Variant("free", "free() after touching: the region is unmapped, VSZ and RSS fall back", "malloc",
            figures=("vsz_freed_delta_kib", "rss_freed_delta_kib"), frees=True),
    Variant("fullspeed", "one timed write of the whole block, then a second pass: what a first touch costs",
            "malloc", figures=("first_touch_gib_s", "second_pass_gib_s", "ns_per_fault", "first_touch_slowdown"),
            one_timed_step=True),
)

NAMES: Tuple[str, ...] = tuple(v.name for v in VARIANTS)
DEFAULT = "malloc"
_BY_NAME = {v.name: v for v in VARIANTS}


def find(name: str) -> Optional[Variant]:
    """The declared variant called name, or None."""
    return _BY_NAME.get(name)


def get(name: str) -> Variant:
    """The declared variant called name; an undeclared one is the user's mistake."""
    found = _BY_NAME.get(name)
    if found is None:
        raise LabError(f"--variant {name!r} is unknown (one of: {', '.join(NAMES)})")
    return found
