"""The decisions of lab_ec2_plan (roles/ec2_provision/library), without any API."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from .conftest import library_module

plan = library_module("ec2_provision", "lab_ec2_plan")

SEED = json.loads((Path(__file__).parent / "amis.json").read_text())
# The seed in the shape describe_images returns.
IMAGES = [{"ImageId": i["ami_id"], "Name": i["name"], "OwnerId": i["owner_id"],
           "Architecture": i["architecture"], "CreationDate": i["creation_date"], "State": i["state"]}
          for i in SEED]

GOOD = {"instance_types": ["t3.medium", "m7g.large"], "ssh_cidr": "203.0.113.7/32", "allow_world_ssh": False,
        "ttl_minutes": 60, "ami": None, "address": "public_ip", "subnet_id": "", "public_key": "",
        "private_key_file": "", "run_id": "20261125T220000Z"}


def errors_of(**changes) -> list[str]:
    return plan.validate_inputs(dict(GOOD, **changes))[0]


def test_good_inputs_pass():
    errors, types, cidr = plan.validate_inputs(GOOD)
    assert errors == []
    assert types == ["t3.medium", "m7g.large"]
    assert cidr == "203.0.113.7/32"


@pytest.mark.parametrize(("changes", "variable"), [
    ({"instance_types": []}, "lab_ec2_instance_types"),
    ({"instance_types": ["t3 medium"]}, "lab_ec2_instance_types"),
    ({"instance_types": ["t3.medium", {"type": "m7g.large"}]}, "lab_ec2_instance_types"),
    ({"instance_types": ["T3.MEDIUM"]}, "lab_ec2_instance_types"),
    ({"instance_types": ["t3.medium", "t3.medium"]}, "lab_ec2_instance_types"),
    ({"ssh_cidr": ""}, "lab_ec2_ssh_cidr"),
    ({"ssh_cidr": "0.0.0.0/0"}, "lab_ec2_allow_world_ssh"),
    ({"ssh_cidr": "203.0.113.300/32"}, "lab_ec2_ssh_cidr"),
    ({"ssh_cidr": "2001:db8::/64"}, "lab_ec2_ssh_cidr"),
    ({"ttl_minutes": 0}, "lab_ec2_ttl_minutes"),
    ({"ttl_minutes": -5}, "lab_ec2_ttl_minutes"),
    ({"ttl_minutes": "soon"}, "lab_ec2_ttl_minutes"),
    ({"ttl_minutes": 1.5}, "lab_ec2_ttl_minutes"),
    ({"ttl_minutes": True}, "lab_ec2_ttl_minutes"),
    ({"ami": "rhel9"}, "lab_ec2_ami"),
    ({"ami": {"aarch64": "ami-0a1b2c3d4e5f60011"}}, "lab_ec2_ami"),
    ({"address": "elastic_ip"}, "lab_ec2_address"),
    ({"address": {"t3.medium": "10.231.77.11"}}, "lab_ec2_address"),
    ({"address": {"t3.medium": "10.231.77.11", "m7g.large": "10.231.77.12", "c7i.large": "10.231.77.13"}},
     "lab_ec2_address"),
    ({"address": {"t3.medium": "not an address!", "m7g.large": "10.231.77.12"}}, "lab_ec2_address"),
    ({"subnet_id": "default"}, "lab_ec2_vpc_subnet_id"),
    ({"public_key": "ssh-dss AAAAB3Nza"}, "lab_ec2_public_key"),
    ({"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host"}, "lab_ec2_private_key_file"),
    ({"run_id": "../../etc"}, "lab_run_id"),
])
def test_bad_input_names_the_variable(changes, variable):
    errors = errors_of(**changes)
    assert errors, f"{changes} was accepted"
    assert any(variable in e for e in errors), errors


def test_world_ssh_needs_the_opt_in():
    assert errors_of(ssh_cidr="0.0.0.0/0", allow_world_ssh=True) == []


def test_bare_address_means_slash_32():
    assert plan.validate_inputs(dict(GOOD, ssh_cidr="203.0.113.7"))[2] == "203.0.113.7/32"
    # Host bits are dropped rather than refused: 203.0.113.7/24 is the user's /24.
    assert plan.validate_inputs(dict(GOOD, ssh_cidr="203.0.113.7/24"))[2] == "203.0.113.0/24"


def test_address_mapping_with_one_entry_per_type_passes():
    assert errors_of(address={"t3.medium": "10.231.77.11", "m7g.large": "h2.lab.test"}) == []


@pytest.mark.parametrize(("value", "minutes"), [(60, 60), ("45", 45), (" 5 ", 5), (30.0, 30)])
def test_ttl_accepts_whole_minutes(value, minutes):
    assert plan.parse_ttl(value) == minutes


def test_newest_image_of_the_right_owner_and_architecture():
    # What describe_images returns for the name pattern (RHEL 10 and Cloud Access images do not
    # match it); the other owner's newer look-alikes are still among them.
    named = [i for i in IMAGES if i["Name"].startswith("RHEL-9.") and i["Name"].endswith("-Hourly2-GP3")]
    assert {i["OwnerId"] for i in named} == {"309956199498", "111122223333"}
    assert plan.choose_image(named, "x86_64", "309956199498")["ImageId"] == "ami-0a1b2c3d4e5f60002"
    assert plan.choose_image(named, "arm64", "309956199498")["ImageId"] == "ami-0a1b2c3d4e5f60011"


def test_no_image_is_none():
    assert plan.choose_image(IMAGES, "x86_64", "000000000000") is None


def test_architecture_from_the_api_not_the_name():
    assert plan.architecture_of(["i386", "x86_64"]) == "x86_64"
    assert plan.architecture_of(["arm64"]) == "arm64"
    assert plan.architecture_of(["x86_64_mac"]) is None


def test_subnet_in_a_zone_that_offers_the_type():
    subnets = [{"SubnetId": "subnet-e", "AvailabilityZone": "us-east-1e"},
               {"SubnetId": "subnet-b", "AvailabilityZone": "us-east-1b"},
               {"SubnetId": "subnet-a", "AvailabilityZone": "us-east-1a"}]
    assert plan.choose_subnet(subnets, {"us-east-1e", "us-east-1b"})["SubnetId"] == "subnet-b"
    assert plan.choose_subnet(subnets, {"us-east-1e"})["SubnetId"] == "subnet-e"
    assert plan.choose_subnet(subnets, {"us-east-1f"}) is None


def test_host_names_are_safe_directory_names():
    assert plan.host_name("m7g.large") == "m7g-large"
    assert plan.host_name("u-6tb1.112xlarge") == "u-6tb1-112xlarge"


def test_expiry_is_ttl_after_now():
    now = datetime(2026, 11, 25, 22, 0, 0, tzinfo=timezone.utc)
    assert plan.expiry(90, now) == "2026-11-25T23:30:00Z"
