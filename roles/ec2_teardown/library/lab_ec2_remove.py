#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Remove what carries the given tags in one region: terminate the instances and wait, then delete the
security groups and key pairs, then look at the instances again.

One module run does all of it, in the order AWS needs (a group is deletable only once no instance's
network interface holds it). amazon.aws would take seven module runs per region (three
ec2_instance_info, ec2_instance, ec2_security_group_info, ec2_security_group, ec2_key_info, plus
one ec2_key per key pair), each a Python that imports boto3 and loads the EC2 model: about 0.6 s of CPU
and wall each. remove() holds the work and takes a boto3 client, a clock and a sleep, so tests run it
against moto directly; main() only wires it to AnsibleAWSModule.
"""

from __future__ import annotations

import functools
import time
from typing import Callable

from ansible.module_utils.lab_ec2 import RETRIES, ClientError, error_code

DOCUMENTATION = r"""
module: lab_ec2_remove
short_description: Terminate the instances, then delete the security groups and key pairs, that carry the given tags
description:
  - Finds instances (in any state but terminated), security groups and key pairs by I(filters).
  - Terminates the instances and waits until none of them is left in another state, looking every I(poll) seconds.
  - Deletes each key pair (nothing depends on one), before the waits.
  - Deletes each security group, again every I(poll) seconds while AWS answers DependencyViolation (the
    network interface of a just-terminated instance still holds it), for up to I(timeout) seconds per
    group; an instance of the filters that shows only now (DescribeInstances is eventually consistent) is
    terminated too.
  - Looks at every instance of I(filters) again and returns them with their state, so the caller can fail
    loudly on one not terminated.
  - In check mode, only finds and returns what it would remove.
options:
  filters:
    description: EC2 filters the resources must match, e.g. C({"tag:Project": "malloc-lab", "tag:LabRunId": ["run-a"]}).
      Required and not empty, so that no call can match everything.
    type: dict
    required: true
  timeout:
    description: Seconds to wait for the instances to terminate, and again for each group to become deletable.
    type: int
    default: 600
  poll:
    description: Seconds between looks while waiting.
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
terminated:
  description: Ids of the instances this call asked to terminate (in check mode, would have).
  returned: success
  type: list
  elements: str
security_groups:
  description: The security groups deleted (in check mode, found), each with group_id and group_name.
  returned: success
  type: list
  elements: dict
key_pairs:
  description: Names of the key pairs deleted (in check mode, found).
  returned: success
  type: list
  elements: str
instances:
  description: Every instance of the filters after the removal, with instance_id and state (terminated, or not).
  returned: success
  type: list
  elements: dict
"""

# Every state but terminated: what is still running, or may run again, and costs money.
ALIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


class RemoveError(Exception):
    """The removal could not finish; the message says what is left."""


def as_filters(filters: dict) -> list[dict]:
    """{"tag:X": "a", "tag:Y": ["b", "c"]} -> EC2 Filters, values always lists of strings."""
    if not filters:
        raise RemoveError("filters must not be empty: they would match every resource of the region")
    return [{"Name": str(name), "Values": [str(v) for v in (value if isinstance(value, list) else [value])]}
            for name, value in filters.items()]


def _instances(ec2, filters: list[dict]) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [{"instance_id": i["InstanceId"], "state": i["State"]["Name"]}
            for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _alive(ec2, filters: list[dict]) -> list[dict]:
    return _instances(ec2, filters + [{"Name": "instance-state-name", "Values": ALIVE_STATES}])


def delete_when_free(delete: Callable[[], object], what: str, *, timeout: float, poll: float,
                     clock: Callable[[], float], sleep: Callable[[float], None],
                     while_held: Callable[[], None] = lambda: None) -> None:
    """Call ``delete`` until it works, again every ``poll`` seconds while AWS answers DependencyViolation
    (a just-terminated instance's network interface still holds a security group for a while), for up to
    ``timeout`` seconds, calling ``while_held`` before each wait. Already gone counts as deleted; any
    other error is raised as it came."""
    deadline = clock() + timeout
    while True:
        try:
            delete()
            return
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidGroup.NotFound":
                return
            if code != "DependencyViolation":
                raise
            if clock() >= deadline:
                raise RemoveError(f"{what} still in use after {timeout:.0f} s: {exc}") from None
        while_held()
        sleep(poll)


def remove(ec2, filters: dict, *, timeout: float, poll: float, check_mode: bool = False,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Terminate, delete the key pairs, wait, delete the groups (retrying DependencyViolation), look again.

    The instances' wait and each group's get ``timeout`` seconds each. Raises RemoveError when the
    instances do not terminate or a group stays held; botocore's own errors pass through."""
    flt = as_filters(filters)
    alive = _alive(ec2, flt)
    groups = [{"group_id": g["GroupId"], "group_name": g["GroupName"]}
              for page in ec2.get_paginator("describe_security_groups").paginate(Filters=flt)
              for g in page["SecurityGroups"]]
    keys = [k["KeyName"] for k in ec2.describe_key_pairs(Filters=flt)["KeyPairs"]]
    terminated = [i["instance_id"] for i in alive]
    if check_mode:
        return {"terminated": terminated, "security_groups": groups, "key_pairs": keys,
                "instances": _instances(ec2, flt)}

    def terminate(ids: list) -> None:
        for start in range(0, len(ids), 1000):  # TerminateInstances takes at most 1000 ids
            ec2.terminate_instances(InstanceIds=ids[start:start + 1000])

    def terminate_late(listed: list[dict]) -> None:
        """An instance launched a moment ago can be missing from the first look (DescribeInstances is
        eventually consistent) and then holds the group: terminate it when a later look lists it."""
        late = [i["instance_id"] for i in listed if i["instance_id"] not in terminated]
        terminate(late)
        terminated.extend(late)

    terminate(terminated)
    # Nothing depends on a key pair: gone before the waits, so a wait that times out leaves less behind.
    for name in keys:
        ec2.delete_key_pair(KeyName=name)
    deadline = clock() + timeout
    while terminated:
        waiting = _alive(ec2, flt)
        terminate_late(waiting)
        if not waiting:
            break
        if clock() >= deadline:
            raise RemoveError(f"instances not terminated after {timeout:.0f} s: "
                              + ", ".join(f"{i['instance_id']} ({i['state']})" for i in waiting))
        sleep(poll)

    for group in groups:
        delete_when_free(functools.partial(ec2.delete_security_group, GroupId=group["group_id"]),
                         f"security group {group['group_id']} ({group['group_name']})",
                         timeout=timeout, poll=poll, clock=clock, sleep=sleep,
                         while_held=lambda: terminate_late(_alive(ec2, flt)))

    return {"terminated": terminated, "security_groups": groups, "key_pairs": keys, "instances": _instances(ec2, flt)}


def main():
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        pass  # AnsibleAWSModule reports a missing botocore

    module = AnsibleAWSModule(argument_spec={"filters": {"type": "dict", "required": True},
                                             "timeout": {"type": "int", "default": 600},
                                             "poll": {"type": "int", "default": 5}},
                              supports_check_mode=True)
    ec2 = module.client("ec2", config=RETRIES)
    again = ("They cost money: run the same playbook again (teardown.yml -e lab_run_id=<id> for one run) or "
             "remove them in the EC2 console")
    try:
        result = remove(ec2, module.params["filters"], timeout=module.params["timeout"],
                        poll=module.params["poll"], check_mode=module.check_mode)
    except RemoveError as e:
        module.fail_json(msg=f"TEARDOWN INCOMPLETE in {module.region}: {e}. {again}.")
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg=f"TEARDOWN INCOMPLETE in {module.region}: AWS refused to remove the resources "
                                    f"of {module.params['filters']}. {again}")
    changed = bool(result["terminated"] or result["security_groups"] or result["key_pairs"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
