#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Create a run's EC2 resources from lab_ec2_plan's plan: its key pair, its security group and one
instance per planned host, then wait until every instance runs.

One module run does it all, each step idempotent for the run (found by name and tags, so a second
provision.yml of the same lab_run_id creates nothing new). amazon.aws would take five module runs or
more (ec2_key, ec2_security_group, one ec2_instance per host, ec2_instance_info), each a Python that
imports boto3 and loads the EC2 model (about 0.6 s of CPU each), and ec2_security_group sleeps 3 s after
creating a group. launch() holds the work and takes a boto3 client, a clock and a sleep, so tests run it
against moto directly; main() only wires it to AnsibleAWSModule.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from typing import Callable

from ansible.module_utils.lab_ec2 import RETRIES, ClientError, error_code, tags_of

DOCUMENTATION = r"""
module: lab_ec2_launch
short_description: Create a malloc-lab run's key pair, security group and instances, and wait until they run
description:
  - Key pair I(name): generated (ed25519, the private key written to I(key_file) with mode 0600, in a
    directory of mode 0700) or, with I(public_key), imported. An existing pair is kept; a generated one
    must still have its private key file, mode 0600.
  - Security group I(name) in I(vpc_id) with one ingress rule, TCP 22 from I(ssh_cidr); an existing group
    of that name is kept and given the rule if it lacks it. The default egress rule stays.
  - One instance per entry of I(hosts) that has no instance yet (tag LabHost, not terminated): IMDSv2 only,
    an encrypted gp3 root volume deleted on termination, instance-initiated shutdown terminates, I(user_data).
  - Everything carries I(tags) and a Name; instances also LabInstanceType and LabHost.
  - Waits until every host's instance is running, looking every I(poll) seconds for up to I(wait_timeout).
  - A group or key pair made a moment ago that EC2 does not know yet (eventual consistency) is waited
    for, every 2 s for up to 60 s, before the call that needs it fails.
options:
  name:
    description: Name of the key pair and the security group, prefix of the instances' names.
    type: str
    required: true
  key_file:
    description: Where the generated private key goes. Unused with I(public_key).
    type: path
    required: true
  public_key:
    description: Import this OpenSSH public key instead of generating a pair.
    type: str
    default: ""
  vpc_id:
    type: str
    required: true
    description: VPC of the security group.
  ssh_cidr:
    type: str
    required: true
    description: The only range the group lets in, on TCP 22.
  description:
    type: str
    required: true
    description: The security group's description.
  hosts:
    description: The plan's hosts, each with name, instance_type, image_id, subnet_id and root_device_name.
    type: list
    elements: dict
    required: true
  public_ip:
    description: Give each instance a public IPv4 address.
    type: bool
    default: true
  root_volume_gib:
    type: int
    default: 20
    description: Size of the root volume.
  user_data:
    type: str
    default: ""
    description: The instances' user data (a script).
  tags:
    type: dict
    required: true
    description: Tags of everything created.
  wait_timeout:
    type: int
    default: 300
    description: Seconds to wait for the instances to run.
  poll:
    type: int
    default: 5
    description: Seconds between looks while waiting.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
security_group_id:
  description: The run's security group.
  returned: success
  type: str
created:
  description: What this call created, e.g. ["key pair malloc-lab-x", "instance i-0123 (t3-medium)"].
  returned: success
  type: list
  elements: str
instances:
  description: >-
    One per host, in the order of I(hosts), as amazon.aws.ec2_instance_info names the fields:
    instance_id, instance_type, state.name, public_ip_address, private_ip_address, tags.
  returned: success
  type: list
  elements: dict
"""

SSH_RULE_DESCRIPTION = "malloc-lab SSH"
# EC2 is eventually consistent: for a few seconds after it was made, a new group or key pair can be
# unknown to the next call (what amazon.aws's ec2_security_group sleeps 3 s for).
NOT_YET_VISIBLE = ("InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidKeyPair.NotFound")
VISIBLE_WITHIN_S = 60
VISIBLE_POLL_S = 2
LIVE_STATES = ["pending", "running"]


class LaunchError(Exception):
    """The run's resources could not be made as asked; the message says which and why."""


def once_visible(call: Callable[[], dict], *, clock: Callable[[], float], sleep: Callable[[float], None],
                 within: float = VISIBLE_WITHIN_S, poll: float = VISIBLE_POLL_S) -> dict:
    """call(), again every ``poll`` seconds while EC2 says a resource made a moment ago does not exist
    (NOT_YET_VISIBLE), for up to ``within`` seconds; any other error, or the last one, is raised."""
    deadline = clock() + within
    while True:
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in NOT_YET_VISIBLE or clock() >= deadline:
                raise
        sleep(poll)


def tag_specifications(kind: str, tags: dict) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]}]


def ssh_permission(ssh_cidr: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": ssh_cidr, "Description": SSH_RULE_DESCRIPTION}]}


def has_ssh_rule(group: dict, ssh_cidr: str) -> bool:
    return any(p.get("IpProtocol") == "tcp" and p.get("FromPort") == 22 and p.get("ToPort") == 22
               and any(r.get("CidrIp") == ssh_cidr for r in p.get("IpRanges", []))
               for p in group.get("IpPermissions", []))


def key_directory(key_file: str) -> None:
    """The directory of the run's private key and known_hosts (also with an imported key): only the user's."""
    directory = os.path.dirname(key_file) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)


def write_private_key(path: str, material: str) -> None:
    """The generated key, mode 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(material if material.endswith("\n") else material + "\n")


def ensure_key_pair(ec2, name: str, key_file: str, public_key: str, tags: dict, created: list) -> None:
    key_directory(key_file)
    known = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}],
                                   IncludePublicKey=True)["KeyPairs"]
    teardown = f"tear the run down (playbooks/teardown.yml -e lab_run_id={tags.get('LabRunId')}) and start a new one"
    if public_key:
        if not known:
            ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode(),
                                TagSpecifications=tag_specifications("key-pair", tags))
            created.append(f"key pair {name} (imported)")
        elif (known[0].get("PublicKey") or "").split()[:2] != public_key.split()[:2]:
            # New hosts would get the old key and refuse lab_ec2_private_key_file after the whole SSH wait.
            raise LaunchError(f"key pair {name} exists with another public key than lab_ec2_public_key: {teardown}")
        return
    if known:
        # Only a rerun with the same lab_run_id finds the pair already there; its key must still be here.
        try:
            mode = os.stat(key_file).st_mode & 0o777
        except FileNotFoundError:
            mode = None
        if mode != 0o600:
            raise LaunchError(f"{key_file} is missing or not mode 0600 although key pair {name} exists: {teardown}")
        return
    pair = ec2.create_key_pair(KeyName=name, KeyType="ed25519", TagSpecifications=tag_specifications("key-pair", tags))
    write_private_key(key_file, pair["KeyMaterial"])
    created.append(f"key pair {name}")


def ensure_security_group(ec2, name: str, vpc_id: str, description: str, ssh_cidr: str, tags: dict,
                          created: list, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> str:
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]},
                                                  {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    if found:
        group = found[0]
        group_id = group["GroupId"]
    else:
        group_id = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id,
                                             TagSpecifications=tag_specifications("security-group", tags))["GroupId"]
        created.append(f"security group {group_id} ({name})")
        group = {}
    if not has_ssh_rule(group, ssh_cidr):
        try:
            once_visible(functools.partial(ec2.authorize_security_group_ingress, GroupId=group_id,
                                           IpPermissions=[ssh_permission(ssh_cidr)]), clock=clock, sleep=sleep)
        except ClientError as exc:
            # The group's description a moment ago may not have shown the rule yet: there it is.
            if error_code(exc) != "InvalidPermission.Duplicate":
                raise
    return group_id


def _run_instances(ec2, run_id: str, states: list[str] | None = None) -> list[dict]:
    """The run's instances, in ``states`` (None: in every state)."""
    flt = [{"Name": "tag:Project", "Values": ["malloc-lab"]}, {"Name": "tag:LabRunId", "Values": [run_id]}]
    if states is not None:
        flt.append({"Name": "instance-state-name", "Values": states})
    pages = ec2.get_paginator("describe_instances").paginate(Filters=flt)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _by_host(instances: list[dict]) -> dict:
    return {tags_of(i).get("LabHost"): i for i in instances}


def launch_instance(ec2, host: dict, *, name: str, group_id: str, public_ip: bool, root_volume_gib: int,
                    user_data: str, tags: dict, attempt: str, clock: Callable[[], float],
                    sleep: Callable[[float], None]) -> str:
    host_tags = dict(tags, Name=f"{name}-{host['name']}", LabInstanceType=host["instance_type"], LabHost=host["name"])
    params = {
        "ImageId": host["image_id"], "InstanceType": host["instance_type"], "MinCount": 1, "MaxCount": 1,
        "KeyName": name,
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": host["subnet_id"], "Groups": [group_id],
                               "AssociatePublicIpAddress": public_ip, "DeleteOnTermination": True}],
        "BlockDeviceMappings": [{"DeviceName": host["root_device_name"],
                                 "Ebs": {"VolumeType": "gp3", "VolumeSize": root_volume_gib, "Encrypted": True,
                                         "DeleteOnTermination": True}}],
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "required"},
        # Dead-man switch, with the user data's scheduled shutdown: powering off terminates.
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": tag_specifications("instance", host_tags) + tag_specifications("volume", host_tags),
        # botocore retries a call with the same parameters, so a retried launch cannot make a second
        # instance; the token is new for each module run (attempt), because EC2 answers a token it has
        # seen with the instance it launched then, even one terminated by a teardown since.
        "ClientToken": f"{host['name'][:40]}-{attempt}",
    }
    if user_data:
        params["UserData"] = user_data
    launched = once_visible(functools.partial(ec2.run_instances, **params), clock=clock, sleep=sleep)
    return launched["Instances"][0]["InstanceId"]


def as_info(instance: dict) -> dict:
    """An instance with the fields (and names) of amazon.aws.ec2_instance_info that the role reads."""
    return {"instance_id": instance["InstanceId"], "instance_type": instance["InstanceType"],
            "state": {"name": instance["State"]["Name"]},
            "public_ip_address": instance.get("PublicIpAddress"),
            "private_ip_address": instance.get("PrivateIpAddress"),
            "tags": tags_of(instance)}


def launch(ec2, params: dict, *, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep, created: list | None = None) -> dict:
    """Key pair, security group, the missing instances, then the wait; see DOCUMENTATION. ``created``
    collects what this call made, also when it fails half-way (the caller names it in its error)."""
    name, tags, hosts = params["name"], params["tags"], params["hosts"]
    run_id = tags.get("LabRunId")
    if not run_id or tags.get("Project") != "malloc-lab":
        raise LaunchError("tags must carry Project=malloc-lab and LabRunId: teardown finds the run by them")
    created = [] if created is None else created
    ensure_key_pair(ec2, name, params["key_file"], params["public_key"], dict(tags, Name=name), created)
    group_id = ensure_security_group(ec2, name, params["vpc_id"], params["description"], params["ssh_cidr"],
                                     dict(tags, Name=name), created, clock=clock, sleep=sleep)
    ids = {host: i["InstanceId"] for host, i in _by_host(_run_instances(ec2, run_id, LIVE_STATES)).items()}
    attempt = uuid.uuid4().hex[:16]
    for host in hosts:
        if host["name"] not in ids:
            ids[host["name"]] = launch_instance(ec2, host, name=name, group_id=group_id, public_ip=params["public_ip"],
                                                root_volume_gib=params["root_volume_gib"],
                                                user_data=params["user_data"], tags=tags, attempt=attempt,
                                                clock=clock, sleep=sleep)
            created.append(f"instance {ids[host['name']]} ({host['name']})")

    # By id and in every state: an instance that fails at launch (capacity, a volume or key error) goes
    # from pending to terminated, and says why in its StateReason. One that EC2 does not list yet
    # (DescribeInstances is eventually consistent) is waited for.
    deadline = clock() + params["wait_timeout"]
    while True:
        by_id = {i["InstanceId"]: i for i in _run_instances(ec2, run_id)}
        waiting = []
        for host in hosts:
            instance = by_id.get(ids[host["name"]], {})
            state = instance.get("State", {}).get("Name")
            if state in ("shutting-down", "terminated", "stopping", "stopped"):
                reason = instance.get("StateReason", {}).get("Message") or "no reason given"
                raise LaunchError(f"{host['name']} ({instance['InstanceId']}, {host['instance_type']}) is "
                                  f"{state} instead of running: {reason}")
            if state != "running":
                waiting.append(host["name"])
        if not waiting:
            break
        if clock() >= deadline:
            raise LaunchError(f"not running after {params['wait_timeout']} s: {', '.join(waiting)}")
        sleep(params["poll"])
    return {"security_group_id": group_id, "created": created,
            "instances": [as_info(by_id[ids[h["name"]]]) for h in hosts]}


def _made(created: list) -> str:
    return f" (made before it stopped, torn down by the rescue: {', '.join(created)})" if created else ""


def main():
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        pass  # AnsibleAWSModule reports a missing botocore

    module = AnsibleAWSModule(argument_spec={
        "name": {"type": "str", "required": True},
        "key_file": {"type": "path", "required": True},
        "public_key": {"type": "str", "default": ""},
        "vpc_id": {"type": "str", "required": True},
        "ssh_cidr": {"type": "str", "required": True},
        "description": {"type": "str", "required": True},
        "hosts": {"type": "list", "elements": "dict", "required": True},
        "public_ip": {"type": "bool", "default": True},
        "root_volume_gib": {"type": "int", "default": 20},
        "user_data": {"type": "str", "default": ""},
        "tags": {"type": "dict", "required": True},
        "wait_timeout": {"type": "int", "default": 300},
        "poll": {"type": "int", "default": 5},
    })
    ec2 = module.client("ec2", config=RETRIES)
    created: list = []
    try:
        result = launch(ec2, module.params, created=created)
    except LaunchError as e:
        module.fail_json(msg=f"{e}{_made(created)}", created=created)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f"could not create the resources of {module.params['name']}{_made(created)}",
                             created=created)
    except OSError as e:
        module.fail_json(msg=f"could not write the private key {module.params['key_file']}: {e}{_made(created)}",
                         created=created)
    module.exit_json(changed=bool(result["created"]), **result)


if __name__ == "__main__":
    main()
