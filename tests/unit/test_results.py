"""results.py: samples live in samples.jsonl; load_run reads them there, and still reads old runs
that inlined them in results.json."""
import json

from labagent import results


def _write_run(path, data, samples=None, name=results.SAMPLES_JSONL):
    path.mkdir(exist_ok=True)
    (path / results.RESULTS).write_text(json.dumps(data))
    if samples is not None:
        (path / name).write_text("".join(json.dumps(s) + "\n" for s in samples))


def test_load_run_reads_the_samples_file(tmp_path):
    samples = [{"tick": 0, "rss_kib": 1}, {"tick": 1, "rss_kib": 2}]
    _write_run(tmp_path, {"complete": True, "samples_file": "samples.jsonl", "samples_count": 2}, samples)
    assert results.load_run(str(tmp_path))["samples"] == samples


def test_load_run_never_reads_outside_the_run(tmp_path):
    run = tmp_path / "run"
    _write_run(tmp_path, {}, [{"tick": 9}], name="escape.jsonl")
    _write_run(run, {"samples_file": "../escape.jsonl"}, [{"tick": 0}], name="escape.jsonl")
    assert results.load_run(str(run))["samples"] == [{"tick": 0}]


def test_load_run_keeps_inlined_samples_of_older_runs(tmp_path):
    inline = [{"tick": 0, "rss_kib": 5}]
    _write_run(tmp_path, {"complete": True, "samples": inline, "samples_file": "samples.jsonl"},
               [{"tick": 0, "rss_kib": 6}])
    assert results.load_run(str(tmp_path))["samples"] == inline


def test_sample_log_lines_survive_without_close_and_a_torn_line_is_dropped(tmp_path):
    path = tmp_path / results.SAMPLES_JSONL
    log = results.SampleLog(str(path))
    log.append({"tick": 0, "rss_kib": None})
    log.append({"tick": 1, "rss_kib": 7})
    # No close, no flush: each line is already the kernel's (a SIGKILL here loses nothing).
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"tick": 2, "rss')  # a kill in the middle of a write
    assert results.read_samples(str(path)) == [{"tick": 0, "rss_kib": None}, {"tick": 1, "rss_kib": 7}]
    log.close()
    log.close()


def test_samples_csv_has_every_column_and_empty_cells_for_null(tmp_path):
    rows, peak = results.write_samples_csv(str(tmp_path / "s.csv"), [
        {"tick": 0, "t": 0.01, "anon_huge_kib": None, "rss_kib": 3},
        {"tick": 1, "t": 0.02, "anon_huge_kib": 2048, "extra": "ignored"}])
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert (rows, peak) == (2, 2048)
    assert lines[0].split(",") == list(results.SAMPLE_COLUMNS)
    first = dict(zip(results.SAMPLE_COLUMNS, lines[1].split(",")))
    assert first["tick"] == "0" and first["rss_kib"] == "3" and first["anon_huge_kib"] == "" and first["phase"] == ""
    assert "ignored" not in lines[2]


def test_sample_csv_appended_in_batches_is_what_write_samples_csv_makes(tmp_path):
    samples = [{"tick": k, "t": k / 100, "wall": 1.7e9 + k / 100, "phase": "a,b" if k % 2 else "touching",
                "rss_kib": None if k == 3 else 100 + k, "anon_huge_kib": [None, 2048, 0][k % 3]} for k in range(7)]
    streamed = results.SampleCsv(str(tmp_path / "streamed.csv"))
    assert not (tmp_path / "streamed.csv").exists()  # the file appears with the first batch
    for batch in (samples[:1], samples[1:5], samples[5:]):
        streamed.extend(batch)
        # Each batch is on disk at once (one write(2), no buffer left in the process): a kill loses none.
        assert len((tmp_path / "streamed.csv").read_text().splitlines()) == 1 + streamed.rows
    streamed.close()
    streamed.close()
    expected = results.write_samples_csv(str(tmp_path / "whole.csv"), samples)
    assert (streamed.rows, streamed.anon_huge_peak) == expected == (7, 2048)
    assert (tmp_path / "streamed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
