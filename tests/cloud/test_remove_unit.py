"""lab_ec2_remove's remove() (roles/ec2_teardown/library) against the moto server, without Ansible: what it
removes, what it leaves, and how it waits (its clock and sleep are injected)."""
from __future__ import annotations


import pytest
from botocore.exceptions import ClientError

from .conftest import library_module
from .test_ec2_playbooks import _fake_run, instances, lab_groups

remover = library_module("ec2_teardown", "lab_ec2_remove")

RUN_A = {"tag:Project": "malloc-lab", "tag:LabRunId": ["run-a"]}


class Clock:
    """A clock that only the injected sleep moves; it counts the sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def state_of(ec2) -> dict[str, str]:
    return {i["InstanceId"]: i["State"]["Name"] for i in instances(ec2)}


def test_removes_the_runs_resources_and_nothing_else(ec2):
    mine = _fake_run(ec2, "run-a", "malloc-lab-run-a")
    other = _fake_run(ec2, "run-b", "malloc-lab-run-b")
    stranger = _fake_run(ec2, None, "not-the-lab")
    clock = Clock()

    done = remover.remove(ec2, RUN_A, timeout=60, poll=5, clock=clock, sleep=clock.sleep)

    assert done["terminated"] == [mine]
    assert [g["group_name"] for g in done["security_groups"]] == ["malloc-lab-run-a"]
    assert done["key_pairs"] == ["malloc-lab-run-a"]
    assert done["instances"] == [{"instance_id": mine, "state": "terminated"}]
    assert state_of(ec2) == {mine: "terminated", other: "running", stranger: "running"}
    assert sorted(g["GroupName"] for g in lab_groups(ec2)) == ["malloc-lab-run-b", "not-the-lab"]
    assert sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]) == ["malloc-lab-run-b", "not-the-lab"]
    assert clock.sleeps == 0, "moto terminates at once: nothing to wait for"

    again = remover.remove(ec2, RUN_A, timeout=60, poll=5, clock=clock, sleep=clock.sleep)
    assert (again["terminated"], again["security_groups"], again["key_pairs"]) == ([], [], [])
    assert again["instances"] == [{"instance_id": mine, "state": "terminated"}]


def test_check_mode_finds_and_removes_nothing(ec2):
    mine = _fake_run(ec2, "run-a", "malloc-lab-run-a")

    found = remover.remove(ec2, RUN_A, timeout=60, poll=5, check_mode=True)

    assert found["terminated"] == [mine] and found["key_pairs"] == ["malloc-lab-run-a"]
    assert [g["group_name"] for g in found["security_groups"]] == ["malloc-lab-run-a"]
    assert state_of(ec2) == {mine: "running"}
    assert [g["GroupName"] for g in lab_groups(ec2)] == ["malloc-lab-run-a"]


def test_empty_filters_are_refused_before_any_call(ec2):
    stranger = _fake_run(ec2, None, "not-the-lab")
    with pytest.raises(remover.RemoveError, match="must not be empty"):
        remover.remove(ec2, {}, timeout=60, poll=5)
    assert state_of(ec2) == {stranger: "running"}


def in_use(group_id: str) -> ClientError:
    """What EC2 answers DeleteSecurityGroup while a network interface holds the group (moto never does)."""
    return ClientError({"Error": {"Code": "DependencyViolation",
                                  "Message": f"resource {group_id} has a dependent object"}}, "DeleteSecurityGroup")


def test_a_group_in_use_is_deleted_once_it_is_free():
    clock, answers = Clock(), [in_use("sg-1"), in_use("sg-1"), None]

    def delete():
        answer = answers.pop(0)
        if answer:
            raise answer

    looks = []
    remover.delete_when_free(delete, "security group sg-1", timeout=60, poll=5, clock=clock, sleep=clock.sleep,
                             while_held=lambda: looks.append(clock.now))
    assert answers == [] and clock.sleeps == 2 and clock.now == 10
    assert looks == [0, 5], "a look for late instances before each wait"


def test_a_group_still_in_use_at_the_timeout_is_named():
    clock, tries = Clock(), []

    def delete():
        tries.append(clock.now)
        raise in_use("sg-1")

    with pytest.raises(remover.RemoveError, match=r"security group sg-1 \(malloc-lab-x\) still in use after 12 s"):
        remover.delete_when_free(delete, "security group sg-1 (malloc-lab-x)", timeout=12, poll=5,
                                 clock=clock, sleep=clock.sleep)
    assert tries == [0, 5, 10, 15], "a try at each poll, the one past the deadline the last"


def test_a_group_already_gone_counts_as_deleted_and_other_errors_pass_through():
    def gone():
        raise ClientError({"Error": {"Code": "InvalidGroup.NotFound", "Message": "no such group"}},
                          "DeleteSecurityGroup")

    def denied():
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DeleteSecurityGroup")

    clock = Clock()
    remover.delete_when_free(gone, "g", timeout=60, poll=5, clock=clock, sleep=clock.sleep)
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        remover.delete_when_free(denied, "g", timeout=60, poll=5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == 0


def test_an_instance_that_refuses_termination_stops_the_removal_with_aws_words(ec2):
    mine = _fake_run(ec2, "run-a", "malloc-lab-run-a")
    ec2.modify_instance_attribute(InstanceId=mine, DisableApiTermination={"Value": True})

    with pytest.raises(ClientError) as caught:
        remover.remove(ec2, RUN_A, timeout=60, poll=5)

    assert caught.value.response["Error"]["Code"] == "OperationNotPermitted"
    assert state_of(ec2) == {mine: "running"}
    assert [g["GroupName"] for g in lab_groups(ec2)] == ["malloc-lab-run-a"], "nothing deleted before the instances go"
