"""Real SSH test hosts on this machine: one network namespace + sshd per host (root only).

Follows /work/shared/TEST-HOSTS.md: a guard route first and removed last, every sshd PID recorded and
only those processes (and what runs inside our own namespaces) ended, idempotent teardown.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PREFIX = "ml"
DEFAULT_SUBNET = "10.231.77.0/24"
DEFAULT_GROUP = "lab"
SSHD = "/usr/sbin/sshd"
# The hosts hide /root (and pyenv with it): they run Debian's own python3.
HOST_PYTHON = "/usr/bin/python3"
INSTALL_HINT = "install openssh-server iproute2 (apt-get install openssh-server iproute2)"
TOOLS = ("ip", "unshare", "nsenter", "ssh", "ssh-keygen")
MAX_HOSTS = 200
GUARD_METRIC = 4000
# sshd's own files inside a host: in its private /run, so they are visible after the binds.
HOST_SSHD_DIR = "/run/ml-sshd"
STATE_FILE = "state.json"
BREAK_MODES = ("unreachable", "no_python")
_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{0,5}")
_GROUP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HostsError(Exception):
    """A one-line, user-facing reason why the test hosts cannot be brought up or down."""


class HostsInUse(HostsError):
    """The prefix or subnet is already used here (another run, a real network): nothing was touched."""


def missing_requirements(sshd: str = SSHD) -> str | None:
    """Why SSH test hosts cannot run here (one line), or None when they can."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not os.access(sshd, os.X_OK):
        missing.append(sshd)
    if os.geteuid() != 0 and missing:
        return f"SSH test hosts need root and {', '.join(missing)}: run as root and {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "SSH test hosts need root (network namespaces, bind mounts): run as root"
    if missing:
        return f"SSH test hosts need {', '.join(missing)}: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class Host:
    """One test host: its name (also its hostname), address and the root-side names we made."""

    name: str  # h1; also `hostname` inside the host and the inventory name
    address: str  # 10.231.77.11
    netns: str  # ml-h1
    veth: str  # mlv1, the root-namespace end of its veth pair (the host sees eth0)
    dir: Path  # <state>/h1: its /run, /tmp, /var/tmp, /opt, /root live here


def wait_ssh(host: Host | str, timeout: float = 10.0, port: int = 22) -> bool:
    """Poll until sshd at ``host`` (a Host or an IP literal) sends its banner; False on timeout.

    Connects only to that address: no name lookup, no other traffic.
    """
    address = host.address if isinstance(host, Host) else str(ipaddress.ip_address(host))
    deadline = time.monotonic() + timeout
    while True:
        if _ssh_banner(address, port, timeout=0.5):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _ssh_banner(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def up_first_free(
    slots: Iterable[tuple[str, str]],
    count: int = 3,
    state_dir: str | os.PathLike[str] | None = None,
    sshd: str = SSHD,
    timeout: float = 15.0,
) -> NetnsHosts:
    """Bring hosts up on the first (prefix, subnet) slot that nothing here uses.

    Concurrent runs (other engineers, a benchmark) each take a different slot; a clash is detected
    before anything is made or by ``ip`` itself, and never touches the other run.
    """
    tried = []
    for prefix, subnet in slots:
        try:
            return NetnsHosts(count, state_dir, prefix=prefix, subnet=subnet, sshd=sshd).up(timeout)
        except HostsInUse:
            tried.append(f"{prefix} {subnet}")
    raise HostsInUse(f"every slot is in use here: {', '.join(tried) or 'none given'}")


class NetnsHosts:
    """``count`` SSH hosts h1..hN, each in its own network, mount and UTS namespace.

    Root namespace: a guard route (unreachable <subnet> metric 4000), a bridge ``<prefix>br0`` with
    <subnet>.1, a veth ``<prefix>v<i>`` per host. Host i: netns ``<prefix>-h<i>``, eth0 with
    <subnet>.(10+i), a default route to the unused <subnet>.254, and an sshd (key-only root login)
    whose private /run, /tmp, /var/tmp, /opt, /root, /etc/hosts and /etc/resolv.conf are bind mounts
    of directories under ``<state_dir>/h<i>``. Everything made is recorded in
    ``<state_dir>/state.json`` as it is made, so ``down`` (also from another process, see
    ``from_state``) removes exactly that and is safe to repeat.
    """

    def __init__(
        self,
        count: int = 3,
        state_dir: str | os.PathLike[str] | None = None,
        prefix: str = DEFAULT_PREFIX,
        subnet: str = DEFAULT_SUBNET,
        sshd: str = SSHD,
    ) -> None:
        if not _PREFIX_RE.fullmatch(prefix):
            raise HostsError(f"prefix {prefix!r} must be 1-6 lowercase letters/digits starting with a letter")
        try:
            network = ipaddress.IPv4Network(subnet)
        except ValueError as exc:
            raise HostsError(f"subnet {subnet!r} is not an IPv4 network like 10.231.77.0/24 ({exc})") from None
        if network.prefixlen > 24 or not network.is_private:
            raise HostsError(f"subnet {subnet} must be a private IPv4 network of /24 or larger")
        if not 1 <= count <= MAX_HOSTS:
            raise HostsError(f"count {count} must be between 1 and {MAX_HOSTS}")
        self.count = count
        self.prefix = prefix
        self.network = network
        self.sshd = sshd
        self._own_state_dir = state_dir is None
        self.state_dir = Path(
            tempfile.mkdtemp(prefix=f"malloc-lab-hosts-{prefix}-", dir="/var/tmp") if state_dir is None else state_dir
        ).resolve()
        self.bridge = f"{prefix}br0"
        self.bridge_address = str(network.network_address + 1)
        # Inside the hosts the default route points here; nothing answers, so nothing is forwarded.
        self.gateway = str(network.network_address + 254)
        self.hosts = [
            Host(
                name=f"h{i}",
                address=str(network.network_address + 10 + i),
                netns=f"{prefix}-h{i}",
                veth=f"{prefix}v{i}",
                dir=self.state_dir / f"h{i}",
            )
            for i in range(1, count + 1)
        ]
        self.client_key = self.state_dir / "client_ed25519"
        self.known_hosts = self.state_dir / "known_hosts"
        # ansible-core's paramiko plugin reads only ~/.ssh/known_hosts (and /etc/ssh/ssh_known_hosts): run
        # ansible with HOME set to this directory (``ansible_env``) and it checks against the same keys.
        self.paramiko_home = self.state_dir / "home"
        self.control_dir = self.state_dir / "cp"
        # What exists now, in the order it was made; saved after every step.
        self._made: dict[str, object] = {"guard_route": False, "bridge": False, "netns": [], "veth": []}
        self._sshd: dict[str, dict[str, int]] = {}  # host name -> {"pid", "start_time"}
        self._popen: dict[int, subprocess.Popen[bytes]] = {}  # sshd PID -> its Popen, when we are its parent
        self._broken: dict[str, str] = {}

    # ----- public API -------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise HostsError(f"no host {name!r}; hosts are {', '.join(h.name for h in self.hosts)}")

    @property
    def sshd_pids(self) -> dict[str, int]:
        """Recorded sshd PID per host (hosts broken as unreachable have none)."""
        return {name: rec["pid"] for name, rec in self._sshd.items()}

    def up(self, timeout: float = 15.0) -> NetnsHosts:
        """Bring every host up; return once every sshd accepts connections. On failure, tear down."""
        try:
            reason = missing_requirements(self.sshd)
            if reason:
                raise HostsError(reason)
            self._check_state_dir()
            self._check_free()
        except HostsError:
            if self._own_state_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            raise
        try:
            self._up(timeout)
        except BaseException as exc:
            try:
                self.down()
            except HostsError as down_exc:
                raise HostsError(f"{exc}; then teardown failed: {down_exc}") from exc
            raise
        return self

    def down(self) -> None:
        """Stop and remove everything recorded, in reverse; idempotent, safe after a partial up.

        Order: ssh ControlMaster sockets of ours, then every process in our namespaces (sshd and its
        sessions, leaves first), namespaces, veths, bridge, and the guard route last. The guard
        route stays if anything else could not be removed.
        """
        problems: list[str] = []
        for host in self.hosts:
            self._close_control_master(host)
            problems += self._stop_processes(host)
        for ns in list(self._made["netns"]):
            if _exists(f"/run/netns/{ns}"):
                res = _run(["ip", "netns", "del", ns], check=False)
                if res.returncode != 0 and _exists(f"/run/netns/{ns}"):
                    problems.append(f"netns {ns}: {res.stderr.strip()}")
                    continue
            self._made["netns"].remove(ns)
            self._save()
        for veth in list(self._made["veth"]):
            if not _remove_link(veth):
                problems.append(f"veth {veth} still exists")
                continue
            self._made["veth"].remove(veth)
            self._save()
        if self._made["bridge"]:
            if _remove_link(self.bridge):
                self._made["bridge"] = False
                self._save()
            else:
                problems.append(f"bridge {self.bridge} still exists")
        if self._made["guard_route"]:
            if problems:
                problems.append(f"guard route unreachable {self.network} kept because of the above")
            else:
                res = _ip("route", "del", "unreachable", str(self.network), "metric", str(GUARD_METRIC), check=False)
                if res.returncode == 0 or "No such process" in res.stderr:
                    self._made["guard_route"] = False
                    self._save()
                else:
                    problems.append(f"guard route: {res.stderr.strip()}")
        if problems:
            raise HostsError(f"teardown of {self.state_dir} left: " + "; ".join(problems))
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    @classmethod
    def from_state(cls, state_dir: str | os.PathLike[str]) -> NetnsHosts:
        """The hosts recorded in ``state_dir`` by an ``up`` in another process (for ``down``)."""
        path = Path(state_dir) / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise HostsError(f"no {STATE_FILE} in {state_dir}: nothing was brought up there") from None
        except ValueError as exc:
            raise HostsError(f"{path} is not valid JSON ({exc})") from None
        try:
            lab = cls(count=state["count"], state_dir=state_dir, prefix=state["prefix"], subnet=state["subnet"])
            lab._made = state["made"]
            lab._sshd = state["sshd"]
        except (KeyError, TypeError) as exc:
            raise HostsError(f"{path} is not a state file written by tests.hosts (missing {exc})") from None
        lab._broken = state.get("broken", {})
        return lab

    def break_host(self, name: str, mode: str = "unreachable") -> None:
        """Make one host fail on purpose, until ``restore_host``.

        ``unreachable``: its sshd (the recorded PID) and its sessions are stopped; the address stays
        up, so connections are refused at once and Ansible reports the host UNREACHABLE.
        ``no_python``: /usr/bin/python3 is hidden (``/dev/null`` bound over it, in that host's mount
        namespace only); SSH still works, so modules FAIL (permission denied) instead.
        """
        host = self.host(name)
        if mode not in BREAK_MODES:
            raise HostsError(f"break mode {mode!r} is not one of {', '.join(BREAK_MODES)}")
        if name in self._broken:
            raise HostsError(f"{name} is already broken ({self._broken[name]}); restore it first")
        if mode == "unreachable":
            self._close_control_master(host)
            problems = self._stop_processes(host)
            if problems:
                raise HostsError(f"could not stop {name}: {'; '.join(problems)}")
        else:
            self._nsenter_mount(host, ["mount", "--bind", "/dev/null", HOST_PYTHON])
        self._broken[name] = mode
        self._save()

    def restore_host(self, name: str, timeout: float = 10.0) -> None:
        """Undo ``break_host``: restart sshd (waiting until it answers) or unhide python3."""
        host = self.host(name)
        mode = self._broken.get(name)
        if mode == "unreachable":
            self._start_sshd(host)
            self._wait_ready([host], timeout)
        elif mode == "no_python":
            self._nsenter_mount(host, ["umount", HOST_PYTHON])
        self._broken.pop(name, None)
        self._save()

    def write_inventory(
        self,
        path: str | os.PathLike[str] | None = None,
        connection: str = "ssh",
        group: str = DEFAULT_GROUP,
    ) -> Path:
        """Write an Ansible YAML inventory of the hosts in ``group``; returns its path.

        ``connection`` is ``ssh`` (OpenSSH, ControlPersist sockets under <state>/cp, closed by
        ``down``) or ``paramiko`` (ansible-core 2.19 warns that plugin is deprecated).
        """
        if connection not in ("ssh", "paramiko"):
            raise HostsError(f"connection {connection!r} must be ssh or paramiko")
        if not _GROUP_RE.fullmatch(group):
            raise HostsError(f"group {group!r} must be letters, digits and underscores, not starting with a digit")
        path = Path(path) if path is not None else self.state_dir / f"inventory-{connection}.yml"
        group_vars: dict[str, object] = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_python_interpreter": HOST_PYTHON,
        }
        if connection == "ssh":
            # Host keys are checked against the known_hosts this harness wrote from the keys it made
            # (write_known_hosts): a host whose key changed is refused, as with any user's inventory.
            group_vars["ansible_host_key_checking"] = True
            group_vars["ansible_ssh_args"] = " ".join(
                [
                    "-F /dev/null",  # no user or system ssh_config: nothing can send us elsewhere
                    "-o StrictHostKeyChecking=yes",
                    f"-o UserKnownHostsFile={self.known_hosts}",
                    "-o GlobalKnownHostsFile=/dev/null",
                    "-o ControlMaster=auto -o ControlPersist=60s",
                    "-o ServerAliveInterval=15",
                ]
            )
        else:
            group_vars["ansible_connection"] = "paramiko"
            # Checked against <state>/home/.ssh/known_hosts: run ansible with ``ansible_env("paramiko")``
            # (HOME there), because the paramiko plugin takes no known_hosts path. Never records a key.
            group_vars["ansible_host_key_checking"] = True
            group_vars["ansible_paramiko_host_key_checking"] = True
            group_vars["ansible_paramiko_record_host_keys"] = False
        lines = [
            f"# SSH test hosts in network namespaces; written by tests/hosts for {self.state_dir}",
            "all:",
            "  children:",
            f"    {group}:",
            "      hosts:",
        ]
        for host in self.hosts:
            lines.append(f"        {host.name}:")
            lines.append(f"          ansible_host: {host.address}")
            if connection == "ssh":
                # One ControlMaster socket per host, named so down/break_host can close it.
                lines.append(f"          ansible_control_path: {json.dumps(str(self._control_path(host)))}")
        lines.append("      vars:")
        lines += [f"        {key}: {json.dumps(value)}" for key, value in group_vars.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    def write_known_hosts(self) -> Path:
        """Write <state>/known_hosts from each host's current public host key; returns its path.

        Done at bring-up; call it again after ``rekey_host`` to trust the new keys.
        """
        lines = []
        for host in self.hosts:
            pub = (host.dir / "run/ml-sshd/ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{host.address} {pub[0]} {pub[1]}")
        ssh_dir = self.paramiko_home / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.known_hosts, ssh_dir / "known_hosts"):
            tmp = path.with_name(".known_hosts.tmp")
            tmp.write_text("\n".join(lines) + "\n")
            os.replace(tmp, path)
        return self.known_hosts

    def ansible_env(self, connection: str = "ssh") -> dict[str, str]:
        """Environment additions for running ansible against an inventory of ``connection``: for
        paramiko, HOME whose .ssh/known_hosts holds the hosts' keys; for ssh, none."""
        return {"HOME": str(self.paramiko_home)} if connection == "paramiko" else {}

    def rekey_host(self, name: str, timeout: float = 10.0) -> None:
        """Give a host a new host key (sshd restarted), leaving known_hosts as it was: a
        machine-in-the-middle as the controller sees it."""
        host = self.host(name)
        self.break_host(name, "unreachable")  # stops its sshd, closes our ControlMaster to it
        try:
            key = host.dir / "run/ml-sshd/ssh_host_ed25519_key"
            for path in (key, key.with_name(key.name + ".pub")):
                path.unlink(missing_ok=True)
            _keygen(key, host.name)
        finally:
            self.restore_host(name, timeout)

    def __enter__(self) -> NetnsHosts:
        return self.up()

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    # ----- bring-up ---------------------------------------------------------------------------

    def _check_state_dir(self) -> None:
        state = self.state_dir / STATE_FILE
        if state.exists():
            try:
                made = json.loads(state.read_text())["made"]
            except (ValueError, KeyError):
                made = {"unreadable": True}
            if any(made.values()):
                raise HostsError(
                    f"{self.state_dir} records hosts that are still up: run "
                    f"`python -m tests.hosts down --state {self.state_dir}` first"
                )

    def _check_free(self) -> None:
        """Refuse a subnet or a name that anything here already uses (another run, a real network)."""
        clashes = []
        for link in json.loads(_ip("-j", "-4", "addr").stdout or "[]"):
            for info in link.get("addr_info", []):
                net = ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network
                if net.overlaps(self.network):
                    clashes.append(f"{link['ifname']} has {info['local']}/{info['prefixlen']}")
        for route in json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
            dst = route.get("dst", "default")
            if dst == "default":
                continue
            if ipaddress.IPv4Network(dst, strict=False).overlaps(self.network):
                clashes.append(f"route {route.get('type', 'unicast')} {dst} (table {route.get('table', 'main')})")
        names = [self.bridge] + [h.veth for h in self.hosts]
        clashes += [f"link {n} exists" for n in names if _exists(f"/sys/class/net/{n}")]
        clashes += [f"netns {h.netns} exists" for h in self.hosts if _exists(f"/run/netns/{h.netns}")]
        if clashes:
            raise HostsInUse(
                f"{self.network} / prefix {self.prefix!r} is in use here ({'; '.join(clashes)}): "
                "pick another --subnet/--prefix, or `python -m tests.hosts down --state DIR` a leftover run"
            )

    def _up(self, timeout: float) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._save()
        # The guard route comes first: whatever happens next, this subnet never leaves the machine.
        _ip("route", "add", "unreachable", str(self.network), "metric", str(GUARD_METRIC))
        self._made["guard_route"] = True
        self._save()
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made["bridge"] = True
        self._save()
        _disable_ipv6(self.bridge)
        _ip("addr", "add", f"{self.bridge_address}/{self.network.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

        self.control_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.client_key.exists():
            _keygen(self.client_key, "malloc-lab controller")
        client_pub = self.client_key.with_suffix(".pub").read_text()
        for host in self.hosts:
            self._prepare_files(host, client_pub)
            self._plumb(host)
            self._start_sshd(host)
        self.write_known_hosts()
        self._wait_ready(self.hosts, timeout)

    def _prepare_files(self, host: Host, client_pub: str) -> None:
        d = host.dir
        for sub, mode in (
            ("run", 0o755), ("run/sshd", 0o755), ("run/ml-sshd", 0o700), ("run/lock", 0o1777),
            ("tmp", 0o1777), ("var_tmp", 0o1777), ("opt", 0o755), ("root", 0o700), ("root/.ssh", 0o700),
            ("etc", 0o755),
        ):
            (d / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(d / sub, mode)  # mkdir's mode is masked by umask; sshd checks these
        auth = d / "root/.ssh/authorized_keys"
        auth.write_text(client_pub)
        os.chmod(auth, 0o600)
        (d / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n{host.address}\t{host.name}\n")
        # Only loopback as resolver: a name lookup on a host never leaves it.
        (d / "etc/resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        key = d / "run/ml-sshd/ssh_host_ed25519_key"
        if not key.exists():
            _keygen(key, host.name)
        (d / "run/ml-sshd/sshd_config").write_text(
            f"# sshd of malloc-lab test host {host.name} ({host.netns}); see tests/hosts/netns.py\n"
            f"ListenAddress {host.address}:22\n"
            f"HostKey {HOST_SSHD_DIR}/ssh_host_ed25519_key\n"
            "PidFile none\n"
            "AuthorizedKeysFile /root/.ssh/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "UseDNS no\n"
            "X11Forwarding no\n"
            "PrintMotd no\n"
            "AcceptEnv LANG LC_*\n"
            "MaxStartups 100\n"
            "MaxSessions 100\n"
            "Subsystem sftp internal-sftp\n"
        )

    def _plumb(self, host: Host) -> None:
        _ip("netns", "add", host.netns)
        self._made["netns"].append(host.netns)
        self._save()
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        self._made["veth"].append(host.veth)
        self._save()
        _disable_ipv6(host.veth)
        _ip("link", "set", host.veth, "master", self.bridge, "up")
        ns = ("-n", host.netns)
        _ip(*ns, "addr", "add", f"{host.address}/{self.network.prefixlen}", "dev", "eth0")
        _ip(*ns, "link", "set", "lo", "up")
        _ip(*ns, "link", "set", "eth0", "up")
        # A default route gives the host an `ansible_default_ipv4`; the gateway does not exist.
        _ip(*ns, "route", "add", "default", "via", self.gateway, "dev", "eth0")

    def _binds(self, host: Host) -> list[tuple[Path, str]]:
        """(source, target) bind mounts for a host, in mount order.

        A target that contains the state dir would hide the remaining sources, so it goes last;
        otherwise /tmp is last (as TEST-HOSTS.md says).
        """
        d = host.dir
        binds = [
            (d / "etc/hosts", "/etc/hosts"),
            (d / "etc/resolv.conf", "/etc/resolv.conf"),
            (d / "run", "/run"),
            (d / "var_tmp", "/var/tmp"),
            (d / "opt", "/opt"),
            (d / "root", "/root"),
            (d / "tmp", "/tmp"),
        ]
        return sorted(binds, key=lambda b: self.state_dir.is_relative_to(Path(b[1]).resolve()))

    def _start_sshd(self, host: Host) -> None:
        script = ["set -e"]
        script += [f"mount --bind {shlex.quote(str(src))} {target}" for src, target in self._binds(host)]
        script += [
            f"hostname {host.name}",
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 || true",
            f"exec {shlex.quote(self.sshd)} -D -f {HOST_SSHD_DIR}/sshd_config -E {HOST_SSHD_DIR}/sshd.log",
        ]
        with open(host.dir / "console.log", "ab") as console:
            # ip netns exec, unshare and sh all exec (no fork): the PID we get is sshd's.
            proc = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, "unshare", "--uts", "--mount", "--propagation", "private",
                 "/bin/sh", "-c", "\n".join(script)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._popen[proc.pid] = proc
        start_time = _start_time(proc.pid)
        self._sshd[host.name] = {"pid": proc.pid, "start_time": start_time if start_time is not None else -1}
        self._save()

    def _wait_ready(self, hosts: list[Host], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(hosts)
        while waiting:
            for host in list(waiting):
                proc = self._popen.get(self._sshd[host.name]["pid"])
                if proc is not None and proc.poll() is not None:
                    raise HostsError(
                        f"sshd of {host.name} exited with {proc.returncode}: {self._last_log_line(host)}"
                    )
                if _ssh_banner(host.address, 22, timeout=0.2):
                    waiting.remove(host)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(h.name for h in waiting)
                raise HostsError(f"sshd of {names} did not answer within {timeout:.0f} s (see {self.state_dir}/h*/)")
            if waiting:
                time.sleep(0.02)

    def _last_log_line(self, host: Host) -> str:
        for log in (host.dir / "run/ml-sshd/sshd.log", host.dir / "console.log"):
            try:
                lines = log.read_text(errors="replace").strip().splitlines()
            except FileNotFoundError:
                continue
            if lines:
                return f"{lines[-1]} ({log})"
        return "no log"

    # ----- failure injection and teardown helpers ---------------------------------------------

    def _nsenter_mount(self, host: Host, command: list[str]) -> None:
        rec = self._sshd.get(host.name)
        if rec is None or _start_time(rec["pid"]) != rec["start_time"]:
            raise HostsError(f"{host.name} has no running sshd to enter (is it broken as unreachable?)")
        res = _run(["nsenter", "-t", str(rec["pid"]), "-m", *command], check=False)
        if res.returncode != 0:
            raise HostsError(f"{' '.join(command)} on {host.name} failed: {res.stderr.strip()}")

    def _control_path(self, host: Host) -> Path:
        return self.control_dir / host.name

    def _close_control_master(self, host: Host) -> None:
        """Ask the controller's ssh ControlMaster for this host to exit (local socket only)."""
        sock = self._control_path(host)
        if sock.exists():
            # With -O, ssh talks to the socket only; it never opens a network connection.
            _run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", f"root@{host.address}"],
                 check=False)

    def _stop_processes(self, host: Host, grace: float = 3.0) -> list[str]:
        """End the host's recorded sshd and every process inside its namespace, leaves first.

        Everything in a namespace we made was started by us (its sshd, its sessions, what they
        run), so namespace membership identifies them; PIDs are checked against their start time.
        Leaves go first so each parent reaps its own children (PID 1 here reaps orphans only lazily).
        """
        rec = self._sshd.pop(host.name, None)
        self._save()
        problems: list[str] = []
        for _ in range(3):  # again, in case a session was starting while we looked
            members: dict[int, tuple[int, int]] = {}  # pid -> (ppid, start_time)
            if rec is not None:
                stat = _proc_stat(rec["pid"])
                if stat is not None and stat[2] == rec["start_time"] and stat[0] != "Z":
                    members[rec["pid"]] = (stat[1], stat[2])
            if host.netns in self._made["netns"]:  # never look inside a namespace we did not make
                members.update(_netns_members(f"/run/netns/{host.netns}"))
            if not members:
                break
            problems = self._end_leaves_first(host, members, grace)
        return problems

    def _end_leaves_first(self, host: Host, members: dict[int, tuple[int, int]], grace: float) -> list[str]:
        """SIGTERM processes that have no live children among ``members``, until all are gone; then SIGKILL."""

        def alive() -> set[int]:
            for pid in list(self._popen):
                if self._popen[pid].poll() is not None:
                    del self._popen[pid]
            live = set()
            for pid, (_, start) in members.items():
                stat = _proc_stat(pid)
                if stat is None or stat[2] != start:
                    continue
                # A zombie is done, unless its parent is one of ours that will still reap it.
                if stat[0] == "Z" and stat[1] not in members:
                    continue
                live.add(pid)
            return live

        signalled: set[int] = set()
        deadline = time.monotonic() + grace
        live = alive()
        while live and time.monotonic() < deadline:
            parents = {members[p][0] for p in live}
            for pid in live - parents - signalled:
                _kill(pid, signal.SIGTERM)
                signalled.add(pid)
            time.sleep(0.01)
            live = alive()
        for pid in live:
            _kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while live and time.monotonic() < deadline:
            time.sleep(0.02)
            live = alive()
        return [f"{host.name}: PID {pid} survived SIGKILL" for pid in sorted(live)]

    def _save(self) -> None:
        state = {
            "prefix": self.prefix,
            "subnet": str(self.network),
            "count": self.count,
            "made": self._made,
            "sshd": self._sshd,
            "broken": self._broken,
        }
        if not self.state_dir.is_dir():
            return
        tmp = self.state_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.state_dir / STATE_FILE)


# ----- small system helpers ---------------------------------------------------------------------


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and res.returncode != 0:
        message = f"`{' '.join(args)}` failed: {res.stderr.strip() or res.returncode}"
        # A route, link or netns appeared since _check_free: another run won the race.
        raise (HostsInUse if args[0] == "ip" and "File exists" in res.stderr else HostsError)(message)
    return res


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *args], check=check)


def _keygen(path: Path, comment: str) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _disable_ipv6(link: str) -> None:
    # No IPv6 link-local chatter on our links: only the IPv4 addresses we assign carry traffic.
    try:
        Path(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6").write_text("1\n")
    except OSError:
        pass  # IPv6 is off in this kernel


def _remove_link(name: str, timeout: float = 3.0) -> bool:
    """Delete a link if it exists; a veth whose peer's namespace is being destroyed may linger briefly."""
    deadline = time.monotonic() + timeout
    while _exists(f"/sys/class/net/{name}"):
        _ip("link", "del", name, check=False)
        if time.monotonic() > deadline:
            return not _exists(f"/sys/class/net/{name}")
        time.sleep(0.02)
    return True


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start_time in clock ticks) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[2]


def _netns_members(ns_path: str) -> dict[int, tuple[int, int]]:
    """pid -> (ppid, start_time) of every process whose network namespace is ``ns_path``."""
    try:
        ns = os.stat(ns_path)
    except FileNotFoundError:
        return {}
    members = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue  # gone, or a zombie
        if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
            stat = _proc_stat(pid)
            if stat is not None:
                members[pid] = (stat[1], stat[2])
    return members


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
