"""Provisioning's SSH wait against real SSH: namespace hosts (and silent addresses in their network)
stand in for the instances moto pretends to launch."""
from __future__ import annotations

import ipaddress
import re
import subprocess

import pytest

from .conftest import REGION, ansible_playbook
from .test_ec2_playbooks import flat, instances
from .test_pipeline import assert_nothing_left, ec2_vars

pytestmark = [pytest.mark.multihost]

TYPES = ["t3.medium", "m7g.large", "c7i.large"]


def provision_vars(ssh_hosts, tmp_path, run_id, addresses, **changes):
    """provision.yml's variables for namespace hosts standing in for the instances (the pipeline's, less
    the experiment's)."""
    values = ec2_vars(ssh_hosts, tmp_path, run_id, addresses)
    values.update(changes)
    return values


def silent_addresses(ssh_hosts, count):
    """Addresses in the hosts' network that no host has: SSH to them gets no answer (guarded route)."""
    network = ipaddress.ip_network(str(ssh_hosts.lab.network))
    return [str(network.network_address + 200 + i) for i in range(count)]


def test_no_host_answers_one_deadline_then_torn_down(ssh_hosts, aws, ec2, tmp_path):
    addresses = dict(zip(TYPES, silent_addresses(ssh_hosts, 3)))
    # 12 s: two rounds of the wait (10 s, then 2 s), so a progress line comes before the deadline.
    extra = provision_vars(ssh_hosts, tmp_path, "wait-silent", addresses, lab_ec2_ssh_timeout=12)
    run = ansible_playbook("playbooks/provision.yml", extra, env=aws.env, timeout=600,
                           label="provision.yml (3 silent hosts, lab_ec2_ssh_timeout=12)")
    said = flat(run.output)
    assert run.returncode != 0, said[-4000:]
    assert "No host accepted SSH within 12 s" in said, said[-4000:]
    assert "lab_ec2_ssh_cidr=203.0.113.7/32" in said
    # The kernel's source address towards the hosts: the harness bridge's.
    assert f"this controller sends from {ssh_hosts.lab.bridge_address}" in said, said[-4000:]
    for address in addresses.values():
        assert address in said
    # Progress lines while waiting, not one silent task per host.
    assert "SSH after" in said and "0 of 3 host(s) answer" in said
    assert "torn down" in said
    assert len(instances(ec2)) == 3, "the instances were launched before SSH was tried"
    assert_nothing_left(ec2, "wait-silent")


def known_key(known_hosts, address):
    found = subprocess.run(["ssh-keygen", "-F", address, "-f", str(known_hosts)], capture_output=True, text=True)
    return [line.split()[-1] for line in found.stdout.splitlines() if line and not line.startswith("#")]


def host_public_key(host):
    return (host.dir / "run/ml-sshd/ssh_host_ed25519_key.pub").read_text().split()[1]


def test_host_keys_go_to_the_runs_known_hosts_and_a_changed_key_is_refused(ssh_hosts, aws, ec2, tmp_path):
    h1, h2 = ssh_hosts.host("h1"), ssh_hosts.host("h2")
    extra = provision_vars(ssh_hosts, tmp_path, "keys-tofu", {"t3.medium": h1.address},
                           lab_ec2_ssh_timeout=30)
    up = ansible_playbook("playbooks/provision.yml", extra, env=aws.env, timeout=600,
                          label="provision.yml (1 namespace host)")
    assert up.returncode == 0, up.output[-4000:]
    known_hosts = tmp_path / "keys" / "malloc-lab-keys-tofu.known_hosts"
    assert known_key(known_hosts, h1.address) == [host_public_key(h1)]
    torn = ansible_playbook("playbooks/teardown.yml", {"lab_run_id": "keys-tofu", "lab_ec2_region": REGION,
                                                       "lab_ec2_key_dir": str(tmp_path / "keys")},
                            env=aws.env, timeout=300)
    assert torn.returncode == 0, torn.output[-4000:]
    assert not known_hosts.exists(), "teardown removes the run's known_hosts"

    # The run's known_hosts says h1's address has h2's key: the host at that address is not trusted.
    known_hosts = tmp_path / "keys" / "malloc-lab-keys-changed.known_hosts"
    known_hosts.write_text(f"{h1.address} ssh-ed25519 {host_public_key(h2)}\n")
    extra = provision_vars(ssh_hosts, tmp_path, "keys-changed", {"t3.medium": h1.address},
                           lab_ec2_ssh_timeout=30)
    refused = ansible_playbook("playbooks/provision.yml", extra, env=aws.env, timeout=600)
    said = flat(refused.output)
    assert refused.returncode != 0, said[-4000:]
    assert "host key differs" in said and "machine in the middle" in said, said[-4000:]
    assert_nothing_left(ec2, "keys-changed")


def test_ansible_checks_ec2_host_keys_against_the_run_even_with_checking_off_in_ansible_cfg(
        ssh_hosts, aws, ec2, tmp_path):
    h1, h2 = ssh_hosts.host("h1"), ssh_hosts.host("h2")
    env = dict(aws.env, ANSIBLE_HOST_KEY_CHECKING="False")  # as ansible.cfg had it: the EC2 hosts override it
    ok = provision_vars(ssh_hosts, tmp_path, "keys-ansible", {"t3.medium": h1.address}, lab_ec2_ssh_timeout=30)
    # Each playbook its own ControlPath dir: a master left by the first (ControlPersist) would be
    # reused by the second without any host key check.
    reached = ansible_playbook("tests/cloud/playbooks/provision-then-ping.yml", ok, timeout=600,
                               env=dict(env, ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp1")))
    assert reached.returncode == 0, reached.output[-4000:]
    assert re.search(r"^t3-medium\s+: ok=1 .*unreachable=0 ", reached.output, re.M), reached.output[-2000:]

    # After first contact the key "changes" (the run's known_hosts now pins h2's key for h1's address).
    changed = provision_vars(ssh_hosts, tmp_path, "keys-ansible2", {"t3.medium": h1.address}, lab_ec2_ssh_timeout=30,
                             test_known_hosts=f"{h1.address} ssh-ed25519 {host_public_key(h2)}\n")
    refused = ansible_playbook("tests/cloud/playbooks/provision-then-ping.yml", changed, timeout=600,
                               env=dict(env, ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp2")))
    said = flat(refused.output)
    assert refused.returncode != 0, said[-4000:]
    assert "UNREACHABLE" in said and ("Host key verification failed" in said
                                      or "REMOTE HOST IDENTIFICATION HAS CHANGED" in said), said[-4000:]
    for run_id in ("keys-ansible", "keys-ansible2"):
        torn = ansible_playbook("playbooks/teardown.yml", {"lab_run_id": run_id, "lab_ec2_region": REGION,
                                                           "lab_ec2_key_dir": str(tmp_path / "keys")},
                                env=aws.env, timeout=300)
        assert torn.returncode == 0, torn.output[-4000:]
    assert_nothing_left(ec2, "keys-ansible2")
