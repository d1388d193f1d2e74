"""lab_ec2_launch's launch() (roles/ec2_provision/library) against the moto server, without Ansible: a
second call for the same run creates nothing, the generated key's file and directory modes, an imported
key, and the refusals. What a launched host looks like is checked through provision.yml
(tests/cloud/test_ec2_playbooks.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from .conftest import library_module
from .test_ec2_playbooks import NEWEST, instances, lab_groups, tags
from .test_remove_unit import Clock

launcher = library_module("ec2_provision", "lab_ec2_launch")

CIDR = "203.0.113.7/32"


def params(ec2, key_dir: Path, **changes) -> dict:
    subnet = ec2.describe_subnets()["Subnets"][0]
    image = ec2.describe_images(ImageIds=[NEWEST["x86_64"]])["Images"][0]
    host = {"name": "t3-medium", "instance_type": "t3.medium", "image_id": image["ImageId"],
            "subnet_id": subnet["SubnetId"], "root_device_name": image["RootDeviceName"]}
    values = {"name": "malloc-lab-u1", "key_file": str(key_dir / "malloc-lab-u1.pem"), "public_key": "",
              "vpc_id": subnet["VpcId"], "ssh_cidr": CIDR, "description": "malloc-lab run u1",
              "hosts": [host, dict(host, name="t3-medium-b")], "public_ip": False, "root_volume_gib": 20,
              "user_data": "#!/bin/sh\nshutdown -h +45\n", "tags": {"Project": "malloc-lab", "LabRunId": "u1"},
              "wait_timeout": 30, "poll": 1}
    values.update(changes)
    return values


def test_a_second_launch_of_the_same_run_creates_nothing(ec2, tmp_path):
    key_dir = tmp_path / "keys"
    first = launcher.launch(ec2, params(ec2, key_dir))

    assert [c.split()[0] for c in first["created"]] == ["key", "security", "instance", "instance"]
    assert [(i["tags"]["LabHost"], i["state"]["name"]) for i in first["instances"]] == [
        ("t3-medium", "running"), ("t3-medium-b", "running")]
    assert key_dir.stat().st_mode & 0o777 == 0o700
    key_file = key_dir / "malloc-lab-u1.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    (group,) = lab_groups(ec2)
    assert group["GroupId"] == first["security_group_id"] and tags(group)["Name"] == "malloc-lab-u1"
    assert [p["IpRanges"] for p in group["IpPermissions"]] == [[{"CidrIp": CIDR, "Description": "malloc-lab SSH"}]]

    again = launcher.launch(ec2, params(ec2, key_dir))

    assert again["created"] == []
    assert [i["instance_id"] for i in again["instances"]] == [i["instance_id"] for i in first["instances"]]
    assert len(instances(ec2)) == 2 and len(lab_groups(ec2)) == 1
    assert len(ec2.describe_key_pairs()["KeyPairs"]) == 1


def test_an_imported_key_writes_no_private_key(ec2, tmp_path):
    public = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJt0rP2k7aQ4bJ3mJ0cQy1o2xV3w5Lw1l6Lr3pUe4dK user@example")
    done = launcher.launch(ec2, params(ec2, tmp_path / "keys", public_key=public))

    assert done["created"][0] == "key pair malloc-lab-u1 (imported)"
    assert list((tmp_path / "keys").iterdir()) == [], "the key directory exists for known_hosts, with no key in it"
    (pair,) = ec2.describe_key_pairs()["KeyPairs"]
    assert tags(pair)["LabRunId"] == "u1"


def test_a_key_pair_whose_private_key_is_gone_is_refused_before_anything_else(ec2, tmp_path):
    ec2.create_key_pair(KeyName="malloc-lab-u1", KeyType="ed25519")

    with pytest.raises(launcher.LaunchError, match=r"malloc-lab-u1\.pem is missing or not mode 0600.*lab_run_id=u1"):
        launcher.launch(ec2, params(ec2, tmp_path / "keys"))

    assert instances(ec2) == [] and lab_groups(ec2) == []


def test_resources_without_the_runs_tags_are_refused(ec2, tmp_path):
    with pytest.raises(launcher.LaunchError, match="Project=malloc-lab and LabRunId"):
        launcher.launch(ec2, params(ec2, tmp_path / "keys", tags={"Project": "malloc-lab"}))
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_the_same_run_id_launched_again_after_a_teardown_gets_new_instances(ec2, tmp_path):
    # Only live instances count as the run's. (EC2 would also replay a reused client token with the old,
    # terminated instance; moto does not replay tokens, so that part rests on launch() making a new one
    # per call.)
    first = launcher.launch(ec2, params(ec2, tmp_path / "keys"))
    ec2.terminate_instances(InstanceIds=[i["instance_id"] for i in first["instances"]])

    again = launcher.launch(ec2, params(ec2, tmp_path / "keys"))

    old = {i["instance_id"] for i in first["instances"]}
    assert [i["state"]["name"] for i in again["instances"]] == ["running", "running"]
    assert not old & {i["instance_id"] for i in again["instances"]}
    assert [c.split()[0] for c in again["created"]] == ["instance", "instance"]


def not_found(code: str) -> ClientError:
    """What EC2 answers for a group or key pair made a moment ago that it does not know yet (moto never does)."""
    return ClientError({"Error": {"Code": code, "Message": f"{code}: it does not exist"}}, "RunInstances")


def test_a_resource_not_yet_visible_is_waited_for():
    clock, answers = Clock(), [not_found("InvalidGroup.NotFound"), not_found("InvalidKeyPair.NotFound"),
                               {"Instances": [{"InstanceId": "i-1"}]}]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert launcher.once_visible(call, clock=clock, sleep=clock.sleep) == {"Instances": [{"InstanceId": "i-1"}]}
    assert clock.sleeps == 2 and clock.now == 2 * launcher.VISIBLE_POLL_S


def test_a_resource_that_never_shows_and_other_errors_are_raised():
    clock = Clock()

    def missing():
        raise not_found("InvalidGroup.NotFound")

    def denied():
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "RunInstances")

    with pytest.raises(ClientError, match="InvalidGroup.NotFound"):
        launcher.once_visible(missing, clock=clock, sleep=clock.sleep)
    assert clock.now >= launcher.VISIBLE_WITHIN_S
    clock = Clock()
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        launcher.once_visible(denied, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == 0


def test_an_imported_key_pair_with_another_public_key_is_refused(ec2, tmp_path):
    first = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJt0rP2k7aQ4bJ3mJ0cQy1o2xV3w5Lw1l6Lr3pUe4dK first"
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq8Y0xqvQ3b3o1f5x2mWcJ6yZbQp7n9Wc4d8kLr0aTs other"
    launcher.launch(ec2, params(ec2, tmp_path / "keys", public_key=first))
    # The same key with another comment is the same key.
    assert launcher.launch(ec2, params(ec2, tmp_path / "keys", public_key=first.replace(" first", " renamed")))[
        "created"] == []

    with pytest.raises(launcher.LaunchError, match="exists with another public key than lab_ec2_public_key"):
        launcher.launch(ec2, params(ec2, tmp_path / "keys", public_key=other))


def test_a_private_key_file_left_by_an_earlier_run_gets_mode_0600(tmp_path):
    stale = tmp_path / "malloc-lab-u1.pem"
    stale.write_text("old\n")
    stale.chmod(0o644)
    launcher.write_private_key(str(stale), "-----BEGIN OPENSSH PRIVATE KEY-----\nnew")
    assert stale.stat().st_mode & 0o777 == 0o600
    assert stale.read_text() == "-----BEGIN OPENSSH PRIVATE KEY-----\nnew\n"
