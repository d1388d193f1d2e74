"""Run's sampler path on a /proc tree and a fake clock: the tick's record, samples.jsonl and samples.csv
written at least every SAMPLES_FLUSH_S (every tick when sampling that slowly or slower), and nothing
queued lost at close."""
import json

from labagent import experiment, procfs, results
from labagent.clock import FakeClock
from labagent.experiment import Params, Run


def _run(proc_root, tmp_path, interval):
    out = tmp_path / "out"
    out.mkdir()
    return Run(Params(sample_interval_s=interval), str(out), FakeClock(), str(proc_root), lambda _m: None, []), out


def _tick(run, pid, k, interval):
    record = run.sample(pid)
    record.update({"tick": k, "t": round(k * interval, 6), "late_ms": 0.0, "missed_before": 0})
    run.on_sample(record)


def _lines(out):
    path = out / results.SAMPLES_JSONL
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_fast_ticks_are_written_in_batches_and_all_at_close(proc_root, tmp_path):
    run, out = _run(proc_root, tmp_path, 0.01)
    batch = round(experiment.SAMPLES_FLUSH_S / 0.01)
    assert batch > 1
    for k in range(2 * batch + 5):
        _tick(run, 4242, k, 0.01)
        written = len(_lines(out))
        # The first tick goes out at once; then a batch whenever SAMPLES_FLUSH_S of ticks has queued.
        assert written == 1 + k // batch * batch, (k, written)
    run.close()
    lines = _lines(out)
    assert [line["tick"] for line in lines] == list(range(2 * batch + 5))
    # Each line is the tick's full record, meminfo's fields in their place, as read_process/read_system say.
    expected = dict(procfs.read_process(4242, str(proc_root)), **procfs.read_system(str(proc_root)))
    assert list(lines[3]) == ["phase", *procfs.PROCESS_FIELDS, *procfs.SYSTEM_FIELDS,
                              "tick", "t", "late_ms", "missed_before", "wall"]
    assert {k: lines[3][k] for k in expected} == expected
    assert experiment._MEMINFO not in lines[3]
    # samples.csv was appended with each batch: the rows the end of a run used to make from samples.jsonl.
    csv_path = out / results.SAMPLES_CSV
    written = csv_path.read_bytes()
    assert run.samples_written() == results.write_samples_csv(
        str(csv_path), results.iter_samples(str(out / results.SAMPLES_JSONL))) == (len(lines), 0)
    assert csv_path.read_bytes() == written


def test_a_run_without_samples_ends_with_a_header_only_csv(proc_root, tmp_path):
    run, out = _run(proc_root, tmp_path, 0.01)
    run.close()
    assert not (out / results.SAMPLES_CSV).exists()  # nothing before the end: a failed start leaves none
    assert run.samples_written() == (0, None)
    assert (out / results.SAMPLES_CSV).read_text().splitlines() == [",".join(results.SAMPLE_COLUMNS)]


def test_slow_ticks_are_written_each_tick(proc_root, tmp_path):
    run, out = _run(proc_root, tmp_path, experiment.SAMPLES_FLUSH_S)
    for k in range(3):
        _tick(run, 4242, k, experiment.SAMPLES_FLUSH_S)
        assert len(_lines(out)) == k + 1
    run.close()
    assert len(_lines(out)) == 3


def test_a_tick_after_the_workload_is_gone(proc_root, tmp_path):
    run, out = _run(proc_root, tmp_path, 1.0)
    _tick(run, 999999, 0, 1.0)
    run.close()
    line = _lines(out)[0]
    assert all(line[k] is None for k in procfs.PROCESS_FIELDS)
    assert line["mem_total_kib"] == 24684096


def test_a_meminfo_text_like_the_last_is_parsed_once(proc_root, tmp_path, monkeypatch):
    parsed = []
    parse = procfs.parse_tick_meminfo
    monkeypatch.setattr(procfs, "parse_tick_meminfo", lambda data: parsed.append(data) or parse(data))
    run, out = _run(proc_root, tmp_path, 1.0)
    _tick(run, 4242, 0, 1.0)
    _tick(run, 4242, 1, 1.0)
    meminfo = proc_root / "meminfo"
    meminfo.write_text(meminfo.read_text().replace("MemFree:", "MemFree:         1 kB\nOld-MemFree:", 1))
    _tick(run, 4242, 2, 1.0)
    run.close()
    lines = _lines(out)
    assert len(parsed) == 2  # ticks 0 and 1 read the same text
    assert lines[0]["mem_free_kib"] == lines[1]["mem_free_kib"] != 1 and lines[2]["mem_free_kib"] == 1
    assert list(lines[1]) == list(lines[2])


def test_smaps_rollup_is_read_once_in_each_second_of_the_run_even_after_a_late_tick(proc_root, tmp_path, monkeypatch):
    """A tick 2.3 ms late used to push the next read past the next second's tick: AnonHugePages then
    lagged RSS by a step on every other tick of a 1 s run."""
    reads = []
    monkeypatch.setattr(procfs, "read_anon_huge_kib", lambda pid, root: reads.append(run.clock.now - run.origin) or 0)
    for interval, lateness in ((1.0, (0.0023, 0.0001, 0.0, 0.0041, 0.0)), (0.01, (0.0023,) + (0.0,) * 299)):
        reads.clear()
        (tmp_path / str(interval)).mkdir()
        run, _ = _run(proc_root, tmp_path / str(interval), interval)
        for k, late in enumerate(lateness):
            run.clock.now = run.origin + k * interval + late
            run.sample(4242)
        # 1 s: every tick is in a second of its own; 10 ms: the first tick of each of the 3 seconds
        expected = len(lateness) if interval == 1.0 else 3
        assert len(reads) == expected, reads
        run.close()


def test_the_ps_loop_runs_half_a_sample_interval_off_the_samplers_grid(tmp_path, monkeypatch):
    """On the sampler's own grid, the sampler read /proc/meminfo while the loop's `ps` was alive (its
    memory in Committed_AS). Half an interval off (at most half a second), they never meet at 1 s."""
    import threading
    from labagent import captures, tools
    clock = FakeClock()
    origin = clock.now
    seen = []
    monkeypatch.setattr(tools, "capture_line", lambda capture, pid, wall: seen.append(round(clock.now - origin, 6)) or "x")
    for interval, expected in ((1.0, [0.5, 1.5, 2.5]), (0.01, [0.005, 1.005, 2.005]), (5.0, [0.5, 5.5, 10.5])):
        seen.clear()
        clock.now = origin
        loop = tools.poll_loop(captures.PS_LOOP, clock, origin, interval, 4242, str(tmp_path / f"ps-{interval}.log"))
        stop = threading.Event()
        monkeypatch.setattr(clock, "wait_until", lambda deadline, _stop, c=clock: (setattr(c, "now", max(c.now, deadline)), len(seen) < 3)[1])
        loop(stop)
        assert seen == expected, (interval, seen)
