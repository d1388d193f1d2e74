"""SSH host keys are checked: ansible.cfg no longer turns checking off, and the namespace hosts are
checked against the known_hosts the harness wrote from their keys."""
import json
import os
import subprocess

import pytest

from tests.ansible.playbook import ROOT
from tests.hosts.procs import ansible_bin
from tests.multihost.test_run_multihost import run_lab

pytestmark = [pytest.mark.multihost, pytest.mark.needs_package("gcc", "gcc")]


# What each connection says when the key is not the one in known_hosts.
REFUSED = {"ssh": ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed"),
           "paramiko": ("host key mismatch",)}


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_a_host_whose_key_changed_is_refused_on_the_next_run(ssh_hosts, tmp_path, connection):
    # The hosts live for the session and keep each run: run ids of this test's own.
    first = run_lab(ssh_hosts, tmp_path, f"hostkey1-{connection}", connection, extra_args=["--limit", "h1"])
    assert first.returncode == 0, first.stdout[-4000:]
    with ssh_hosts.rekeyed("h1"):
        second = run_lab(ssh_hosts, tmp_path, f"hostkey2-{connection}", connection, extra_args=["--limit", "h1"])
    assert second.returncode != 0
    assert any(message in second.stdout for message in REFUSED[connection]), second.stdout[-4000:]
    record = json.loads((tmp_path / f"hostkey2-{connection}" / "run.json").read_text())
    assert record["hosts"]["h1"]["status"] in ("unreachable", "failed")
    assert not (tmp_path / f"hostkey2-{connection}" / "h1").exists()  # nothing was run, nothing fetched


def test_ansible_cfg_leaves_host_key_checking_on():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    done = subprocess.run([str(ansible_bin("ansible-config")), "dump", "--only-changed"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "FORKS(" in done.stdout  # the repo's ansible.cfg was read
    assert "HOST_KEY_CHECKING(" not in done.stdout, done.stdout


def test_a_user_inventory_refuses_a_host_it_does_not_know(ssh_hosts, tmp_path):
    # A user's inventory: no StrictHostKeyChecking, no host_key_checking, an empty known_hosts.
    known = tmp_path / "known_hosts"
    known.write_text("")
    host = ssh_hosts.host("h2")
    inventory = tmp_path / "user.yml"
    inventory.write_text(
        "all:\n  hosts:\n    h2:\n"
        f"      ansible_host: {host.address}\n      ansible_user: root\n"
        f"      ansible_ssh_private_key_file: {ssh_hosts.lab.client_key}\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
        f"      ansible_ssh_common_args: -F /dev/null -o UserKnownHostsFile={known} -o GlobalKnownHostsFile=/dev/null"
        f" -o ControlPath={tmp_path}/cp-%h\n"
    )
    done = ssh_hosts.run_ansible([str(ansible_bin("ansible")), "-i", str(inventory), "h2", "-m", "ansible.builtin.ping"],
                                 env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, timeout=120)
    assert done.returncode != 0
    assert "UNREACHABLE" in done.stdout and "Host key verification failed" in done.stdout + done.stderr
    assert known.read_text() == ""  # nothing was trusted behind the user's back
