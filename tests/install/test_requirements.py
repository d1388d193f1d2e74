"""What a run needs and what the tests need are split, pinned once, and agree with pyproject.toml;
the paramiko tests know when ansible-core no longer has paramiko."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.connections import paramiko_skip_reason

ROOT = Path(__file__).resolve().parents[2]
# Packages a run never imports: tests, linters, the fake EC2 API, the deprecated SSH library.
DEV_ONLY = {"pytest", "moto", "flask", "flask-cors", "ansible-lint", "yamllint", "vermin", "paramiko"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict:
    """name -> version of a requirements file's `name==version` lines (`-r` lines are not followed)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        out[_norm(match.group(1))] = match.group(2)
    return out


def test_a_run_installs_no_test_packages():
    run = pins(ROOT / "requirements.txt")
    assert {"ansible-core", "jinja2", "matplotlib", "boto3"} <= set(run)
    assert not set(run) & DEV_ONLY


def test_dev_requirements_build_on_the_run_and_add_the_tests():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.txt$", text, re.M)
    assert DEV_ONLY <= set(pins(ROOT / "requirements-dev.txt"))


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_pin_agrees_with_constraints(name):
    constraints = pins(ROOT / "constraints.txt")
    for package, version in pins(ROOT / name).items():
        assert constraints.get(package) == version, f"{name}: {package}=={version}, constraints.txt: {constraints.get(package)}"


def test_pyproject_declares_the_run_dependencies_and_the_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.split(r"[<>=!~\[; ]", d, 1)[0]) for d in project["dependencies"]}
    assert declared == set(pins(ROOT / "requirements.txt"))
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"] == {"labagent": "labagent.cli:main"}
    extras = project["optional-dependencies"]
    # the extra for tests names what requirements-dev.txt pins
    assert {_norm(re.split(r"[<>=!~\[; ]", d, 1)[0]) for d in extras["test"]} == set(pins(ROOT / "requirements-dev.txt"))
    assert [_norm(re.split(r"[<>=!~\[; ]", d, 1)[0]) for d in extras["paramiko"]] == ["paramiko"]


def test_ansible_core_pins_within_the_declared_range():
    core = pins(ROOT / "requirements.txt")["ansible-core"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if d.startswith("ansible-core"))
    low, high = re.findall(r"(?:>=|<)([0-9.]+)", spec)
    as_tuple = lambda v: tuple(int(x) for x in v.split(".")[:2])  # noqa: E731
    assert as_tuple(low) <= as_tuple(core) < as_tuple(high)


@pytest.mark.parametrize(("core", "installed", "skips"), [
    ("2.19.14", True, False), ("2.20.3", True, False), ("2.21.0", True, True), ("2.21.0rc1", True, True),
    ("3.0.0", True, True), ("2.19.14", False, True)])
def test_paramiko_tests_skip_without_paramiko_or_from_ansible_core_2_21(core, installed, skips):
    reason = paramiko_skip_reason(core, installed)
    assert (reason is not None) == skips
    if skips and installed:
        assert "removed in 2.21" in reason and core in reason
