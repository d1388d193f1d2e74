"""What every benchmark shares: its result record, the run's context, and processes measured by CPU time.

Children are measured with os.wait4 (their own user+sys time, exactly, whatever else runs), in-process
work with time.thread_time (this thread's CPU time). Every process started here is ended here, by PID.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchError(Exception):
    """A benchmark could not run (a missing tool, a failed run): one line, recorded as n/a."""


@dataclass
class Row:
    """One line of the summary table."""

    item: str  # the goal number and name, e.g. "1 sampler cost"
    metric: str
    value: str
    goal: str = ""  # empty: a figure shown for context, not a goal
    status: str = "info"  # met, missed, info, n/a


@dataclass
class Result:
    """What one benchmark found: table rows, raw figures (latest.json), and notes for the writeup."""

    key: str
    title: str
    rows: List[Row] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)  # what limits a missed goal, caveats
    details: List[str] = field(default_factory=list)  # Markdown lines for the benchmark's section
    seconds: float = 0.0


@dataclass(frozen=True)
class Context:
    """Settings every benchmark reads."""

    quick: bool
    tmp: str  # a private scratch directory, removed after the run
    python: str = sys.executable
    repo: str = REPO
    log: Callable[[str], None] = lambda _message: None

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


@dataclass(frozen=True)
class ChildUsage:
    """A finished child process: wall time, its own CPU time (user+sys) and exit code."""

    wall_s: float
    user_s: float
    sys_s: float
    returncode: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def start(argv: Sequence[str], *, cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
          stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr)


def reap(proc: subprocess.Popen, started: float, timeout: Optional[float] = None,
         between: Optional[Callable[[], None]] = None) -> ChildUsage:
    """Waits for proc with os.wait4 and returns its own rusage; past the timeout it is killed (by PID).

    With a timeout or `between`, it polls: `between()` (e.g. a reading of the child from outside)
    runs while the child lives, else a 5 ms sleep.
    """
    if timeout is None and between is None:
        _, status, usage = os.wait4(proc.pid, 0)
    else:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise BenchError(f"{os.path.basename(str(proc.args[0]))} did not finish within {timeout:.0f} s")
            try:
                if between is not None:
                    between()
                else:
                    time.sleep(0.005)
            except BaseException:  # Ctrl-C or a failed reading: end the child we started, then go on
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return ChildUsage(wall_s=wall, user_s=usage.ru_utime, sys_s=usage.ru_stime, returncode=proc.returncode)


def run_measured(argv: Sequence[str], *, cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                 timeout: Optional[float] = None, stdout: Any = subprocess.DEVNULL,
                 stderr: Any = subprocess.DEVNULL) -> ChildUsage:
    """Runs argv to the end; its wall time and CPU time."""
    started = time.perf_counter()
    proc = start(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
    return reap(proc, started, timeout)


def children_cpu_s() -> float:
    """CPU seconds of every child (and their waited-for descendants) this process has reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = handle.readline().split()
    if fields[0] != "cpu":
        raise BenchError(f"/proc/stat starts with {fields[0]!r}, not the all-CPU 'cpu' line")
    ticks = [int(value) for value in fields[1:]]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def in_process_cost(work: Callable[[], object], count: int) -> Dict[str, float]:
    """CPU seconds (this thread) and wall seconds per call of work, over count calls after one warm-up."""
    work()
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(count):
        work()
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return {"count": count, "cpu_s_per_call": cpu / count, "wall_s_per_call": wall / count}


class SleepTarget:
    """A long-lived process to sample (`sleep 600`), started here and killed by its PID on exit."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> int:
        self.proc = start(["sleep", "600"])
        return self.proc.pid

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)


def read_vmrss_kib(pid: int) -> Optional[int]:
    """VmRSS of pid from /proc/PID/status, read from outside; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def tail(path: str, lines: int = 3) -> str:
    """The last non-empty lines of a log, joined, for a one-line reason."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        return "no output"
    return " | ".join(text[-lines:]) or "no output"
