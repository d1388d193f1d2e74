"""Ctrl-C during the experiment: the hosts' agents finish on their own and keep their results, and
`playbooks/fetch.yml -e lab_run_id=<id>` later fetches and renders them."""
import json
import os
import signal

import pytest

from labagent import vocab
from tests.ansible.playbook import ROOT, SMALL, extra_vars
from tests.hosts.procs import ansible_bin
from tests.procwatch import wait_until

pytestmark = [pytest.mark.multihost, pytest.mark.needs_package("gcc", "gcc")]

# Long enough to be caught touching: 8 steps of 2 MiB, half a second apart.
SLOW = dict(SMALL, lab_size="16MiB", lab_step="2MiB", lab_step_interval="0.5")


def last_phase(samples):
    try:
        lines = samples.read_text().strip().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line).get("phase")
        except ValueError:
            continue  # a line being written
    return None


def test_ctrl_c_during_touching_then_fetch_renders_complete_results(ssh_hosts, tmp_path):
    run_id = "ctrlc"
    runs = tmp_path / "runs"
    inventory = str(ssh_hosts.inventory())
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    proc = ssh_hosts.procs.start(
        [str(ansible_bin("ansible-playbook")), "run.yml", "-i", inventory, "--limit", "h1",
         *extra_vars(dict(SLOW, lab_runs_dir=str(runs), lab_run_id=run_id))], cwd=ROOT, env=env)
    # The agent's per-tick log on h1, seen from the controller through the host's private /tmp.
    # The agent runs every variant and repeat of the host in <out>/<variant>__r<k>/.
    remote = ssh_hosts.host("h1").dir / "tmp" / "malloc-lab" / "runs" / run_id / vocab.batch_dir_name("malloc", 1)
    try:
        wait_until(lambda: last_phase(remote / "samples.jsonl") == "touching" or proc.poll() is not None, 240,
                   every=0.1, what="the agent on h1 to start touching")
        assert proc.poll() is None, "ansible-playbook ended before the experiment was touching"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the playbook's whole process group, by its PID
        interrupted = ssh_hosts.procs.finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            ssh_hosts.procs.stop(proc)
    assert interrupted.returncode != 0
    assert not (runs / run_id / "run.json").exists()  # interrupted before the record was written
    assert (runs / run_id / "plan.json").exists()
    said = " ".join(interrupted.stdout.split())  # the yaml callback folds long messages
    assert f"playbooks/fetch.yml -i {inventory} --limit h1 -e lab_run_id={run_id} -e lab_runs_dir={runs}" in said

    fetched = ssh_hosts.run_ansible(
        [str(ansible_bin("ansible-playbook")), "playbooks/fetch.yml", "-i", inventory, "--limit", "h1",
         "-e", f"lab_run_id={run_id}", "-e", f"lab_runs_dir={runs}"], cwd=ROOT, env=env, timeout=300)
    assert fetched.returncode == 0, fetched.stdout[-4000:]
    record = json.loads((runs / run_id / "run.json").read_text())
    assert record["hosts"] == {"h1": {"status": "ok", "reason": None}}
    assert "run.yml" in record["command"]  # the interrupted run's command, for Reproduce
    data = json.loads((runs / run_id / "h1" / "results.json").read_text())
    assert data["complete"] is True
    assert [s["bytes"] for s in data["steps"]][-1] == 16 * 1024 * 1024  # every step, after the Ctrl-C too
    assert "h1" in (runs / run_id / "h1" / "README.md").read_text()  # rendered
    assert (runs / run_id / "README.md").exists()


def test_fetch_without_a_plan_says_what_to_give(ssh_hosts, tmp_path):
    done = ssh_hosts.run_ansible(
        [str(ansible_bin("ansible-playbook")), "playbooks/fetch.yml", "-i", str(ssh_hosts.inventory()),
         "-e", "lab_run_id=nosuch", "-e", f"lab_runs_dir={tmp_path}"], cwd=ROOT, timeout=120)
    assert done.returncode != 0
    assert "give the run to fetch with -e lab_run_id" in done.stdout, done.stdout[-3000:]
