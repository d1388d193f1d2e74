"""`labagent background`: the experiment's start on a host without Ansible's async. The caller returns at
once with its stdio released (an SSH command ends), the job file says how the command ended, and the
timeout kills the command's whole process group, as async_wrapper's does."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labagent import background
from labagent.errors import LabError
from labagent.progress import job_finished, job_result
from tests.procwatch import alive, stat, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _job(path: Path) -> dict:
    return json.loads(path.read_text())


def _finished(path: Path) -> dict:
    wait_until(lambda: job_finished(str(path)) and _job(path).get("finished"), timeout=30, what=f"{path} finished")
    return _job(path)


def test_the_caller_returns_before_the_command_ends_and_the_job_file_says_how_it_ended(tmp_path):
    gate, job = tmp_path / "gate", tmp_path / "job"

    def command(argv):
        print("labagent: waiting for the gate", file=sys.stderr, flush=True)
        while not gate.exists():
            time.sleep(0.01)
        print(f"labagent: done {' '.join(argv)}", file=sys.stderr)
        return 0

    started = background.start(command, ["run", "--out", "x"], str(job), timeout_s=30)
    assert started == {"started": 1, "finished": 0, "results_file": str(job)}
    assert not job_finished(str(job))  # the command waits for the gate: the caller did not
    gate.touch()
    end = _finished(job)
    assert end["rc"] == 0 and end["failed"] == 0 and stat(end["pid"]) is None
    assert job_result(str(job)) == {"rc": 0, "msg": "", "stderr": "labagent: done run --out x"}


def test_a_command_that_fails_or_raises_is_its_exit_status_and_last_line(tmp_path):
    def refuses(_argv):
        print("labagent: --size: 'lots' is not a size", file=sys.stderr)
        return 2

    def raises(_argv):
        raise RuntimeError("a bug, not a user's mistake")

    background.start(refuses, ["run"], str(tmp_path / "refused"), timeout_s=30)
    background.start(raises, ["record"], str(tmp_path / "raised"), timeout_s=30)
    _finished(tmp_path / "refused")
    assert job_result(str(tmp_path / "refused")) == \
        {"rc": 2, "msg": "non-zero return code 2", "stderr": "labagent: --size: 'lots' is not a size"}
    raised = _finished(tmp_path / "raised")
    assert raised["rc"] == 1 and "RuntimeError: a bug" in raised["stderr"] and "Traceback" in raised["stderr"]


def test_the_timeout_kills_the_command_and_what_it_started(tmp_path):
    job, child_pid = tmp_path / "job", tmp_path / "child"

    def command(_argv):
        # A child of the command, as sar or the workload are (in the command's process group).
        child = subprocess.Popen(["sleep", "60"])
        child_pid.write_text(str(child.pid))
        time.sleep(60)
        return 0

    background.start(command, ["run"], str(job), timeout_s=1.0)
    wait_until(child_pid.exists, timeout=10, what="the command's child")
    child = int(child_pid.read_text())
    proc = (child, int(stat(child)["start"]))  # type: ignore[index]
    end = _finished(job)
    assert end["rc"] is None and end["failed"] == 1 and end["msg"].startswith("Timeout exceeded")
    # What the playbook reads: no rc ("killed: pack what it left"), and the timeout as the last line.
    assert job_result(str(job))["rc"] is None and job_result(str(job))["stderr"].startswith("labagent background: Timeout")
    wait_until(lambda: not alive([proc]), timeout=10, what="the command's child gone")


def test_a_command_that_closes_its_output_is_waited_for_without_spinning(tmp_path):
    """EOF on the pipe is always readable: a supervisor that kept selecting on it would burn a core
    until the command ends. Not a timing goal: busy (about all of the 1.5 s) against idle."""
    job = tmp_path / "job"

    def command(_argv):
        print("labagent: closing my output", file=sys.stderr, flush=True)
        os.close(1)
        os.close(2)
        time.sleep(1.5)
        return 3

    background.start(command, ["run"], str(job), timeout_s=30)
    wait_until(lambda: "pid" in _job(job), timeout=10, what="the command's pid in the job file")
    supervisor = int(stat(_job(job)["pid"])["ppid"])  # type: ignore[index]
    time.sleep(1.0)
    fields = Path(f"/proc/{supervisor}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    end = _finished(job)
    assert end["rc"] == 3 and end["stderr"] == "labagent: closing my output\n"
    assert cpu_s < 0.5, f"the supervisor used {cpu_s:.2f} s of CPU while the command slept"


def test_a_command_killed_by_a_signal_is_minus_the_signal(tmp_path):
    job = tmp_path / "job"

    def command(_argv):
        os.kill(os.getpid(), 9)
        return 0

    background.start(command, ["run"], str(job), timeout_s=30)
    assert _finished(job)["rc"] == -9


@pytest.mark.parametrize("command,timeout,message", [
    (["report", "runs/x"], 10, "background runs one of run, record after --, not report runs/x"),
    ([], 10, "not nothing"),
    (["run"], 0, "--timeout must be more than 0 s"),
])
def test_background_refuses_what_it_does_not_run(tmp_path, command, timeout, message):
    with pytest.raises(LabError, match=message):
        background.start(lambda _argv: 0, command, str(tmp_path / "job"), timeout_s=timeout)
    assert not (tmp_path / "job").exists()


@pytest.mark.slow  # a real run (gcc, sar): seconds
def test_the_cli_returns_with_its_stdout_closed_while_the_run_goes_on(tmp_path):
    """What an SSH command needs: the caller's stdout reaches EOF at once, though the run takes seconds."""
    job, out = tmp_path / "runs" / "r1.job", tmp_path / "runs" / "r1"
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "labagent", "background", "--job-file", str(job), "--timeout", "60",
                           "--", "run", "--out", str(out), "--size", "4MiB", "--step", "4MiB", "--step-interval", "1",
                           "--pause", "1", "--tail", "1", "--no-imds"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    returned_after = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"started": 1, "finished": 0, "results_file": str(job)}
    assert not job_finished(str(job)), f"the run ended within the caller's {returned_after:.2f} s"
    end = _finished(job)
    assert end["rc"] == 0, end["stderr"]
    assert json.loads((out / "results.json").read_text())["complete"] is True
