"""Run commands (ansible, ansible-playbook) in their own process group, recorded by PID, so a test
can always stop them: on timeout, on an exception, and in a fixture's teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# How long a process group gets to end after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0
# How long a stop waits for a killed group to be gone (SIGKILL is delivered asynchronously).
GROUP_GONE_S = 3.0


class ProcessGroups:
    """The commands one owner (a fixture, a benchmark) started, each leading its own process group.

    Each command is started with ``start_new_session=True``, so its PID is also its process group
    id; stopping it signals that group by the recorded id (``os.killpg``), never by name.
    """

    def __init__(self) -> None:
        self._running: dict[int, subprocess.Popen[str]] = {}

    def start(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``args`` in the background; the caller collects it with ``finish`` or ``stop``."""
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._running[proc.pid] = proc
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Wait for ``proc``; on timeout or any exception (Ctrl-C too) stop its whole group first.

        A timeout raises ``subprocess.TimeoutExpired`` carrying the output read so far, like
        ``subprocess.run`` does.
        """
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out, err = self.stop(proc)
            raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
        except BaseException:
            self.stop(proc)
            raise
        # The leader is done; anything it left in its group (a backgrounded child) is ours to end.
        _kill_group_and_wait(proc.pid)
        self._running.pop(proc.pid, None)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def run(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 600.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` to completion in its own process group (see ``finish``)."""
        return self.finish(self.start(args, cwd=cwd, env=env), timeout)

    def stop(self, proc: subprocess.Popen[str], grace: float = STOP_GRACE_S) -> tuple[str, str]:
        """End ``proc``'s process group: SIGTERM, wait up to ``grace`` s, then SIGKILL.

        Returns whatever output could still be read.
        """
        out, err = "", ""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=grace)
            except subprocess.TimeoutExpired:
                # A process that left the group still holds the pipes: give up on the output.
                proc.kill()
                proc.wait()
        _kill_group_and_wait(proc.pid)  # members that outlived their leader
        self._running.pop(proc.pid, None)
        return out or "", err or ""

    def stop_all(self, grace: float = STOP_GRACE_S) -> list[int]:
        """Stop every command still running; returns the PIDs that had to be stopped."""
        stopped = []
        for pid, proc in list(self._running.items()):
            if proc.poll() is None:
                stopped.append(pid)
            self.stop(proc, grace)
        return stopped

    @property
    def running(self) -> list[int]:
        """PIDs (= process group ids) of the commands started here and not yet collected."""
        return [pid for pid, proc in self._running.items() if proc.poll() is None]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is already empty


def _kill_group_and_wait(pgid: int, timeout: float = GROUP_GONE_S) -> None:
    """SIGKILL what is left of group ``pgid`` and wait until none of it is alive (zombies aside): a
    signal is delivered asynchronously, so a member can still be running right after killpg."""
    deadline = time.monotonic() + timeout
    while True:
        _signal_group(pgid, signal.SIGKILL)
        if not live_group_members(pgid) or time.monotonic() >= deadline:
            return
        time.sleep(0.01)


def live_group_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` that are not zombies (PID 1 here reaps orphans lazily)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def run_ansible(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    groups: ProcessGroups | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an ansible command in its own process group; on timeout or exception kill that group.

    Pass ``groups`` (e.g. the ``ssh_hosts`` fixture's) so a teardown can also stop it.
    """
    return (groups or ProcessGroups()).run(args, cwd=cwd, env=env, timeout=timeout)


def ansible_bin(name: str = "ansible") -> Path:
    """The ansible entry point next to the running Python (the project's venv)."""
    return Path(sys.executable).with_name(name)
