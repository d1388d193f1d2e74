"""The whole EC2 pipeline: provision in moto, run the experiment on SSH namespace hosts standing in
for the instances, fetch, report, tear down; and in every failure case, no instance of the run remains."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.ansible.playbook import SMALL

from .conftest import REGION, ansible_playbook

pytestmark = [pytest.mark.multihost,
              pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")]

TYPES = ["t3.medium", "m7g.large"]


def ec2_vars(ssh_hosts, tmp_path, run_id, addresses):
    """The EC2 variables for SSH namespace hosts standing in for the instances moto pretends to launch."""
    key = ssh_hosts.lab.client_key
    return {
        "lab_run_id": run_id,
        "lab_ec2_region": REGION,
        "lab_ec2_instance_types": list(addresses),
        "lab_ec2_ssh_cidr": "203.0.113.7/32",
        "lab_ec2_address": addresses,
        # The namespace hosts know the harness's key, not a key EC2 would generate.
        "lab_ec2_public_key": key.with_suffix(".pub").read_text().strip(),
        "lab_ec2_private_key_file": str(key),
        "lab_ec2_user": "root",
        "lab_ec2_key_dir": str(tmp_path / "keys"),
    }


def pipeline_vars(ssh_hosts, tmp_path, run_id, addresses, **changes):
    values = {**SMALL, "lab_provider": "ec2", "lab_runs_dir": str(tmp_path / "runs"),
              **ec2_vars(ssh_hosts, tmp_path, run_id, addresses), "lab_ec2_instance_types": TYPES,
              "lab_ec2_ssh_timeout": 20}
    values.update(changes)
    return values


def run_instances(ec2, run_id):
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:LabRunId", "Values": [run_id]}])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def assert_nothing_left(ec2, run_id):
    alive = [i["InstanceId"] for i in run_instances(ec2, run_id) if i["State"]["Name"] != "terminated"]
    assert alive == []
    groups = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
    assert groups == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def addresses(ssh_hosts, *names):
    return {t: ssh_hosts.host(n).address for t, n in zip(TYPES, names)}


def test_pipeline_provisions_runs_reports_and_tears_down(ssh_hosts, aws, ec2, tmp_path):
    extra = pipeline_vars(ssh_hosts, tmp_path, "pipe-ok", addresses(ssh_hosts, "h1", "h2"))
    done = ansible_playbook("run.yml", extra, env=aws.env, timeout=600)
    assert done.returncode == 0, done.output[-5000:]
    assert run_instances(ec2, "pipe-ok"), "the run provisioned no instance"
    assert_nothing_left(ec2, "pipe-ok")
    run_dir = tmp_path / "runs" / "pipe-ok"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["hosts"] == {"t3-medium": {"status": "ok", "reason": None},
                               "m7g-large": {"status": "ok", "reason": None}}
    for host, ns in (("t3-medium", "h1"), ("m7g-large", "h2")):
        data = json.loads((run_dir / host / "results.json").read_text())
        assert data["complete"] is True and data["host"]["hostname"] == ns
        assert (run_dir / host / "README.md").exists()
    assert (run_dir / "README.md").exists()


@pytest.mark.parametrize("mode,status", [("unreachable", "unreachable"), ("no_python", "failed")])
def test_a_failing_host_still_leaves_no_instance(ssh_hosts, aws, ec2, tmp_path, mode, status):
    run_id = f"pipe-{mode.replace('_', '-')}"
    # The SSH wait gives up on the silent host after 6 s; no writeup (a run with a failed host renders
    # in tests/report).
    extra = pipeline_vars(ssh_hosts, tmp_path, run_id, addresses(ssh_hosts, "h1", "h3"), lab_ec2_ssh_timeout=6,
                          lab_report_render=False)
    with ssh_hosts.broken("h3", mode):
        done = ansible_playbook("run.yml", extra, env=aws.env, timeout=600)
    assert done.returncode != 0
    assert run_instances(ec2, run_id)
    assert_nothing_left(ec2, run_id)
    record = json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
    assert record["hosts"]["t3-medium"]["status"] == "ok"
    assert record["hosts"]["m7g-large"]["status"] == status
    if mode == "no_python":  # the shell could not start the host's Python: said so, not "too old"
        assert "no Python at /usr/bin/python3" in record["hosts"]["m7g-large"]["reason"], record["hosts"]


def test_stopped_after_provisioning_then_destroy_leaves_nothing(ssh_hosts, aws, ec2, tmp_path):
    extra = pipeline_vars(ssh_hosts, tmp_path, "pipe-stopped", addresses(ssh_hosts, "h1", "h2"))
    up = ansible_playbook("playbooks/provision.yml", extra, env=aws.env, timeout=600)
    assert up.returncode == 0, up.output[-4000:]
    assert [i for i in run_instances(ec2, "pipe-stopped") if i["State"]["Name"] == "running"]
    down = ansible_playbook("destroy.yml", {"lab_ec2_region": REGION, "lab_ec2_key_dir": str(tmp_path / "keys"),
                                            "lab_destroy_all": True},
                            env=aws.env, timeout=600)
    assert down.returncode == 0, down.output[-4000:]
    assert_nothing_left(ec2, "pipe-stopped")
