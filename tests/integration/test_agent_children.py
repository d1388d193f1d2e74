"""Nothing the agent starts outlives it (issue 11, item 2): the agent is SIGKILLed mid-touch and every
process it started, sar's sadc included, is gone within 3 s; what it wrote still reads and renders.

Descendants are found from /proc while the run is live and recorded by PID and start time
(tests/procwatch.py); nothing is ever looked up by name.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from labagent import results
from tests.procwatch import Proc, descendants, gone_within, kill_recorded, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Slow enough that the run is mid-touch for several seconds: 40MiB in 20 steps of 0.3 s.
SLOW = ["--size", "40MiB", "--step", "2MiB", "--step-interval", "0.3", "--sample-interval", "0.05",
        "--pause", "0.2", "--tail", "0.2", "--no-imds"]
GONE_WITHIN_S = 3.0

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not any(os.access(os.path.join(p, "gcc"), os.X_OK)
                                         for p in os.environ.get("PATH", "").split(os.pathsep)),
                                 reason="gcc is not installed")]

def touching(out: Path) -> bool:
    """The run is mid-touch: results.json says allocated, and the program has touched a step."""
    try:
        data = json.loads((out / "results.json").read_text())
        log = (out / "raw" / "program.log").read_text()
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return any(p["name"] == "allocated" for p in data["phases"]) and "touched" in log


def watch(agent: int, seconds: float) -> Dict[Proc, str]:
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
        wait_until(lambda: touching(out), timeout=60)
        seen = watch(proc.pid, 0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # What the agent started: the workload, sar and the sadc sar forked.
        names = sorted(set(seen.values()))
        assert {"allocate", "sar", "sadc"} <= set(names), names
        assert gone_within(seen, GONE_WITHIN_S) == {}, f"still running {GONE_WITHIN_S}s after the agent was killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_recorded(seen)  # a failed run of this test must not leave them either

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
