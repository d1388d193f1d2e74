"""labagent.maps_growth over real maps: the recording fixture's start and end (tests/fixtures/recordings/NOTE.md)."""
import os

from labagent import maps_growth, parsers

RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "recordings", "steps", "raw")


def maps(name):
    with open(os.path.join(RAW, f"maps-{name}.txt"), encoding="utf-8") as handle:
        return parsers.parse_maps(handle.read())


def test_kinds():
    kinds = {m.pathname: maps_growth.kind_of(m) for m in maps("end")}
    assert kinds["[heap]"] == "heap" and kinds[""] == "anonymous" and kinds["[stack]"] == "stack"
    assert kinds["[vdso]"] == "other"
    assert any(k == "file" for p, k in kinds.items() if p.endswith("libc.so.6"))


def test_totals_from_start_to_end():
    totals = {t.kind: t for t in maps_growth.totals(maps("start"), maps("end"))}
    assert list(totals) == list(maps_growth.KINDS)
    # 64 mallocs of 64 KiB: [heap] appears, and is that much plus glibc's top pad.
    assert totals["heap"].before_bytes == 0 and totals["heap"].after_count == 1
    assert 64 * 64 * 1024 <= totals["heap"].change_bytes < 64 * 64 * 1024 + 256 * 1024
    # one malloc of 24 MiB: one mmap of 24 MiB and a page for glibc's header.
    assert totals["anonymous"].change_bytes == 24 * 1024 * 1024 + 4096
    assert totals["file"].change_bytes == 0 and totals["stack"].change_bytes == 0


def test_changes_match_by_start_or_end():
    changes = maps_growth.changes(maps("start"), maps("end"))
    assert [(c.kind, c.change) for c in changes] == [("anonymous", "grew"), ("heap", "new")]
    grew = changes[0]
    # The kernel merged the new mmap with the anonymous mapping just below it: same end, lower start.
    assert grew.before_bytes == 12288 and grew.change_bytes == 24 * 1024 * 1024 + 4096


def test_a_mapping_that_went_away():
    before, after = maps("end"), maps("start")
    changes = maps_growth.changes(before, after)
    assert ("heap", "gone") in [(c.kind, c.change) for c in changes]
    assert maps_growth.summary(before, after)["heap"]["change_bytes"] < 0
