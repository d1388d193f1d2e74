"""How the agent runs the tools declared in captures.py: a polled capture (capture.sh's ps loop), a
continuous process (sar -r 1) and short commands (free, ps u), all in the capture locale.

Their human-readable output is kept verbatim for the writeup; numbers come from machine-readable
forms (`free -b`, `ps -o ...=`) or from /proc.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional

from . import children
from .captures import PROGRAMS, Capture, install_hints
from .sampler import Sampler, half_tick

# Every tool the agent runs (gcc, sar, ps, free, uname, the workload) runs in this locale, whatever the
# user's: under ja_JP.UTF-8 sar prints `03時58分04秒` and `平均値:`, free and gcc translate their words,
# and no parser reads them. sysstat's S_TIME_FORMAT=ISO gives 24-hour times and an ISO date.
CAPTURE_LOCALE = {"LC_ALL": "C", "S_TIME_FORMAT": "ISO"}


def capture_env(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for a captured tool: the agent's own (PATH, GLIBC_TUNABLES...) in the C locale."""
    env = dict(os.environ if base is None else base)
    env.pop("LANGUAGE", None)  # GNU gettext reads LANGUAGE before LC_ALL for messages
    env.update(CAPTURE_LOCALE)
    return env


# Why a tool is missing, and how to get it, per package manager (declared in captures.py).
INSTALL_HINTS = install_hints()

# capture.sh's line: `date` output, then ps with its own column widths (captures.PS_LOOP).
DATE_FORMAT = "%a %b %e %I:%M:%S %p %Z %Y"


def which(name: str) -> Optional[str]:
    return shutil.which(name)


def run_text(argv: List[str], timeout: float = 10.0) -> str:
    """stdout of a short command; raises OSError/CalledProcessError for the caller to record."""
    done = children.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                        check=True, universal_newlines=True, env=capture_env())
    return done.stdout


def version_line(argv: List[str]) -> Optional[str]:
    """The first non-empty line a tool prints about its version, or None when it cannot run."""
    try:
        out = run_text(argv)
    except (OSError, subprocess.SubprocessError):
        return None
    return next((line.strip() for line in out.splitlines() if line.strip()), None)


def capture_line(capture: Capture, pid: Optional[int], wall: float) -> Optional[str]:
    """One capture.sh line of a polled capture for pid (the date, then the command's output), or None
    once the command no longer finds it."""
    done = children.run(capture.argv(pid), stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10, check=False,
                        env=capture_env())
    line = done.stdout.rstrip("\n")
    if done.returncode != 0 or not line.strip():
        return None
    return f"{time.strftime(DATE_FORMAT, time.localtime(wall))}: {line}"


def finished_line(wall: float) -> str:
    return f"{time.strftime(DATE_FORMAT, time.localtime(wall))}: target process seems to be finished"


def poll_loop(capture: Capture, clock, origin: float, sample_interval_s: float, pid: Optional[int],
              path: str) -> Callable[[threading.Event], object]:
    """A polled capture as capture.sh runs ps: a line per second (or per sample interval, if longer), on
    deadlines from origin (clock.monotonic()) half a sample interval (at most half a second) off the
    sampler's, into path; the loop for a PeriodicThread, returning its ticks' record. Off the sampler's
    grid because the command is a process of its own while it runs: on the same grid, the sampler read
    /proc/meminfo while `ps` was alive, and Committed_AS jumped by its 2 MiB at those ticks."""
    interval = max(1.0, sample_interval_s)
    offset = half_tick(sample_interval_s)
    handle = open(path, "w", encoding="utf-8")
    state = {"finished": False}

    def read() -> Dict[str, object]:
        if not state["finished"]:
            wall = clock.wall()
            line = capture_line(capture, pid, wall)
            if line is None:
                line = finished_line(wall)
                state["finished"] = True
            handle.write(line + "\n")
            handle.flush()
        return {}

    def loop(stop: threading.Event) -> object:
        try:
            return Sampler(clock, interval, origin + offset, read, lambda _r: None).run(stop).as_dict()
        finally:
            handle.close()

    return loop


class ProcessCapture:
    """A continuous capture's command (`sar -r 1`) for the whole run, its stdout into path, stopped with
    SIGINT like the original's ^C (sar then prints Average), then its whole group (sadc) for good."""

    def __init__(self, capture: Capture, path: str, pid: Optional[int] = None) -> None:
        self.capture = capture
        self.argv = capture.argv(pid)
        self.path = path
        self.proc: Optional[subprocess.Popen] = None
        self._out = None

    def start(self, spawn: Callable[..., subprocess.Popen] = children.spawn) -> None:
        self._out = open(self.path, "w", encoding="utf-8")
        self.proc = spawn(self.argv, stdout=self._out, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, env=capture_env())

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # sar and its sadc, as ^C in a terminal does
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._out is not None:
            self._out.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # what the command left behind (sar's sadc)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone (PermissionError: only zombies of another session remain)
        return self.proc.returncode


def tool_versions() -> Dict[str, Optional[str]]:
    """results.json tools.versions: each declared program's version line by its package (gcc, sysstat,
    procps: captures.Program.version), and the host's python3; None where it cannot run."""
    versions: Dict[str, Optional[str]] = {}
    for program in PROGRAMS:
        if program.version and program.package not in versions:
            versions[program.package] = version_line(list(program.version))
    versions["python"] = version_line(["python3", "--version"])
    return versions
