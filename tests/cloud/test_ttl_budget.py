"""The run must fit inside lab_ec2_ttl_minutes: checked before anything is created."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REGION, ROOT, ansible_playbook
from .test_ec2_playbooks import assert_nothing_created, flat, provision_vars
from .test_plan_unit import plan

# 10 steps 10 s apart: about 111 s per run, four runs (2 variants x 2 repeats).
KNOBS = {"lab_size": "100MiB", "lab_step": "10MiB", "lab_step_interval": "10", "lab_sample_interval": "1",
         "lab_pause": "3", "lab_tail": "2"}
AGENT_ARGS = [f"--{k[4:].replace('_', '-')}={v}" for k, v in KNOBS.items()]


def expected_s(variant: str) -> float:
    done = subprocess.run([sys.executable, "-m", "labagent", "run", "--check", "--out=.", *AGENT_ARGS,
                           f"--variant={variant}"], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["expected_s"]


def test_budget_adds_the_ssh_wait_preparation_and_every_run():
    budget = plan.ttl_budget(13, 60, 5, [111.0, 111.0, 111.0, 111.0])
    assert budget == {"ssh_wait_s": 60, "prepare_s": 300, "experiment_s": 444.0, "runs": 4,
                      "total_s": 804.0, "ttl_s": 780}
    message = plan.budget_error(budget)
    assert "needs 13.4 minutes" in message and "lab_ec2_ttl_minutes is 13" in message
    assert "444 s for 4 run(s)" in message and "at least 14" in message
    assert plan.budget_error(plan.ttl_budget(14, 60, 5, [111.0] * 4)) is None


def test_provision_alone_checks_only_the_ssh_wait():
    budget = plan.ttl_budget(1, 600, 5, [])
    assert budget["total_s"] == 600 and budget["prepare_s"] == 0
    assert "lab_ec2_ttl_minutes is 1" in plan.budget_error(budget)
    assert plan.budget_error(plan.ttl_budget(1, 30, 5, [])) is None


def test_a_run_longer_than_the_ttl_is_refused_before_anything_exists(lab, ec2, tmp_path):
    extra = {**KNOBS, **provision_vars(lab_run_id="ttl-short", lab_ec2_ttl_minutes=13),
             "lab_provider": "ec2", "lab_variants": ["malloc", "calloc"], "lab_repeats": 2,
             "lab_ec2_ssh_timeout": 60, "lab_runs_dir": str(tmp_path / "runs"),
             "lab_ec2_region": REGION, "lab_ec2_key_dir": str(lab.key_dir)}
    run = ansible_playbook("run.yml", extra, env=lab.env, timeout=300, label="run.yml (TTL too short)")
    said = flat(run.output)
    assert run.returncode != 0, said[-4000:]
    need = 60 + 300 + 2 * (expected_s("malloc") + expected_s("calloc"))
    assert f"the run needs {need / 60:.1f} minutes on each host" in said, said[-4000:]
    assert "lab_ec2_ttl_minutes is 13" in said
    assert "for 4 run(s) of the experiment" in said
    assert_nothing_created(ec2, lab)


def test_provision_alone_with_a_ttl_shorter_than_the_ssh_wait_is_refused(lab, ec2):
    run = lab.run("playbooks/provision.yml", provision_vars(lab_ec2_ttl_minutes=1))
    said = flat(run.output)
    assert run.returncode != 0
    assert "the run needs 10.0 minutes" in said and "lab_ec2_ttl_minutes is 1" in said, said[-4000:]
    assert_nothing_created(ec2, lab)


def test_a_recording_counts_its_duration_and_the_preparation():
    budget = plan.ttl_budget(13, 60, 5, [], recording_s=600.0)
    assert budget == {"ssh_wait_s": 60, "prepare_s": 300, "experiment_s": 0, "runs": 0, "recording_s": 600.0,
                      "recording_until_exit": False, "total_s": 960.0, "ttl_s": 780}
    message = plan.budget_error(budget)
    assert "needs 16.0 minutes" in message and "lab_ec2_ttl_minutes is 13" in message
    assert "600 s for the recording (lab_command_duration)" in message and "at least 16" in message
    assert plan.budget_error(plan.ttl_budget(16, 60, 5, [], recording_s=600.0)) is None


def test_a_recording_without_a_duration_counts_the_default_hour():
    budget = plan.ttl_budget(60, 600, 5, [], recording_s=3600.0, recording_until_exit=True)
    assert budget["total_s"] == 4500.0
    message = plan.budget_error(budget)
    assert "3600 s for the recording (no lab_command_duration: until the command exits, at most" in message
    assert "Set lab_command_duration, or lab_ec2_ttl_minutes to at least 75" in message


RECORDING = {**provision_vars(lab_ec2_ttl_minutes=13), "lab_provider": "ec2", "lab_ec2_ssh_timeout": 60,
             "lab_ec2_region": REGION, "lab_command": "sleep 1000", "lab_sample_interval": "1"}


# A recording's length counts in the TTL check: its duration, the hour allowed without one, or
# lab_timeout when it bounds that hour. Each case is refused before anything exists, naming the knobs.
@pytest.mark.parametrize("knobs,said", [
    ({"lab_run_id": "ttl-rec", "lab_command_duration": "600s"},
     ["the run needs 16.0 minutes on each host", "600 s for the recording (lab_command_duration)",
      "lab_ec2_ttl_minutes is 13"]),
    ({"lab_run_id": "ttl-rec-unbounded", "lab_ec2_ttl_minutes": 60},
     ["the run needs 66.0 minutes on each host", "3600 s for the recording (no lab_command_duration",
      "Set lab_command_duration, or lab_ec2_ttl_minutes to at least 66"]),
    ({"lab_run_id": "ttl-rec-timeout", "lab_timeout": 600},
     ["the run needs 16.0 minutes on each host", "600 s for the recording (no lab_command_duration"]),
], ids=["duration-too-long", "no-duration-default-hour", "lab-timeout-bounds-the-hour"])
def test_a_recording_that_cannot_fit_the_ttl_is_refused_before_anything_exists(lab, ec2, tmp_path, knobs, said):
    extra = {**RECORDING, **knobs, "lab_runs_dir": str(tmp_path / "runs"), "lab_ec2_key_dir": str(lab.key_dir)}
    run = ansible_playbook("run.yml", extra, env=lab.env, timeout=300, label=f"run.yml (recording, {knobs['lab_run_id']})")
    output = flat(run.output)
    assert run.returncode != 0, output[-4000:]
    for words in said:
        assert words in output, (words, output[-4000:])
    assert_nothing_created(ec2, lab)
