"""`labagent record` on real processes: a Python program that allocates in steps, recorded by command
and by PID with marks (SIGUSR1 and `labagent mark`); stops by exit, --duration and SIGINT with nothing
left running; a command that exits at once; and the one-line errors (no such command, no such PID)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labagent import maps_growth, parsers, results
from tests.procwatch import wait_until

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
FAST = ["--sample-interval", "0.1", "--no-imds"]
# The program recorded: 16 MiB when told (go1), then (go2) 32 MiB more, then exit. It says where it is
# with files in its control directory, so the test marks each phase after the fact, not on a timer; and
# a recording by command tells it to start only once the recording's start snapshot is taken (the
# first 16 MiB then count in the growth, whatever the race between the recorder and the program).
STEPS = '''
import os, sys, time
ctl = sys.argv[1]
def wait(name):
    while not os.path.exists(os.path.join(ctl, name)):
        time.sleep(0.02)
def say(name):
    open(os.path.join(ctl, name), "w").close()
wait("go1")
a = bytearray(16 * 1024 * 1024)
say("step1")
wait("go2")
b = bytearray(32 * 1024 * 1024)
say("step2")
wait("exit")
os._exit(0)  # as a C program ends: no freeing on the way out, the kernel unmaps it all at once
'''


def agent(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "labagent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, **kwargs)


def start_agent(*args):
    return subprocess.Popen([sys.executable, "-m", "labagent", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def marks_in(out):
    try:
        return [m["name"] for m in json.loads((out / "results.json").read_text())["recording"]["marks"]]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


def alive(pid):
    """True while pid is a process that is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def group_members(pgid):
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry))
    return members


def end_process(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def ps_rss_reached(out, kib):
    """capture.sh's ps line (one a second) has seen an RSS of at least kib."""
    try:
        rows = parsers.parse_capture((out / "raw" / "capture.log").read_text())
    except (FileNotFoundError, ValueError):  # ValueError: a line being written
        return False
    return any(r.rss_kib is not None and r.rss_kib >= kib for r in rows)


def sampled_phases(out):
    try:
        return {s.get("phase") for s in results.read_samples(str(out / "samples.jsonl"))}
    except (FileNotFoundError, ValueError):  # ValueError: a line being written
        return set()


def drive_steps(out, ctl, recorder_pid):
    """Marks `grown` with labagent mark after 16 MiB, `mark2` by SIGUSR1 after 48 MiB, then lets it exit
    (each step held until the ps line, once a second, has seen it)."""
    wait_until(lambda: (ctl / "step1").exists() and (out / "marks.fifo").exists(), 30.0, what="the first step")
    done = agent("mark", str(out), "grown")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: marks_in(out) == ["grown"], 30.0, what="the mark `grown`")
    # and until a sample of the phase is written: the next mark follows the second step at once, which
    # can be sooner than one sample interval (the phase would have no sample)
    wait_until(lambda: "grown" in {s.get("phase") for s in results.read_samples(str(out / "samples.jsonl"))},
               30.0, what="a sample in `grown`")
    (ctl / "go2").touch()
    wait_until(lambda: (ctl / "step2").exists(), 30.0, what="the second step")
    os.kill(recorder_pid, signal.SIGUSR1)
    wait_until(lambda: marks_in(out) == ["grown", "mark2"], 30.0, what="the mark by SIGUSR1")
    wait_until(lambda: ps_rss_reached(out, 48 * 1024), 30.0, what="the ps line to see 48 MiB")
    # ... and the sampler: a tick of `mark2` came after the 32 MiB, so the maps the recorder keeps for the
    # end snapshot (at a tick whose VSZ moved) hold them when the program exits.
    wait_until(lambda: "mark2" in sampled_phases(out), 30.0, what="a sample of `mark2`")
    (ctl / "exit").touch()


def check_step_recording(out, data):
    assert data["kind"] == "recording" and data["complete"] is True
    assert [p["name"] for p in data["phases"]] == ["start", "grown", "mark2"]
    assert [m["by"] for m in data["recording"]["marks"]] == ["mark", "signal"]
    snaps = data["snapshots"]
    assert list(snaps) == ["start", "grown", "mark2", "end"]
    for name in ("start", "grown", "mark2", "end"):
        assert parsers.parse_maps((out / "raw" / f"maps-{name}.txt").read_text()), name
        assert parsers.parse_free((out / "raw" / f"free-b-{name}.txt").read_text()).total_bytes > 0
        assert (out / "raw" / f"free-h-{name}.txt").read_text().strip()
    rss = {name: snaps[name]["reading"]["rss_kib"] for name in ("grown", "mark2")}
    # 32 MiB written between the two marks: RSS grew by about that (the interpreter's own noise is small).
    assert 30 * 1024 <= rss["mark2"] - rss["grown"] <= 40 * 1024, rss
    growth = data["summary"]["maps_growth"]
    # bytearrays this large are glibc mmaps: anonymous mappings, not [heap].
    assert growth["anonymous"]["change_bytes"] >= 48 * MIB
    assert data["summary"]["rss_kib_peak"] >= rss["mark2"]
    assert data["summary"]["min_flt_recorded"] >= 48 * MIB // 4096 // 2
    # Samples: in samples.jsonl and samples.csv, every phase present, on the sampler's grid.
    samples = results.read_samples(str(out / "samples.jsonl"))
    assert len(samples) == data["samples_count"] > 0
    assert {"start", "grown", "mark2"} <= {s["phase"] for s in samples}
    assert len((out / "samples.csv").read_text().splitlines()) == len(samples) + 1
    assert data["ticks"]["ticks"] == len(samples)
    rows = parsers.parse_capture((out / "raw" / "capture.log").read_text())
    assert rows and max(r.rss_kib for r in rows if r.rss_kib is not None) >= 48 * 1024
    assert "ps_loop" in data["tools"]
    if data["tools"]["sar"]["available"]:
        assert data["tools"]["sar"]["parse"]["ok"] is True
        assert not alive(data["tools"]["sar"]["pid"])
    assert not (out / "marks.fifo").exists()


@pytest.mark.slow
def test_record_a_command_with_marks(tmp_path):
    out, ctl = tmp_path / "rec", tmp_path / "ctl"
    ctl.mkdir()
    program = tmp_path / "steps.py"
    program.write_text(STEPS)
    recorder = start_agent("record", "--out", str(out), *FAST, "--", sys.executable, str(program), str(ctl))
    try:
        wait_until(lambda: "start" in snapshots_in(out), 30.0, what="the recording's start snapshot")
        (ctl / "go1").touch()
        drive_steps(out, ctl, recorder.pid)
        stdout, stderr = recorder.communicate(timeout=30)
    finally:
        end_process(recorder)
    assert recorder.returncode == 0, stderr
    data = json.loads((out / "results.json").read_text())
    check_step_recording(out, data)
    assert data["recording"]["mode"] == "command" and data["recording"]["exit_status"] == 0
    assert data["outcome"]["reason"] == "the command exited with status 0"
    assert "mark grown at" in stderr and "mark mark2 at" in stderr
    # The program had exited at the end: its last maps, as the sampler kept them, and a note saying so.
    assert data["snapshots"]["end"].get("maps_t") is not None
    assert any("raw/maps-end.txt is the last maps" in n["en"] for n in data["notes"])


@pytest.mark.slow
def test_record_a_running_process_by_pid(tmp_path):
    out, ctl = tmp_path / "rec", tmp_path / "ctl"
    ctl.mkdir()
    program = tmp_path / "steps.py"
    program.write_text(STEPS)
    (ctl / "go1").touch()
    target = subprocess.Popen([sys.executable, str(program), str(ctl)])
    try:
        wait_until(lambda: (ctl / "step1").exists(), 30.0, what="the program's first step")
        # Attached after its first step: the recording's start already holds the 16 MiB.
        recorder = start_agent("record", "--out", str(out), *FAST, "--pid", str(target.pid))
        try:
            wait_until(lambda: (out / "marks.fifo").exists(), 30.0, what="the recorder")
            drive_steps(out, ctl, recorder.pid)
            target.wait(timeout=30)
            stdout, stderr = recorder.communicate(timeout=30)
        finally:
            end_process(recorder)
    finally:
        end_process(target)
    assert recorder.returncode == 0, stderr
    data = json.loads((out / "results.json").read_text())
    start_rss = data["snapshots"]["start"]["reading"]["rss_kib"]
    assert start_rss >= 16 * 1024
    assert data["recording"]["mode"] == "pid" and data["recording"]["pid"] == target.pid
    assert data["outcome"]["reason"] == f"process {target.pid} exited"
    assert data["recording"]["exit_status"] is None  # not our child: its status is its parent's to know
    # By PID the start already had the first 16 MiB: only the later 32 MiB shows as growth.
    assert 32 * MIB <= data["summary"]["maps_growth"]["anonymous"]["change_bytes"] < 48 * MIB
    assert [p["name"] for p in data["phases"]] == ["start", "grown", "mark2"]
    assert [m["by"] for m in data["recording"]["marks"]] == ["mark", "signal"]


@pytest.mark.slow
def test_sigint_stops_and_ends_the_command_group(tmp_path):
    out = tmp_path / "rec"
    # A shell with a child of its own: both are in the command's process group and must end with it.
    recorder = start_agent("record", "--out", str(out), *FAST, "--", "sh", "-c", "sleep 300 & sleep 300")
    try:
        wait_until(lambda: marks_in(out) == [] and (out / "results.json").exists(), 30.0, what="the recording")
        pid = json.loads((out / "results.json").read_text())["recording"]["pid"]
        wait_until(lambda: len(group_members(pid)) >= 3, 30.0, what="sh and its two sleeps")
        members = group_members(pid)
        recorder.send_signal(signal.SIGINT)
        stdout, stderr = recorder.communicate(timeout=30)
    finally:
        end_process(recorder)
    assert recorder.returncode == 0, stderr
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True and data["outcome"]["reason"] == "stopped by SIGINT"
    assert data["recording"]["signal"] == "SIGTERM"
    assert [m for m in members if alive(m)] == []
    assert data["samples_count"] > 0 and (out / "raw" / "maps-end.txt").stat().st_size > 0
    assert "Traceback" not in stderr
    report = agent("report", str(out), "--lang", "en")
    assert report.returncode == 0, report.stderr
    text = (out / "README.md").read_text()
    assert "the recording ended because the recorder got SIGINT (Ctrl-C is SIGINT).\n" in text
    assert "The recorder then ended the command (SIGTERM to its process group): killed by SIGTERM." in text


@pytest.mark.slow
def test_duration_stops_the_recording(tmp_path):
    out = tmp_path / "rec"
    done = agent("record", "--out", str(out), *FAST, "--duration", "1", "--", "sleep", "300")
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["outcome"]["reason"] == "--duration 1s reached"
    assert not alive(data["recording"]["pid"])
    assert 1.0 <= data["phases"][-1]["end"]  # it ran at least the duration (never asserted as a bound above)
    # The process was still there at the end: the end is a reading of its own, taken then, not the last sample.
    end = data["snapshots"]["end"]
    assert "reading_t" not in end and "maps_t" not in end and end["reading"]["vsz_kib"] is not None
    assert end["t"] >= 1.0 and (out / "raw" / "maps-end.txt").stat().st_size > 0


@pytest.mark.slow
def test_a_short_command_has_the_end_at_its_last_sample_and_a_warning(tmp_path):
    out = tmp_path / "rec"
    done = agent("record", "--out", str(out), "--sample-interval", "1", "--no-imds", "--",
                 sys.executable, "-c", "import time; a = bytearray(8 << 20); time.sleep(1.5)")
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    end = data["snapshots"]["end"]
    assert data["samples_count"] < 5 and end["reading_t"] < end["t"]
    assert any(f"last sample's (at {end['reading_t']:.1f} s)" in n["en"] for n in data["notes"])
    report = agent("report", str(out), "--lang", "en,ja")
    assert report.returncode == 0, report.stderr
    text = (out / "README.md").read_text()
    assert f"> **Only {data['samples_count']} sample" in text and "(for example 0.1)" in text
    assert "- **The end is the last sample.** The process had exited when the recording ended at" in text
    assert "| `end` | end: the last sample |" in text
    assert "サンプルは" in (out / "README.ja.md").read_text()


def test_a_command_that_exits_at_once_leaves_readable_results(tmp_path):
    out = tmp_path / "rec"
    done = agent("record", "--out", str(out), *FAST, "--", "true")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    data = results.load_run(str(out))
    assert data["complete"] is True and data["recording"]["exit_status"] == 0
    assert data["outcome"]["reason"] == "the command exited with status 0"
    assert set(data["snapshots"]) == {"start", "end"}
    assert (out / "samples.csv").exists() and (out / "raw" / "free-b-end.txt").exists()


@pytest.mark.parametrize("command,message", [
    (["no-such-command-malloc-lab"], "cannot start no-such-command-malloc-lab: command not found"),
    (["/nonexistent/malloc-lab"], "cannot start /nonexistent/malloc-lab: No such file or directory"),
    (["{tmp}/data.txt"], "cannot start {tmp}/data.txt: Permission denied"),  # no x bit: even root cannot exec it
    (["{tmp}/script"], "cannot start {tmp}/script: Exec format error"),  # x bit, but neither ELF nor #!
])
def test_a_command_that_cannot_start_is_one_line_exit_2(tmp_path, command, message):
    (tmp_path / "data.txt").write_text("not a program\n")
    (tmp_path / "script").write_text("not a program\n")
    (tmp_path / "script").chmod(0o755)
    command = [c.format(tmp=tmp_path) for c in command]
    message = message.format(tmp=tmp_path)
    done = agent("record", "--out", str(tmp_path / "rec"), *FAST, "--", *command)
    assert done.returncode == 2
    assert done.stderr.strip() == f"labagent: {message}"
    assert not (tmp_path / "rec" / "results.json").exists()


def test_a_pid_that_does_not_exist_is_one_line_exit_2(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    done = agent("record", "--out", str(tmp_path / "rec"), *FAST, "--pid", str(gone.pid))
    assert done.returncode == 2
    assert done.stderr.strip() == f"labagent: no process with PID {gone.pid} (or it has already exited)"
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize("args,message", [
    ([], "record needs either a command after `--` or --pid N (not both)"),
    (["--pid", "1", "--", "true"], "record needs either a command after `--` or --pid N (not both)"),
    (["--duration", "0", "--", "true"], "--duration must be positive"),
    (["--sample-interval", "1ms", "--", "true"], "below the 10ms minimum"),
])
def test_bad_record_options_are_one_line(tmp_path, args, message):
    done = agent("record", "--out", str(tmp_path / "rec"), *args)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_mark_without_a_recording_is_one_line(tmp_path):
    done = agent("mark", str(tmp_path), "phase1")
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"labagent: no recording is running in {tmp_path}")
    os.mkfifo(tmp_path / "marks.fifo")  # left by a recorder that was SIGKILLed: nobody reads it
    done = agent("mark", str(tmp_path), "phase1")
    assert done.returncode == 2 and "nothing reads marks.fifo" in done.stderr
    done = agent("mark", str(tmp_path), "bad name!")
    assert done.returncode == 2 and "must be 1-40 letters" in done.stderr
    done = agent("mark", str(tmp_path), "end")
    assert done.returncode == 2 and "is reserved" in done.stderr


@pytest.mark.slow
def test_a_recorder_killed_outright_leaves_a_readable_recording(tmp_path):
    """SIGKILL cannot be caught: results.json stays as of the last mark, samples.jsonl up to the last tick,
    and `labagent report` renders it as incomplete. The command it started dies with it (PR_SET_PDEATHSIG)."""
    out = tmp_path / "rec"
    recorder = start_agent("record", "--out", str(out), *FAST, "--", "sleep", "300")
    pid = None
    try:
        wait_until(lambda: (out / "marks.fifo").exists(), 30.0, what="the recording")
        pid = json.loads((out / "results.json").read_text())["recording"]["pid"]
        assert agent("mark", str(out), "before-kill").returncode == 0
        wait_until(lambda: marks_in(out) == ["before-kill"], 30.0, what="the mark")
        wait_until(lambda: len(results.read_samples(str(out / "samples.jsonl"))) >= 3, 30.0,
                   what="a few samples")
        recorder.kill()
        recorder.communicate(timeout=10)
        deadline = time.monotonic() + 3
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), "the recorded command outlived the SIGKILLed recorder"
    finally:
        end_process(recorder)
        if pid is not None and alive(pid):  # only after a failure above: never leave it behind
            os.kill(pid, signal.SIGKILL)
    data = results.load_run(str(out))
    assert data["complete"] is False and len(data["samples"]) >= 3
    assert [p["name"] for p in data["phases"]] == ["start", "before-kill"]
    done = agent("report", str(out))
    assert done.returncode == 0, done.stderr
    text = (out / "README.md").read_text()
    assert "**This recording is incomplete: running.**" in text
    assert "| `before-kill` | `labagent mark` |" in text
    assert "The maps at start and at end were not both captured." in text


# A program that execs: a shell that becomes Python after a pause (as a pyenv shim does: bash -> python3),
# Python then holds 16 MiB until told to exit.
EXECS_PY = '''
import os, sys, time
ctl = sys.argv[1]
a = bytearray(16 * 1024 * 1024)
open(os.path.join(ctl, "ready"), "w").close()
while not os.path.exists(os.path.join(ctl, "exit")):
    time.sleep(0.02)
'''


def snapshots_in(out):
    try:
        return json.loads((out / "results.json").read_text())["snapshots"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return {}


@pytest.mark.slow
def test_an_exec_is_recorded_and_the_comparison_starts_after_it(tmp_path):
    out, ctl = tmp_path / "rec", tmp_path / "ctl"
    ctl.mkdir()
    program = tmp_path / "execs.py"
    program.write_text(EXECS_PY)
    recorder = start_agent("record", "--out", str(out), *FAST, "--", "sh", "-c",
                           f'sleep 0.5; exec "{sys.executable}" "{program}" "{ctl}"')
    try:
        wait_until(lambda: (ctl / "ready").exists() and "exec" in snapshots_in(out), 30.0,
                   what="the exec and its snapshot")
        (ctl / "exit").touch()
        stdout, stderr = recorder.communicate(timeout=30)
    finally:
        end_process(recorder)
    assert recorder.returncode == 0, stderr
    data = json.loads((out / "results.json").read_text())
    python_exe = os.path.realpath(sys.executable)
    [event] = data["execs"]
    assert (event["comm_before"], event["exe_after"]) == ("sh", python_exe), event
    assert event["exe_before"] != python_exe and event["t"] >= 0.5
    snaps = data["snapshots"]
    assert snaps["exec"]["t"] >= event["t"]
    start_maps = parsers.parse_maps((out / "raw" / "maps-start.txt").read_text())
    exec_maps = parsers.parse_maps((out / "raw" / "maps-exec.txt").read_text())
    assert python_exe not in {m.pathname for m in start_maps}  # start is the shell
    assert python_exe in {m.pathname for m in exec_maps}
    # The comparison starts after the exec: the program's own files are in both ends, neither gone nor new.
    assert data["summary"]["compared_from"] == "exec"
    changed = maps_growth.changes(exec_maps, parsers.parse_maps((out / "raw" / "maps-end.txt").read_text()))
    assert [c for c in changed if c.pathname == python_exe or "libc" in (c.pathname or "")] == []
    assert "exec'd at" in stderr
    report = agent("report", str(out), "--lang", "en,ja")
    assert report.returncode == 0, report.stderr
    text = (out / "README.md").read_text()
    assert event["before_t"] < event["t"]
    assert "**The process exec'd: it became another program while it was recorded**\n(between " in text
    assert f" s: `{event['exe_before']}` → `{python_exe}`)." in text
    assert text.startswith("# Recording of `sh …` on ")  # the long command is short in the title
    assert "start from the snapshot `exec`" in text and "From the snapshot after the exec (" in text
    assert "|  | `exec` | after the exec |" in text
    assert "exec の後の" in (out / "README.ja.md").read_text()
