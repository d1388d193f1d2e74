"""The processes below a PID, found from /proc while they live, so a test can check later that every
one of them has ended (issue 11: nothing the agent starts outlives it).

A process is recorded as (PID, start time): a PID the kernel gives to someone else afterwards is not
mistaken for it. Nothing is looked up or ended by name.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Set, Tuple

Proc = Tuple[int, int]  # (pid, start time in clock ticks since boot)


def stat(pid: int) -> Optional[Dict[str, object]]:
    """The fields of /proc/PID/stat used here, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # fields[0] is proc(5)'s field 3, state
    return {"comm": text[text.index("(") + 1:text.rindex(")")], "state": fields[0], "ppid": int(fields[1]),
            "pgrp": int(fields[2]), "session": int(fields[3]), "start": int(fields[19])}


def _table() -> Dict[int, Dict[str, object]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = stat(int(entry))
            if found is not None:
                table[int(entry)] = found
    return table


def descendants(root: int) -> Dict[Proc, str]:
    """Every process below root, by parent, and by the process groups and sessions those lead
    (which catches one re-parented away from its parent); process -> its command name."""
    table = _table()
    found: Set[int] = set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, row in table.items():
            if pid in found or pid == root:
                continue
            if row["ppid"] == parent or (parent != root and parent in (row["pgrp"], row["session"])):
                found.add(pid)
                frontier.append(pid)
    return {(pid, table[pid]["start"]): str(table[pid]["comm"]) for pid in found}  # type: ignore[misc]


def alive(procs: Iterable[Proc]) -> Dict[Proc, str]:
    """The recorded processes still running. A zombie has ended: only its (new) parent has not reaped it."""
    left = {}
    for pid, start in procs:
        row = stat(pid)
        if row is not None and row["start"] == start and row["state"] not in ("Z", "X"):
            left[(pid, start)] = f"{row['comm']} (state {row['state']})"
    return left


def is_alive(proc: Proc) -> bool:
    return bool(alive([proc]))


def wait_until(predicate: Callable[[], object], timeout: float, every: float = 0.05, what: str = "") -> object:
    """predicate()'s first true value, polled; AssertionError after timeout seconds, naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s" + (f" waiting for {what}" if what else ""))


def gone_within(procs: Iterable[Proc], seconds: float) -> Dict[Proc, str]:
    """Waits up to `seconds` for every process to end; returns those still running then."""
    procs = list(procs)
    deadline = time.monotonic() + seconds
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(procs)


def kill_recorded(procs: Iterable[Proc]) -> None:
    """SIGKILL what a failed test left running: by recorded PID and start time only."""
    for pid, _ in alive(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
