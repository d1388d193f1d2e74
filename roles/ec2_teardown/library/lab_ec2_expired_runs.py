#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Which malloc-lab runs each region holds, and which have expired: their LabExpiresAt tag is in the past.

Read-only. One module run looks at every region asked for (or every region the account sees), so a
reap of all regions costs one module start, not one per region. The pure function expired_runs() holds
the decision and is unit-tested; main() only lists the tagged instances, security groups and key pairs
through amazon.aws's AnsibleAWSModule.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible.module_utils.lab_ec2 import RETRIES, tags_of

DOCUMENTATION = r"""
module: lab_ec2_expired_runs
short_description: List the malloc-lab runs of regions, and those whose LabExpiresAt has passed
description:
  - In each region, looks at every instance (not terminated), security group and key pair tagged
    Project=malloc-lab.
  - A run is expired when the latest LabExpiresAt among its resources is before I(now).
  - A run without any LabExpiresAt tag is never called expired.
options:
  now:
    description: The time to compare with (ISO 8601, UTC); "" means now. For tests and dry runs.
    type: str
    default: ""
  regions:
    description: The regions to look at; [] means the module's own region.
    type: list
    elements: str
    default: []
  all_regions:
    description: Look at every region the account sees (EC2 DescribeRegions) instead of I(regions).
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
regions:
  description: >-
    One entry per region looked at, in order: region, runs (every run id found, sorted), expired (run
    ids whose LabExpiresAt has passed), alive (run id -> LabExpiresAt of the runs within their TTL),
    untagged (run ids with no LabExpiresAt at all: kept, remove them by id).
  returned: success
  type: list
  elements: dict
now:
  description: The time compared with, ISO 8601 UTC.
  returned: success
  type: str
"""

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def parse_time(text: str) -> datetime | None:
    """A LabExpiresAt value (or the now option) as an aware UTC datetime; None if it is not one."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def expired_runs(tag_sets: list[dict], now: datetime) -> dict:
    """Group tagged resources by LabRunId; a run expires with the latest LabExpiresAt of its resources."""
    latest: dict[str, datetime | None] = {}
    for tags in tag_sets:
        run_id = tags.get("LabRunId")
        if tags.get("Project") != "malloc-lab" or not run_id:
            continue
        when = parse_time(tags.get("LabExpiresAt", ""))
        known = latest.get(run_id)
        latest[run_id] = max(known, when) if known and when else (known or when)
    expired = sorted(r for r, when in latest.items() if when is not None and when <= now)
    alive = {r: when.strftime(TIME_FORMAT) for r, when in sorted(latest.items()) if when is not None and when > now}
    untagged = sorted(r for r, when in latest.items() if when is None)
    return {"runs": sorted(latest), "expired": expired, "alive": alive, "untagged": untagged,
            "now": now.strftime(TIME_FORMAT)}


def region_clients(module, regions: list[str]) -> list:
    """An EC2 client per region, all from one boto3 session. module.client() makes a session per client,
    about 0.15 s of CPU each (it loads the endpoint and partition data again); a client of a session that
    has them costs about 13 ms. The session and the clients take what module.client() would: the
    credentials or profile, endpoint, certificate checks and aws_config of the module's options."""
    import boto3
    import botocore.config
    from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info

    _region, endpoint, params = get_aws_connection_info(module)
    config = botocore.config.Config(**RETRIES)
    if params.get("aws_config") is not None:
        config = config.merge(params["aws_config"])
    client_params = {k: v for k, v in params.items() if k not in ("aws_config", "profile_name")}
    session = boto3.session.Session(profile_name=params.get("profile_name"))
    return [session.client("ec2", config=config, region_name=region, endpoint_url=endpoint, **client_params)
            for region in regions]


def main():
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        pass  # AnsibleAWSModule reports a missing botocore

    module = AnsibleAWSModule(argument_spec={"now": {"type": "str", "default": ""},
                                             "regions": {"type": "list", "elements": "str", "default": []},
                                             "all_regions": {"type": "bool", "default": False}},
                              supports_check_mode=True)
    now = parse_time(module.params["now"]) if module.params["now"] else datetime.now(timezone.utc)
    if now is None:
        module.fail_json(msg=f"lab_ec2_now {module.params['now']!r} is not a time such as 2026-11-30T06:00:00Z")

    project = [{"Name": "tag:Project", "Values": ["malloc-lab"]}]
    regions = list(module.params["regions"]) or [module.region]
    found = []
    try:
        if module.params["all_regions"]:
            described = module.client("ec2", config=RETRIES).describe_regions()["Regions"]
            regions = sorted(r["RegionName"] for r in described)
        for region, ec2 in zip(regions, region_clients(module, regions)):
            tag_sets = []
            for page in ec2.get_paginator("describe_instances").paginate(Filters=project):
                tag_sets += [tags_of(i) for r in page["Reservations"] for i in r["Instances"]
                             if i["State"]["Name"] != "terminated"]
            for page in ec2.get_paginator("describe_security_groups").paginate(Filters=project):
                tag_sets += [tags_of(g) for g in page["SecurityGroups"]]
            tag_sets += [tags_of(k) for k in ec2.describe_key_pairs(Filters=project)["KeyPairs"]]
            runs = expired_runs(tag_sets, now)
            runs.pop("now")
            found.append(dict(runs, region=region))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="could not list the malloc-lab runs")
    module.exit_json(changed=False, regions=found, now=now.strftime(TIME_FORMAT))


if __name__ == "__main__":
    main()
