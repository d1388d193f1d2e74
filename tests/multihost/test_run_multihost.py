"""`ansible-playbook run.yml -i <SSH hosts>`: every host in parallel, each host's own results, failures recorded."""
import json

import pytest

from tests.ansible.playbook import ROOT, SMALL, extra_vars, task_results
from tests.connections import connections
from tests.hosts.procs import ansible_bin

pytestmark = [pytest.mark.multihost, pytest.mark.needs_package("gcc", "gcc")]


def run_lab(ssh_hosts, runs, run_id, connection="ssh", extra=None, extra_args=()):
    inventory = ssh_hosts.inventory(connection=connection)
    args = [str(ansible_bin("ansible-playbook")), "run.yml", "-i", str(inventory), *extra_args,
            *extra_vars(dict(SMALL, lab_runs_dir=str(runs), lab_run_id=run_id,
                                     lab_report_render="false", **(extra or {})))]  # writeups: tests/report
    return ssh_hosts.run_ansible(args, cwd=ROOT, timeout=600, connection=connection)


def host_results(runs, run_id, host):
    return json.loads((runs / run_id / host / "results.json").read_text())


@pytest.mark.parametrize("connection", connections())
def test_every_host_runs_in_parallel_and_gets_its_own_results(ssh_hosts, tmp_path, connection):
    run_id = f"par-{connection}"  # the hosts live for the session: one run id per run
    done = run_lab(ssh_hosts, tmp_path, run_id, connection)
    assert done.returncode == 0, done.stdout[-4000:]
    names = [h.name for h in ssh_hosts.hosts]
    record = json.loads((tmp_path / run_id / "run.json").read_text())
    assert record["hosts"] == {n: {"status": "ok", "reason": None} for n in names}
    results = {n: host_results(tmp_path, run_id, n) for n in names}
    for name, data in results.items():
        assert data["complete"] is True
        assert data["host"]["hostname"] == name  # each host's UTS namespace: its own facts
        assert data["agent"]["python"].startswith("3.")
    pids = {data["workload"]["pid"] for data in results.values()}
    assert len(pids) == len(names)  # three workloads, one per host
    # Together, not one after another: every host's experiment had started before any host's ended
    # (an order of events on one clock, the namespaces share it; not a speed).
    starts = [data["phases"][0]["start_wall"] for data in results.values()]
    ends = [data["phases"][-1]["end_wall"] for data in results.values()]
    assert max(starts) < min(ends), (starts, ends)
    assert (tmp_path / "latest").is_symlink()


def test_a_broken_host_does_not_stop_the_others(ssh_hosts, tmp_path):
    with ssh_hosts.broken("h2", "unreachable"):
        done = run_lab(ssh_hosts, tmp_path, "broken")
    assert done.returncode != 0
    assert "h2 (unreachable" in done.stdout
    record = json.loads((tmp_path / "broken" / "run.json").read_text())
    assert record["hosts"]["h2"]["status"] == "unreachable" and record["hosts"]["h2"]["reason"]
    for name in ("h1", "h3"):
        assert record["hosts"][name]["status"] == "ok"
        assert host_results(tmp_path, "broken", name)["complete"] is True
    assert not (tmp_path / "broken" / "h2" / "results.json").exists()


def test_a_host_without_python_is_recorded_as_failed(ssh_hosts, tmp_path):
    with ssh_hosts.broken("h3", "no_python"):
        done = run_lab(ssh_hosts, tmp_path, "nopy")
    assert done.returncode != 0
    record = json.loads((tmp_path / "nopy" / "run.json").read_text())
    assert record["hosts"]["h3"]["status"] == "failed" and record["hosts"]["h3"]["reason"]
    assert record["hosts"]["h1"]["status"] == "ok" and record["hosts"]["h2"]["status"] == "ok"


def test_second_run_on_the_hosts_changes_nothing_it_need_not(ssh_hosts, tmp_path):
    first = run_lab(ssh_hosts, tmp_path, "idem1")
    second = run_lab(ssh_hosts, tmp_path, "idem2")
    assert first.returncode == 0 and second.returncode == 0, second.stdout[-3000:]
    names = {h.name for h in ssh_hosts.hosts}
    assert task_results(second.stdout, "Install the missing tools") == {n: "skipping" for n in names}
    # One step puts the agent (already there: not transferred again) and asks it what the host lacks.
    assert task_results(second.stdout, "Put the agent on the host and ask it what the host lacks") == {n: "ok" for n in names}
    # ... and, as each lacks nothing, starts the agent in the same command.
    assert task_results(second.stdout, "Start the experiment") == {n: "skipping" for n in names}
