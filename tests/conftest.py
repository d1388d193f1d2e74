"""Shared pytest setup: the SSH namespace hosts harness is a plugin (tests/conftest_hosts.py), and the
``needs_package`` marker: a test that needs a system package skips, naming it, only when not root."""
from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = ["tests.conftest_hosts"]

PACKAGES_LIST = "tests/system-packages.txt"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_package(tool, package): needs the command `tool` from the Debian package `package` "
        f"(listed in {PACKAGES_LIST}); skips when not root, fails when root (make test installs it then)",
    )


def missing_package_outcome(tool: str, package: str, is_root: bool) -> tuple[str, str] | None:
    """("skip"|"fail", message) when ``tool`` is not on PATH, else None.

    As root `make test` installs every package of the list, so a missing one there is a failure.
    """
    if shutil.which(tool) is not None:
        return None
    message = f"{tool} is missing: install the Debian package {package} (scripts/install-test-deps.sh as root)"
    return ("fail" if is_root else "skip"), message


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_package"):
        outcome = missing_package_outcome(*mark.args, is_root=os.geteuid() == 0)
        if outcome is None:
            continue
        kind, message = outcome
        if kind == "fail":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
