"""pytest plugin: three real SSH hosts in network namespaces (fixture ``ssh_hosts``, marker ``multihost``).

Load it with ``pytest_plugins = ["tests.conftest_hosts"]`` in tests/conftest.py, or ``-p tests.conftest_hosts``.
Needs root, iproute2 and openssh-server: not root, the fixture skips with the reason; as root a missing
package fails (``make test`` installs tests/system-packages.txt as root, so nothing may skip there).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.hosts.netns import DEFAULT_GROUP, Host, HostsError, NetnsHosts, missing_requirements, up_first_free
from tests.hosts.procs import ProcessGroups, ansible_bin

REPO = Path(__file__).resolve().parents[1]
HOST_COUNT = 3


def host_slots() -> list[tuple[str, str]]:
    """(prefix, subnet) slots for the session's hosts, tried in order until one is free.

    MALLOC_LAB_TEST_HOSTS_PREFIX/_SUBNET pin one slot. Otherwise: not the CLI's default
    (ml, 10.231.77.0/24), then spares, so concurrent test runs and benchmarks coexist. A parallel
    run (pytest -n) takes one slot per worker that runs a multihost test: 30 slots leave room for
    several such runs at once. The spares skip 10.231.120-149, test_harness's own slots.
    """
    prefix = os.environ.get("MALLOC_LAB_TEST_HOSTS_PREFIX")
    subnet = os.environ.get("MALLOC_LAB_TEST_HOSTS_SUBNET")
    if prefix or subnet:
        return [(prefix or "mlt", subnet or "10.231.78.0/24")]
    return ([("mlt", "10.231.78.0/24")] + [(f"mlt{k}", f"10.231.{100 + k}.0/24") for k in range(1, 10)]
            + [(f"mlt{k}", f"10.231.{150 + k}.0/24") for k in range(10, 30)])

# Ad-hoc ansible's minimal callback prints `host | STATUS => <result>`; make <result> JSON (ansible.cfg
# says yaml). ansible-core 2.19 has no json stdout callback, and --tree is deprecated.
ADHOC_ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_NOCOLOR": "1"}
_ADHOC_LINE = re.compile(r"^(?P<host>\S+) \| (?P<status>SUCCESS|CHANGED|FAILED!|UNREACHABLE!) => ", re.M)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "multihost: needs root; runs ansible against SSH test hosts in network namespaces"
    )


@dataclass
class AdhocResult:
    """One ad-hoc ansible run: the process and each host's result from the json callback."""

    proc: subprocess.CompletedProcess[str]
    status: dict[str, str]  # host -> SUCCESS, CHANGED, FAILED or UNREACHABLE
    results: dict[str, dict[str, object]]

    @classmethod
    def parse(cls, proc: subprocess.CompletedProcess[str]) -> AdhocResult:
        status, results = {}, {}
        decoder = json.JSONDecoder()
        for match in _ADHOC_LINE.finditer(proc.stdout):
            host = match["host"]
            status[host] = match["status"].rstrip("!")
            results[host], _ = decoder.raw_decode(proc.stdout, match.end())
        if not status:
            raise AssertionError(f"ansible printed no host results (rc {proc.returncode}): {proc.stderr[-2000:]}")
        return cls(proc, status, results)

    def unreachable(self) -> set[str]:
        return {name for name, st in self.status.items() if st == "UNREACHABLE"}

    def failed(self) -> set[str]:
        return {name for name, st in self.status.items() if st == "FAILED"}

    def ok(self) -> set[str]:
        return {name for name, st in self.status.items() if st in ("SUCCESS", "CHANGED")}

    def facts(self, name: str) -> dict[str, object]:
        return self.results[name]["ansible_facts"]  # type: ignore[return-value]


@dataclass
class SshHosts:
    """What ``ssh_hosts`` yields: the hosts, inventories for them, failure injection, ansible runs."""

    lab: NetnsHosts
    procs: ProcessGroups = field(default_factory=ProcessGroups)

    @property
    def hosts(self) -> list[Host]:
        return self.lab.hosts

    def host(self, name: str) -> Host:
        return self.lab.host(name)

    def inventory(
        self, path: str | os.PathLike[str] | None = None, connection: str = "ssh", group: str = DEFAULT_GROUP
    ) -> Path:
        """Write an inventory (connection ``ssh`` or ``paramiko``); default path in the state dir."""
        return self.lab.write_inventory(path, connection=connection, group=group)

    def break_host(self, name: str, mode: str = "unreachable") -> None:
        """``unreachable``: sshd stopped (Ansible: UNREACHABLE); ``no_python``: python3 hidden (FAILED)."""
        self.lab.break_host(name, mode)

    def restore_host(self, name: str) -> None:
        self.lab.restore_host(name)

    @contextlib.contextmanager
    def rekeyed(self, name: str) -> Iterator[Host]:
        """A host with a new host key that known_hosts does not know, for a ``with`` block; then the
        new key is trusted (known_hosts rewritten) so the session's other tests go on."""
        try:
            self.lab.rekey_host(name)
            yield self.host(name)
        finally:
            self.lab.write_known_hosts()

    @contextlib.contextmanager
    def broken(self, name: str, mode: str = "unreachable") -> Iterator[Host]:
        """A host broken for the duration of a ``with`` block (the hosts are shared by the session)."""
        self.break_host(name, mode)
        try:
            yield self.host(name)
        finally:
            self.restore_host(name)

    def run_ansible(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str] | None = REPO,
        env: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        connection: str = "ssh",
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in its own process group, recorded here so teardown can stop it.

        ``connection`` is the inventory's: paramiko runs get the HOME whose known_hosts has the host keys.
        """
        extra = self.lab.ansible_env(connection)
        if extra:
            env = {**(os.environ if env is None else env), **extra}
        return self.procs.run(args, cwd=cwd, env=env, timeout=timeout)

    def adhoc(
        self,
        pattern: str,
        module: str,
        module_args: str | None = None,
        connection: str = "ssh",
        timeout: float = 120.0,
    ) -> AdhocResult:
        """``ansible <pattern> -m <module> [-a <args>]`` against these hosts, results parsed.

        Not for command/shell/raw: ansible prints their results as text, not JSON.
        """
        args = [str(ansible_bin("ansible")), "-i", str(self.inventory(connection=connection)), pattern, "-m", module]
        if module_args is not None:
            args += ["-a", module_args]
        return AdhocResult.parse(
            self.run_ansible(args, env={**os.environ, **ADHOC_ENV}, timeout=timeout, connection=connection)
        )


@pytest.fixture(scope="session")
def ssh_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHosts]:
    """Three SSH hosts h1..h3 for the whole session; torn down (ansible first) in ``finally``."""
    reason = missing_requirements()
    if reason and os.geteuid() == 0:
        pytest.fail(f"{reason} (scripts/install-test-deps.sh installs tests/system-packages.txt)", pytrace=False)
    if reason:
        pytest.skip(reason)
    if not ansible_bin("ansible").exists():
        pytest.skip(f"no ansible next to {ansible_bin('python')}: run pytest with the project's venv")
    try:
        lab = up_first_free(host_slots(), count=HOST_COUNT, state_dir=tmp_path_factory.mktemp("ssh-hosts"))
    except HostsError as exc:  # up_first_free has already removed whatever it made
        pytest.fail(f"SSH test hosts: {exc}", pytrace=False)
    hosts = SshHosts(lab)
    try:
        yield hosts
    finally:
        try:
            hosts.procs.stop_all()
        finally:
            lab.down()
