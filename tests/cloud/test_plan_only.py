"""-e lab_ec2_plan_only=true: the plan and a cost ceiling, nothing created; prices from the Price List API."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import library_module
from .test_ec2_playbooks import assert_nothing_created, flat, provision_vars

prices = library_module("ec2_provision", "lab_ec2_prices")

# GetProducts responses in the API's shape (see the NOTE in the file: written, not recorded).
FIXTURE = json.loads((Path(__file__).parent / "pricing-get-products.json").read_text())["responses"]


@pytest.mark.parametrize(("instance_type", "usd"), [("m7g.large", 0.1234), ("t3.medium", 0.0987)])
def test_one_clear_on_demand_price(instance_type, usd):
    # The reserved term's hourly rate is in the response too; only the on-demand one counts.
    assert prices.hourly_usd(FIXTURE[instance_type]["PriceList"]) == (usd, "")


@pytest.mark.parametrize(("instance_type", "why"), [("c7i.large", "several hourly prices (0.11, 0.15)"),
                                                    ("x9.huge", "no on-demand hourly RHEL price")])
def test_no_clear_price_is_unknown_never_guessed(instance_type, why):
    usd, reason = prices.hourly_usd(FIXTURE[instance_type]["PriceList"])
    assert usd is None and why in reason


def test_ceiling_is_price_times_hours_and_unknown_spreads_to_the_total():
    per, total = prices.ceiling({"m7g.large": 0.1234, "t3.medium": 0.0987}, 1.5)
    assert per == {"m7g.large": 0.1851, "t3.medium": 0.148} and total == 0.3331
    per, total = prices.ceiling({"m7g.large": 0.1234, "c7i.large": None}, 1.5)
    assert per["c7i.large"] is None and total is None


def test_filters_ask_for_on_demand_pay_as_you_go_rhel_in_the_region():
    filters = {f["Field"]: f["Value"] for f in prices.product_filters("m7g.large", "eu-west-1")}
    assert filters["instanceType"] == "m7g.large" and filters["regionCode"] == "eu-west-1"
    assert filters["operatingSystem"] == "RHEL" and filters["tenancy"] == "Shared"
    assert filters["marketoption"] == "OnDemand"


def test_plan_only_creates_nothing_and_prints_the_plan(lab, ec2):
    run = lab.run("playbooks/provision.yml", provision_vars(lab_ec2_plan_only=True, lab_ec2_ttl_minutes=60),
                  label="provision.yml (plan only)")
    said = flat(run.output)
    assert run.returncode == 0, said[-4000:]
    assert_nothing_created(ec2, lab)
    for host, arch, image in (("t3-medium", "x86_64", "ami-0a1b2c3d4e5f60002"),
                              ("m7g-large", "arm64", "ami-0a1b2c3d4e5f60011")):
        assert f"{host}: {host.replace('-', '.', 1)}, {arch}, AMI RHEL-9" in said, said[-4000:]
        assert f"({image})" in said
    assert "TTL 60 min" in said
    # The test EC2 API has no Price List: the plan says so instead of guessing.
    assert "price unknown (the Price List API did not answer:" in said, said[-4000:]
    assert "Cost ceiling of the run: price unknown for 2 host(s) of at most 1.17 h each" in said


def test_an_api_error_is_one_short_line():
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "500", "Message": "<!doctype html>\n<html>"}}, "GetProducts")
    assert prices.brief(error) == "500"
    assert prices.brief(OSError("Could not connect to the endpoint URL")) == "Could not connect to the endpoint URL"


def test_plan_only_through_run_yml_stops_after_the_plan(lab, ec2, tmp_path):
    # The whole lab (run.yml), not only provision.yml: the plan and its ceiling, then a clean stop with
    # no experiment, no report, no teardown, and no run directory on the controller.
    runs = tmp_path / "runs"
    extra = provision_vars(lab_provider="ec2", lab_ec2_plan_only=True, lab_ec2_ttl_minutes=60,
                           lab_run_id="plan-only-run", lab_runs_dir=str(runs))
    run = lab.run("run.yml", extra, label="run.yml (plan only)")
    said = flat(run.output)
    assert run.returncode == 0, said[-4000:]
    assert "t3-medium: t3.medium, x86_64, AMI RHEL-9" in said and "m7g-large: m7g.large, arm64, AMI RHEL-9" in said
    assert "Plan only, nothing was created. Cost ceiling of the run: price unknown for 2 host(s)" in said
    assert_nothing_created(ec2, lab)
    assert not (runs / "plan-only-run").exists()
    assert not runs.exists() or list(runs.iterdir()) == []
    # The plays after the plan did nothing: no host ran, nothing was torn down or reported.
    for task in ("Start the experiment", "Unpack every host's results", "Render the writeups", "ec2_teardown :"):
        assert f"TASK [{task}" not in run.output, task
    assert re.search(r"TASK \[Tear down\] \**\s+skipping: \[localhost\]", run.output), run.output[-3000:]
    assert "failed=0" in run.output and "failed=1" not in run.output
