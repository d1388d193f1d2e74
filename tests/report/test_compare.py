"""labagent report --compare: a writeup comparing whole runs in runs/compare-<A>-vs-<B>/, checked
against golden Markdown; what differs is named; plots overlay the runs aligned where touching began."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest
from goldens import agent, check_golden, read
from report_runs import copy_run, variant_run

from labagent.errors import LabError
from labagent.report import compare, summary

SVG = "{http://www.w3.org/2000/svg}"
PAIR = "compare-20261125T2325-repeats-vs-20261125T2210-compare"


def svg_texts(path: str) -> list:
    return [t.text for t in ET.parse(path).getroot().iter(f"{SVG}text") if t.text]


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.slow
def test_comparison_of_two_runs_matches_the_golden_writeup(repeats_dir, compare_dir, lang):
    done = agent("report", "--compare", repeats_dir, compare_dir, "--lang", lang)
    assert done.returncode == 0, done.stderr
    out = os.path.join(os.path.dirname(repeats_dir), PAIR)
    assert done.stdout.split() == [os.path.join(out, name) for name in
                                   ("README.md", "summary.csv", "plots/rss.svg", "plots/faults.svg")]
    check_golden(f"compare-runs.{lang}.md", read(os.path.join(out, "README.md")))


def test_what_differs_names_knobs_facts_variants_and_version(repeats_dir, compare_dir):
    runs = [summary.read_run(repeats_dir), summary.read_run(compare_dir)]
    differ, same = compare.differences(runs, [summary.summary_rows(r) for r in runs])
    found = {d.name: d.values for d in differ}
    assert found["size_bytes"] == ("20MiB", "100MiB")
    assert found["variants"] == ("malloc, madv-hugepage, fullspeed", "malloc")
    assert found["repeats"] == ("3", "1")
    assert found["thp_enabled"] == ("madvise", (("h1", "madvise"), ("h2", "always")))  # B's hosts disagree
    assert found["version"] == ("0.1.0 (5bbd31a)", "0.1.0 (6ba4108)")
    assert {d.kind for d in differ} == {"knob", "variant", "fact", "version"}
    assert {d.name: d.values[0] for d in same} == {"arch": "x86_64", "page_size": "4096"}


@pytest.mark.slow
def test_the_plots_overlay_every_run_aligned_at_touching(repeats_dir, compare_dir, tmp_path):
    out = str(tmp_path / "cmp")
    done = agent("report", "--compare", repeats_dir, compare_dir, "--out", out)
    assert done.returncode == 0, done.stderr
    labels = set(svg_texts(os.path.join(out, "plots", "rss.svg")))
    expected = {f"A · {h} · {v}" for h in ("vm-a", "vm-b") for v in ("malloc", "madv-hugepage", "fullspeed")}
    assert expected | {"B · h1 · malloc", "B · h2 · malloc"} <= labels
    assert "t − t(touching) (s)" in labels  # the plots carry no language (both writeups share them)
    lines = compare._overlay("AB", [summary.read_run(repeats_dir), summary.read_run(compare_dir)])
    assert len(lines) == 8 and all(series["touch_start"] is not None for _name, series in lines)
    # every repeat chosen is a complete one: vm-b's killed r3 is not drawn for malloc
    assert sum(1 for name, _s in lines if name == "A · vm-b · malloc") == 1


def test_same_host_and_variant_show_the_change_from_the_first_run(tmp_path):
    """Run 1: 100 MiB of malloc on `vm`; run 2: 20 MiB of malloc on the same `vm` (the variants fixture)."""
    first = copy_run("debian12-madvise", str(tmp_path / "run1" / "vm"))
    second = variant_run("malloc", str(tmp_path / "run2" / "vm"))
    runs = [summary.read_run(os.path.dirname(p)) for p in (first, second)]
    rows = [summary.summary_rows(r) for r in runs]
    view = compare.compare_view(runs, rows, str(tmp_path / "out"), plotted=False)
    a, b = rows[0][0], rows[1][0]
    g = view["groups"][1]
    assert (g["run"], g["host"], g["variant"]) == ("B", "vm", "malloc") and view["versus"]
    expected = (b["faults_per_mib"] - a["faults_per_mib"]) / a["faults_per_mib"] * 100
    assert g["versus"]["faults_per_mib"] == f"{expected:+.1f} %"
    step = (b["step_ms_median"] - a["step_ms_median"]) / a["step_ms_median"] * 100
    assert g["versus"]["step_ms"] == f"{step:+.1f} %" and step < -10  # 5 MiB steps are quicker than 10 MiB
    assert view["groups"][0]["versus"] == {"faults_per_mib": None, "step_ms": None}  # A is the reference
    names = {d.name for d in view["differ"]}
    assert {"size_bytes", "step_bytes", "step_interval_s"} <= names and "kernel" not in names


def test_two_agent_directories_compare_by_variant(tmp_path):
    a = copy_run("debian12-madvise", str(tmp_path / "madvise"))
    b = copy_run("debian12-madv-hugepage", str(tmp_path / "hugepage"))
    written = compare.compare_runs([a, b], lang="en")
    assert written[0] == str(tmp_path / "compare-madvise-vs-hugepage" / "README.md")
    text = read(written[0])
    assert "| variants (lab_variants) | knob | malloc | madv-hugepage |" in text
    assert "| madv-hugepage | B | hugepage | 1 of 1 |" in text and "huge pages" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--compare", "ONE"], "needs two or more runs"),
    (["--compare", "ONE", "ONE"], "the same run twice"),
    (["ONE", "ONE"], "to compare runs, add --compare"),
    (["--compare", "ONE", "MISSING"], "is not a directory"),
])
def test_mistakes_are_one_line(repeats_dir, tmp_path, args, message):
    argv = [repeats_dir if a == "ONE" else str(tmp_path / "missing") if a == "MISSING" else a for a in args]
    done = agent("report", *argv)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_compare_refuses_more_runs_than_letters(tmp_path):
    with pytest.raises(LabError, match="at most 26"):
        compare.compare_runs([str(tmp_path / str(i)) for i in range(27)])
