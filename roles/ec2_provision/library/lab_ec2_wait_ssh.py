#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Wait for every new EC2 host at once until it accepts an SSH login, for one round of a deadline.

One call is one round: the role calls it again (printing progress between rounds) until every host
answers, the deadline passes, or no host has answered by the end of the first window. The pure
functions (classify, source_address, no_answer_message, ...) hold the decisions and are unit-tested.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

DOCUMENTATION = r"""
module: lab_ec2_wait_ssh
short_description: Try an SSH login on every pending host in parallel, for one round
description:
  - Runs on the controller. Each attempt is C(ssh ... true) with the host's user, key and the
    run's known_hosts (C(StrictHostKeyChecking=accept-new)), so the first login records the host key.
  - A host reached with the C(local) connection needs no SSH and answers at once.
options:
  hosts:
    description: Pending hosts, each with name, address, port, user, private_key_file, connection.
    type: list
    elements: dict
    required: true
  known_hosts:
    description: The run's known_hosts file (created by the first login).
    type: path
    required: true
  started:
    description: When the wait began (seconds since the epoch); the deadlines count from it.
    type: float
    required: true
  timeout:
    description: Seconds from I(started) after which no host is waited for (C(lab_ec2_ssh_timeout)).
    type: int
    required: true
  first_window:
    description: Seconds from I(started) by which at least one host must have answered.
    type: int
    required: true
  answered_before:
    description: How many hosts answered in earlier rounds.
    type: int
    default: 0
  round_seconds:
    description: Longest time this call waits before returning to print progress.
    type: int
    default: 10
  ssh_cidr:
    description: C(lab_ec2_ssh_cidr), named in the message when no host answers.
    type: str
    default: ""
"""

RETURN = r"""
hosts:
  description: Per host name, C(state) (answered, waiting, rejected) and the last C(reason).
  returned: always
  type: dict
elapsed:
  description: Seconds since I(started).
  returned: always
  type: float
done:
  description: No more rounds are needed (every host answered or was rejected, or the deadline passed).
  returned: always
  type: bool
no_answer:
  description: Why the run must stop because no host answered in the first window; "" otherwise.
  returned: always
  type: str
"""

# Seconds between two attempts at one host, and the ssh client's own connect timeout.
RETRY_S = 2.0
CONNECT_TIMEOUT_S = 5
# ssh's words for a host key that differs from the run's known_hosts: waiting longer cannot help.
KEY_MISMATCH = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


def ssh_command(host: dict, known_hosts: str) -> list[str]:
    """The login attempt: batch mode (never a prompt), the run's known_hosts, trust on first use."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
           "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}",
           "-o", "IdentitiesOnly=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
           "-p", str(host.get("port") or 22)]
    if host.get("private_key_file"):
        cmd += ["-i", host["private_key_file"]]
    if host.get("user"):
        cmd += ["-l", host["user"]]
    return cmd + ["--", host["address"], "true"]


def classify(returncode: int, stderr: str) -> tuple[str, str]:
    """(state, reason) of one attempt: answered, rejected (host key differs) or waiting."""
    if returncode == 0:
        return "answered", "logged in"
    if any(word in stderr for word in KEY_MISMATCH):
        return "rejected", "its host key differs from the one recorded in the run's known_hosts"
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    reason = lines[-1] if lines else f"ssh exited with {returncode}"
    # "ssh: connect to host 1.2.3.4 port 22: Connection timed out" -> "Connection timed out"
    return "waiting", reason.rsplit(": ", 1)[-1] if reason.startswith("ssh: connect to host") else reason


def source_address(address: str, port: int = 22) -> str | None:
    """The address this machine would send from to reach address: the kernel's route choice.

    A UDP connect() picks the route and the source address without sending a packet.
    """
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(address, port, 0, socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(sockaddr)
            return sock.getsockname()[0]
    except OSError:
        return None


def no_answer_message(seconds: int, hosts: dict, addresses: dict, ssh_cidr: str, source: str | None) -> str:
    """The one message for "nobody answered": which hosts, why, and what to change."""
    tried = "; ".join(f"{name} {addresses.get(name, '?')}: {state['reason']}" for name, state in sorted(hosts.items()))
    if all(state["state"] == "rejected" for state in hosts.values()):
        return (f"No host accepted SSH ({tried}). A host key that changed is a machine in the middle or a "
                "reused address: the run stops rather than trust it")
    text = (f"No host accepted SSH within {seconds} s ({tried}). The security group lets SSH in only from "
            f"lab_ec2_ssh_cidr={ssh_cidr}")
    if source is None:
        return text + ": check that it holds the public address this controller comes from"
    try:
        src = ipaddress.ip_address(source)
        inside = src in ipaddress.ip_network(ssh_cidr, strict=False)
    except ValueError:
        return text + f"; this controller sends from {source}: check that lab_ec2_ssh_cidr holds it"
    if not src.is_global and not inside:
        return text + (f"; this controller sends from {source}, not a public address: AWS sees the public address "
                       "of your NAT router or VPN instead, and lab_ec2_ssh_cidr must contain that one "
                       "(or use lab_ec2_address=private_ip from inside the VPC)")
    if not inside:
        return text + (f"; this controller sends from {source}, which is outside it: "
                       f"set -e lab_ec2_ssh_cidr={source}/32")
    return text + (f", which contains {source}, the address this controller sends from: check lab_ec2_address "
                   "and that the subnet routes to the internet")


def attempt(host: dict, known_hosts: str, limit: float) -> tuple[str, str]:
    if host.get("connection") == "local":
        return "answered", "local connection"
    try:
        proc = subprocess.run(ssh_command(host, known_hosts), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=max(limit, 1.0), check=False)
    except subprocess.TimeoutExpired:
        return "waiting", "no answer"
    except OSError as e:
        return "rejected", f"cannot run ssh: {e}"
    return classify(proc.returncode, proc.stderr)


def wait_round(params: dict, clock=time.time, sleep=time.sleep, try_host=attempt) -> dict:
    """Try the pending hosts until all answer or the round, the first window or the deadline ends."""
    hosts = {h["name"]: {"state": "waiting", "reason": "not tried yet"} for h in params["hosts"]}
    by_name = {h["name"]: h for h in params["hosts"]}
    started, timeout = params["started"], params["timeout"]
    first_window = min(params["first_window"], timeout)
    round_end = clock() + params["round_seconds"]
    no_answer = ""
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        while True:
            now = clock()
            pending = [n for n, s in hosts.items() if s["state"] == "waiting"]
            someone = params["answered_before"] or any(s["state"] == "answered" for s in hosts.values())
            deadline = started + (timeout if someone else first_window)
            if not pending or now >= deadline or now >= round_end:
                break
            limit = min(deadline, round_end) - now
            for name, (state, reason) in pool.map(
                    lambda n: (n, try_host(by_name[n], params["known_hosts"], limit)), pending):
                hosts[name] = {"state": state, "reason": reason}
            if all(s["state"] != "waiting" for s in hosts.values()):
                break  # no pause before a retry that nobody needs
            pause = min(now + RETRY_S, deadline, round_end) - clock()
            if pause > 0:
                sleep(pause)
    elapsed = clock() - started
    answered = params["answered_before"] + sum(s["state"] == "answered" for s in hosts.values())
    pending = [n for n, s in hosts.items() if s["state"] == "waiting"]
    if answered == 0 and (elapsed >= first_window or not pending):
        first = by_name[pending[0]]["address"] if pending else next(iter(by_name.values()))["address"]
        no_answer = no_answer_message(first_window, hosts, {n: h["address"] for n, h in by_name.items()},
                                      params["ssh_cidr"], source_address(first))
    done = bool(no_answer) or not pending or elapsed >= timeout
    return {"hosts": hosts, "elapsed": round(elapsed, 1), "done": done, "no_answer": no_answer}


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "dict", "required": True},
            "known_hosts": {"type": "path", "required": True},
            "started": {"type": "float", "required": True},
            "timeout": {"type": "int", "required": True},
            "first_window": {"type": "int", "required": True},
            "answered_before": {"type": "int", "default": 0},
            "round_seconds": {"type": "int", "default": 10},
            "ssh_cidr": {"type": "str", "default": ""},
        },
        supports_check_mode=False,
    )
    result = wait_round(module.params)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
