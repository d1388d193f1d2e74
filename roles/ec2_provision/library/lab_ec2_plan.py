#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Plan a malloc-lab EC2 run: check every input and look up what to launch, creating nothing.

The pure functions (validate_inputs, choose_image, choose_subnet, ...) hold the decisions and are
unit-tested; main() only talks to the EC2 API through amazon.aws's AnsibleAWSModule, so region,
endpoint and credentials follow the same rules as every amazon.aws module.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone

from ansible.module_utils.lab_ec2 import RETRIES

DOCUMENTATION = r"""
module: lab_ec2_plan
short_description: Validate malloc-lab's EC2 inputs and plan one host per instance type
description:
  - Read-only. Checks the inputs, the credentials, each instance type (architecture from the
    EC2 API's description of the type), the newest official RHEL 9 image per architecture and a
    subnet whose availability zone offers each type.
  - Failure messages name the lab's variables (C(lab_ec2_*)), since those are what a user sets.
options:
  instance_types:
    description: Instance types, one host each (C(lab_ec2_instance_types)).
    type: list
    elements: raw
    required: true
  ssh_cidr:
    description: The only range allowed to reach SSH (C(lab_ec2_ssh_cidr)).
    type: str
    default: ""
  allow_world_ssh:
    description: Allow a world-open I(ssh_cidr) (C(lab_ec2_allow_world_ssh)).
    type: bool
    default: false
  ttl_minutes:
    description: Minutes before each host powers itself off (C(lab_ec2_ttl_minutes)).
    type: raw
    required: true
  ssh_timeout:
    description: Longest wait for the hosts' first SSH login, seconds (C(lab_ec2_ssh_timeout)); the boot allowance.
    type: int
    default: 600
  prepare_minutes:
    description: Allowance for installing packages and building the workload (C(lab_ec2_prepare_minutes)).
    type: int
    default: 5
  experiment_s:
    description:
      - The agent's expected_s of each run a host will make (one per variant and repeat, in order).
      - Empty when no experiment follows (provision.yml on its own).
    type: list
    elements: float
    default: []
  recording_s:
    description:
      - The length of a recording each host will make (C(lab_command_duration)), or, without one, the
        longest a recording until the command exits is allowed; unset when no recording follows.
    type: float
  recording_until_exit:
    description: I(recording_s) is that allowance, not a C(lab_command_duration) (the refusal says so).
    type: bool
    default: false
  ami:
    description: Image override, one id or a mapping architecture -> id (C(lab_ec2_ami)).
    type: raw
  address:
    description: V(public_ip), V(private_ip) or a mapping instance type -> address (C(lab_ec2_address)).
    type: raw
    default: public_ip
  subnet_id:
    description: Subnet to launch in; default, a default subnet per type (C(lab_ec2_vpc_subnet_id)).
    type: str
    default: ""
  public_key:
    description: Public key to import instead of generating a pair (C(lab_ec2_public_key)).
    type: str
    default: ""
  private_key_file:
    description: The private half of I(public_key) (C(lab_ec2_private_key_file)).
    type: str
    default: ""
  run_id:
    description: This run's id (C(lab_run_id)), used in names and tags.
    type: str
    required: true
  image_owner:
    description: Account that publishes the official images.
    type: str
    required: true
  image_name:
    description: Image name pattern, C({arch}) replaced by the architecture.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
hosts:
  description: One entry per instance type, in the order given.
  returned: success
  type: list
  elements: dict
vpc_id:
  description: The VPC every host is launched in.
  returned: success
  type: str
account_id:
  description: The AWS account the credentials belong to.
  returned: success
  type: str
expires_at:
  description: When the hosts' TTL runs out (UTC, ISO 8601).
  returned: success
  type: str
budget:
  description: Seconds each host needs (ssh_wait_s, prepare_s, experiment_s, runs, recording_s, total_s) against ttl_s.
  returned: success
  type: dict
ssh_cidr:
  description: I(ssh_cidr) normalised (a bare address becomes /32 or /128).
  returned: success
  type: str
"""

# The architectures RHEL 9 ships for EC2; *_mac types need dedicated hosts and are refused.
SUPPORTED_ARCHITECTURES = ("x86_64", "arm64")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
AMI_ID_RE = re.compile(r"^ami-[0-9a-f]{8,17}$")
SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# EC2 imports these key types only.
PUBLIC_KEY_RE = re.compile(r"^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$")
ADDRESS_ATTRIBUTES = {"public_ip": "public_ip_address", "private_ip": "private_ip_address"}


def host_name(instance_type: str) -> str:
    """The inventory name of the host of one instance type: readable, safe as a directory name."""
    return instance_type.replace(".", "-")


def parse_ttl(value) -> int | None:
    """Minutes as a positive int, or None if value is not one (bools and fractions refused)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        minutes = value
    elif isinstance(value, str) and value.strip().isdigit():
        minutes = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        minutes = int(value)
    else:
        return None
    return minutes if minutes > 0 else None


def parse_ssh_cidr(value: str, allow_world: bool) -> tuple[str | None, str | None]:
    """(normalised CIDR, None) or (None, error naming lab_ec2_ssh_cidr); a bare address means /32."""
    if not value:
        return None, (
            "lab_ec2_ssh_cidr is required: the one address range allowed to reach SSH, "
            "e.g. your public address as 203.0.113.7/32"
        )
    try:
        # IPv4 only: the hosts are reached on their IPv4 addresses.
        network = ipaddress.IPv4Network(value.strip(), strict=False)
    except ValueError:
        return None, f"lab_ec2_ssh_cidr {value!r} is not an IPv4 network such as 203.0.113.7/32"
    if network.prefixlen == 0 and not allow_world:
        return None, (
            f"lab_ec2_ssh_cidr {value!r} opens SSH to the whole internet: give your own range, "
            "or set lab_ec2_allow_world_ssh=true if you really mean it"
        )
    return str(network), None


def _is_address(value) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(HOSTNAME_RE.match(value))


def validate_inputs(params: dict) -> tuple[list[str], list[str], str | None]:
    """Check everything that needs no API call. Returns (errors, instance types, ssh cidr)."""
    errors: list[str] = []

    types = params.get("instance_types") or []
    if not types:
        errors.append("lab_ec2_instance_types is empty: give at least one instance type, e.g. [\"t3.medium\"]")
    bad = [t for t in types if not isinstance(t, str) or not INSTANCE_TYPE_RE.match(t)]
    if bad:
        errors.append(
            f"lab_ec2_instance_types has malformed entries {bad!r}: each must be an instance type "
            "name such as t3.medium or m7g.large"
        )
    types = [t for t in types if isinstance(t, str)]
    dupes = sorted({t for t in types if types.count(t) > 1})
    if dupes:
        errors.append(f"lab_ec2_instance_types lists {dupes!r} more than once: one host per instance type")

    cidr, err = parse_ssh_cidr(params.get("ssh_cidr") or "", bool(params.get("allow_world_ssh")))
    if err:
        errors.append(err)

    if parse_ttl(params.get("ttl_minutes")) is None:
        errors.append(f"lab_ec2_ttl_minutes {params.get('ttl_minutes')!r} is not a positive whole number of minutes")

    ami = params.get("ami")
    if isinstance(ami, dict):
        for arch, image_id in ami.items():
            if arch not in SUPPORTED_ARCHITECTURES:
                errors.append(f"lab_ec2_ami has key {arch!r}: keys are architectures, {' or '.join(SUPPORTED_ARCHITECTURES)}")
            if not isinstance(image_id, str) or not AMI_ID_RE.match(image_id):
                errors.append(f"lab_ec2_ami[{arch!r}] {image_id!r} is not an image id such as ami-0123456789abcdef0")
    elif ami not in (None, "") and not (isinstance(ami, str) and AMI_ID_RE.match(ami)):
        errors.append(f"lab_ec2_ami {ami!r} is not an image id (ami-...) nor a mapping architecture -> image id")

    address = params.get("address")
    if isinstance(address, dict):
        unknown = sorted(set(address) - set(types))
        missing = [t for t in types if t not in address]
        if unknown:
            errors.append(f"lab_ec2_address maps {unknown!r}, which are not in lab_ec2_instance_types")
        if missing:
            errors.append(f"lab_ec2_address has no address for {missing!r}")
        bad_values = {k: v for k, v in address.items() if not _is_address(v)}
        if bad_values:
            errors.append(f"lab_ec2_address values {bad_values!r} are not IP addresses or host names")
    elif address not in ADDRESS_ATTRIBUTES:
        errors.append(
            f"lab_ec2_address {address!r} must be public_ip, private_ip or a mapping instance type -> address"
        )

    subnet_id = params.get("subnet_id") or ""
    if subnet_id and not SUBNET_ID_RE.match(subnet_id):
        errors.append(f"lab_ec2_vpc_subnet_id {subnet_id!r} is not a subnet id such as subnet-0123456789abcdef0")

    public_key = (params.get("public_key") or "").strip()
    if public_key:
        if not PUBLIC_KEY_RE.match(public_key):
            errors.append("lab_ec2_public_key is not an OpenSSH ed25519 or RSA public key (the one line of a .pub file)")
        if not params.get("private_key_file"):
            errors.append("lab_ec2_private_key_file is required with lab_ec2_public_key: the private key to log in with")

    run_id = params.get("run_id") or ""
    if not RUN_ID_RE.match(run_id):
        errors.append(f"lab_run_id {run_id!r} must be 1-128 letters, digits, '.', '_' or '-'")

    return errors, types, cidr


def architecture_of(supported: list[str]) -> str | None:
    """The one architecture the lab uses for a type, from the API's SupportedArchitectures."""
    for arch in SUPPORTED_ARCHITECTURES:
        if arch in supported:
            return arch
    return None


def choose_image(images: list[dict], arch: str, owner: str) -> dict | None:
    """The newest available image of an architecture published by owner."""
    candidates = [
        i for i in images
        if i.get("OwnerId") == owner and i.get("Architecture") == arch and i.get("State", "available") == "available"
    ]
    # ISO 8601 strings of one format sort by time; the id breaks ties so the choice is stable.
    return max(candidates, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]), default=None)


def choose_subnet(subnets: list[dict], zones: set[str]) -> dict | None:
    """The first subnet (by availability zone, then id) whose zone offers the instance type."""
    usable = [s for s in subnets if s["AvailabilityZone"] in zones]
    return min(usable, key=lambda s: (s["AvailabilityZone"], s["SubnetId"]), default=None)


def expiry(ttl_minutes: int, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return (now + timedelta(minutes=ttl_minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ttl_budget(ttl_minutes: int, ssh_timeout_s: int, prepare_minutes: int, experiment_s: list[float],
               recording_s: float | None = None, recording_until_exit: bool = False) -> dict:
    """What one host needs before its TTL ends: the SSH wait (boot), then, if an experiment or a
    recording follows, preparing it and every run (variant x repeat) the agent expects, one after
    another, or the recording's length (lab_command_duration, or the longest a recording without one
    is allowed: ``recording_until_exit``)."""
    runs = len(experiment_s)
    prepare_s = prepare_minutes * 60 if runs or recording_s is not None else 0
    experiment = round(sum(experiment_s), 3)
    total = ssh_timeout_s + prepare_s + experiment + (recording_s or 0)
    budget = {"ssh_wait_s": ssh_timeout_s, "prepare_s": prepare_s, "experiment_s": experiment, "runs": runs}
    if recording_s is not None:
        budget.update(recording_s=recording_s, recording_until_exit=recording_until_exit)
    return {**budget, "total_s": round(total, 3), "ttl_s": ttl_minutes * 60}


def budget_error(budget: dict) -> str | None:
    """The refusal naming both numbers when the run does not fit inside lab_ec2_ttl_minutes."""
    if budget["total_s"] <= budget["ttl_s"]:
        return None
    parts = [f"up to {budget['ssh_wait_s']} s for SSH (lab_ec2_ssh_timeout)"]
    if budget["runs"] or "recording_s" in budget:
        parts.append(f"{budget['prepare_s']} s to prepare (lab_ec2_prepare_minutes)")
    if budget["runs"]:
        parts.append(f"{budget['experiment_s']:g} s for {budget['runs']} run(s) of the experiment "
                     "(the agent's expected_s for every variant and repeat)")
    if "recording_s" in budget:
        why = ("no lab_command_duration: until the command exits, at most this long"
               if budget["recording_until_exit"] else "lab_command_duration")
        parts.append(f"{budget['recording_s']:g} s for the recording ({why})")
    need = budget["total_s"] / 60
    least = int(-(-budget["total_s"] // 60))
    fix = (f"Set lab_command_duration, or lab_ec2_ttl_minutes to at least {least}"
           if budget.get("recording_until_exit") else f"Set lab_ec2_ttl_minutes to at least {least}, or run less")
    return (f"the run needs {need:.1f} minutes on each host ({', '.join(parts)}), "
            f"but lab_ec2_ttl_minutes is {budget['ttl_s'] // 60}: the hosts would power off before it ends. "
            + fix)


def static_address(address, instance_type: str) -> str | None:
    return address.get(instance_type) if isinstance(address, dict) else None


class PlanError(Exception):
    """Errors a user can fix, each naming the variable to change."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def describe_types(ec2, types: list[str]) -> dict[str, dict]:
    # A filter (not InstanceTypes=) so one unknown name does not hide which others exist.
    found = {}
    paginator = ec2.get_paginator("describe_instance_types")
    for page in paginator.paginate(Filters=[{"Name": "instance-type", "Values": types}]):
        for t in page["InstanceTypes"]:
            found[t["InstanceType"]] = t
    return found


def type_zones(ec2, types: list[str]) -> dict[str, set[str]]:
    zones: dict[str, set[str]] = {t: set() for t in types}
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}]
    ):
        for offer in page["InstanceTypeOfferings"]:
            zones.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    return zones


def find_images(ec2, archs: list[str], params: dict, region: str) -> dict[str, dict]:
    """Image per architecture: the override from lab_ec2_ami, else the newest official RHEL 9."""
    from botocore.exceptions import ClientError

    ami = params.get("ami")
    override = ami if isinstance(ami, dict) else ({a: ami for a in archs} if ami else {})
    images, errors = {}, []
    for arch in archs:
        if arch in override:
            image_id = override[arch]
            try:
                found = ec2.describe_images(ImageIds=[image_id])["Images"]
            except ClientError as e:
                if e.response["Error"]["Code"].startswith("InvalidAMIID"):
                    found = []
                else:
                    raise
            if not found:
                errors.append(f"lab_ec2_ami: image {image_id} does not exist in {region}")
            elif found[0].get("Architecture") != arch:
                errors.append(
                    f"lab_ec2_ami: image {image_id} is {found[0].get('Architecture')}, "
                    f"but the instance types need {arch}"
                )
            else:
                images[arch] = found[0]
            continue
        name = params["image_name"].format(arch=arch)
        found = ec2.describe_images(
            Owners=[params["image_owner"]],
            Filters=[
                {"Name": "name", "Values": [name]},
                {"Name": "architecture", "Values": [arch]},
                {"Name": "state", "Values": ["available"]},
            ],
        )["Images"]
        image = choose_image(found, arch, params["image_owner"])
        if image is None:
            errors.append(
                f"lab_ec2_region {region} has no RHEL 9 image for {arch} "
                f"(owner {params['image_owner']}, name {name}): choose another region or set lab_ec2_ami"
            )
        else:
            images[arch] = image
    if errors:
        raise PlanError(errors)
    return images


def find_subnets(ec2, subnet_id: str, region: str) -> list[dict]:
    from botocore.exceptions import ClientError

    if subnet_id:
        try:
            return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except ClientError as e:
            if e.response["Error"]["Code"].startswith("InvalidSubnetID"):
                raise PlanError([f"lab_ec2_vpc_subnet_id {subnet_id} does not exist in {region}"]) from e
            raise
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    if not subnets:
        raise PlanError([f"lab_ec2_region {region} has no default VPC: set lab_ec2_vpc_subnet_id"])
    return subnets


def plan(ec2, params: dict, types: list[str], region: str) -> dict:
    described = describe_types(ec2, types)
    unknown = [t for t in types if t not in described]
    if unknown:
        raise PlanError([f"lab_ec2_instance_types: {unknown!r} are not instance types in {region}"])

    archs: dict[str, str] = {}
    errors = []
    for t in types:
        supported = described[t].get("ProcessorInfo", {}).get("SupportedArchitectures", [])
        arch = architecture_of(supported)
        if arch is None:
            errors.append(f"lab_ec2_instance_types: {t} is {'/'.join(supported)}; the lab runs on x86_64 or arm64 only")
        archs[t] = arch
    if errors:
        raise PlanError(errors)

    images = find_images(ec2, sorted(set(archs.values())), params, region)
    subnets = find_subnets(ec2, params.get("subnet_id") or "", region)
    zones = type_zones(ec2, types)

    hosts = []
    for t in types:
        subnet = choose_subnet(subnets, zones.get(t, set()))
        if subnet is None:
            where = f"subnet {params['subnet_id']}" if params.get("subnet_id") else f"any default subnet of {region}"
            knob = "lab_ec2_vpc_subnet_id" if params.get("subnet_id") else "lab_ec2_instance_types"
            errors.append(f"{knob}: {t} is not offered in the availability zone of {where}")
            continue
        image = images[archs[t]]
        hosts.append({
            "name": host_name(t),
            "instance_type": t,
            "architecture": archs[t],
            "image_id": image["ImageId"],
            "image_name": image.get("Name", ""),
            "image_created": image.get("CreationDate", ""),
            "root_device_name": image.get("RootDeviceName", "/dev/sda1"),
            "subnet_id": subnet["SubnetId"],
            "availability_zone": subnet["AvailabilityZone"],
            "address": static_address(params.get("address"), t),
        })
    if errors:
        raise PlanError(errors)
    vpcs = {s["VpcId"] for s in subnets if s["SubnetId"] in {h["subnet_id"] for h in hosts}}
    if len(vpcs) != 1:
        raise PlanError([f"lab_ec2_vpc_subnet_id: the chosen subnets span VPCs {sorted(vpcs)}"])
    return {"hosts": hosts, "vpc_id": vpcs.pop()}


def main():
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    try:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
    except ImportError:
        pass  # AnsibleAWSModule reports a missing botocore

    module = AnsibleAWSModule(
        argument_spec={
            "instance_types": {"type": "list", "elements": "raw", "required": True},
            "ssh_cidr": {"type": "str", "default": ""},
            "allow_world_ssh": {"type": "bool", "default": False},
            "ttl_minutes": {"type": "raw", "required": True},
            "ssh_timeout": {"type": "int", "default": 600},
            "prepare_minutes": {"type": "int", "default": 5},
            "experiment_s": {"type": "list", "elements": "float", "default": []},
            "recording_s": {"type": "float"},
            "recording_until_exit": {"type": "bool", "default": False},
            "ami": {"type": "raw"},
            "address": {"type": "raw", "default": "public_ip"},
            "subnet_id": {"type": "str", "default": ""},
            "public_key": {"type": "str", "default": "", "no_log": False},
            "private_key_file": {"type": "str", "default": "", "no_log": False},
            "run_id": {"type": "str", "required": True},
            "image_owner": {"type": "str", "required": True},
            "image_name": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    region = params.get("region")

    errors, types, cidr = validate_inputs(params)
    if not region:
        errors.append("lab_ec2_region is empty: set it (or AWS_REGION), e.g. us-east-1")
    budget = None
    if parse_ttl(params["ttl_minutes"]) is not None:
        budget = ttl_budget(parse_ttl(params["ttl_minutes"]), params["ssh_timeout"], params["prepare_minutes"],
                            params["experiment_s"], params["recording_s"], params["recording_until_exit"])
        if budget_error(budget):
            errors.append(budget_error(budget))
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)

    try:
        account = module.client("sts", config=RETRIES).get_caller_identity()["Account"]
    except (NoCredentialsError, PartialCredentialsError) as e:
        module.fail_json(msg=(
            f"no AWS credentials ({e}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "before running the lab on EC2"
        ))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=(
            "AWS did not accept the credentials (AWS_PROFILE / AWS_ACCESS_KEY_ID) "
            f"or lab_ec2_region {region}"
        ))

    ec2 = module.client("ec2", config=RETRIES)
    try:
        result = plan(ec2, params, types, region)
    except PlanError as e:
        module.fail_json(msg=str(e), errors=e.errors)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="could not plan the EC2 run")

    module.exit_json(
        changed=False,
        account_id=account,
        expires_at=expiry(parse_ttl(params["ttl_minutes"])),
        ssh_cidr=cidr,
        budget=budget,
        address_attribute=ADDRESS_ATTRIBUTES.get(params["address"]) if isinstance(params["address"], str) else None,
        **result,
    )


if __name__ == "__main__":
    main()
