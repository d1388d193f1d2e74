"""Each workload variant's defining effect, checked live on this machine."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labagent import parsers

ROOT = Path(__file__).resolve().parents[2]
SIZE_KIB = 20 * 1024
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")]


@pytest.fixture(scope="module")
def run_variant(tmp_path_factory):
    cache = {}

    def run(variant):
        if variant not in cache:
            out = tmp_path_factory.mktemp(variant)
            done = subprocess.run(
                [sys.executable, "-m", "labagent", "run", "--variant", variant, "--size", "20MiB", "--step", "5MiB",
                 "--step-interval", "0.05", "--sample-interval", "0.05", "--pause", "0.1", "--tail", "0",
                 "--no-imds", "--quiet", "--force", "--out", str(out)],
                cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            cache[variant] = json.loads((out / "results.json").read_text())
        return cache[variant]
    return run


def test_calloc_is_lazy_too(run_variant):
    s = run_variant("calloc")["summary"]
    # Fresh mmap pages are already zero: calloc does not write them, so nothing becomes resident.
    assert s["rss_alloc_delta_kib"] < 256
    assert abs(s["rss_touch_delta_kib"] - SIZE_KIB) < SIZE_KIB * 0.05


def test_mmap_region_is_exactly_the_size(run_variant):
    region = run_variant("mmap")["summary"]["region"]
    assert region["added_bytes"] == SIZE_KIB * 1024 and region["pointer_offset"] == 0


def test_mmap_populate_is_resident_before_the_first_write(run_variant):
    s = run_variant("mmap-populate")["summary"]
    assert s["rss_alloc_delta_kib"] > SIZE_KIB * 0.95
    assert s["min_flt_alloc"] > 0 and s["min_flt_touch"] < 16
    assert s["fault_mode"] == "prefaulted"


@pytest.mark.skipif("[never]" in (THP.read_text() if THP.exists() else "[never]"), reason="THP is off here")
def test_madv_hugepage_gets_huge_pages_whatever_the_thp_mode(run_variant):
    s = run_variant("madv-hugepage")["summary"]
    assert s["anon_huge_kib_peak"] >= 2048 and s["huge_pages_used"] is True
    assert s["faults_per_mib"] < 16


def test_madv_nohugepage_refuses_them(run_variant):
    s = run_variant("madv-nohugepage")["summary"]
    assert s["anon_huge_kib_peak"] == 0 and s["fault_mode"] == "base"


def test_small_mallocs_grow_the_heap_not_a_new_region(run_variant):
    data = run_variant("small-mallocs")
    s = data["summary"]
    assert s["heap"]["changed"] is True and s["heap"]["delta_bytes"] > SIZE_KIB * 1024 * 0.95
    assert s["region"]["in_heap"] is True
    before = parsers.parse_maps(data["snapshots"]["baseline"]["maps"])
    after = parsers.parse_maps(data["snapshots"]["allocated"]["maps"])
    old = {(m.start, m.end) for m in before}
    new_anon = [m for m in after if (m.start, m.end) not in old and m.pathname == "" and m.size_bytes >= SIZE_KIB * 1024]
    assert new_anon == []


def test_free_gives_the_region_back_at_once(run_variant):
    data = run_variant("free")
    snaps = data["snapshots"]
    assert [p["name"] for p in data["phases"]][-2:] == ["freed", "exited"]
    assert abs(snaps["freed"]["reading"]["vsz_kib"] - snaps["baseline"]["reading"]["vsz_kib"]) <= 8
    assert snaps["freed"]["reading"]["rss_kib"] < snaps["touched"]["reading"]["rss_kib"] - SIZE_KIB * 0.9


def test_fullspeed_measures_the_cost_of_a_fault(run_variant):
    data = run_variant("fullspeed")
    s = data["summary"]
    assert len(data["steps"]) == 1 and data["steps"][0]["bytes"] == SIZE_KIB * 1024
    assert data["timing"]["first_touch_ns"] > 0 and data["timing"]["second_pass_ns"] > 0
    # Writing memory that is already mapped needs no faults: the first pass is the slower one.
    assert s["first_touch_slowdown"] > 1.0 and s["ns_per_fault"] > 0
    assert s["first_touch_gib_s"] < s["second_pass_gib_s"]
