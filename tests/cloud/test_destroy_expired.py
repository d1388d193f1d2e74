"""destroy.yml reaps the runs whose LabExpiresAt has passed, in every region given; lab_destroy_all
reaps every run. The expiry is made testable with lab_ec2_now instead of waiting a minute."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .conftest import REGION, library_module
from .test_ec2_playbooks import ALIVE, assert_run_gone, flat, instances, provision_vars, tags

reaper = library_module("ec2_teardown", "lab_ec2_expired_runs")

OTHER_REGION = "us-west-2"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


def tagged(run_id, expires=None, project="malloc-lab"):
    out = {"Project": project, "LabRunId": run_id}
    if expires:
        out["LabExpiresAt"] = expires
    return out


def test_expired_runs_by_their_latest_expiry():
    found = reaper.expired_runs([
        tagged("a", "2026-11-30T05:59:00Z"), tagged("a", "2026-11-30T05:30:00Z"),
        # b was provisioned again later: its newest resources keep it alive.
        tagged("b", "2026-11-30T05:00:00Z"), tagged("b", "2026-11-30T07:00:00Z"),
        tagged("old"), tagged("x", "2026-11-30T01:00:00Z", project="someone-else"),
        tagged("c", "not a time"),
    ], NOW)
    assert found == {"runs": ["a", "b", "c", "old"], "expired": ["a"], "alive": {"b": "2026-11-30T07:00:00Z"},
                     "untagged": ["c", "old"], "now": "2026-11-30T06:00:00Z"}


def test_a_run_expires_at_its_time_exactly():
    assert reaper.expired_runs([tagged("a", "2026-11-30T06:00:00Z")], NOW)["expired"] == ["a"]
    assert reaper.parse_time("2026-11-30T06:00:00+09:00") == datetime(2026, 11, 29, 21, 0, tzinfo=timezone.utc)


def expires_at(ec2, run_id):
    (inst,) = instances(ec2, **{"tag:LabRunId": run_id, "instance-state-name": ALIVE})
    return datetime.strptime(tags(inst)["LabExpiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_destroy_reaps_the_expired_run_only_then_all_with_lab_destroy_all(lab, aws):
    east, west = aws.client("ec2", REGION), aws.client("ec2", OTHER_REGION)
    a = provision_vars(lab_run_id="reap-a", lab_ec2_ttl_minutes=1, lab_ec2_ssh_timeout=30,
                       lab_ec2_instance_types=["t3.medium"], lab_ec2_address={"t3.medium": "127.0.0.1"})
    b = provision_vars(lab_run_id="reap-b", lab_ec2_ttl_minutes=60, lab_ec2_region=OTHER_REGION,
                       lab_ec2_instance_types=["t3.medium"], lab_ec2_address={"t3.medium": "127.0.0.2"})
    for extra in (a, b):
        up = lab.run("playbooks/provision.yml", extra, label="provision.yml (1 type)")
        assert up.returncode == 0, up.output[-4000:]

    # A minute and a half on: run A's TTL is over, run B has most of its hour left.
    later = (expires_at(east, "reap-a") + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    regions = {"lab_ec2_regions": [REGION, OTHER_REGION], "lab_ec2_now": later}
    reaped = lab.run("destroy.yml", regions, label="destroy.yml (2 regions, 1 expired)")
    said = flat(reaped.output)
    assert reaped.returncode == 0, said[-4000:]
    assert_run_gone(east, lab, "reap-a")
    assert instances(west, **{"tag:LabRunId": "reap-b", "instance-state-name": "running"}), "run B was reaped"
    assert (lab.key_dir / "malloc-lab-reap-b.pem").exists()
    assert "expired, removing: reap-a" in said
    assert "within their TTL, kept: reap-b until" in said, said[-4000:]

    # Nothing else has expired: a second reap removes nothing.
    again = lab.run("destroy.yml", regions)
    assert again.returncode == 0, again.output[-4000:]
    assert instances(west, **{"tag:LabRunId": "reap-b", "instance-state-name": "running"})

    everything = lab.run("destroy.yml", {**regions, "lab_destroy_all": True}, label="destroy.yml (all)")
    assert everything.returncode == 0, everything.output[-4000:]
    assert_run_gone(west, lab, "reap-b")


def test_teardown_of_one_run_ignores_expiry(lab, ec2):
    extra = provision_vars(lab_run_id="reap-one", lab_ec2_instance_types=["t3.medium"],
                           lab_ec2_address={"t3.medium": "127.0.0.1"})
    up = lab.run("playbooks/provision.yml", extra)
    assert up.returncode == 0, up.output[-4000:]
    torn = lab.run("playbooks/teardown.yml", {"lab_run_id": "reap-one"})
    assert torn.returncode == 0, torn.output[-4000:]
    assert_run_gone(ec2, lab, "reap-one")


def test_destroy_in_all_regions_finds_an_expired_run_anywhere(lab, aws):
    west = aws.client("ec2", OTHER_REGION)
    extra = provision_vars(lab_run_id="reap-west", lab_ec2_ttl_minutes=1, lab_ec2_ssh_timeout=30,
                           lab_ec2_region=OTHER_REGION, lab_ec2_instance_types=["t3.medium"],
                           lab_ec2_address={"t3.medium": "127.0.0.1"})
    up = lab.run("playbooks/provision.yml", extra)
    assert up.returncode == 0, up.output[-4000:]
    later = (expires_at(west, "reap-west") + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # lab_ec2_region stays us-east-1 (the lab fixture's): only "all" can find the run in us-west-2.
    reaped = lab.run("destroy.yml", {"lab_ec2_regions": "all", "lab_ec2_now": later},
                     label="destroy.yml (all regions, 1 expired)")
    said = flat(reaped.output)
    assert reaped.returncode == 0, said[-4000:]
    assert f"{OTHER_REGION} at {later}: expired, removing: reap-west" in said, said[-4000:]
    # Every other region was looked at in the same one module run, and said to hold nothing.
    (empty,) = re.findall(rf"at {later}: no malloc-lab run in ([a-z0-9, -]+)", said)
    assert REGION in empty.split(", ") and OTHER_REGION not in empty.split(", ")
    # ... and the removal ran in the one region that held the expired run.
    assert said.count("region.yml for localhost") == 1, said[-4000:]
    assert_run_gone(west, lab, "reap-west")
