"""The SSH test hosts act as separate machines, fail on demand, and leave nothing behind (root only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.connections import connections
from tests.hosts.netns import (
    HOST_PYTHON,
    HostsError,
    HostsInUse,
    NetnsHosts,
    _netns_members,
    _proc_stat,
    missing_requirements,
    up_first_free,
    wait_ssh,
)
from tests.hosts.procs import ProcessGroups, ansible_bin, live_group_members, run_ansible

pytestmark = pytest.mark.multihost

REPO = Path(__file__).resolve().parents[2]
HOSTS = {"h1", "h2", "h3"}


@pytest.fixture
def root_only() -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)


def _slots(tag: str, third_octet: int) -> list[tuple[str, str]]:
    """Spare (prefix, subnet) slots for a test's own hosts; concurrent runs take the next one."""
    return [(f"{tag}{k}", f"10.231.{third_octet + k}.0/24") for k in range(10)]


def _ours_left(prefix: str, subnet: str) -> list[str]:
    """Namespaces, links and routes of a run with this prefix/subnet that still exist."""
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    left += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"{prefix}-h")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    ours = re.compile(rf"{prefix}(br0|v\d+)")
    left += [f"link {m}" for m in re.findall(r"^\d+: ([^:@]+)", links, re.M) if ours.fullmatch(m)]
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout
    net_start = subnet.rsplit(".", 1)[0] + "."
    left += [f"route {line}" for line in routes.splitlines() if net_start in line]
    return left


def _running(pid: int, start_time: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[2] == start_time and stat[0] != "Z"


@pytest.mark.parametrize("connection", connections())
def test_each_host_reports_its_own_hostname(ssh_hosts, connection):
    res = ssh_hosts.adhoc("all", "ansible.builtin.setup", "filter=ansible_hostname", connection=connection)

    assert res.proc.returncode == 0, res.proc.stderr
    assert {name: res.facts(name)["ansible_hostname"] for name in res.results} == {h: h for h in HOSTS}


def test_hosts_run_debian_python_and_have_a_default_route(ssh_hosts):
    res = ssh_hosts.adhoc("all", "ansible.builtin.setup", "filter=ansible_python,ansible_default_ipv4")
    local = subprocess.run(
        [HOST_PYTHON, "-c", "import sys; print(list(sys.version_info[:3]))"], capture_output=True, text=True
    ).stdout.strip()

    assert res.proc.returncode == 0, res.proc.stderr
    for host in ssh_hosts.hosts:
        facts = res.facts(host.name)
        assert facts["ansible_python"]["executable"] == HOST_PYTHON
        version = facts["ansible_python"]["version"]
        assert str([version["major"], version["minor"], version["micro"]]) == local
        assert facts["ansible_default_ipv4"]["address"] == host.address
        assert facts["ansible_default_ipv4"]["gateway"] == ssh_hosts.lab.gateway


PRIVATE_DIRS = ["/tmp", "/var/tmp", "/opt", "/root"]

# One playbook for the four directories (each ad-hoc run is a second of ansible's start-up): Ansible's
# copy writes a file in each on h1, find looks for them on every host, file removes them.
PRIVATE_PLAY = """---
- name: Write on h1
  hosts: h1
  gather_facts: false
  tasks:
    - name: Write a file in each directory
      ansible.builtin.copy:
        content: h1
        dest: "{{{{ item }}}}/{name}"
        mode: "0600"
      loop: {dirs}
- name: Look on every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Find the files
      ansible.builtin.find:
        paths: {dirs}
        patterns: ["{name}"]
      register: found
    - name: Say what each host has
      ansible.builtin.copy:
        content: "{{{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'found')
                      | map(attribute='files') | map('map', attribute='path') | map('list'))) | to_json }}}}"
        dest: "{out}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
- name: Remove them
  hosts: h1
  gather_facts: false
  tasks:
    - name: Remove each file
      ansible.builtin.file:
        path: "{{{{ item }}}}/{name}"
        state: absent
      loop: {dirs}
"""


def test_a_file_written_on_h1_is_only_on_h1(ssh_hosts, tmp_path):
    name = f"malloc-lab-private-{uuid.uuid4().hex}"
    playbook, out = tmp_path / "private.yml", tmp_path / "found.json"
    playbook.write_text(PRIVATE_PLAY.format(name=name, dirs=json.dumps(PRIVATE_DIRS), out=out))
    done = ssh_hosts.run_ansible([str(ansible_bin("ansible-playbook")), "-i", str(ssh_hosts.inventory()), str(playbook)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    found = json.loads(out.read_text())
    assert {host: sorted(paths) for host, paths in found.items()} == \
        {"h1": sorted(f"{d}/{name}" for d in PRIVATE_DIRS), "h2": [], "h3": []}, found
    assert not any(Path(d, name).exists() for d in PRIVATE_DIRS)  # nor in the root namespace
    gone = ssh_hosts.adhoc("h1", "ansible.builtin.find", f"paths={','.join(PRIVATE_DIRS)} patterns={name}")
    assert gone.results["h1"]["files"] == []


def test_an_unreachable_host_does_not_stop_the_others(ssh_hosts):
    with ssh_hosts.broken("h2") as h2:
        broken = ssh_hosts.adhoc("all", "ansible.builtin.ping")
        answered_while_broken = wait_ssh(h2, timeout=0.5)
    answered_after = wait_ssh(h2, timeout=5)
    restored = ssh_hosts.adhoc("all", "ansible.builtin.ping")

    assert (answered_while_broken, answered_after) == (False, True)
    assert broken.unreachable() == {"h2"}
    assert broken.ok() == {"h1", "h3"}
    assert broken.proc.returncode == 4  # ansible's exit code for "some hosts unreachable"
    assert restored.ok() == HOSTS


def test_a_host_without_python_fails_but_stays_reachable(ssh_hosts):
    with ssh_hosts.broken("h3", mode="no_python"):
        broken = ssh_hosts.adhoc("all", "ansible.builtin.ping")
    restored = ssh_hosts.adhoc("all", "ansible.builtin.ping")

    assert broken.failed() == {"h3"}
    assert broken.unreachable() == set()
    assert broken.ok() == {"h1", "h2"}
    assert restored.ok() == HOSTS


def test_a_subnet_in_use_is_refused_without_touching_its_owner(ssh_hosts, tmp_path):
    intruder = NetnsHosts(count=1, state_dir=tmp_path / "state", prefix="mtz", subnet=str(ssh_hosts.lab.network))

    with pytest.raises(HostsInUse, match="is in use here"):
        intruder.up()
    assert ssh_hosts.adhoc("all", "ansible.builtin.ping").ok() == HOSTS
    assert f"unreachable {ssh_hosts.lab.network}" in subprocess.run(
        ["ip", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout


def test_teardown_leaves_nothing_and_is_idempotent(root_only, tmp_path):
    lab = up_first_free(_slots("mtd", 120), count=2, state_dir=tmp_path / "state")
    prefix, subnet = lab.prefix, str(lab.network)
    procs = ProcessGroups()
    try:
        # Use the hosts, so ssh ControlMasters and sshd sessions exist when we tear down.
        ping = run_ansible(
            [str(ansible_bin()), "-i", str(lab.write_inventory()), "all", "-m", "ansible.builtin.ping"],
            cwd=REPO, groups=procs, timeout=120,
        )
        processes = {}
        for host in lab.hosts:
            processes.update(_netns_members(f"/run/netns/{host.netns}"))
        sockets = sorted(p.name for p in lab.control_dir.iterdir())
        while_up = _ours_left(prefix, subnet)
    finally:
        procs.stop_all()
        lab.down()
    lab.down()

    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert {f"netns {prefix}-h1", f"netns {prefix}-h2", f"link {prefix}br0", f"link {prefix}v1", f"link {prefix}v2"} <= set(
        while_up
    )
    assert f"route unreachable {subnet} metric 4000 " in while_up  # the guard
    assert sockets == ["h1", "h2"]
    assert set(lab.sshd_pids) == set()
    assert len(processes) >= 4  # two sshd listeners and their sessions
    assert _ours_left(prefix, subnet) == []
    assert [pid for pid, (_, start) in processes.items() if _running(pid, start)] == []
    assert list(lab.control_dir.iterdir()) == []  # the ControlMasters exited


def test_a_failed_bring_up_removes_what_it_made(root_only, tmp_path):
    slots = _slots("mtf", 130)

    with pytest.raises(HostsError, match="sshd of h1 exited") as failed:
        up_first_free(slots, count=2, state_dir=tmp_path / "state", sshd="/bin/false")
    assert not isinstance(failed.value, HostsInUse)
    assert [_ours_left(prefix, subnet) for prefix, subnet in slots] == [[]] * len(slots)


def test_cli_up_and_down(root_only, tmp_path):
    state = tmp_path / "state"
    cli = [sys.executable, "-m", "tests.hosts"]
    procs = ProcessGroups()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        for prefix, subnet in _slots("mtc", 140):
            slot = ["--count", "2", "--state", str(state), "--prefix", prefix, "--subnet", subnet]
            up = procs.run([*cli, "up", *slot], cwd=REPO, env=env, timeout=60)
            if "in use here" not in up.stderr:
                break
        again = procs.run([*cli, "up", *slot], cwd=REPO, env=env, timeout=60)
        ping = procs.run([str(ansible_bin()), "-i", up.stdout.strip(), "all", "-m", "ansible.builtin.ping"],
                         cwd=REPO, timeout=120)
    finally:
        procs.stop_all()
        down = procs.run([*cli, "down", "--state", str(state)], cwd=REPO, env=env, timeout=60)
    down_again = procs.run([*cli, "down", "--state", str(state)], cwd=REPO, env=env, timeout=60)

    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == str(state / "inventory-ssh.yml")
    assert again.returncode == 2 and again.stderr.count("\n") == 1  # one line, no traceback
    assert "still up" in again.stderr
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert (down.returncode, down_again.returncode) == (0, 0), down.stderr + down_again.stderr
    assert _ours_left(prefix, subnet) == []


def test_a_command_that_times_out_is_stopped_with_its_whole_group():
    procs = ProcessGroups()
    # The leader leaves a background child: the whole group must end, not just the leader.
    proc = procs.start(["sh", "-c", "sleep 60 & echo started; sleep 60"])
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        procs.finish(proc, timeout=1)

    assert timed_out.value.output == "started\n"
    assert procs.running == []
    assert live_group_members(proc.pid) == []
