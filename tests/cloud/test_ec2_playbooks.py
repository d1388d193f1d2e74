"""playbooks/provision.yml, playbooks/teardown.yml and destroy.yml against a moto server on loopback.

What moto does not enforce (image architecture vs instance type, zone offerings) is checked on
what the playbooks chose; the "hosts" are loopback addresses reached with the local connection.
"""
from __future__ import annotations

import base64
import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from .conftest import REGION, RH_OWNER, have_ssh_keygen

TYPES = ["t3.medium", "m7g.large"]
# Newest Red Hat image per architecture in amis.json (the decoys are newer, but not Red Hat's RHEL 9).
NEWEST = {"x86_64": "ami-0a1b2c3d4e5f60002", "arm64": "ami-0a1b2c3d4e5f60011"}
CIDR = "203.0.113.7/32"
TTL = 45
ALIVE = ["pending", "running", "shutting-down", "stopping", "stopped"]


def provision_vars(**changes) -> dict:
    values = {
        "lab_run_id": "cloudtest-1",
        "lab_ec2_instance_types": TYPES,
        "lab_ec2_ssh_cidr": CIDR,
        "lab_ec2_ttl_minutes": TTL,
        "lab_ec2_address": {"t3.medium": "127.0.0.1", "m7g.large": "127.0.0.2"},
    }
    values.update(changes)
    return values


def flat(output: str) -> str:
    """The output with line wrapping undone (the yaml callback folds long messages)."""
    return " ".join(output.split())


def instances(ec2, **filters) -> list[dict]:
    flt = [{"Name": k, "Values": v if isinstance(v, list) else [v]} for k, v in filters.items()]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=flt)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def lab_groups(ec2) -> list[dict]:
    return [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]


def assert_nothing_created(ec2, lab) -> None:
    assert instances(ec2) == []
    assert lab_groups(ec2) == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not lab.key_dir.exists() or list(lab.key_dir.iterdir()) == []


def assert_run_gone(ec2, lab, run_id: str) -> None:
    alive = instances(ec2, **{"tag:LabRunId": run_id, "instance-state-name": ALIVE})
    assert alive == [], [(i["InstanceId"], i["State"]["Name"]) for i in alive]
    assert [g for g in lab_groups(ec2) if tags(g).get("LabRunId") == run_id] == []
    assert [k for k in ec2.describe_key_pairs()["KeyPairs"] if tags(k).get("LabRunId") == run_id] == []
    assert not (lab.key_dir / f"malloc-lab-{run_id}.pem").exists()


def test_provision_two_architectures_then_destroy(lab, ec2):
    started = datetime.now(timezone.utc)
    run = lab.run("playbooks/provision.yml", provision_vars(), label="provision.yml (2 types)")
    assert run.returncode == 0, run.output[-6000:]

    hosts = instances(ec2, **{"tag:LabRunId": "cloudtest-1"})
    assert sorted(i["InstanceType"] for i in hosts) == sorted(TYPES)
    groups = lab_groups(ec2)
    assert len(groups) == 1
    group = groups[0]
    assert tags(group)["LabRunId"] == "cloudtest-1" and tags(group)["Project"] == "malloc-lab"
    # Exactly one ingress rule: SSH from the given range, nothing else.
    assert group["IpPermissions"] == [{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": CIDR, "Description": "malloc-lab SSH"}],
        "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]

    key_pairs = ec2.describe_key_pairs()["KeyPairs"]
    assert [(k["KeyName"], k["KeyType"]) for k in key_pairs] == [("malloc-lab-cloudtest-1", "ed25519")]
    assert tags(key_pairs[0])["LabRunId"] == "cloudtest-1"
    key_file = lab.key_dir / "malloc-lab-cloudtest-1.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")

    types = {t["InstanceType"]: t for t in ec2.describe_instance_types(InstanceTypes=TYPES)["InstanceTypes"]}
    for inst in hosts:
        itype = inst["InstanceType"]
        arch = "arm64" if "arm64" in types[itype]["ProcessorInfo"]["SupportedArchitectures"] else "x86_64"
        image = ec2.describe_images(ImageIds=[inst["ImageId"]])["Images"][0]
        assert inst["ImageId"] == NEWEST[arch], f"{itype}: {image['Name']}"
        assert image["OwnerId"] == RH_OWNER and image["Architecture"] == arch

        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        assert inst["KeyName"] == "malloc-lab-cloudtest-1"
        # In a VPC the groups belong to the network interface (moto reports them only there).
        (eni,) = inst["NetworkInterfaces"]
        assert [g["GroupId"] for g in eni["Groups"]] == [group["GroupId"]]

        # moto ignores offerings: the zone the run chose must offer the type.
        zone = inst["Placement"]["AvailabilityZone"]
        offered = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [itype]}, {"Name": "location", "Values": [zone]}],
        )["InstanceTypeOfferings"]
        assert offered, f"{itype} launched in {zone}, which does not offer it"

        (root,) = [m for m in inst["BlockDeviceMappings"] if m["DeviceName"] == inst["RootDeviceName"]]
        assert root["Ebs"]["DeleteOnTermination"] is True
        volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
        assert volume["Encrypted"] is True and volume["VolumeType"] == "gp3"

        behaviour = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"],
                                                    Attribute="instanceInitiatedShutdownBehavior")
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        user_data = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
        script = base64.b64decode(user_data["UserData"]["Value"]).decode()
        assert script.startswith("#!/bin/sh\n")
        assert re.search(rf"^shutdown -h \+{TTL} ", script, re.M), script

        t = tags(inst)
        assert t["Project"] == "malloc-lab"
        assert t["LabRunId"] == "cloudtest-1"
        assert t["LabInstanceType"] == itype
        assert t["LabHost"] == itype.replace(".", "-")
        expires = datetime.strptime(t["LabExpiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert started + timedelta(minutes=TTL - 1) <= expires <= datetime.now(timezone.utc) + timedelta(minutes=TTL)

    # Standalone provisioning says how to reach each host and how to remove the run.
    said = flat(run.output)
    known_hosts = lab.key_dir / "malloc-lab-cloudtest-1.known_hosts"
    assert f"ssh -i {key_file} -o UserKnownHostsFile={known_hosts} ec2-user@127.0.0.1" in said
    assert f"ssh -i {key_file} -o UserKnownHostsFile={known_hosts} ec2-user@127.0.0.2" in said
    assert "playbooks/teardown.yml -e lab_run_id=cloudtest-1" in said

    gone = lab.run("destroy.yml", {"lab_destroy_all": True}, label="destroy.yml (2 instances)")
    assert gone.returncode == 0, gone.output[-6000:]
    assert_run_gone(ec2, lab, "cloudtest-1")
    assert {i["State"]["Name"] for i in instances(ec2)} == {"terminated"}


def test_provision_is_idempotent_for_one_run(lab, ec2):
    extra = provision_vars(lab_ec2_instance_types=["t3.medium"], lab_ec2_address={"t3.medium": "127.0.0.1"})
    first = lab.run("playbooks/provision.yml", extra, label="provision.yml (1 type)")
    assert first.returncode == 0, first.output[-6000:]
    again = lab.run("playbooks/provision.yml", extra, label="provision.yml (1 type, again)")
    assert again.returncode == 0, again.output[-6000:]
    assert len(instances(ec2, **{"instance-state-name": ALIVE})) == 1
    assert len(lab_groups(ec2)) == 1
    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "cloudtest-1"}, label="teardown.yml (1 instance)")
    assert torn.returncode == 0, torn.output[-6000:]
    assert_run_gone(ec2, lab, "cloudtest-1")


@pytest.mark.skipif(not have_ssh_keygen(), reason="needs ssh-keygen to make the user's key")
def test_imported_key_world_ssh_opt_in_and_single_ami_override(lab, ec2, tmp_path):
    user_key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(user_key)], check=True)
    extra = provision_vars(
        lab_run_id="cloudtest-2",
        lab_ec2_instance_types=["t3.medium"],
        lab_ec2_address={"t3.medium": "127.0.0.1"},
        lab_ec2_ssh_cidr="0.0.0.0/0",
        lab_ec2_allow_world_ssh=True,
        lab_ec2_ami="ami-0a1b2c3d4e5f60001",
        lab_ec2_public_key=(tmp_path / "id_ed25519.pub").read_text().strip(),
        lab_ec2_private_key_file=str(user_key),
    )
    run = lab.run("playbooks/provision.yml", extra)
    assert run.returncode == 0, run.output[-6000:]
    (inst,) = instances(ec2, **{"instance-state-name": ALIVE})
    assert inst["ImageId"] == "ami-0a1b2c3d4e5f60001"
    assert lab_groups(ec2)[0]["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    known_hosts = lab.key_dir / "malloc-lab-cloudtest-2.known_hosts"
    assert f"ssh -i {user_key} -o UserKnownHostsFile={known_hosts} ec2-user@127.0.0.1" in flat(run.output)
    assert not (lab.key_dir / "malloc-lab-cloudtest-2.pem").exists()

    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "cloudtest-2"})
    assert torn.returncode == 0, torn.output[-6000:]
    assert_run_gone(ec2, lab, "cloudtest-2")
    assert user_key.exists(), "teardown must never delete the user's own private key"


def test_failed_provision_tears_down_what_it_created(lab, ec2, tmp_path):
    # Real SSH, to a loopback address where no sshd of ours listens (refused, or a key nobody
    # authorised): no host ever answers, after key pair, group and instance exist.
    extra = provision_vars(lab_run_id="cloudtest-3", lab_ec2_instance_types=["t3.medium"],
                           lab_ec2_address={"t3.medium": "127.0.0.3"}, lab_ec2_ssh_timeout=3)
    run = lab.run("playbooks/provision.yml", extra, local_hosts=False)
    assert run.returncode != 0
    assert "No host accepted SSH" in flat(run.output)
    assert "torn down" in flat(run.output)
    assert len(instances(ec2)) == 1, "the instance was launched before SSH was tried"
    assert_run_gone(ec2, lab, "cloudtest-3")


def _subnet_in(ec2, zone: str) -> str:
    subnets = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [zone]}])["Subnets"]
    return subnets[0]["SubnetId"]


# Bad input fails before anything exists, naming the variable. Each way a bad input is caught keeps a
# playbook case here: the role's argument_specs and Ansible's conversions before lab_ec2_plan sees a
# value (a TTL that is no number, a type list of mappings), lab_ec2_plan's own rules (one case: each
# rule of validate_inputs is tested in Python, tests/cloud/test_plan_unit.py) and its API checks.
BAD_INPUTS = {
    "type list not a list of names": ({"lab_ec2_instance_types": [{"t3": "medium"}]}, ["lab_ec2_instance_types"]),
    "ttl not a number": ({"lab_ec2_ttl_minutes": "an hour"}, ["lab_ec2_ttl_minutes"]),
    "world-open ssh cidr": ({"lab_ec2_ssh_cidr": "0.0.0.0/0"}, ["lab_ec2_ssh_cidr", "lab_ec2_allow_world_ssh"]),
    "unknown instance type": ({"lab_ec2_instance_types": ["t3.medium", "x9.huge"],
                               "lab_ec2_address": {"t3.medium": "127.0.0.1", "x9.huge": "127.0.0.2"}},
                              ["lab_ec2_instance_types", "x9.huge"]),
    "image override missing": ({"lab_ec2_ami": {"arm64": "ami-0123456789abcdef0"}}, ["lab_ec2_ami"]),
    "image override of the wrong architecture": ({"lab_ec2_ami": "ami-0a1b2c3d4e5f60002"}, ["lab_ec2_ami", "arm64"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_before_anything_exists(lab, ec2, case):
    changes, names = BAD_INPUTS[case]
    run = lab.run("playbooks/provision.yml", provision_vars(**changes), label="provision.yml (bad input)")
    assert run.returncode != 0, run.output[-4000:]
    for name in names:
        assert name in flat(run.output), f"{case}: {name} not named in:\n{run.output[-4000:]}"
    assert_nothing_created(ec2, lab)


def test_no_credentials_fails_before_anything_exists(lab, ec2):
    env = {k: v for k, v in lab.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    run = lab.run("playbooks/provision.yml", provision_vars(), env=env)
    assert run.returncode != 0
    assert "no AWS credentials" in flat(run.output) and "AWS_ACCESS_KEY_ID" in flat(run.output), run.output[-4000:]
    assert_nothing_created(ec2, lab)


def test_region_without_rhel9_for_an_architecture(lab, ec2):
    for image in ec2.describe_images(Owners=[RH_OWNER], Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"]:
        ec2.deregister_image(ImageId=image["ImageId"])
    run = lab.run("playbooks/provision.yml", provision_vars())
    assert run.returncode != 0
    assert "lab_ec2_region" in flat(run.output) and "arm64" in flat(run.output) and "lab_ec2_ami" in flat(run.output), run.output[-4000:]
    assert_nothing_created(ec2, lab)


def test_subnet_whose_zone_does_not_offer_the_type(lab, ec2):
    offered = {o["Location"] for o in ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["t3.medium"]}],
    )["InstanceTypeOfferings"]}
    zones = {s["AvailabilityZone"] for s in ec2.describe_subnets()["Subnets"]}
    missing = sorted(zones - offered)
    if not missing:
        pytest.skip(f"moto offers t3.medium in every zone of {REGION}")
    extra = provision_vars(lab_ec2_instance_types=["t3.medium"], lab_ec2_address={"t3.medium": "127.0.0.1"},
                           lab_ec2_vpc_subnet_id=_subnet_in(ec2, missing[0]))
    run = lab.run("playbooks/provision.yml", extra)
    assert run.returncode != 0
    assert "lab_ec2_vpc_subnet_id" in flat(run.output) and "not offered" in flat(run.output), run.output[-4000:]
    assert_nothing_created(ec2, lab)


def test_teardown_and_destroy_with_nothing_to_delete(lab, ec2):
    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "never-ran"}, label="teardown.yml (nothing)")
    assert torn.returncode == 0, torn.output[-4000:]
    gone = lab.run("destroy.yml", label="destroy.yml (nothing)")
    assert gone.returncode == 0, gone.output[-4000:]


def test_teardown_without_run_id_refuses(lab, ec2):
    run = lab.run("playbooks/teardown.yml")
    assert run.returncode != 0
    assert "lab_run_id is not set" in flat(run.output)


def _fake_run(ec2, run_id: str | None, name: str) -> str:
    """A run's resources made directly with boto3, tagged as ec2_provision tags them."""
    tag_list = [{"Key": "Name", "Value": name}]
    if run_id:
        tag_list += [{"Key": "Project", "Value": "malloc-lab"}, {"Key": "LabRunId", "Value": run_id}]
    spec = lambda kind: [{"ResourceType": kind, "Tags": tag_list}]  # noqa: E731
    group = ec2.create_security_group(GroupName=name, Description=name, TagSpecifications=spec("security-group"))
    ec2.create_key_pair(KeyName=name, KeyType="ed25519", TagSpecifications=spec("key-pair"))
    inst = ec2.run_instances(ImageId=NEWEST["x86_64"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             KeyName=name, SecurityGroupIds=[group["GroupId"]], TagSpecifications=spec("instance"))
    return inst["Instances"][0]["InstanceId"]


def test_teardown_removes_only_its_run_and_destroy_only_lab_runs(lab, ec2):
    mine = _fake_run(ec2, "run-a", "malloc-lab-run-a")
    other = _fake_run(ec2, "run-b", "malloc-lab-run-b")
    stranger = _fake_run(ec2, None, "not-the-lab")
    lab.key_dir.mkdir(mode=0o700)
    for run_id in ("run-a", "run-b"):
        (lab.key_dir / f"malloc-lab-{run_id}.pem").write_text("key\n")
    (lab.key_dir / "unrelated.pem").write_text("keep me\n")

    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "run-a"})
    assert torn.returncode == 0, torn.output[-4000:]
    assert_run_gone(ec2, lab, "run-a")
    state = {i["InstanceId"]: i["State"]["Name"] for i in instances(ec2)}
    assert state == {mine: "terminated", other: "running", stranger: "running"}
    assert (lab.key_dir / "malloc-lab-run-b.pem").exists()

    # Without LabExpiresAt a run never counts as expired: the reaper keeps it and says so.
    kept = lab.run("destroy.yml")
    assert kept.returncode == 0, kept.output[-4000:]
    assert "without LabExpiresAt, kept" in flat(kept.output) and "run-b" in flat(kept.output)
    assert {i["InstanceId"]: i["State"]["Name"] for i in instances(ec2)}[other] == "running"

    gone = lab.run("destroy.yml", {"lab_destroy_all": True})
    assert gone.returncode == 0, gone.output[-4000:]
    assert_run_gone(ec2, lab, "run-b")
    state = {i["InstanceId"]: i["State"]["Name"] for i in instances(ec2)}
    assert state == {mine: "terminated", other: "terminated", stranger: "running"}
    assert [g["GroupName"] for g in lab_groups(ec2)] == ["not-the-lab"]
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["not-the-lab"]
    assert (lab.key_dir / "unrelated.pem").read_text() == "keep me\n"


def test_teardown_that_aws_refuses_fails_loudly_and_says_what_it_costs(lab, ec2):
    mine = _fake_run(ec2, "run-a", "malloc-lab-run-a")
    ec2.modify_instance_attribute(InstanceId=mine, DisableApiTermination={"Value": True})

    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "run-a"})

    said = flat(torn.output)
    assert torn.returncode != 0
    assert f"TEARDOWN INCOMPLETE in {REGION}" in said and "They cost money" in said, said[-4000:]
    assert "OperationNotPermitted" in said, said[-4000:]
    assert {i["InstanceId"]: i["State"]["Name"] for i in instances(ec2)} == {mine: "running"}
