"""pytest plugin: a real EC2 API (moto server on loopback) for the EC2 provisioning tests.

One ``moto_server -H 127.0.0.1 -p <free port>`` per session (per worker under ``pytest -n``: each
worker's tests reset their own server, never another's), seeded with ``amis.json`` (made-up
ids; names, owner and dates in the shape of Red Hat's published RHEL 9 images: x86_64 images of
three dates, two arm64 ones, and decoys: another owner with newer dates, RHEL 10, a Cloud Access
image), validation on, reset before every test, stopped by its PID at the end.

Traffic stays on this machine: every process a test starts gets AWS_ENDPOINT_URL pointing at moto,
dummy credentials, IMDS disabled, no AWS config files, and dead proxies (127.0.0.1:9) with
NO_PROXY=127.0.0.1,localhost, so a call that misses moto fails at once instead of leaving.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ansible.module_utils
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
RH_OWNER = "309956199498"
DEAD_PROXY = "http://127.0.0.1:9"
COLLECTION = ROOT / "collections" / "ansible_collections" / "amazon" / "aws" / "MANIFEST.json"

# Durations of the playbook runs, printed in the terminal summary.
DURATIONS: dict[str, list[float]] = {}


def library_module(role: str, name: str):
    """A module of roles/<role>/library imported as plain Python, for tests of its functions without Ansible.
    Its ansible.module_utils.lab_ec2 is the project's module_utils/lab_ec2.py, found as Ansible finds it
    (ansible.cfg's module_utils path)."""
    shared = str(ROOT / "module_utils")
    if shared not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(shared)
    spec = importlib.util.spec_from_file_location(name, ROOT / "roles" / role / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:``port`` (or any address), from /proc/net/tcp."""
    inodes = set()
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port and address in ("0100007F", "00000000"):
                inodes.add(fields[9])
    return inodes


def _owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds the socket listening on ``port``: between choosing a free
    port and moto binding it, another process (another worker's moto) may have taken it."""
    inodes = _listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[len("socket:["):-1] in inodes:
            return True
    return False


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """End a process we started in its own session: its group, by its PID."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def base_env(endpoint: str, tmp: Path) -> dict[str, str]:
    """Environment for anything that talks to moto: loopback only, dummy credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "EC2_", "BOTO_")) and k.lower() not in
           ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Never ask the instance metadata service (169.254.169.254) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "HTTPS_PROXY": DEAD_PROXY, "HTTP_PROXY": DEAD_PROXY,
        "https_proxy": DEAD_PROXY, "http_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    })
    return env


@dataclass
class Moto:
    endpoint: str
    env: dict[str, str]

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with _no_proxy_opener().open(req, timeout=10) as resp:
            assert resp.status == 200

    def client(self, service: str = "ec2", region: str = REGION):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(proxies={}, retries={"max_attempts": 1}),
        )


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    if not COLLECTION.exists():
        pytest.skip("amazon.aws is not installed: run scripts/install-collections.sh (make collections)")
    server = BIN / "moto_server"
    if not server.exists():
        pytest.skip(f"{server} is missing: pip install moto flask flask-cors")
    tmp = tmp_path_factory.mktemp("moto")
    log_path = tmp / "moto.log"
    for _attempt in range(5):
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = base_env(endpoint, tmp)
        server_env = dict(env, MOTO_AMIS_PATH=str(HERE / "amis.json"),
                          MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION="1",
                          MOTO_ENABLE_AMI_VALIDATION="1",
                          MOTO_ENABLE_KEYPAIR_VALIDATION="1")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], env=server_env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if _wait_listening(proc, port, log_path):
            break
        if "Address already in use" not in log_path.read_text():
            pytest.fail(f"moto_server exited with {proc.returncode}: {log_path.read_text()}")
    else:
        pytest.fail(f"moto_server found no free port in 5 tries: {log_path.read_text()}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}: {log_path.read_text()}")
            try:
                with _no_proxy_opener().open(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not answer within 30 s")
                time.sleep(0.2)
        yield Moto(endpoint, env)
    finally:
        _stop(proc)


def _wait_listening(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 60) -> bool:
    """True once ``proc`` itself listens on ``port``; False when it exited (the port was taken)."""
    deadline = time.monotonic() + timeout
    while not _owns_listener(proc.pid, port):
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(f"moto_server did not listen on port {port} within {timeout:.0f} s: {log_path.read_text()}")
        time.sleep(0.1)
    return True


@pytest.fixture
def aws(moto: Moto) -> Moto:
    """moto, emptied: every test starts from a fresh account (seeded images only)."""
    moto.reset()
    return moto


@pytest.fixture
def ec2(aws: Moto):
    return aws.client("ec2")


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float


def ansible_playbook(playbook: str, extra: dict | None = None, *, env: dict[str, str],
                     args: list[str] | None = None, timeout: float = 300, label: str | None = None) -> Run:
    """ansible-playbook from the repo root in its own process group; the group is killed on timeout."""
    cmd = [str(BIN / "ansible-playbook"), playbook]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    cmd += args or []
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"{playbook} timed out after {timeout} s:\n{out[-4000:]}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - start
    if label:
        DURATIONS.setdefault(label, []).append(seconds)
    return Run(proc.returncode, out, seconds)


def assert_loopback_only(extra: dict) -> None:
    """Provisioning in tests must never aim SSH at moto's made-up public addresses."""
    address = extra.get("lab_ec2_address")
    assert isinstance(address, dict) and all(a.startswith("127.") for a in address.values()), (
        "tests must map every instance type to a loopback address (lab_ec2_address)")


@pytest.fixture
def lab(aws: Moto, tmp_path: Path):
    """Runs the lab's playbooks against moto; keys go to a per-test directory."""

    class Lab:
        key_dir = tmp_path / "keys"
        env = aws.env

        def run(self, playbook: str, extra: dict | None = None, *, local_hosts: bool = True, **kwargs) -> Run:
            """local_hosts: reach the provisioned "hosts" with the local connection (no SSH at all)."""
            merged = {"lab_ec2_region": REGION, "lab_ec2_key_dir": str(self.key_dir)}
            merged.update(extra or {})
            if playbook.endswith("provision.yml"):
                assert_loopback_only(merged)
                if local_hosts:
                    merged["ansible_connection"] = "local"
            return ansible_playbook(playbook, merged, env=kwargs.pop("env", self.env), **kwargs)

    return Lab()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not DURATIONS:
        return
    terminalreporter.section("EC2 playbook durations against moto")
    for label, runs in sorted(DURATIONS.items()):
        terminalreporter.write_line(
            f"{label}: {len(runs)} run(s), mean {sum(runs) / len(runs):.1f} s, max {max(runs):.1f} s")


def have_ssh_keygen() -> bool:
    return shutil.which("ssh-keygen") is not None
