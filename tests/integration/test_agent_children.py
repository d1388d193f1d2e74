"""Nothing the agent starts outlives it (issue 11, item 2): the agent is SIGKILLed mid-touch and every
process it started, sar's sadc included, is gone within 3 s; what it wrote still reads and renders.

Descendants are found by PID from /proc while the run is live (a ppid walk, plus every process in a
process group or session one of them leads, which catches a child re-parented away), recorded with
their start time so a reused PID is not mistaken for one of them; nothing is ever looked up by name.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Optional, Set, Tuple

import pytest

from labagent import results

ROOT = Path(__file__).resolve().parents[2]
# Slow enough that the run is mid-touch for several seconds: 40MiB in 20 steps of 0.3 s.
SLOW = ["--size", "40MiB", "--step", "2MiB", "--step-interval", "0.3", "--sample-interval", "0.05",
        "--pause", "0.2", "--tail", "0.2", "--no-imds"]
GONE_WITHIN_S = 3.0

pytestmark = pytest.mark.skipif(not any(os.access(os.path.join(p, "gcc"), os.X_OK)
                                        for p in os.environ.get("PATH", "").split(os.pathsep)),
                                reason="gcc is not installed")

Proc = Tuple[int, int]  # (pid, start time in clock ticks): one process, even if its PID is reused later


def _stat(pid: int) -> Optional[Dict[str, object]]:
    """Fields of /proc/PID/stat this test needs, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, session, ..., starttime (field 22)
    return {"comm": comm, "state": fields[0], "ppid": int(fields[1]), "pgrp": int(fields[2]),
            "session": int(fields[3]), "start": int(fields[19])}


def _table() -> Dict[int, Dict[str, object]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    return table


def descendants(root: int) -> Dict[Proc, str]:
    """Every live process below root: by parent, and by the groups and sessions those processes lead."""
    table = _table()
    found: Set[int] = set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, stat in table.items():
            if pid not in found and pid != root and (stat["ppid"] == parent or
                                                     (parent != root and parent in (stat["pgrp"], stat["session"]))):
                found.add(pid)
                frontier.append(pid)
    return {(pid, table[pid]["start"]): table[pid]["comm"] for pid in found}  # type: ignore[misc]


def alive(procs: Iterable[Proc]) -> Dict[Proc, str]:
    """The recorded processes still running (a zombie has already died: its parent just did not reap it)."""
    left = {}
    for pid, start in procs:
        stat = _stat(pid)
        if stat is not None and stat["start"] == start and stat["state"] not in ("Z", "X"):
            left[(pid, start)] = f"{stat['comm']} state {stat['state']}"
    return left


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s")


def touching(out: Path) -> bool:
    """The run is mid-touch: results.json says allocated, and the program has touched a step."""
    try:
        data = json.loads((out / "results.json").read_text())
        log = (out / "raw" / "program.log").read_text()
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return any(p["name"] == "allocated" for p in data["phases"]) and "touched" in log


def watch(agent: int, out: Path, seconds: float) -> Dict[Proc, str]:
    """The agent's descendants, collected over a few looks while the run goes on (ps comes and goes)."""
    seen: Dict[Proc, str] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.update(descendants(agent))
        time.sleep(0.05)
    return seen


def test_agent_sigkilled_mid_touch_leaves_no_process_behind(tmp_path):
    out = tmp_path / "run"
    # Its own session, so the test's cleanup can end the whole group by the agent's PID.
    proc = subprocess.Popen([sys.executable, "-m", "labagent", "run", *SLOW, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: Dict[Proc, str] = {}
    try:
        wait_for(lambda: touching(out))
        seen = watch(proc.pid, out, 0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # What the agent started: the workload, sar and the sadc sar forked.
        names = sorted(set(seen.values()))
        assert {"allocate", "sar", "sadc"} <= set(names), names
        deadline = time.monotonic() + GONE_WITHIN_S
        while alive(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive(seen) == {}, f"still running {GONE_WITHIN_S}s after the agent was killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid, _ in alive(seen):  # a failed run of this test must not leave them either: by PID only
            os.kill(pid, signal.SIGKILL)

    # The partial results still read...
    data = results.load_run(str(out))
    assert data["complete"] is False
    assert data["outcome"]["status"] == "running"  # the agent had no chance to write another word
    assert len(data["samples"]) > 3
    assert data["snapshots"]["allocated"]["reading"]["vsz_kib"] > 40 * 1024
    # ...and the writeup says the run is incomplete.
    done = subprocess.run([sys.executable, "-m", "labagent", "report", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    writeup = (out / "README.md").read_text()
    assert "> **This run is incomplete: running.**" in writeup
    assert "Phases captured: `baseline`, `allocated`, `touching`." in writeup
