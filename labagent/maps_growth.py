"""Which mappings of a process grew between two /proc/PID/maps captures: [heap], anonymous, file-backed.

Pure functions over parsed maps (parsers.Mapping); the recorder's summary and the recording's writeup
both use them, so the numbers in results.json and in the writeup are the same computation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from .parsers import Mapping

# The kinds of mapping, in the order the writeup lists them.
KINDS = ("heap", "anonymous", "file", "stack", "other")


def kind_of(mapping: Mapping) -> str:
    """[heap] -> heap; no pathname -> anonymous (mmap, glibc's large mallocs and arenas); a path -> file;
    [stack] -> stack; [vdso], [vvar] and the like -> other."""
    name = mapping.pathname
    if name == "[heap]":
        return "heap"
    if name == "":
        return "anonymous"
    if name.startswith("[stack"):
        return "stack"
    if name.startswith("["):
        return "other"
    return "file"


@dataclass(frozen=True)
class KindTotal:
    """The bytes of address space of one kind of mapping, before and after."""
    kind: str
    before_bytes: int
    after_bytes: int
    before_count: int
    after_count: int

    @property
    def change_bytes(self) -> int:
        return self.after_bytes - self.before_bytes


@dataclass(frozen=True)
class MappingChange:
    """One mapping that appeared, disappeared or changed size (matched by its start address)."""
    kind: str
    change: str  # "new", "gone", "grew", "shrank"
    start: int
    before_bytes: int
    after_bytes: int
    perms: str
    pathname: str

    @property
    def change_bytes(self) -> int:
        return self.after_bytes - self.before_bytes


def totals(before: Sequence[Mapping], after: Sequence[Mapping]) -> Tuple[KindTotal, ...]:
    """Per kind, the address space mapped before and after (every kind, even when both are zero)."""
    out = []
    for kind in KINDS:
        old = [m.size_bytes for m in before if kind_of(m) == kind]
        new = [m.size_bytes for m in after if kind_of(m) == kind]
        out.append(KindTotal(kind, sum(old), sum(new), len(old), len(new)))
    return tuple(out)


def changes(before: Sequence[Mapping], after: Sequence[Mapping]) -> Tuple[MappingChange, ...]:
    """Mappings that are new, gone, or of another size, largest change first. A mapping keeps its start
    address when it grows upwards ([heap] through brk) and its end when it grows downwards ([stack]),
    so both are tried; a region split by mprotect shows as a shrink plus a new mapping."""
    old_by_start: Dict[int, Mapping] = {m.start: m for m in before}
    old_by_end: Dict[int, Mapping] = {m.end: m for m in before}
    matched = set()
    out: List[MappingChange] = []
    for new in after:
        old = old_by_start.get(new.start)
        if old is None or old.start in matched:
            candidate = old_by_end.get(new.end)
            old = candidate if candidate is not None and candidate.start not in matched else None
        if old is None:
            out.append(MappingChange(kind_of(new), "new", new.start, 0, new.size_bytes, new.perms, new.pathname))
            continue
        matched.add(old.start)
        if old.size_bytes != new.size_bytes:
            out.append(MappingChange(kind_of(new), "grew" if new.size_bytes > old.size_bytes else "shrank",
                                     new.start, old.size_bytes, new.size_bytes, new.perms, new.pathname))
    for old in before:
        if old.start not in matched:
            out.append(MappingChange(kind_of(old), "gone", old.start, old.size_bytes, 0, old.perms, old.pathname))
    return tuple(sorted(out, key=lambda c: (-abs(c.change_bytes), c.start)))


def summary(before: Sequence[Mapping], after: Sequence[Mapping]) -> Dict[str, object]:
    """results.json's maps_growth: per kind, bytes before and after and the change."""
    return {t.kind: {"before_bytes": t.before_bytes, "after_bytes": t.after_bytes, "change_bytes": t.change_bytes,
                     "before_count": t.before_count, "after_count": t.after_count}
            for t in totals(before, after)}
