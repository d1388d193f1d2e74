"""The analysis, fed the original lab note's own captures (RHEL 9, THP always), and this machine's."""
from pathlib import Path

import pytest

from labagent import analysis, parsers

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "seed-rhel94"
LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "debian12-local"


def seed_text(name):
    return (SEED / name).read_text()


def seed_reading(row):
    return {"vsz_kib": row.vsz_kib, "rss_kib": row.rss_kib, "min_flt": row.min_flt, "maj_flt": row.maj_flt}


@pytest.fixture(scope="module")
def seed_summary():
    rows = [r for r in parsers.parse_capture(seed_text("capture.log")) if not r.finished]
    # Phase boundaries as the seed shows them: VSZ jumps at 03:20:01 (malloc), RSS grows from
    # 03:20:25 (the first touch), the last row before "finished" is after the last touch.
    baseline = next(r for r in rows if r.when.startswith("Mon Dec  9 03:20:00"))
    allocated = next(r for r in rows if r.when.startswith("Mon Dec  9 03:20:24"))
    touched = rows[-1]
    log = parsers.parse_program_log(seed_text("program.log"))
    sar_before = parsers.parse_sar_r(seed_text("sar-r-baseline.txt")).rows[-1]
    sar_after = parsers.parse_sar_r(seed_text("sar-r-allocated.txt")).rows[0]
    snapshots = {
        "baseline": dict(seed_reading(baseline), committed_as_kib=int(sar_before.values["kbcommit"])),
        "allocated": dict(seed_reading(allocated), committed_as_kib=int(sar_after.values["kbcommit"])),
        "touched": seed_reading(touched),
    }
    return analysis.summarize(
        snapshots=snapshots,
        maps_before=parsers.parse_maps(seed_text("maps-baseline.txt")),
        maps_after=parsers.parse_maps(seed_text("maps-allocated.txt")),
        pointer=log.pointer, size_bytes=log.size_bytes,
        touched_bytes=log.touches[-1][1] * 1024 * 1024, thp_enabled="always", page_size=4096)


def test_seed_region_is_the_anonymous_mmap_not_the_heap(seed_summary):
    region = seed_summary["region"]
    assert (region["start"], region["end"]) == ("7fdaee1ff000", "7fdaf4600000")
    assert region["size_bytes"] == 104_861_696 == 100 * 1024 * 1024 + 4096
    assert region["pointer_offset"] == 0x10
    assert region["in_heap"] is False and region["anonymous"] is True and region["new"] is True
    assert region["added_bytes"] == 104_861_696
    assert seed_summary["heap"]["changed"] is False
    assert seed_summary["heap"]["before"]["start"] == "2283000"


def test_seed_vsz_jumps_rss_does_not(seed_summary):
    assert seed_summary["vsz_before_kib"] == 2632
    assert seed_summary["vsz_after_alloc_kib"] == 105036
    assert seed_summary["vsz_delta_kib"] == 102404
    assert seed_summary["rss_alloc_delta_kib"] == 0


def test_seed_faults_say_huge_pages(seed_summary):
    assert seed_summary["min_flt_touch"] == 50  # 83 -> 133
    assert seed_summary["maj_flt_touch"] == 0
    assert seed_summary["touched_bytes"] == 90 * 1024 * 1024
    assert seed_summary["faults_per_mib"] == pytest.approx(0.56, abs=0.01)
    assert seed_summary["fault_granularity_kib"] == pytest.approx(1843.2)
    assert seed_summary["fault_mode"] == "huge"
    assert seed_summary["huge_pages_used"] is True  # inferred: the seed has no AnonHugePages capture


def test_seed_commit_charge_rose_by_about_the_size(seed_summary):
    assert seed_summary["committed_as_delta_kib"] == 378672 - 276652
    assert abs(seed_summary["committed_as_delta_kib"] - 102400) < 1024


def test_local_capture_region_merged_with_neighbour():
    before = parsers.parse_maps((LOCAL / "maps-before-malloc.txt").read_text())
    after = parsers.parse_maps((LOCAL / "maps-after-malloc.txt").read_text())
    log = parsers.parse_program_log((LOCAL / "program.log").read_text())
    region = analysis.find_region(before, after, log.pointer)
    assert region["in_heap"] is False
    # 8 MiB + one page of malloc header, whether or not it merged with a neighbour.
    assert region["added_bytes"] == 8 * 1024 * 1024 + 4096


@pytest.mark.parametrize("granularity,mode", [(4.0, "base"), (8.0, "base"), (64.0, "mixed"), (1843.2, "huge"), (None, None)])
def test_fault_mode(granularity, mode):
    assert analysis.fault_mode(granularity, 4) == mode


def test_region_without_pointer_takes_largest_new_mapping():
    before = parsers.parse_maps(seed_text("maps-baseline.txt"))
    after = parsers.parse_maps(seed_text("maps-allocated.txt"))
    assert analysis.find_region(before, after, None)["start"] == "7fdaee1ff000"
    assert analysis.find_region(before, before, None) is None


def test_step_deltas():
    rows = analysis.step_deltas(
        [{"index": 1, "bytes": 10, "rss_kib": 110, "min_flt": 5, "ms": 1.0},
         {"index": 2, "bytes": 20, "rss_kib": 130, "min_flt": 9, "ms": 2.0}],
        {"rss_kib": 100, "min_flt": 1})
    assert [(r["rss_delta_kib"], r["min_flt_delta"]) for r in rows] == [(10, 4), (20, 4)]
