"""Shared pytest setup: the SSH namespace hosts harness is a plugin (tests/conftest_hosts.py), the
``needs_package`` marker: a test that needs a system package skips, naming it, only when not root, and
the order and grouping of a parallel run (``make test``: pytest-xdist, ``--dist loadgroup``)."""
from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = ["tests.conftest_hosts"]

PACKAGES_LIST = "tests/system-packages.txt"


class XdistGroupIds:
    """Puts a grouped test's group in its id (``<nodeid>@<group>``), which is how ``--dist loadgroup``
    sends a group to one worker. pytest-xdist 3.8 does it by setting ``item._nodeid``, which pytest 9
    no longer reads (the id is ``item._id``): without this, the groups are silently ignored and each
    worker makes the module's shared fixture again."""

    @pytest.hookimpl(trylast=True)  # after xdist's own attempt, so a working xdist is left alone
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not getattr(config.option, "loadgroup", False):
            return
        for item in items:
            names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                            for mark in item.iter_markers("xdist_group")})
            suffix = "@" + "_".join(names)
            if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                item._id = type(item._id).parse(item.nodeid + suffix)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(XdistGroupIds(), "malloc-lab-xdist-group-ids")
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


# Fixture scopes wider than a test: the tests that share one must share a worker, or each worker
# would make it again (a module fixture that runs run.yml twice, one that installs a virtualenv).
_SHARED_SCOPES = ("class", "module", "package")


def shared_fixture_group(item: pytest.Item) -> str | None:
    """The xdist group of a test that uses a class-, module- or package-scoped fixture: its module's
    (its package's for a package fixture), so all such tests of a module run on one worker, in order."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    module = item.nodeid.split("::", 1)[0]
    group = None
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope == "package":
                return module.rsplit("/", 1)[0] + "/"
            if fixturedef.scope in _SHARED_SCOPES:
                group = module
    return group


# Fixtures that make a test slow whatever it does with them: real SSH hosts and the moto server. A
# test that uses one (or is marked multihost) is marked slow here, so no author has to remember it.
SLOW_FIXTURES = frozenset({"ssh_hosts", "moto"})


def is_slow(item: pytest.Item) -> bool:
    return (item.get_closest_marker("slow") is not None or item.get_closest_marker("multihost") is not None
            or not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks, and before -m deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is None and is_slow(item):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("xdist_group") is None:
            group = shared_fixture_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(name=group))
    # In a parallel run, the slow tests start first: the scheduler hands out tests in this order, so
    # the short ones fill the gaps at the end instead of one long test running alone. (Every worker
    # sorts the same way; a serial run keeps the files' order.)
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_package"):
        outcome = missing_package_outcome(*mark.args, is_root=os.geteuid() == 0)
        if outcome is None:
            continue
        kind, message = outcome
        if kind == "fail":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
