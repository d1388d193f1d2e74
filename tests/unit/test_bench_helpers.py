"""The benchmark's pure helpers: percentile and ratio math, verdicts, formatting, the synthetic-run
helpers, and bench/lean.py's tick against labagent.procfs over real captures. No timing is asserted."""
from pathlib import Path

import pytest

from bench import lean, stats
from bench.output import text_table
from bench.core import Row
from bench.rendering import host_factor, scaled_sample
from labagent import procfs

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "debian12-local"


@pytest.mark.parametrize("q,expected", [(0, 1.0), (50, 2.5), (100, 4.0), (25, 1.75), (99, 3.97)])
def test_percentile_interpolates_between_ranks(q, expected):
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


def test_percentile_of_one_value_and_of_none():
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([], 50) is None
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_median_of_odd_and_even_counts():
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([1.0, 2.0, 3.0, 10.0]) == 2.5


def test_ratio_and_change_refuse_missing_or_zero_bases():
    assert stats.ratio(6.6e-3, 1.32e-4) == pytest.approx(50.0)
    assert stats.ratio(1.0, 0.0) is None
    assert stats.ratio(None, 1.0) is None
    assert stats.change_pct(10.2, 10.0) == pytest.approx(2.0)
    assert stats.change_pct(9.0, 10.0) == pytest.approx(-10.0)
    assert stats.change_pct(1.0, None) is None


def test_spread_is_range_over_median():
    assert stats.spread_pct([9.0, 10.0, 11.0]) == pytest.approx(20.0)
    assert stats.spread_pct([]) is None


def test_slope_is_least_squares():
    assert stats.slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert stats.slope([1, 2, 3], [5, 4, 6]) == pytest.approx(0.5)
    assert stats.slope([1, 1], [2, 3]) is None
    assert stats.slope([1], [2]) is None
    with pytest.raises(ValueError):
        stats.slope([1, 2], [1])


def test_lateness_summary_counts_ticks_past_the_threshold():
    summary = stats.lateness_summary([0.1, 0.2, 0.3, 60.0], 50.0)
    assert summary["ticks"] == 4
    assert summary["late"] == 1
    assert summary["max_ms"] == 60.0
    assert summary["p50_ms"] == pytest.approx(0.25)
    assert stats.lateness_summary([], 2.5)["p99_ms"] is None


def test_kept_share():
    assert stats.kept_share(5985, 15) == pytest.approx(0.9975)
    assert stats.kept_share(0, 0) is None


@pytest.mark.parametrize("value,limit,at_least,expected", [
    (1.2, 1.3, False, "met"), (1.3, 1.3, False, "met"), (1.31, 1.3, False, "missed"),
    (50.0, 50.0, True, "met"), (22.0, 50.0, True, "missed"), (None, 5.0, False, "n/a"),
])
def test_verdict(value, limit, at_least, expected):
    assert stats.verdict(value, limit, at_least=at_least) == expected


def test_spread_indices_thin_evenly_and_keep_both_ends():
    assert stats.spread_indices(10, 4) == [0, 3, 6, 9]
    assert stats.spread_indices(3, 5) == [0, 1, 2]
    assert stats.spread_indices(5, 1) == [0]
    assert stats.spread_indices(0, 3) == []
    picked = stats.spread_indices(733, 600)
    assert len(picked) == len(set(picked)) == 600
    assert picked[0] == 0 and picked[-1] == 732


@pytest.mark.parametrize("seconds,text", [
    (2.96e-4, "296 µs"), (2.02e-5, "20.2 µs"), (6.636e-3, "6.64 ms"), (0.5, "500 ms"), (12.34, "12.3 s"),
    (0.0, "0 µs"), (None, "n/a"),
])
def test_fmt_duration_keeps_three_significant_digits(seconds, text):
    assert stats.fmt_duration(seconds) == text


def test_fmt_ratio_pct_kib():
    assert stats.fmt_ratio(22.41) == "22.4x"
    assert stats.fmt_pct(1.234) == "+1.2 %"
    assert stats.fmt_pct(99.75, signed=False) == "99.8 %"
    assert stats.fmt_kib(812) == "812 KiB"
    assert stats.fmt_kib(23 * 1024 + 410) == "23.4 MiB"


def test_text_table_aligns_and_hides_info_status():
    table = text_table([Row("1 sampler cost", "ratio", "22x", ">= 50x", "missed"), Row("1 sampler cost", "tick", "296 µs")])
    lines = table.splitlines()
    assert lines[0].split() == ["goal", "metric", "value", "target", "status"]
    assert lines[2].endswith("missed")
    assert lines[3].endswith("296 µs")


def test_synthetic_hosts_scale_process_values_only():
    sample = {"t": 1.5, "rss_kib": 1000, "min_flt": 200, "mem_total_kib": 4096, "anon_huge_kib": None}
    scaled = scaled_sample(sample, 1.05)
    assert scaled == {"t": 1.5, "rss_kib": 1050, "min_flt": 210, "mem_total_kib": 4096, "anon_huge_kib": None}
    factors = [host_factor(i) for i in range(1, 51)]
    assert all(0.95 <= f <= 1.05 for f in factors)
    assert len(set(factors)) > 5


def test_lean_tick_reads_what_procfs_reads(proc_root):
    expected = dict(procfs.read_process(4242, str(proc_root)))
    expected.update(procfs.read_system(str(proc_root)))
    assert lean.read_tick(4242, str(proc_root)) == expected


def test_lean_tick_of_a_gone_process_keeps_the_system_fields(proc_root):
    record = lean.read_tick(999999, str(proc_root))
    assert all(record[key] is None for key in procfs.PROCESS_FIELDS)
    assert record["mem_total_kib"] == procfs.read_system(str(proc_root))["mem_total_kib"]


def test_lean_process_without_an_address_space_is_gone():
    # /proc/PID/status of a process that has released its memory but is not a zombie yet: no Vm lines.
    status = b"Name:\tallocate\nState:\tR (running)\nTgid:\t21437\nPid:\t21437\nThreads:\t1\n"
    assert lean.parse_process(b"21437 (allocate) R 1 2 3", status, None) is None
    assert lean.parse_process(b"21437 (a) b) Z 1 2 3", b"VmSize:\t4 kB\n", None) is None


def test_suite_bench_reads_pytests_summary_and_slowest_tests():
    from bench import suite
    text = ("...\n============================= slowest 5 durations =============================\n"
            "174.65s call     tests/cloud/test_destroy_expired.py::test_destroy_in_all_regions\n"
            "42.90s setup    tests/install/test_fresh_install.py::test_labagent_command\n"
            "================== 1 failed, 727 passed, 2 skipped in 586.85s (0:09:46) ===================\n")
    assert suite._counts(text) == {"failed": 1, "passed": 727, "skipped": 2}
    assert [(m["s"], m["when"]) for m in suite.SLOWEST.finditer(text)] == [("174.65", "call"), ("42.90", "setup")]
    with pytest.raises(suite.BenchError):
        suite._counts("no summary here\n")
    failed = "FAILED tests/ansible/test_local_run.py::test_x - AssertionError: y\nERROR tests/b.py::test_z\n"
    assert [m["test"] for m in suite.FAILED.finditer(failed)] == ["tests/ansible/test_local_run.py::test_x",
                                                                  "tests/b.py::test_z"]
