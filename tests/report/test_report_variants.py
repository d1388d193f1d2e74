"""The variants' writeups (tests/fixtures/runs/variants/: one real 20 MiB run each) and the index of a
run with several variants and repeats (tests/fixtures/runs/repeats/), against golden Markdown.

Regenerate the golden files after a deliberate change, and review the diff:

    MALLOC_LAB_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time
import xml.etree.ElementTree as ET

import pytest

from labagent import record
from labagent.report import model, plots, render

import report_runs
from test_report_render import check_golden, read, tree_bytes

VARIANTS = ("malloc", "calloc", "mmap", "mmap-populate", "madv-hugepage", "madv-nohugepage", "small-mallocs",
            "free", "fullspeed")
SVG = "{http://www.w3.org/2000/svg}"


def view_of(directory: str, name: str) -> dict:
    return model.host_view(render.read_host(directory, name))


# --------------------------------------------------------------------------- each variant's writeup

@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_writeup_en(variant_dir, variant):
    directory = variant_dir(variant)
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    check_golden(f"variant-{variant}.en.md", text)
    # the variant's own paragraph comes first in "What it shows", except for the original
    shows = text.split("## What it shows\n\n")[1].split("\n# ")[0]
    assert shows.startswith(f"- **The variant, `{variant}`.**") == (variant != "malloc")


@pytest.mark.parametrize("variant", ("small-mallocs", "free", "calloc", "mmap-populate", "madv-hugepage"))
def test_variant_writeup_ja(variant_dir, variant):
    directory = variant_dir(variant)
    render.render_run(directory, lang="ja", draw=False)
    text = read(os.path.join(directory, "README.ja.md"))
    check_golden(f"variant-{variant}.ja.md", text)
    assert f"- **variant `{variant}`。**" in text


def test_calloc_writes_nothing_at_allocation(variant_dir):
    directory = variant_dir("calloc")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    v = view_of(directory, "v-calloc")["variant"]
    assert v["rss_alloc_still"] and (v["rss_alloc_delta"], v["min_flt_alloc"], v["faults"]) == ("+68", "3", "5,123")
    assert "yet at calloc RSS moved +68 KiB\n  and the process took 3 minor faults" in text
    assert "so calloc wrote nothing" in text and "5,123 faults (256.15 per MiB)" in text
    assert "min_flt +3" in text  # the chunk header's page, in the phase `allocated`


def test_mmap_is_exactly_the_size(variant_dir):
    directory = variant_dir("mmap")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    v = view_of(directory, "v-mmap")["variant"]
    assert v["exact"] and (v["region_added"], v["pointer_offset"], v["malloc_region"]) == ("20,971,520", "0", "20,975,616")
    assert "a mapping of exactly 20,971,520 bytes, the pointer at its start (offset 0)" in text
    assert "It is `mmap`, not `[heap]`" not in text and "Not one fault per page" not in text


def test_mmap_populate_faults_at_allocation_not_at_the_writes(variant_dir):
    directory = variant_dir("mmap-populate")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    view = view_of(directory, "v-mmap-populate")
    v = view["variant"]
    assert view["touch"]["mode"] == "prefaulted" and v["prefaulted"]
    assert (v["rss_alloc_delta"], v["min_flt_alloc"], v["alloc_granularity"], v["alloc_mode"]) == \
        ("+20,480", "5,120", "4.0", "base")
    assert "at mmap RSS went +20,480 KiB and the process took 5,120 minor faults\n  (4.0 KiB per fault, one per 4 KiB page)" in text
    assert "The writes that followed found the pages in place: 4 faults" in text
    assert "the pages were mapped at mmap" in text
    # neither huge pages nor first-touch faults: the faults came with mmap (the prose, not allocate.c)
    text = text.split("```c\n")[0] + text.split("# Appendix")[0].split("```\n\n## Run")[-1]
    for wrong in ("huge-page faults", "**one fault per page**", "How the", "first touch", "not captured"):
        assert wrong not in text, wrong


def test_madvise_variants_say_asked_for_and_refused(variant_dir):
    hugepage, nohugepage = variant_dir("madv-hugepage"), variant_dir("madv-nohugepage")
    render.render_run(hugepage, draw=False)
    render.render_run(nohugepage, draw=False)
    text = read(os.path.join(hugepage, "README.md"))
    assert "It got them: 14 faults for 20 MiB (0.70 per MiB, 1,462.9 KiB per fault)" in text
    assert "`AnonHugePages` 20,480 KiB (10 huge pages of 2 MiB)" in text
    text = read(os.path.join(nohugepage, "README.md"))
    assert "which refuses huge pages for the range whatever transparent huge pages\n  are set to: 5,124 faults" in text
    assert "THP is `madvise` here" in text


def test_small_mallocs_grow_the_heap(variant_dir):
    directory = variant_dir("small-mallocs")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    view = view_of(directory, "v-small-mallocs")
    small = view["variant"]["small"]
    assert view["region"]["in_heap"] and small["heap_changed"] and small["headers_touch_pages"]
    assert (small["blocks"], small["heap_before"], small["heap_after"], small["heap_delta"]) == \
        ("320", "135,168", "21,057,536", "+20,922,368")
    assert "grew it with brk, from 135,168 to 21,057,536 bytes\n  (+20,922,368)" in text
    assert "touching one page per block (320 × 4 KiB = 1,280 KiB)" in text
    assert "`[heap]` grew: brk moved its end up by" in text and "merged with the mapping" not in text
    assert "**not `[heap]`**" not in text


def test_free_shows_the_freed_phase(variant_dir):
    directory = variant_dir("free")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    freed = view_of(directory, "v-free")["variant"]["freed"]
    assert freed["unmapped"] and freed["vsz_back"] and freed["region_all_gone"]
    assert (freed["vsz_delta"], freed["rss_delta"], freed["region_gone"]) == ("-20,484", "-20,484", "20,975,616")
    section = text.split("### 5. `freed`\n")[1].split("\n### 6.")[0]
    assert "VSZ 22,960 KiB → 2,476 KiB (-20,484)" in section
    assert "glibc gave it back with `munmap`: 20,975,616 bytes of" in section
    # 20 MiB + one page is below DEFAULT_MMAP_THRESHOLD_MAX (32 MiB): free() raised the threshold
    assert "a second `malloc` of the same size would now come from `[heap]`" in section
    assert "The block's charge went at `free()` already" in text


def test_fullspeed_shows_the_cost_of_a_fault(variant_dir):
    directory = variant_dir("fullspeed")
    render.render_run(directory, draw=False)
    text = read(os.path.join(directory, "README.md"))
    timing = view_of(directory, "v-fullspeed")["variant"]["timing"]
    assert (timing["first_gib_s"], timing["second_gib_s"], timing["ns_per_fault"], timing["slowdown"]) == \
        ("2.046", "9.990", "1,480.8", "4.88")
    assert "then writes all of it in one go and once more, timing both" in text
    assert "/ 5,126 faults = 1,480.8 ns\nper fault, from this one run" in text
    assert "`fullspeed` returned" not in text and "per 5 MiB step" not in text


# --------------------------------------------------------------------------- entries, statistics

FIXTURE_RUNS = os.path.join(report_runs.FIXTURES, "runs")


def _ran(variant):
    """A real run's record (the variants fixture's malloc run) as if it had run `variant`."""
    rec = record.read(os.path.join(FIXTURE_RUNS, "variants", "malloc"))
    return dataclasses.replace(rec, params=dataclasses.replace(rec.params, variant=variant))


def test_entry_key_from_run_json_then_the_name_then_the_directory():
    entries = {"a__calloc__r2": {"host": "a", "variant": "calloc", "repeat": 2}}
    assert model.entry_key("a__calloc__r2", entries, None) == model.EntryKey("a", "calloc", 2)
    data = _ran("mmap")
    assert model.entry_key("b__mmap__r3", None, data) == model.EntryKey("b", "mmap", 3)
    assert model.entry_key("b__mmap__r3", None, _ran("calloc")) == \
        model.EntryKey("b__mmap__r3", "calloc", 1)  # the name disagrees with what ran: a host's name
    assert model.entry_key("h1", None, None) == model.EntryKey("h1", "malloc", 1)
    assert model.entry_key("h1", {"h1": {"host": "h1", "variant": "malloc", "repeat": 1}}, data) == \
        model.EntryKey("h1", "malloc", 1)
    assert model.entry_key("x__nosuch__r1", None, None) == model.EntryKey("x__nosuch__r1", "malloc", 1)


@pytest.mark.parametrize("values,stats", [
    ([3.0, 1.0, 2.0], {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}),
    ([4, None, 1], {"median": 2.5, "min": 1.0, "max": 4.0, "n": 2}),
    ([None], None), ([], None)])
def test_spread(values, stats):
    assert model.spread(values) == stats


def test_spread_text():
    assert model.spread_text(model.spread([256.15, 256.2, 256.2]), 2) == "256.20 (256.15 – 256.20)"
    assert model.spread_text(model.spread([20484, 20484]), 0, sign=True) == "+20,484"
    assert model.spread_text(model.spread([-4, 8, 2]), 0, sign=True) == "+2 (-4 – +8)"
    assert model.spread_text(None) is None


def _row(host, variant, repeat, ok=True, faults=256.0, step=3.0):
    return {"name": f"{host}__{variant}__r{repeat}", "host": host, "variant": variant, "repeat": repeat, "ok": ok,
            "has_results": ok, "status": "ok" if ok else "failed", "reason": None if ok else "broke",
            "link": f"{host}__{variant}__r{repeat}/README.md" if ok else None, "mode": "base" if ok else None,
            "figures": {"faults_per_mib": faults, "step_ms_median": step} if ok else {},
            "facts": {"arch": "x86_64"} if ok else {}}


def test_repeats_view_groups_by_variant_then_host_and_ignores_failed_runs():
    rows = [_row("b", "malloc", 1, step=1.0), _row("b", "malloc", 2, step=5.0), _row("b", "malloc", 3, ok=False),
            _row("a", "calloc", 1), _row("a", "malloc", 1, step=2.0)]
    view = model.repeats_view(rows, ["malloc", "calloc"])
    assert [(g["variant"], g["host"], g["ok"], g["count"]) for g in view["groups"]] == \
        [("malloc", "a", 1, 1), ("malloc", "b", 2, 3), ("calloc", "a", 1, 1)]
    b = view["groups"][1]
    assert b["stats"]["step_ms"] == {"median": 3.0, "min": 1.0, "max": 5.0, "n": 2}
    assert b["cells"]["step_ms"] == "3.00 (1.00 – 5.00)" and b["mode"] == "base"
    assert [p["name"] for p in view["problems"]] == ["b__malloc__r3"]
    assert [(h["host"], h["ok"], h["count"], h["arch"]) for h in view["hosts"]] == [("a", 2, 2, "x86_64"), ("b", 2, 3, "x86_64")]
    # a host with no results, all for one reason, is one line
    rows += [dict(_row("c", v, k, ok=False), reason="unreachable") for v in ("malloc", "calloc") for k in (1, 2)]
    problems = model.repeats_view(rows, ["malloc", "calloc"])["problems"]
    assert [(p["whole_host"], p.get("name") or p["host"]) for p in problems] == [(False, "b__malloc__r3"), (True, "c")]
    assert model.is_grouped(rows) and not model.is_grouped([_row("a", "malloc", 1), _row("b", "calloc", 1)])


# --------------------------------------------------------------------------- the repeats index

@pytest.mark.slow
def test_repeats_index_en(repeats_dir):
    written = render.render_run(repeats_dir)
    assert sorted(os.path.relpath(p, repeats_dir) for p in written if os.path.dirname(p) in (repeats_dir, os.path.join(repeats_dir, "plots"))) == \
        ["README.md", "plots/faults.svg", "plots/rss.svg", "plots/spread.svg"]
    text = read(os.path.join(repeats_dir, "README.md"))
    check_golden("repeats.index.en.md", text)
    assert "| malloc | vm-b | n/a | 2 of 3 | +20,484 |" in text
    assert "| madv-hugepage | vm-b | n/a | 3 of 3 | +20,480 | 0 | +20,612 | 0 | 0.70 | 1,462.9 | huge pages | 3.40 (1.26 – 6.38) |" in text
    assert "## The cost of a fault (`fullspeed`)" in text
    assert "- **vm-c**, all 9 runs: unreachable:" in text
    assert "[r3](vm-b__malloc__r3/README.md) failed" in text
    entry = read(os.path.join(repeats_dir, "vm-a__madv-hugepage__r2", "README.md"))
    assert "This is repeat 2 of 3 of variant `madv-hugepage` on host `vm-a`, in run `20261125T2325-repeats`" in entry


def test_repeats_index_ja(repeats_dir):
    render.render_run(repeats_dir, lang="ja", draw=False)
    text = read(os.path.join(repeats_dir, "README.ja.md"))
    check_golden("repeats.index.ja.md", text)
    assert "## fault の負担 (`fullspeed`)" in text and "- **vm-c**、9 回すべて: unreachable:" in text


@pytest.mark.slow
def test_repeats_render_is_deterministic_and_the_spread_plot_names_each_group(repeats_dir):
    render.render_run(repeats_dir)
    first = tree_bytes(repeats_dir)
    render.render_run(repeats_dir)
    assert tree_bytes(repeats_dir) == first
    root = ET.parse(os.path.join(repeats_dir, "plots", "spread.svg")).getroot()
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for group in ("vm-a · malloc", "vm-b · madv-hugepage", "vm-b · fullspeed"):
        assert group in labels
    assert not any("vm-c" in label for label in labels)  # no results, nothing to draw


def test_without_run_json_the_names_group_the_runs(repeats_dir):
    os.remove(os.path.join(repeats_dir, "run.json"))
    render.render_run(repeats_dir, draw=False)
    text = read(os.path.join(repeats_dir, "README.md"))
    assert "malloc and memory on 2 hosts, 3 variants" in text
    assert "| malloc | vm-b | n/a | 3 of 3 |" not in text and "| malloc | vm-b | n/a | 2 of 3 |" in text


def test_the_index_of_50_hosts_with_repeats_renders_quickly(repeats_dir, tmp_path):
    """The index's own work (statistics, table, spread and overlay plots) for 50 hosts x 3 variants x
    3 repeats, from the fixture's rows and series; each run's writeup is timed by `make bench`."""
    meta = {"entries": {}, "params": {"variants": ["malloc", "madv-hugepage", "fullspeed"], "repeats": 3}}
    real = {}
    for name in sorted(os.listdir(repeats_dir)):
        if os.path.isfile(os.path.join(repeats_dir, name, "results.json")):
            inp = render.read_host(os.path.join(repeats_dir, name), name)
            real[name] = (model.host_row(name, inp.data, None), model.series(inp.data))
    rows, drawn = [], {}
    for index in range(50):
        for name, (row, series) in real.items():
            if not name.startswith("vm-a"):
                continue
            host = f"h{index:02d}"
            clone = copy.deepcopy(row)
            clone.update(name=name.replace("vm-a", host), host=host, link=f"{name.replace('vm-a', host)}/README.md")
            rows.append(clone)
            drawn[clone["name"]] = series
    start = time.perf_counter()
    view = model.index_view("big", meta, rows, plotted=True)
    env = render.environment("en")
    env.get_template("index.md.j2").render(run=view)
    plotter = plots.Plotter()
    plotter.index(render._overlay(rows, drawn, meta["params"]["variants"]), str(tmp_path / "plots"), grouped=True)
    plotter.spread(view["repeats"]["plot"], str(tmp_path / "plots"))
    took = time.perf_counter() - start
    assert len(view["repeats"]["groups"]) == 150
    print(f"index of 50 hosts x 3 variants x 3 repeats: {took:.2f} s")
    # No timing is asserted (0.7 s on this 2-CPU machine, far more under a parallel `make test`): the
    # rendering benchmark of `make bench` measures speed.
