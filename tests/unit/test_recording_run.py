"""A run that records lab_command on every host (run.yml -e lab_command): the poll's line for a recording
(labagent progress --recording), record-run's unpacking and judging of one recording per host, and the
recorder's --check the lab role asks once (labagent record --check)."""
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from labagent import progress, runrecord, vocab

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "tests" / "fixtures" / "recordings" / "steps"  # a real recording (see its NOTE.md)


def _plugin():
    import importlib.util
    spec = importlib.util.spec_from_file_location("lab_progress", ROOT / "plugins" / "callback" / "lab_progress.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_recordings_poll_says_its_phase_vsz_rss_and_time_from_its_last_sample(tmp_path):
    assert progress.poll_record(str(tmp_path), None, recording=True)["line"] == "starting"
    samples = [{"t": 0.5, "phase": "start", "vsz_kib": 20000, "rss_kib": 9000, "min_flt": 700},
               {"t": 1.5, "phase": "grown", "vsz_kib": 40212, "rss_kib": 31012, "min_flt": 7771}]
    (tmp_path / vocab.SAMPLES_JSONL).write_text("".join(json.dumps(s) + "\n" for s in samples) + '{"t": 1.6, "pha')
    record = progress.poll_record(str(tmp_path), None, recording=True)
    assert record["line"] == "phase grown, VSZ 40,212 KiB, RSS 31,012 KiB, min_flt 7,771, 1.5 s"
    assert record["lab_progress"]["kind"] == "recording" and record["run"] == tmp_path.name
    # The callback names it a recording, and prints a line when the figures change, not the clock.
    plugin = _plugin()
    assert plugin.progress_message("h1", record) == f"PROGRESS: [h1] recording: {record['line']}"
    later = dict(record, lab_progress=dict(record["lab_progress"], t=2.5))
    assert plugin.progress_key("h1", later) == plugin.progress_key("h1", record)
    # After the process: the sample has no process figures.
    (tmp_path / vocab.SAMPLES_JSONL).write_text(json.dumps({"t": 3.0, "phase": "grown", "rss_kib": None}) + "\n")
    assert progress.poll_record(str(tmp_path), None, recording=True)["line"] == \
        "phase grown, the process has exited, 3.0 s"


def test_a_poll_without_recording_tells_a_recording_by_its_files(tmp_path):
    """`labagent progress DIR` typed by hand on a recording: its samples, not "starting" (a run writes
    progress.json before its first sample; a batch has batch.json)."""
    (tmp_path / vocab.SAMPLES_JSONL).write_text(json.dumps({"t": 1.5, "phase": "start", "vsz_kib": 4000,
                                                            "rss_kib": 3000, "min_flt": 70}) + "\n")
    assert progress.poll_record(str(tmp_path), None)["line"] == "phase start, VSZ 4,000 KiB, RSS 3,000 KiB, min_flt 70, 1.5 s"
    progress.ProgressFile(str(tmp_path), progress.Progress("malloc", "touching", 8, 4, 1, 2, 5000, 90, 1.0))
    assert progress.poll_record(str(tmp_path), None)["line"] == "touching 4B of 8B (1/2), RSS 5,000 KiB, min_flt 90, 1.0 s"


def _plan(run_dir):
    run_dir.mkdir(parents=True)
    plan = {"id": run_dir.name, "kind": vocab.RECORDING_KIND, "command": "ansible-playbook run.yml",
            "record": {"command": ["./steps", "3"], "duration_s": None, "sample_interval_s": 0.1},
            "params": {"command": "./steps 3"}, "targets": ["h1", "h2", "h3"]}
    (run_dir / runrecord.PLAN_JSON).write_text(json.dumps(plan))


def _archive(run_dir, host, source):
    with tarfile.open(runrecord.archive_path(str(run_dir), host), "w:gz") as tar:
        tar.add(source, arcname=".")


def test_record_run_unpacks_one_recording_per_host_and_judges_each(tmp_path):
    run_dir = tmp_path / "runs" / "rec"
    _plan(run_dir)
    _archive(run_dir, "h1", STEPS)
    broken = tmp_path / "h2-left"  # the recorder killed mid-way: results.json still says running
    shutil.copytree(STEPS, broken)
    data = json.loads((broken / vocab.RESULTS).read_text())
    data.update(complete=False, outcome={"status": "running", "reason": None, "signal": None, "phase": "start"})
    (broken / vocab.RESULTS).write_text(json.dumps(data))
    _archive(run_dir, "h2", broken)
    refused = {"status": "failed", "reason": "labagent: cannot start ./steps: No such file or directory"}
    verdict = runrecord.record_run(str(run_dir), {"h1": {"status": "ok", "reason": None},
                                                  "h2": {"status": "failed", "reason": "Timeout exceeded"},
                                                  "h3": refused})
    assert verdict["total"] == 3 and verdict["ok"] == 1
    assert verdict["failed"] == {"h2": {"status": "failed", "reason": "Timeout exceeded"}, "h3": refused}
    record = json.loads((run_dir / vocab.RUN_JSON).read_text())
    assert record["kind"] == vocab.RECORDING_KIND and record["record"]["command"] == ["./steps", "3"]
    assert record["entries"]["h1"] == {"host": "h1", "variant": vocab.RECORDING_KIND, "repeat": 1}
    # The recording is the host's directory, as fetched; the archive is gone.
    assert (run_dir / "h1" / vocab.RESULTS).read_bytes() == (STEPS / vocab.RESULTS).read_bytes()
    assert not list(run_dir.glob("*.tar.gz")) and not (run_dir / "h3").exists()


@pytest.mark.parametrize("args,out", [
    (["--command-line", "python3 -c 'print(1)'", "--duration", "30s"],
     {"command": ["python3", "-c", "print(1)"], "pid": None, "duration_s": 30.0, "sample_interval_s": 1.0}),
    (["--sample-interval", "100ms", "--", "sleep", "1"],
     {"command": ["sleep", "1"], "pid": None, "duration_s": None, "sample_interval_s": 0.1}),
])
def test_record_check_prints_the_settled_recording(args, out):
    done = subprocess.run([sys.executable, "-m", "labagent", "record", "--check", "--out=.", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout) == out, done.stderr


@pytest.mark.parametrize("args,message", [
    (["--command-line", "python3 'x"], "labagent: --command-line \"python3 'x\" cannot be split into words (No closing quotation)"),
    (["--command-line", "  "], "labagent: --command-line names no command"),
    (["--command-line", "a", "--", "b"], "labagent: record takes the command after -- or as --command-line, not both"),
    (["--duration", "0", "--", "sleep", "1"], "labagent: --duration must be positive"),
])
def test_record_check_refuses_in_one_line(args, message):
    done = subprocess.run([sys.executable, "-m", "labagent", "record", "--check", "--out=.", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and done.stderr == message + "\n"


def test_a_recording_keeps_no_malloc_shaped_progress_json(tmp_path, proc_root):
    # An experiment's Run keeps progress.json (size and steps); a recording's (keep_progress=False) has none.
    from labagent.clock import FakeClock
    from labagent.experiment import Params, Run
    runs = {}
    for name, keep in (("experiment", True), ("recording", False)):
        out = tmp_path / name
        out.mkdir()
        runs[name] = Run(Params(sample_interval_s=0.1), str(out), FakeClock(), str(proc_root), lambda _m: None, [],
                         keep_progress=keep)
        runs[name].begin_phase("start")
    assert progress.read_progress(str(tmp_path / "experiment")).phase == "start"
    assert not (tmp_path / "recording" / progress.PROGRESS_JSON).exists()


def test_labagent_record_writes_no_progress_json_and_its_poll_reads_the_samples(tmp_path):
    out = tmp_path / "rec"
    command = [sys.executable, "-c", "import time; b = bytearray(8 << 20); time.sleep(0.5)"]
    done = subprocess.run([sys.executable, "-m", "labagent", "record", "--out", str(out), "--sample-interval", "0.1",
                           "--no-imds", "--", *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not (out / progress.PROGRESS_JSON).exists()
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == ["results.json"]
    record = progress.poll_record(str(out), None, recording=True)
    assert record["lab_progress"]["kind"] == "recording" and record["line"].startswith("phase start, ")


def test_a_refused_recording_leaves_its_one_line_in_the_refused_file(tmp_path):
    # What fetch.yml reads on a host whose recorder could not start the command (collect.yml).
    out, refused = tmp_path / "runs" / "r1", tmp_path / "runs" / "r1.refused"

    def record(*command):
        return subprocess.run([sys.executable, "-m", "labagent", "record", "--out", str(out), "--refused-file",
                               str(refused), "--sample-interval", "0.1", "--no-imds", "--force", "--", *command],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = record("/opt/no-such-program", "3")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert refused.read_text() == done.stderr == "labagent: cannot start /opt/no-such-program: No such file or directory\n"
    # a later attempt that starts forgets the earlier refusal
    done = record(sys.executable, "-c", "pass")
    assert done.returncode == 0, done.stderr
    assert not refused.exists() and (out / "results.json").is_file()
