"""`--limit` runs exactly the limited hosts (the controller-side plays still run), and the exit code tells
the truth: any host that did not complete makes the run fail, naming it and why."""
import json

import pytest

from tests.multihost.test_run_multihost import run_lab

pytestmark = [pytest.mark.multihost, pytest.mark.needs_package("gcc", "gcc")]


@pytest.mark.parametrize("limit", ["h2", "h2,localhost"])
def test_limit_to_one_host_of_three_runs_and_records_only_that_host(ssh_hosts, tmp_path, limit):
    run_id = "limit-" + limit.replace(",", "-")
    done = run_lab(ssh_hosts, tmp_path, run_id, extra_args=["--limit", limit])
    assert done.returncode == 0, done.stdout[-4000:]
    record = json.loads((tmp_path / run_id / "run.json").read_text())
    assert record["hosts"] == {"h2": {"status": "ok", "reason": None}}
    assert json.loads((tmp_path / run_id / "h2" / "results.json").read_text())["complete"] is True
    assert sorted(p.name for p in (tmp_path / run_id).iterdir() if p.is_dir()) == ["h2"]


def test_lab_hosts_runs_exactly_that_pattern(ssh_hosts, tmp_path):
    done = run_lab(ssh_hosts, tmp_path, "labhosts", extra={"lab_hosts": "h1:h3"})
    assert done.returncode == 0, done.stdout[-4000:]
    record = json.loads((tmp_path / "labhosts" / "run.json").read_text())
    assert set(record["hosts"]) == {"h1", "h3"}


def test_limit_to_a_host_that_is_down_fails_naming_it(ssh_hosts, tmp_path):
    with ssh_hosts.broken("h3", "unreachable"):
        done = run_lab(ssh_hosts, tmp_path, "limit-down", extra_args=["--limit", "h3"])
    assert done.returncode != 0, done.stdout[-4000:]
    assert "h3 (unreachable" in done.stdout
    record = json.loads((tmp_path / "limit-down" / "run.json").read_text())
    assert list(record["hosts"]) == ["h3"] and record["hosts"]["h3"]["status"] == "unreachable"


def test_a_pattern_that_leaves_no_target_fails(ssh_hosts, tmp_path):
    # Before, a play with no host ended "ok" having run nothing.
    done = run_lab(ssh_hosts, tmp_path, "nohost", extra={"lab_hosts": "h9"})
    assert done.returncode != 0
    assert "no host to run on" in done.stdout, done.stdout[-4000:]
    # A --limit that names no host of the inventory: Ansible itself refuses.
    done = run_lab(ssh_hosts, tmp_path, "limit-none", extra_args=["--limit", "h9"])
    assert done.returncode != 0
