"""labagent.recorder's pure parts: option checks, mark names, what a PID must be, the stop's words,
the summary over samples and maps (real captures: tests/fixtures/recordings/steps)."""
import dataclasses
import json
import os

import pytest

from labagent import record, recorder, results
from labagent.errors import LabError

STEPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "recordings", "steps")


@pytest.mark.parametrize("params,message", [
    (recorder.RecordParams(), "either a command"),
    (recorder.RecordParams(command=("true",), pid=1), "either a command"),
    (recorder.RecordParams(pid=0), "--pid 0 is not a process id"),
    (recorder.RecordParams(command=("true",), sample_interval_s=0.001), "below the 10ms minimum"),
    (recorder.RecordParams(command=("true",), sample_interval_s=61), "at most 60s"),
    (recorder.RecordParams(command=("true",), duration_s=0), "--duration must be positive"),
])
def test_validate(params, message):
    with pytest.raises(LabError, match=message):
        recorder.validate(params)


@pytest.mark.parametrize("name", ["heap-grown", "phase.2", "A_b", "x" * 40])
def test_good_mark_names(name):
    assert recorder.check_mark_name(name) == name


@pytest.mark.parametrize("name,message", [
    ("", "must be 1-40"), ("x" * 41, "must be 1-40"), ("-x", "must be 1-40"), ("a b", "must be 1-40"),
    ("../x", "must be 1-40"), ("start", "reserved"), ("end", "reserved"),
])
def test_bad_mark_names(name, message):
    with pytest.raises(LabError, match=message):
        recorder.check_mark_name(name)


def test_check_target(proc_root):
    recorder.check_target(4242, str(proc_root))  # the Debian capture laid out as /proc
    with pytest.raises(LabError, match="no process with PID 4243"):
        recorder.check_target(4243, str(proc_root))
    kthread = proc_root / "2"
    kthread.mkdir()
    (kthread / "stat").write_text((proc_root / "4242" / "stat").read_text())
    (kthread / "status").write_text("Name:\tkthreadd\nState:\tS (sleeping)\n")
    with pytest.raises(LabError, match="PID 2 has no address space"):
        recorder.check_target(2, str(proc_root))


@pytest.mark.parametrize("stop,text", [
    ({"by": "exit", "status": 3}, "the command exited with status 3"),
    ({"by": "killed", "signal": "SIGSEGV"}, "the command was killed by SIGSEGV"),
    ({"by": "gone", "pid": 42}, "process 42 exited"),
    ({"by": "signal", "signal": "SIGINT"}, "stopped by SIGINT"),
    ({"by": "duration", "duration_s": 1.5}, "--duration 1.5s reached"),
])
def test_stop_text(stop, text):
    assert recorder.stop_text(stop) == text


def test_summary_of_the_steps_recording():
    with open(os.path.join(STEPS, "results.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    samples = results.read_samples(os.path.join(STEPS, "samples.jsonl"))
    summary = recorder.summarize(iter(samples), record.from_json(data).snapshots, 0)
    # what the recorder wrote is what the function computes (recorded before the comparison's start was named)
    assert {k: v for k, v in summary.items() if k != "compared_from"} == data["summary"]
    assert summary["compared_from"] == "start"
    live = [s for s in samples if s["rss_kib"] is not None]
    assert summary["rss_kib_peak"] == max(s["rss_kib"] for s in live)
    snaps = data["snapshots"]
    assert summary["min_flt_recorded"] == snaps["end"]["reading"]["min_flt"] - snaps["start"]["reading"]["min_flt"]
    assert summary["maps_growth"]["heap"]["change_bytes"] > 4 * 1024 * 1024


def test_peaks_include_the_snapshots_between_ticks():
    """A mark's snapshot can catch RSS higher than any tick (the program grew and shrank between two):
    the recording's peak is over every reading it took, not the samples alone."""
    from labagent.recorder import summarize
    samples = [{"vsz_kib": 1000, "rss_kib": 500, "min_flt": 10, "maj_flt": 0},
               {"vsz_kib": 1200, "rss_kib": 700, "min_flt": 30, "maj_flt": 0}]
    snapshots = {"start": record.Snapshot(t=0.0, reading={"vsz_kib": 1000, "rss_kib": 500, "min_flt": 5}),
                 "grown": record.Snapshot(t=1.0, reading={"vsz_kib": 1500, "rss_kib": 900, "min_flt": 20}),
                 "end": record.Snapshot(t=2.0, reading={"vsz_kib": 1200, "rss_kib": 700, "min_flt": 30})}
    summary = summarize(samples, snapshots, None)
    assert (summary["vsz_kib_peak"], summary["rss_kib_peak"]) == (1500, 900)
    assert summary["min_flt_recorded"] == 25  # faults from the start snapshot to the end one, as the table


def test_an_exec_is_a_change_of_exe_or_else_of_comm(tmp_path):
    base = tmp_path / "7"
    base.mkdir()
    (base / "comm").write_text("bash\n")
    (base / "exe").symlink_to("/usr/bin/bash")
    shim = recorder.read_identity(7, str(tmp_path))
    assert shim == ("bash", "/usr/bin/bash")
    assert recorder.read_identity(8, str(tmp_path)) is None  # gone
    assert not recorder.same_program(shim, ("python3", "/usr/bin/python3.11"))
    assert recorder.same_program(shim, ("renamed", "/usr/bin/bash"))  # prctl(PR_SET_NAME) is no exec
    assert not recorder.same_program(("bash", None), ("python3", None))  # exe unreadable: comm decides


def test_faults_count_from_the_start_snapshot_not_the_first_sample():
    """One baseline for every start-to-end figure: the start snapshot (the writeup's table row), also
    when the first sample already counts more faults (it came later, after an exec say)."""
    with open(os.path.join(STEPS, "results.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    samples = results.read_samples(os.path.join(STEPS, "samples.jsonl"))
    snaps = dict(record.from_json(data).snapshots)
    start = snaps["start"]
    snaps["start"] = dataclasses.replace(start, reading=dict(start.reading, min_flt=3, maj_flt=1))
    summary = recorder.summarize(iter(samples), snaps, 0)
    assert summary["min_flt_recorded"] == snaps["end"].reading["min_flt"] - 3
    assert summary["maj_flt_recorded"] == snaps["end"].reading["maj_flt"] - 1


def test_the_maps_kept_for_the_end_are_read_again_at_a_tick_whose_vsz_moved(proc_root, tmp_path):
    """A process that exits between two keeps used to leave maps up to a second older than its last
    tick: a mapping made in that second was missing from the end snapshot (and from maps_growth)."""
    from labagent.clock import FakeClock
    from labagent.experiment import Params, Run
    out = tmp_path / "out"
    out.mkdir()
    run = Run(Params(sample_interval_s=0.1), str(out), FakeClock(), str(proc_root), lambda _m: None, [])
    rec = recorder.Recorder(recorder.RecordParams(pid=4242, sample_interval_s=0.1), run, 4242, None)
    stat, status, maps = (proc_root / "4242" / name for name in ("stat", "status", "maps"))

    def grow_vsz(kib):
        """The process's VSZ moved by kib, in stat (vsize, field 23, bytes) and status (VmSize)."""
        fields = stat.read_text().split(" ")
        fields[22] = str(int(fields[22]) + kib * 1024)
        stat.write_text(" ".join(fields))
        status.write_text("\n".join(
            f"VmSize:\t{int(line.split()[1]) + kib} kB" if line.startswith("VmSize:") else line
            for line in status.read_text().split("\n")))

    rec.sample()
    first = rec.kept_maps[0]
    # 0.1 s later (not due for a keep) a new 32 MiB mapping: VSZ moved, so the maps are read again.
    grow_vsz(32 * 1024)
    maps.write_text(maps.read_text() + "7f0000000000-7f0002000000 rw-p 00000000 00:00 0 \n")
    run.clock.advance(0.1)
    rec.sample()
    assert rec.kept_maps[0] != first and rec.kept_maps[0].endswith("7f0000000000-7f0002000000 rw-p 00000000 00:00 0 \n")
    # The same VSZ at the next tick, not due: the kept maps stay (a page-table walk's worth of text)...
    maps.write_text(first)
    run.clock.advance(0.1)
    rec.sample()
    assert "7f0000000000-7f0002000000" in rec.kept_maps[0]
    # ... and at a drop (an exiting process unmapping part way): they wait for the next second's read.
    grow_vsz(-64 * 1024)
    run.clock.advance(0.1)
    rec.sample()
    assert "7f0000000000-7f0002000000" in rec.kept_maps[0]
    run.clock.advance(1.0)
    rec.sample()
    assert rec.kept_maps[0] == first
    run.close()
