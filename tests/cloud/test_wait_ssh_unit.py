"""The decisions of lab_ec2_wait_ssh (roles/ec2_provision/library), with a fake clock and fake logins."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "lab_ec2_wait_ssh", ROOT / "roles" / "ec2_provision" / "library" / "lab_ec2_wait_ssh.py")
wait = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wait)

HOSTS = [{"name": n, "address": f"198.51.100.{i}", "user": "ec2-user", "private_key_file": "/k"}
         for i, n in enumerate(["t3-medium", "m7g-large", "c7i-large"], start=11)]


class FakeTime:
    """A clock that only moves when the code sleeps or a login attempt takes time."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def params(**changes) -> dict:
    values = {"hosts": HOSTS, "known_hosts": "/kh", "started": 1000.0, "timeout": 30, "first_window": 240,
              "answered_before": 0, "round_seconds": 10, "ssh_cidr": "203.0.113.7/32"}
    values.update(changes)
    return values


def run_rounds(t: FakeTime, login, **changes) -> list[dict]:
    """Call rounds as the role does until one says done; the results of every round."""
    rounds, state = [], {}
    while True:
        pending = [h for h in HOSTS if state.get(h["name"], {}).get("state", "waiting") == "waiting"]
        answered = sum(s["state"] == "answered" for s in state.values())
        result = wait.wait_round(params(hosts=pending, answered_before=answered, **changes),
                                 clock=t.clock, sleep=t.sleep, try_host=login)
        state.update(result["hosts"])
        rounds.append(result)
        if result["done"]:
            return rounds


def silent(t: FakeTime):
    # Attempts run in parallel threads: the clock moves only between waves (the module's sleep).
    def login(host, known_hosts, limit):
        return "waiting", "No route to host"
    return login


def test_nobody_answers_stops_at_one_deadline_not_one_per_host():
    t = FakeTime()
    rounds = run_rounds(t, silent(t))
    assert t.now - 1000.0 <= 31, "all hosts share one deadline"
    assert len(rounds) == 3, "a progress line every round (10 s)"
    last = rounds[-1]
    assert last["done"] and "lab_ec2_ssh_cidr=203.0.113.7/32" in last["no_answer"]
    assert "No host accepted SSH within 30 s" in last["no_answer"]
    for host in HOSTS:
        assert f"{host['name']} {host['address']}: No route to host" in last["no_answer"]


def test_first_window_shorter_than_the_timeout_stops_early():
    t = FakeTime()
    rounds = run_rounds(t, silent(t), timeout=600, first_window=20)
    assert t.now - 1000.0 <= 21
    assert "within 20 s" in rounds[-1]["no_answer"]


def test_one_host_answering_keeps_the_wait_going_for_the_others_until_the_timeout():
    t = FakeTime()
    quiet = silent(t)

    def login(host, known_hosts, limit):
        if host["name"] == "t3-medium" and t.now >= 1005:
            return "answered", "logged in"
        return quiet(host, known_hosts, limit)

    rounds = run_rounds(t, login, timeout=60, first_window=10)
    last = rounds[-1]
    assert last["no_answer"] == "" and last["done"]
    assert 59 <= t.now - 1000.0 <= 61
    assert last["hosts"]["m7g-large"]["state"] == "waiting"


def test_all_answer_at_once_ends_the_wait():
    t = FakeTime()
    rounds = run_rounds(t, lambda h, k, limit: ("answered", "logged in"))
    assert len(rounds) == 1 and rounds[0]["done"] and rounds[0]["no_answer"] == ""
    assert t.now == 1000.0, "no pause after the last host answered"


def test_the_wait_ends_when_the_last_host_answers_not_a_retry_later():
    t = FakeTime()

    def login(host, known_hosts, limit):
        return ("answered", "logged in") if t.now >= 1004 else ("waiting", "Connection refused")

    rounds = run_rounds(t, login, timeout=60)
    assert rounds[-1]["done"] and all(h["state"] == "answered" for h in rounds[-1]["hosts"].values())
    assert t.now == 1004.0  # attempts at 0, 2 and 4 s; none after


def test_a_changed_host_key_is_refused_not_waited_for():
    t = FakeTime()
    rounds = run_rounds(t, lambda h, k, limit: wait.classify(
        255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.\n"))
    assert t.now - 1000.0 < 3
    assert "machine in the middle" in rounds[-1]["no_answer"]
    assert "lab_ec2_ssh_cidr" not in rounds[-1]["no_answer"]


def test_classify_ssh_errors():
    assert wait.classify(0, "") == ("answered", "logged in")
    assert wait.classify(255, "ssh: connect to host 10.0.0.1 port 22: Connection timed out\r\n") == (
        "waiting", "Connection timed out")
    assert wait.classify(255, "Warning: Permanently added '10.0.0.1' (ED25519) to the list of known hosts.\n"
                              "ec2-user@10.0.0.1: Permission denied (publickey).\n") == (
        "waiting", "ec2-user@10.0.0.1: Permission denied (publickey).")


def test_the_message_names_the_controllers_address():
    hosts = {"t3-medium": {"state": "waiting", "reason": "Connection timed out"}}
    addresses = {"t3-medium": "198.51.100.11"}
    private = wait.no_answer_message(240, hosts, addresses, "203.0.113.7/32", "192.168.1.20")
    assert "192.168.1.20, not a public address" in private and "NAT" in private
    # A global address (only a string here: nothing is sent anywhere).
    public = wait.no_answer_message(240, hosts, addresses, "203.0.113.7/32", "54.240.197.9")
    assert "set -e lab_ec2_ssh_cidr=54.240.197.9/32" in public
    inside = wait.no_answer_message(240, hosts, addresses, "54.240.197.0/24", "54.240.197.9")
    assert "which contains 54.240.197.9" in inside and "lab_ec2_address" in inside


def test_source_address_is_the_kernels_route_choice_for_loopback():
    assert wait.source_address("127.0.0.7") == "127.0.0.1"


def test_ssh_command_records_keys_in_the_runs_known_hosts():
    cmd = wait.ssh_command(HOSTS[0], "/keys/malloc-lab-r1.known_hosts")
    assert "StrictHostKeyChecking=accept-new" in cmd
    assert "UserKnownHostsFile=/keys/malloc-lab-r1.known_hosts" in cmd
    assert "BatchMode=yes" in cmd
    assert cmd[-3:] == ["--", "198.51.100.11", "true"]
