"""tests/fixtures/seedrun.py: the seed's own captures, through the parsers and the analysis, make
a run directory whose figures are the note's."""
from __future__ import annotations

import json
import os

from labagent import results

MIB = 1024 * 1024


def load(seed_dir):
    return results.load_run(seed_dir)


def test_layout_is_an_agent_run_directory(seed_dir):
    assert sorted(os.listdir(seed_dir)) == ["raw", "results.json", "samples.csv", "samples.jsonl"]
    assert sorted(os.listdir(os.path.join(seed_dir, "raw"))) == [
        "capture.log", "free-h-allocated.txt", "free-h-baseline.txt", "maps-allocated.txt", "maps-baseline.txt",
        "os-release.txt", "program.log", "ps-aux.txt", "sar-r.txt", "uname-a.txt"]
    with open(os.path.join(seed_dir, "samples.jsonl"), encoding="utf-8") as handle:
        assert len([json.loads(line) for line in handle]) == len(load(seed_dir)["samples"]) == 51


def test_region_heap_and_pointer(seed_dir):
    summary = load(seed_dir)["summary"]
    region = summary["region"]
    assert (region["start"], region["end"], region["size_bytes"]) == ("7fdaee1ff000", "7fdaf4600000", 104_861_696)
    assert region["pointer_offset"] == 0x10 and not region["in_heap"] and region["new"]
    assert summary["heap"]["changed"] is False


def test_faults_commit_and_touch(seed_dir):
    data = load(seed_dir)
    summary = data["summary"]
    assert data["snapshots"]["allocated"]["reading"]["min_flt"] == 83
    assert data["snapshots"]["touched"]["reading"]["min_flt"] == 133
    assert summary["touched_bytes"] == 90 * MIB  # the program log stops at 90MB
    assert summary["fault_mode"] == "huge" and summary["maj_flt_touch"] == 0
    assert summary["committed_as_delta_kib"] == 378672 - 276652
    assert summary["vsz_delta_kib"] == 105036 - 2632 and summary["rss_alloc_delta_kib"] == 0


def test_phases_follow_the_capture_timeline(seed_dir):
    data = load(seed_dir)
    phases = [(p["name"], p["start"], p["end"]) for p in data["phases"]]
    # 03:19:44 first row, 03:20:01 VSZ jumps, 03:20:24 first "touched", 03:20:32 last (its row, taken
    # before that write, is still touching: the 9th write shows at 03:20:33), 03:20:34 finished
    assert phases == [("baseline", 0.0, 17.0), ("allocated", 17.0, 40.0), ("touching", 40.0, 49.0),
                      ("touched", 49.0, 50.0), ("exited", 50.0, 51.0)]
    assert data["phases"][0]["start_wall"] == 1733714384.0  # 2024-12-09 03:19:44 UTC
    assert data["host"]["thp_enabled"] == "always" and data["host"]["utc_offset_s"] == 0
    assert any("did not capture" in note["en"] for note in data["notes"])


def test_samples_join_capture_rows_and_sar_rows(seed_dir):
    samples = load(seed_dir)["samples"]
    by_t = {s["t"]: s for s in samples}
    assert by_t[17.0]["vsz_kib"] == 105036 and by_t[17.0]["committed_as_kib"] is None
    assert by_t[28.0]["vsz_kib"] is None and by_t[28.0]["committed_as_kib"] == 378672  # 03:20:12: sar only
    assert by_t[49.0]["rss_kib"] == 93804 and by_t[49.0]["mem_used_kib"] == 309232
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)


def test_steps_read_the_row_after_each_touch(seed_dir):
    steps = load(seed_dir)["steps"]
    assert [(s["bytes"] // MIB, s["rss_kib"], s["min_flt"]) for s in steps][:2] == [(10, 11880, 93), (20, 22124, 98)]
    assert steps[-1]["min_flt"] == 133 and len(steps) == 9


def test_the_seed_run_is_a_typed_record_valid_against_the_schema(seed_dir):
    # what the note did not say (the agent's version, pauses, step timings) is null, as the schema allows
    import jsonschema
    from labagent import record
    schema = json.loads(open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "results.schema.json"),
                             encoding="utf-8").read())
    with open(os.path.join(seed_dir, "results.json"), encoding="utf-8") as handle:
        jsonschema.Draft202012Validator(schema).validate(json.load(handle))
    rec = results.load_record(seed_dir)
    assert isinstance(rec, record.RunRecord) and rec.agent.version is None and rec.params.pause_s is None
    assert len(rec.samples) == 51 and rec.steps[0].ms is None


def test_the_notes_own_machine_figures_around_malloc_and_the_writes(seed_dir):
    """The note's sar -r and free -h: kbmemused did not grow at malloc while kbcommit grew by about
    the size; over the writes kbmemused grew with the process's RSS."""
    from labagent.report import model, render
    commit = model.host_view(render.read_host(seed_dir, "seed-rhel94"))["commit"]
    assert (commit["sar_used_before"], commit["sar_used_after"], commit["sar_used_delta"]) == ("219,732", "214,848", "-4,884")
    assert (commit["sar_before"], commit["sar_after"]) == ("276,652", "378,672")
    assert (commit["free_used_before"], commit["free_used_after"], commit["free_used_touched"]) == ("675Mi", "677Mi", None)
    assert commit["sar_used_small"] and commit["sar_commit_about_size"]
    # 03:20:24, the last row before the first write, and 03:20:33, the first after the last (the row of
    # 03:20:32 came before the tenth write: it would show nine of the ten)
    assert (commit["sar_used_touch_before"], commit["sar_used_touch_after"]) == ("213,852", "309,232")
    assert commit["sar_used_touch_follows"]


def test_the_notes_free_used_fits_only_total_minus_available(seed_dir):
    """The writeup says RHEL 9's procps-ng 3.3.17 printed used = total − available: MemTotal, bounded by
    sar's rounded %memused before malloc, puts total − available around 675Mi and upstream 3.3.17's
    total − free − buff/cache far below it (free -h: used 675Mi, buff/cache 539Mi)."""
    rows = [r for r in load(seed_dir)["sar"] if r["time"] <= "03:19:56"]
    lo = max(r["kbmemused"] / ((r["%memused"] + 0.005) / 100) for r in rows)
    hi = min(r["kbmemused"] / ((r["%memused"] - 0.005) / 100) for r in rows)
    last = rows[-1]
    used_kib, buff_cache_kib = 675 * 1024, 539 * 1024
    assert lo - last["kbavail"] <= used_kib + 1024 and hi - last["kbavail"] >= used_kib - 1024
    assert hi - last["kbmemfree"] - buff_cache_kib < used_kib / 1.5
