"""Ctrl-C of `make run` (this machine, local connection): the agent, started under Ansible's async
wrapper in its own session, finishes anyway, and `playbooks/fetch.yml` collects and renders it."""
import json
import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

from labagent import results, vocab
from tests.hosts.procs import ProcessGroups

from .playbook import BIN, ROOT, SMALL, ansible_playbook, extra_vars, task_results

pytestmark = [pytest.mark.slow, pytest.mark.needs_package("gcc", "gcc"), pytest.mark.needs_package("sar", "sysstat")]


def touching(samples):
    try:
        return any(json.loads(line).get("phase") == "touching" for line in samples.read_text().splitlines()[:-1])
    except FileNotFoundError:
        return False


def interrupt_when_touching(groups: ProcessGroups, knobs: dict, remote: str, run_id: str) -> None:
    """Starts run.yml with knobs and Ctrl-Cs it once its agent is touching; the playbook must fail."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{os.environ['PATH']}")
    proc = groups.start([str(BIN / "ansible-playbook"), "run.yml", *extra_vars(knobs)], cwd=ROOT, env=env)
    # The agent runs every variant and repeat of the host in <out>/<variant>__r<k>/.
    samples = Path(remote) / "runs" / run_id / vocab.batch_dir_name("malloc", 1) / "samples.jsonl"
    deadline = time.monotonic() + 240
    while not touching(samples) and proc.poll() is None:
        assert time.monotonic() < deadline, "the agent never started touching"
        time.sleep(0.1)
    assert proc.poll() is None, "ansible-playbook ended before the experiment was touching"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the playbook's process group, by its PID
    assert groups.finish(proc, timeout=60).returncode != 0


def fetch(tmp_path, run_id: str):
    return ansible_playbook(["-e", f"lab_run_id={run_id}", "-e", f"lab_runs_dir={tmp_path}"],
                            playbook="playbooks/fetch.yml", timeout=300)


def test_ctrl_c_of_a_local_run_then_fetch(tmp_path):
    run_id = f"ctrlc-{uuid.uuid4().hex[:8]}"
    remote = f"/tmp/malloc-lab-test-{run_id}"  # this test's own: nothing shared with other runs
    knobs = dict(SMALL, lab_size="16MiB", lab_step="2MiB", lab_step_interval="0.5", lab_runs_dir=str(tmp_path),
                 lab_run_id=run_id, lab_remote_dir=remote)
    groups = ProcessGroups()
    try:
        interrupt_when_touching(groups, knobs, remote, run_id)
        assert not (tmp_path / run_id / "run.json").exists()

        fetched = fetch(tmp_path, run_id)
        assert fetched.returncode == 0, fetched.stdout[-4000:]
        record = json.loads((tmp_path / run_id / "run.json").read_text())
        assert record["hosts"] == {"localhost": {"status": "ok", "reason": None}}
        data = json.loads((tmp_path / run_id / "localhost" / "results.json").read_text())
        assert data["complete"] is True and data["steps"][-1]["bytes"] == 16 * 1024 * 1024
        assert (tmp_path / run_id / "localhost" / "README.md").exists()
    finally:
        groups.stop_all()
        shutil.rmtree(remote, ignore_errors=True)


def test_ctrl_c_then_the_agent_killed_at_its_timeout_then_fetch_brings_what_it_wrote(tmp_path):
    # 20 s of touching, killed by the job's timeout after 8 s: nobody is following it then, so the
    # agent's own archive is never written; fetch.yml's last poll packs what it left, and fetches it.
    run_id = f"ctrlc-killed-{uuid.uuid4().hex[:8]}"
    remote = f"/tmp/malloc-lab-test-{run_id}"
    knobs = dict(SMALL, lab_size="40MiB", lab_step="2MiB", lab_step_interval="1", lab_timeout="8",
                 lab_runs_dir=str(tmp_path), lab_run_id=run_id, lab_remote_dir=remote)
    groups = ProcessGroups()
    try:
        interrupt_when_touching(groups, knobs, remote, run_id)
        assert not Path(f"{remote}/runs/{run_id}.tar.gz").exists()  # the agent is still touching

        fetched = fetch(tmp_path, run_id)
        assert fetched.returncode != 0  # the run did not complete, and the playbook says so
        follow = "Follow the agent until it ends, and bring its results home"
        assert task_results(fetched.stdout, follow) == {"localhost": "changed"}
        assert task_results(fetched.stdout, "Wait until the agent has finished") == {"localhost": "skipping"}
        # Collected, and judged from its own results.json: the agent did not finish the run.
        assert record_hosts(tmp_path, run_id) == {
            "localhost": {"status": "failed", "reason": "the agent stopped before it finished this run"}}
        host = tmp_path / run_id / "localhost"
        data = results.load_run(str(host))
        assert data["complete"] is False and len(data["samples"]) > 3
        assert [p["name"] for p in data["phases"]][:3] == ["baseline", "allocated", "touching"]
        assert (host / "raw" / "sar-r.txt").exists() and not (host / "allocate").exists()
    finally:
        groups.stop_all()
        shutil.rmtree(remote, ignore_errors=True)


def record_hosts(tmp_path, run_id: str) -> dict:
    return json.loads((tmp_path / run_id / "run.json").read_text())["hosts"]
