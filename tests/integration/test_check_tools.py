"""`labagent check-tools` and the lab_prepare role that asks it: what a host lacks, from the agent's own
declaration of its tools (labagent/captures.py), with PATH narrowed to real tools on this machine."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.ansible.playbook import ansible_playbook, task_results
from tests.procwatch import wait_until

ROOT = Path(__file__).resolve().parents[2]
# What the agent runs, plus what gcc itself looks for on PATH.
EVERYTHING = ["gcc", "cc", "as", "ld", "sar", "ps", "free", "uname", "cat", "tar"]

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in EVERYTHING),
                                reason="this machine lacks one of " + ", ".join(EVERYTHING))


def _bin_with(tmp_path, tools):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def _check_tools(path, *args):
    done = subprocess.run([sys.executable, "-m", "labagent", "check-tools", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PATH=path))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_complete_host_lacks_nothing(tmp_path):
    assert _check_tools(_bin_with(tmp_path, EVERYTHING), "--os-family", "Debian") == \
        {"os_family": "Debian", "missing": [], "packages": [], "started": None}


def test_a_host_that_lacks_nothing_starts_the_job_it_is_given_in_the_same_command(tmp_path):
    path = _bin_with(tmp_path, EVERYTHING)
    job_file, out = tmp_path / "r.job", tmp_path / "r"
    report = _check_tools(path, "--", "background", "--job-file", str(job_file), "--timeout", "60", "--",
                          "run", "--check", "--out", str(out))
    assert report["packages"] == [] and report["started"] == {"started": 1, "finished": 0,
                                                              "results_file": str(job_file)}
    wait_until(lambda: json.loads(job_file.read_text())["finished"], timeout=60, what=f"{job_file} finished")
    job = json.loads(job_file.read_text())
    assert job["rc"] == 0, job


def test_a_host_that_lacks_a_package_starts_nothing_so_it_can_be_installed_first(tmp_path):
    path = _bin_with(tmp_path, [t for t in EVERYTHING if t != "sar"])
    job_file = tmp_path / "r.job"
    report = _check_tools(path, "--os-family", "Debian", "--", "background", "--job-file", str(job_file),
                          "--timeout", "60", "--", "run", "--check", "--out", str(tmp_path / "r"))
    assert report["packages"] == ["sysstat"] and report["started"] is None
    assert not job_file.exists()


def test_check_tools_starts_nothing_but_a_background_job(tmp_path):
    done = subprocess.run([sys.executable, "-m", "labagent", "check-tools", "--", "run", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "labagent: check-tools starts only a `background` command after --, not run"


def test_a_host_without_sar_and_tar_is_told_its_packages(tmp_path):
    path = _bin_with(tmp_path, [t for t in EVERYTHING if t not in ("sar", "tar")])
    report = _check_tools(path, "--os-family", "RedHat")
    assert [m["program"] for m in report["missing"]] == ["sar", "tar"]
    assert report["packages"] == ["sysstat", "tar"]


def test_os_family_defaults_to_this_hosts(tmp_path):
    report = _check_tools(_bin_with(tmp_path, EVERYTHING))
    assert report["os_family"] in ("Debian", "RedHat", "default")


PLAY = """---
- name: Prepare this machine with a narrowed PATH
  hosts: localhost
  gather_facts: false
  environment:
    PATH: "{bin}"
  tasks:
    - name: Prepare
      ansible.builtin.include_role:
        name: lab_prepare
      vars:
        lab_prepare_install_packages: false
        lab_prepare_agent: "{pyz}"
        lab_prepare_remote_dir: "{remote}"
        lab_prepare_python: "{{{{ ansible_playbook_python }}}}"
        lab_prepare_start: {start}
"""


def _prepare(tmp_path, pyz, tools, start=()):
    playbook = tmp_path / "prepare.yml"
    playbook.write_text(PLAY.format(bin=_bin_with(tmp_path, tools), pyz=pyz, remote=tmp_path / "remote",
                                    start=json.dumps(list(start))))
    return ansible_playbook([], playbook=str(playbook), timeout=300,
                            env={"ANSIBLE_ROLES_PATH": str(ROOT / "roles")})


@pytest.mark.slow
def test_lab_prepare_asks_the_agent_and_installs_nothing_when_nothing_lacks(tmp_path, pyz):
    done = _prepare(tmp_path, pyz, EVERYTHING)
    assert done.returncode == 0, done.stdout[-3000:]
    assert task_results(done.stdout, "Put the agent on the host and ask it what the host lacks") == {"localhost": "changed"}
    assert task_results(done.stdout, "Install the missing tools") == {"localhost": "skipping"}
    assert (tmp_path / "remote" / "labagent.pyz").read_bytes() == pyz.read_bytes()
    assert (tmp_path / "remote").stat().st_mode & 0o777 == 0o700
    # No partial file left; the agent unpacked its package once, beside itself, to import it with bytecode.
    left = sorted(p.name for p in (tmp_path / "remote").iterdir())
    assert left[1:] == ["labagent.pyz"] and left[0].startswith(".labagent-"), left
    unpacked = tmp_path / "remote" / left[0]
    with zipfile.ZipFile(pyz) as archive:
        package = [n for n in archive.namelist() if n.startswith("labagent/")]
        assert all((unpacked / n).read_bytes() == archive.read(n) for n in package)
    assert sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts) == sorted(package)


@pytest.mark.slow
def test_lab_prepare_names_the_packages_of_a_missing_tool(tmp_path, pyz):
    done = _prepare(tmp_path, pyz, [t for t in EVERYTHING if t != "sar"])
    assert done.returncode != 0
    assert task_results(done.stdout, "Stop when the host cannot be reached, the agent cannot run here, or tools are missing and installing is off") == {"localhost": "fatal"}
    assert "missing sar: install sysstat or set lab_install_packages=true" in done.stdout


@pytest.mark.slow
def test_lab_prepare_stops_with_the_agents_own_line_when_the_job_it_starts_is_refused(tmp_path, pyz):
    # A job file that cannot be written (below /proc): the agent refuses with exit status 2 and its line.
    start = ["background", "--job-file", "/proc/self/nonexistent/r.job", "--timeout", "60", "--",
             "run", "--check", "--out", str(tmp_path / "r")]
    done = _prepare(tmp_path, pyz, EVERYTHING, start)
    assert done.returncode != 0
    stop = "Stop when the host cannot be reached, the agent cannot run here, or tools are missing and installing is off"
    assert task_results(done.stdout, stop) == {"localhost": "fatal"}
    assert "cannot write the job file /proc/self/nonexistent/r.job" in done.stdout
    assert "Python 3.9" not in done.stdout
