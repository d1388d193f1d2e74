"""labagent.report.summary: runs/<id>/summary.csv and summary.json, one row per host x variant x
repeat, written by `labagent report` on a run (and so by the lab_report role), checked exactly."""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil

from goldens import agent, check_golden, read
from report_runs import copy_run

from labagent.report import summary

HOSTS = ("vm-a", "vm-b", "vm-c")
VARIANTS = ("malloc", "madv-hugepage", "fullspeed")


def csv_rows(path: str) -> list:
    return list(csv.DictReader(io.StringIO(read(path))))


def test_summary_of_the_repeats_run_matches_the_golden_csv(repeats_dir):
    done = agent("report", repeats_dir, "--summary-only")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [os.path.join(repeats_dir, "summary.csv"), os.path.join(repeats_dir, "summary.json")]
    check_golden("repeats.summary.csv", read(os.path.join(repeats_dir, "summary.csv")))
    assert not os.path.exists(os.path.join(repeats_dir, "README.md"))  # --summary-only renders nothing


def test_one_row_per_host_variant_and_repeat_with_json_equal_to_csv(repeats_dir):
    written = summary.write_summary(summary.read_run(repeats_dir))
    rows = csv_rows(written[0])
    doc = json.loads(read(written[1]))
    assert {(r["host"], r["variant"], int(r["repeat"])) for r in rows} == \
        set(itertools.product(HOSTS, VARIANTS, (1, 2, 3)))
    assert len(rows) == 27 and doc["columns"] == list(summary.COLUMNS) == list(rows[0])
    assert doc["schema_version"] == 1 and doc["run_id"] == "20261125T2325-repeats"
    for row, record in zip(rows, doc["rows"]):
        assert row == {k: "" if v is None else ("true" if v is True else "false" if v is False else str(v))
                       for k, v in record.items()}
    by_name = {r["name"]: r for r in doc["rows"]}
    assert [r["status"] for r in doc["rows"]].count("ok") == 17
    ok = by_name["vm-a__malloc__r1"]
    assert (ok["faults_per_mib"], ok["fault_mode"], ok["size_bytes"], ok["thp_enabled"], ok["region_pointer_offset"]) \
        == (256.2, "base", 20971520, "madvise", 16)
    assert by_name["vm-a__madv-hugepage__r1"]["anon_huge_kib_peak"] == 20480
    killed = by_name["vm-b__malloc__r3"]  # killed mid-touch: the last step stands in for `touched`
    assert (killed["status"], killed["reason"], killed["touch_from_step"]) == \
        ("failed", "the workload was killed by SIGKILL during touching", True)
    assert killed["rss_after_touch_kib"] is not None
    gone = by_name["vm-c__fullspeed__r2"]  # unreachable: only what the controller recorded
    assert gone["status"] == "unreachable" and "Connection timed out" in gone["reason"]
    assert all(gone[c] is None for c in summary.FACT_COLUMNS + summary.FIGURE_COLUMNS)


def test_report_on_a_run_writes_the_summary_beside_the_writeups(compare_dir):
    # the lab_report role's command: python -m labagent report <run dir> --lang=<lang>, from the repo
    done = agent("report", compare_dir, "--lang=en")
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split()
    assert os.path.join(compare_dir, "summary.csv") in printed and os.path.join(compare_dir, "README.md") in printed
    rows = csv_rows(os.path.join(compare_dir, "summary.csv"))
    assert [(r["name"], r["status"], r["distro"]) for r in rows] == [
        ("h1", "ok", "Debian GNU/Linux 12 (bookworm)"), ("h2", "ok", "Red Hat Enterprise Linux 9.4 (Plow)"),
        ("h3", "failed", ""), ("h4", "unreachable", "")]
    assert rows[1]["fault_mode"] == "huge" and rows[1]["thp_enabled"] == "always"


def test_a_corrupt_results_json_is_a_failed_row_not_a_crash(compare_dir):
    with open(os.path.join(compare_dir, "h1", "results.json"), "w") as handle:
        handle.write("{bad")
    done = agent("report", compare_dir, "--summary-only")
    assert done.returncode == 0, done.stderr
    row = csv_rows(os.path.join(compare_dir, "summary.csv"))[0]
    assert row["name"] == "h1" and row["status"] == "failed" and row["reason"].startswith("results.json is unreadable")


def test_one_agent_directory_gets_no_summary(tmp_path):
    one = copy_run("debian12-madvise", str(tmp_path / "one"))
    done = agent("report", one, "--summary-only")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is one agent directory" in done.stderr
    assert not os.path.exists(os.path.join(one, "summary.csv"))


def test_a_run_without_run_json_is_its_directories(tmp_path):
    run = tmp_path / "bare"
    copy_run("debian12-madvise", str(run / "x"))
    copy_run("debian12-killed", str(run / "y"))
    shutil.rmtree(run / "y" / "raw")
    rows = summary.summary_rows(summary.read_run(str(run)))
    assert [(r["host"], r["status"], r["repeat"]) for r in rows] == [("x", "ok", 1), ("y", "failed", 1)]
