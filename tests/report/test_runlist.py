"""labagent runs: the runs under a directory, newest first, from summary.json where `labagent report`
wrote one and from run.json and results.json where not."""
from __future__ import annotations

import json
import os

import pytest

from goldens import agent
from report_runs import compare_run, copy_run, repeats_run

from labagent import runlist


def make_runs(root) -> str:
    """runs/ with: the repeats run (summarised, 2026-11-25 23:24), the compare run (rendered in
    Japanese, not summarised; its oldest host ran 2024-12-09), one agent directory alone
    (2026-11-25 22:35), a comparison, a directory with nothing in it, and `latest`."""
    runs = root / "runs"
    repeats = repeats_run(str(runs / "20261125T2325-repeats"))
    assert agent("report", repeats, "--summary-only").returncode == 0
    compared = compare_run(str(runs / "20261125T2210-compare"))
    done = agent("report", compared, "--lang", "ja")
    assert done.returncode == 0, done.stderr
    os.remove(os.path.join(compared, "summary.json"))  # as a run reported before summaries existed
    copy_run("debian12-madv-hugepage", str(runs / "one-agent"))
    (runs / "compare-a-vs-b").mkdir()
    (runs / "empty").mkdir()
    os.symlink("20261125T2325-repeats", runs / "latest")
    return str(runs)


@pytest.mark.slow
def test_runs_are_listed_newest_first_with_hosts_variants_size_and_language(tmp_path):
    listed = runlist.list_runs(make_runs(tmp_path))
    assert [r.run_id for r in listed] == ["20261125T2325-repeats", "one-agent", "20261125T2210-compare"]
    repeats, one, compared = listed
    assert (repeats.hosts_ok, repeats.hosts_failed, repeats.runs_ok, repeats.runs_total) == (1, 2, 17, 27)
    assert repeats.variants == ("malloc", "madv-hugepage", "fullspeed") and repeats.sizes == (20 * 1024 * 1024,)
    assert repeats.latest and not one.latest and repeats.langs == ()  # summarised, never rendered
    assert (compared.hosts_ok, compared.hosts_failed, compared.runs_ok, compared.runs_total) == (2, 2, 2, 4)
    assert compared.langs == ("ja",) and compared.variants == ("malloc",)
    assert (one.hosts_ok, one.variants, one.sizes) == (1, ("madv-hugepage",), (100 * 1024 * 1024,))


@pytest.mark.slow
def test_writeups_in_two_languages_side_by_side_are_both_listed(tmp_path):
    runs = make_runs(tmp_path)
    compared = os.path.join(runs, "20261125T2210-compare")
    assert agent("report", compared, "--lang", "en").returncode == 0
    os.rename(os.path.join(compared, "README.md"), os.path.join(compared, "README.en.md"))
    assert agent("report", compared, "--lang", "ja").returncode == 0
    listed = {r.run_id: r for r in runlist.list_runs(runs)}
    assert listed["20261125T2210-compare"].langs == ("en", "ja")


@pytest.mark.slow
def test_the_command_prints_a_table_and_json_lines(tmp_path):
    runs = make_runs(tmp_path)
    done = agent("runs", runs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "id                              date                  hosts ok  failed  runs ok  variants                        size    lang",
        "20261125T2325-repeats (latest)  2026-11-25 23:24 UTC  1         2       17/27    malloc,madv-hugepage,fullspeed  20MiB   -",
        "one-agent                       2026-11-25 22:35 UTC  1         0       1/1      madv-hugepage                   100MiB  -",
        "20261125T2210-compare           2024-12-09 03:19 UTC  2         2       2/4      malloc                          100MiB  ja",
    ]
    lines = agent("runs", runs, "--json").stdout.splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 3 and first["run_id"] == "20261125T2325-repeats"
    assert first["started_utc"] == "2026-11-25 23:24 UTC" and first["variants"] == ["malloc", "madv-hugepage", "fullspeed"]


def test_no_runs_and_a_missing_directory(tmp_path):
    done = agent("runs", str(tmp_path))
    assert done.returncode == 0 and done.stdout == "no runs\n"
    done = agent("runs", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is not a directory" in done.stderr
