"""labagent.report.render: writeups checked against golden Markdown, exactly; plots are valid,
deterministic SVG.

The golden files are tests/report/golden/*.md. After a deliberate change to the writeup, regenerate
them and review the diff before committing:

    MALLOC_LAB_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report
"""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from labagent import cli
from labagent.experiment import LabError
from labagent.report import render

from goldens import GOLDEN, UPDATE, check_golden, read  # noqa: F401  (re-exported to the other report tests)
from report_runs import copy_run

SVG = "{http://www.w3.org/2000/svg}"


def tree_bytes(root: str) -> dict:
    out = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith((".md", ".svg")):
                path = os.path.join(base, name)
                with open(path, "rb") as handle:
                    out[os.path.relpath(path, root)] = handle.read()
    return out


# --------------------------------------------------------------------------- golden writeups

def test_seed_writeup_en(seed_dir):
    written = render.render_run(seed_dir, lang="en", draw=False)
    assert written == [os.path.join(seed_dir, "README.md")]  # draw=False: the Markdown only
    text = read(os.path.join(seed_dir, "README.md"))
    check_golden("seed-rhel94.en.md", text)
    for needle in ("0x7fdaf4600000 - 0x7fdaee1ff000 = 104,861,696", "`0x10` past the start", "**not `[heap]`**",
                   "huge-page faults", "`always` (inferred", "commit charge", "## Where the original note was wrong"):
        assert needle in text


def test_seed_writeup_ja(seed_dir):
    render.render_run(seed_dir, lang="ja", draw=False)
    text = read(os.path.join(seed_dir, "README.ja.md"))
    check_golden("seed-rhel94.ja.md", text)
    for needle in ("# 検証\n", "## 検証準備\n", "## 検証実行\n", "## プログラム実行ログ\n",
                   "### capture.sh (ps コマンドを使用)\n", "0x7fdaf4600000 - 0x7fdaee1ff000 = 104,861,696",
                   "`0x10` の位置", "huge page の fault", "## 元のメモの誤り\n",
                   "malloc を利用して virtual memory、physical memory の関係性を見てみよう。"):
        assert needle in text


def test_debian_madvise_writeup_en(debian_dir):
    render.render_run(debian_dir, draw=False)
    text = read(os.path.join(debian_dir, "README.md"))
    check_golden("debian12-madvise.en.md", text)
    for needle in ("**one fault per page**", "Transparent huge pages are `madvise` here",
                   "merged with the mapping right above it", "malloc added 104,861,696 bytes",
                   "25,600 pages were new", "python3 -m labagent run --size 100MiB"):
        assert needle in text


def test_madv_hugepage_writeup_en(hugepage_dir):
    render.render_run(hugepage_dir, draw=False)
    text = read(os.path.join(hugepage_dir, "README.md"))
    check_golden("debian12-madv-hugepage.en.md", text)
    for needle in ("`madvise(MADV_HUGEPAGE)`", "huge-page faults", "peak AnonHugePages 102,400 KiB"):
        assert needle in text
    assert "It is `mmap`, not `[heap]`" not in text and "Not one fault per page" not in text  # no malloc here


def test_thp_always_writeup_en_and_ja(thp_always_dir):
    render.render_run(thp_always_dir, draw=False)
    check_golden("debian12-thp-always.en.md", read(os.path.join(thp_always_dir, "README.md")))
    render.render_run(thp_always_dir, lang="ja", draw=False)
    check_golden("debian12-thp-always.ja.md", read(os.path.join(thp_always_dir, "README.ja.md")))


@pytest.mark.slow
def test_both_languages_coexist_with_shared_plots(compare_dir):
    """`--lang en,ja`: every host and the index get README.md and README.ja.md side by side, each
    linking the other; the plots are drawn once, with no prose in either language."""
    written = render.render_run(compare_dir, lang="en,ja")
    for name in ("README.md", "README.ja.md", "h1/README.md", "h1/README.ja.md", "h2/README.ja.md"):
        assert os.path.join(compare_dir, name) in written
    en, ja = read(os.path.join(compare_dir, "h1", "README.md")), read(os.path.join(compare_dir, "h1", "README.ja.md"))
    assert en.startswith("# malloc and memory on") and "*日本語: [README.ja.md](README.ja.md)*" in en
    assert "# 検証\n" in ja and "*English: [README.md](README.md)*" in ja
    index_ja = read(os.path.join(compare_dir, "README.ja.md"))
    assert "[h1](h1/README.ja.md)" in index_ja and "*English: [README.md](README.md)*" in index_ja
    assert "[h1](h1/README.md)" in read(os.path.join(compare_dir, "README.md"))
    svgs = sorted(p for p in written if p.endswith(".svg"))
    assert len(svgs) == len(set(svgs)) == 6  # two per host, two for the index: once, not per language
    for path in svgs:
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", read(path)), path
    # rendering one language again leaves the other's file alone
    before = read(os.path.join(compare_dir, "h1", "README.ja.md"))
    render.render_run(compare_dir, lang="en")
    assert read(os.path.join(compare_dir, "h1", "README.ja.md")) == before


def test_killed_run_says_so_at_the_top(killed_dir):
    render.render_run(killed_dir, draw=False)
    text = read(os.path.join(killed_dir, "README.md"))
    check_golden("debian12-killed.en.md", text)
    first = text.split("\n\n")[1]
    assert first.startswith("> **This run is incomplete: failed.**")
    assert "killed by SIGKILL during touching" in first
    assert "There is no `touched` snapshot" in text


def test_comparison_index_with_failed_hosts(compare_dir):
    written = render.render_run(compare_dir)
    rel = sorted(os.path.relpath(p, compare_dir) for p in written)
    assert rel == ["README.md", "h1/README.md", "h1/plots/process.svg", "h1/plots/system.svg", "h2/README.md",
                   "h2/plots/process.svg", "h2/plots/system.svg", "plots/faults.svg", "plots/rss.svg"]
    text = read(os.path.join(compare_dir, "README.md"))
    check_golden("compare.index.en.md", text)
    assert "| h3 | failed: the agent exited with status 2" in text
    assert "| h4 | unreachable: Failed to connect" in text
    assert "[h1](h1/README.md)" in text and "[h2](h2/README.md)" in text
    # a host's writeup in a run names the run
    assert "Part of run `20261125T2210-compare`" in read(os.path.join(compare_dir, "h1", "README.md"))


def test_an_incomplete_host_is_compared_and_listed_with_its_reason(compare_dir):
    copy_run("debian12-killed", os.path.join(compare_dir, "h5"))
    render.render_run(compare_dir, draw=False)
    text = read(os.path.join(compare_dir, "README.md"))
    assert "| h5 | failed: the workload was killed by SIGKILL during touching | [h5/README.md](h5/README.md) |" in text
    assert "[h5](h5/README.md)" in text.split("## Comparison")[1]
    assert ("- **h5**: failed: the workload was killed by SIGKILL during touching "
            "(what was captured: [h5/README.md](h5/README.md))") in text


def test_comparison_index_ja(compare_dir):
    render.render_run(compare_dir, lang="ja", draw=False)
    text = read(os.path.join(compare_dir, "README.ja.md"))
    check_golden("compare.index.ja.md", text)
    assert "## 失敗・未完了のホスト" in text


# --------------------------------------------------------------------------- determinism and SVG

@pytest.mark.slow
def test_rendering_twice_gives_the_same_bytes(compare_dir):
    render.render_run(compare_dir)
    first = tree_bytes(compare_dir)
    render.render_run(compare_dir)
    assert tree_bytes(compare_dir) == first
    assert len([p for p in first if p.endswith(".svg")]) == 6


@pytest.mark.slow
def test_a_hosts_plots_do_not_depend_on_the_other_hosts(compare_dir, debian_dir, seed_dir):
    render.render_run(compare_dir)
    render.render_run(debian_dir)
    render.render_run(seed_dir)
    for host, alone in (("h1", debian_dir), ("h2", seed_dir)):
        for name in ("process.svg", "system.svg"):
            with open(os.path.join(compare_dir, host, "plots", name), "rb") as a, \
                    open(os.path.join(alone, "plots", name), "rb") as b:
                # the same bytes but for the title, which names the host as its directory does
                title = os.path.basename(alone).encode() + b": "
                assert a.read() == b.read().replace(title, host.encode() + b": "), (host, name)


@pytest.mark.slow
def test_parallel_rendering_matches_serial(compare_dir, monkeypatch, tmp_path):
    render.render_run(compare_dir)
    serial = tree_bytes(compare_dir)
    monkeypatch.setattr(render, "_workers", lambda count: 2)
    render.render_run(compare_dir)
    assert tree_bytes(compare_dir) == serial


def test_svgs_parse_and_keep_text_as_text(compare_dir):
    render.render_run(compare_dir)
    svgs = [p for p in tree_bytes(compare_dir) if p.endswith(".svg")]
    for rel in svgs:
        root = ET.parse(os.path.join(compare_dir, rel)).getroot()
        assert root.tag == f"{SVG}svg"
        texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
        assert texts, rel  # svg.fonttype none: labels are <text>, not glyph paths
        data = open(os.path.join(compare_dir, rel), encoding="utf-8").read()
        assert "<dc:date>" not in data
    process = ET.parse(os.path.join(compare_dir, "h2", "plots", "process.svg")).getroot()
    labels = " ".join("".join(t.itertext()) for t in process.iter(f"{SVG}text"))
    assert "h2: VSZ, RSS" in labels and "1 baseline" in labels and "VSZ" in labels
    # the title carries the host name, which may be Japanese: a CJK-capable family comes first
    title = next(t for t in process.iter(f"{SVG}text") if "h2: VSZ" in "".join(t.itertext()))
    family = title.get("style").split("font-family:")[1].split(";")[0].strip()
    assert family.startswith("'Noto Sans CJK JP'") and family.endswith("'DejaVu Sans', sans-serif"), family


# --------------------------------------------------------------------------- the command line and errors

def test_cli_report_lang_ja(seed_dir, capsys):
    assert cli.main(["report", seed_dir, "--lang", "ja"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == os.path.join(seed_dir, "README.ja.md")
    assert "## 検証準備" in read(os.path.join(seed_dir, "README.ja.md"))


def test_cli_report_both_languages_and_a_bad_one(seed_dir, capsys):
    assert cli.main(["report", seed_dir, "--lang", "en,ja"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [os.path.join(seed_dir, "README.md"), os.path.join(seed_dir, "README.ja.md")]
    assert cli.main(["report", seed_dir, "--lang", "en,fr"]) != 0
    assert "--lang 'fr' is not one of en, ja" in capsys.readouterr().err


def test_templates_override_by_file_name(seed_dir, tmp_path):
    override = tmp_path / "templates"
    (override / "ja").mkdir(parents=True)
    (override / "host.md.j2").write_text("{{ h.region.size }} {{ h.touch.mode }}\n")
    (override / "ja" / "host.md.j2").write_text("ja {{ h.region.pointer_offset_hex }}\n")
    render.render_run(seed_dir, templates=str(override))
    assert read(os.path.join(seed_dir, "README.md")) == "104,861,696 huge\n"
    render.render_run(seed_dir, lang="ja", templates=str(override))
    assert read(os.path.join(seed_dir, "README.ja.md")) == "ja 0x10\n"


@pytest.mark.parametrize("make,message", [
    (lambda tmp: str(tmp / "missing"), "is not a directory"),
    (lambda tmp: (tmp / "empty").mkdir() or str(tmp / "empty"), "nothing to report"),
])
def test_unusable_run_dirs_are_one_line_errors(tmp_path, make, message):
    with pytest.raises(LabError, match=message):
        render.render_run(make(tmp_path))


def test_bad_lang_and_templates(seed_dir, tmp_path):
    with pytest.raises(LabError, match="--lang 'fr'"):
        render.render_run(seed_dir, lang="fr")
    with pytest.raises(LabError, match="--templates"):
        render.render_run(seed_dir, templates=str(tmp_path / "nope"))


def test_unreadable_results_is_a_failed_host(compare_dir):
    with open(os.path.join(compare_dir, "h3", "results.json"), "w", encoding="utf-8") as handle:
        handle.write("{ torn")
    render.render_run(compare_dir)
    assert "| h3 | failed: results.json is unreadable" in read(os.path.join(compare_dir, "README.md"))


@pytest.mark.slow
def test_fixtures_render_quickly(compare_dir, killed_dir):
    # Both fixtures render; how fast is `make bench`'s to measure (the 50-host benchmark): no test
    # asserts a timing, which a parallel `make test` on a loaded 2-core machine would make flaky.
    assert os.path.join(compare_dir, "README.md") in render.render_run(compare_dir)
    assert os.path.join(killed_dir, "README.md") in render.render_run(killed_dir)


def test_plots_key_the_phases_and_draw_references_and_the_process_rss(thp_always_dir):
    """The faults axis has its two reference lines, the system plot the process's RSS next to the
    machine's used, and the shading a key naming every phase; the numbers on the bands are alone."""
    render.render_run(thp_always_dir)

    def texts(name):
        root = ET.parse(os.path.join(thp_always_dir, "plots", name)).getroot()
        return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]

    process, system = texts("process.svg"), texts("system.svg")
    assert "1 / 4 KiB page" in process and "1 / 2048 KiB huge page" in process
    key = "1 baseline   2 allocated   3 touching   4 touched   5 exited"
    assert key in process and key in system
    assert "RSS (PID)" in system and any(t.startswith("used (MemTotal") for t in system)
    assert {"1", "2", "3", "4", "5"} <= set(process)  # the bands' numbers


@pytest.mark.slow
def test_a_capture_that_could_not_be_parsed_is_named_and_old_results_still_render(debian_dir):
    """results.json may say, per capture tool, that its output could not be parsed (tools.<name>.parse);
    the writeup names it with the reason. Without that field (older runs) nothing changes, and
    samples kept only in samples.jsonl read the same as inline ones."""
    import json
    render.render_run(debian_dir)
    before = read(os.path.join(debian_dir, "README.md"))
    path = os.path.join(debian_dir, "results.json")
    data = json.loads(read(path))
    data["samples"] = []
    data["samples_file"] = "samples.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    render.render_run(debian_dir)
    assert read(os.path.join(debian_dir, "README.md")) == before
    data["tools"]["sar"].update(locale="C", parse={"ok": False, "rows": 0, "error": "no header line with kbmemfree"})
    data["tools"]["ps_loop"].update(locale="C", parse={"ok": True, "rows": 8, "error": None})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    render.render_run(debian_dir)
    text = read(os.path.join(debian_dir, "README.md"))
    assert "**Captures that could not be parsed.**" in text
    assert "- `sar`: no header line with kbmemfree (run with LC_ALL=C)" in text and "- `ps_loop`" not in text
    render.render_run(debian_dir, lang="ja")
    assert "- `sar`: no header line with kbmemfree (LC_ALL=C で実行)" in read(os.path.join(debian_dir, "README.ja.md"))


def test_a_results_json_that_is_not_a_run_record_is_a_failed_host(compare_dir):
    # valid JSON, the wrong shape: the typed record (record.from_json) says where, the run still renders
    path = os.path.join(compare_dir, "h2", "results.json")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data["steps"][0]["bytes"] = "lots"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    render.render_run(compare_dir)
    assert "| h2 | failed: results.json is unreadable: results.json.steps[0].bytes: expected int" in \
        read(os.path.join(compare_dir, "README.md"))
