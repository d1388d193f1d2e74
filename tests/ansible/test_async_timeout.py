"""The background job's timeout (`lab_timeout` shorter than the run) kills the agent with SIGKILL mid-touch
(`labagent background` kills the agent's process group, as Ansible's async_wrapper does): nothing the
agent started outlives it, and what it wrote is fetched, reads, and renders as incomplete (issue 11,
item 2)."""
import json
import os
import shutil
import time
import uuid
from typing import Dict, Optional

import pytest

from labagent import results
from tests.hosts.procs import ProcessGroups
from tests.procwatch import Proc, alive, descendants, gone_within, is_alive, kill_recorded, stat, wait_until

from .playbook import BIN, ROOT, extra_vars

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("sar") is None,
                                 reason="gcc and sysstat (sar) are needed: apt-get install gcc sysstat")]

# 20 s of touching, killed by the async timeout after 8 s (gcc and two pauses take well under that).
KNOBS = {"lab_size": "40MiB", "lab_step": "2MiB", "lab_step_interval": "1", "lab_sample_interval": "0.1",
         "lab_pause": "0.2", "lab_tail": "0.2", "lab_timeout": "8", "lab_report_render": "true"}
GONE_WITHIN_S = 3.0


def _agent_argv(pid: int, out_dir: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return b"run" in argv and out_dir.encode() in argv and any(a.endswith(b".pyz") and b"labagent" in a for a in argv)


def _agent(out_dir: str) -> Optional[Proc]:
    """The agent writing out_dir (a path no other process names), found by its command line. `labagent
    background` forks: the caller, its supervisor (a session leader) and the agent itself share that
    command line; the agent is the one below the supervisor, in its session but not leading it."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not _agent_argv(int(entry), out_dir):
            continue
        row = stat(int(entry))
        if row is not None and row["session"] != int(entry) and _agent_argv(int(row["ppid"]), out_dir):  # type: ignore[arg-type]
            return int(entry), int(row["start"])  # type: ignore[arg-type]
    return None


def test_async_timeout_leaves_no_process_behind(tmp_path):
    run_id = f"timeout-{uuid.uuid4().hex[:8]}"
    remote = tmp_path / "remote"
    out_dir = str(remote / "runs" / run_id)
    groups = ProcessGroups()
    playbook = groups.start([str(BIN / "ansible-playbook"), "run.yml",
                             *extra_vars(dict(KNOBS, lab_runs_dir=str(tmp_path / "runs"), lab_run_id=run_id,
                                              lab_remote_dir=str(remote)))],
                            cwd=ROOT, env=dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{os.environ['PATH']}"))
    seen: Dict[Proc, str] = {}
    try:
        agent = wait_until(lambda: _agent(out_dir), timeout=120)
        # Watch what the agent starts until the async timeout kills it.
        while is_alive(agent):  # type: ignore[arg-type]
            seen.update(descendants(agent[0]))  # type: ignore[index]
            time.sleep(0.05)
        assert {"allocate", "sar", "sadc"} <= set(seen.values()), sorted(set(seen.values()))
        assert gone_within(seen, GONE_WITHIN_S) == {}, f"still running {GONE_WITHIN_S}s after the agent was killed"
        done = groups.finish(playbook, timeout=300)
    finally:
        groups.stop_all()
        kill_recorded(seen)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    record = json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
    assert record["hosts"]["localhost"]["status"] == "failed"
    assert "Timeout" in record["hosts"]["localhost"]["reason"], record["hosts"]
    # The partial results were fetched, read, and the writeup says the run is incomplete.
    host = tmp_path / "runs" / run_id / "localhost"
    data = results.load_run(str(host))
    assert data["complete"] is False and len(data["samples"]) > 3
    assert [p["name"] for p in data["phases"]][:3] == ["baseline", "allocated", "touching"]
    writeup = (host / "README.md").read_text()
    assert "> **This run is incomplete: running.**" in writeup
    assert not alive(seen)
