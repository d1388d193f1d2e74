"""labagent.children: a child dies with the agent (death signal) and with its group (Children.end)."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labagent import children

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    """Exited (a zombie counts: it has died, its new parent just has not reaped it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return False


# A parent that spawns `sleep 60` the agent's way, prints its PID, then waits to be killed.
PARENT = """
import subprocess, sys, time
from labagent import children
proc = children.spawn(["sleep", "60"], stdin=subprocess.DEVNULL)
print(proc.pid, flush=True)
time.sleep(60)
"""


def _child_dies_with_its_parent(script: str, sig: int, *args: str) -> bool:
    """Runs `python -c script args` (it prints the PID of a child it started), sends it sig, and says
    whether that child died within 5 s; nothing is left running either way."""
    parent = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    child = 0
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        parent.send_signal(sig)
        parent.wait(timeout=10)
        return _wait_gone(child)
    finally:
        parent.stdout.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child and not _gone(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_child_dies_with_its_parent_however_the_parent_dies(sig):
    assert _child_dies_with_its_parent(PARENT, sig), "the child outlived its parent"


def test_a_child_leads_its_own_process_group():
    proc = children.spawn(["sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        assert os.getpgid(proc.pid) == proc.pid and os.getsid(proc.pid) == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_end_kills_the_whole_group_grandchildren_included():
    started = children.Children()
    # sh forks sleep (a grandchild, like sar's sadc) and reports its PID.
    proc = started.spawn(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    grandchild = int(proc.stdout.readline())
    try:
        assert started.end() == [proc.pid]
        assert proc.returncode == -signal.SIGKILL
        assert _wait_gone(grandchild)
        assert started.end() == []  # idempotent: nothing left to end, and no stranger signalled
    finally:
        proc.stdout.close()
        if not _gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_spawn_refuses_other_threads_but_run_works_there():
    outcome = {}

    def body():
        try:
            children.spawn(["true"])
        except RuntimeError as exc:
            outcome["spawn"] = str(exc)
        outcome["run"] = children.run(["echo", "hi"], stdout=subprocess.PIPE, universal_newlines=True).stdout

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert "main thread" in outcome["spawn"]
    assert outcome["run"] == "hi\n"


def test_run_kills_the_group_on_timeout_and_checks():
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        children.run(["sh", "-c", "sleep 30"], timeout=0.3)
    assert time.monotonic() - started < 10
    with pytest.raises(subprocess.CalledProcessError):
        children.run(["false"], check=True)


def test_spawn_keeps_the_settings_it_owns():
    with pytest.raises(TypeError, match="start_new_session"):
        children.spawn(["true"], start_new_session=False)


def _ignored_mask(status: str) -> int:
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)


def test_a_child_starts_with_sigint_and_sigquit_at_their_defaults_whatever_the_agent_inherited():
    # A script's background job (`labagent run ... &`) starts with SIGINT and SIGQUIT ignored, and an
    # ignored signal stays ignored through exec: the agent could not stop a capture with ^C's signal.
    both = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGQUIT - 1))
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
    try:
        plain = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True, check=True)
        spawned = children.spawn(["cat", "/proc/self/status"], stdout=subprocess.PIPE, text=True)
        out, _ = spawned.communicate(timeout=10)
        ran = children.run(["cat", "/proc/self/status"], stdout=subprocess.PIPE, text=True, timeout=10)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert _ignored_mask(plain.stdout) & both == both  # what any other child inherits
    assert _ignored_mask(out) & both == 0
    assert _ignored_mask(ran.stdout) & both == 0


# What a fork would charge: the agent's private writable mappings, copied into the child until it execs
# (Committed_AS moved 30-60 MiB at the sampler's ticks). run() must start its child without that copy.
TRACED = """
import subprocess, threading
from labagent import children
children.run(["true"])
threading.Thread(target=lambda: children.run(["true"], stdout=subprocess.PIPE)).start()
children.spawn(["true"]).wait()
"""


@pytest.mark.needs_package("strace", "strace")
def test_run_starts_its_child_without_a_copy_of_the_agent_and_spawn_forks(tmp_path):
    log = tmp_path / "clone.log"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o", str(log),
                    sys.executable, "-c", TRACED], cwd=ROOT, check=True, timeout=60)
    # "PID clone3({flags=...}, 88) = CHILD", or split by another thread's call: "... <unfinished ...>"
    calls = [line.split(None, 1)[1] for line in log.read_text().splitlines()
             if line.split(None, 1)[1].startswith(("clone(", "clone3(", "fork(", "vfork("))]
    # Python's own thread (CLONE_THREAD) aside, four children: run()'s probe of setpriv and run()'s two
    # (posix_spawn: the agent's memory shared, the agent waiting until exec), and spawn()'s, a fork
    # (the thread's run() and spawn() may come in either order).
    processes = [call for call in calls if "CLONE_THREAD" not in call]
    spawned = [call for call in processes if "CLONE_VM" in call and "CLONE_VFORK" in call]
    forked = [call for call in processes if "CLONE_VM" not in call]
    assert (len(processes), len(spawned), len(forked)) == (4, 3, 1), calls


def test_run_without_a_pidfd_still_times_out_and_collects(monkeypatch):
    monkeypatch.delattr(children.os, "pidfd_open")
    done = children.run(["sh", "-c", "echo out; echo err >&2; exit 3"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        children.run(["sleep", "30"], timeout=0.3)
    assert time.monotonic() - started < 10


def test_run_without_setpriv_still_runs_its_command_in_a_session_of_its_own(monkeypatch):
    real_which = children.shutil.which
    monkeypatch.setattr(children.shutil, "which", lambda name, **kw: None if name == "setpriv" else real_which(name, **kw))
    children._death_signal_prefix.cache_clear()
    try:
        assert children._death_signal_prefix() == ()
        done = children.run(["sh", "-c", "ps -o sid= -p $$; echo $$"], stdout=subprocess.PIPE, text=True)
        sid, pid = done.stdout.split()
        assert sid == pid  # a session of its own
    finally:
        children._death_signal_prefix.cache_clear()


def test_a_missing_command_is_file_not_found_as_from_subprocess():
    with pytest.raises(FileNotFoundError):
        children.run(["no-such-command-malloc-lab"])


# A parent whose other thread waits on run(): the command writes its PID, the parent prints it.
WAITING_PARENT = """
import os, sys, threading, time
from labagent import children
path = sys.argv[1]
threading.Thread(target=children.run, args=(["sh", "-c", "echo $$ > " + path + "; exec sleep 60"],), daemon=True).start()
while not os.path.exists(path) or not open(path).read().strip():
    time.sleep(0.01)
print(open(path).read().strip(), flush=True)
time.sleep(60)
"""


def test_a_command_run_waits_for_dies_with_the_agent_killed_outright(tmp_path):
    assert _child_dies_with_its_parent(WAITING_PARENT, signal.SIGKILL, str(tmp_path / "pid")), \
        "run()'s command outlived the agent: no death signal (setpriv)"
