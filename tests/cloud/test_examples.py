"""inventory/examples/ec2-*.yml: every knob exists, every instance type is real and plannable."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "inventory" / "examples").glob("ec2-*.yml"))
SPEC = yaml.safe_load((ROOT / "roles" / "ec2_provision" / "meta" / "argument_specs.yml").read_text())
KNOBS = set(SPEC["argument_specs"]["main"]["options"]) | {"lab_provider"}


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_uses_known_knobs_and_real_types(path, ec2):
    values = yaml.safe_load(path.read_text())
    assert set(values) <= KNOBS, set(values) - KNOBS
    assert values["lab_provider"] == "ec2"
    assert "lab_ec2_ssh_cidr" not in values, "the user's own range must be given, never a made-up one"
    types = values["lab_ec2_instance_types"]
    described = ec2.describe_instance_types(InstanceTypes=types)["InstanceTypes"]
    for t in described:
        assert set(t["ProcessorInfo"]["SupportedArchitectures"]) & {"x86_64", "arm64"}, t["InstanceType"]
    offered = {o["InstanceType"] for o in ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}])["InstanceTypeOfferings"]}
    assert offered == set(types)
