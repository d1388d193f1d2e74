"""Issue 12's test-suite goals, measured like the others in `make bench`: `make test`'s pytest (every test,
`TEST_WORKERS` workers, `--dist loadgroup`) and `make quick`'s, each timed once, with the CPU time they
used (their own and their children's: ansible-playbook, sshd, moto, gcc) and what that CPU means on this
machine's cores, the wall time no scheduling could beat."""
from __future__ import annotations

import os
import re
import subprocess
from typing import Dict, List, Optional

from . import stats
from .core import BenchError, Context, Result, Row, run_measured

ITEM = "7 test suite"
GOAL_SUITE_S = 240.0
GOAL_QUICK_S = 60.0
SUMMARY = re.compile(r"^=+ (?P<text>.*\b(passed|failed)\b.*) in [0-9.]+s", re.M)
SLOWEST = re.compile(r"^(?P<s>[0-9.]+)s (?P<when>call|setup|teardown)\s+(?P<test>\S+)", re.M)
FAILED = re.compile(r"^(?:FAILED|ERROR) (?P<test>\S+)", re.M)


def _workers() -> int:
    cores = os.cpu_count() or 2
    return max(3, min(8, cores + 1))  # the Makefile's TEST_WORKERS rule


def _counts(text: str) -> Dict[str, int]:
    found = SUMMARY.findall(text)
    if not found:
        raise BenchError("pytest printed no summary line")
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", found[-1][0])}


def _pytest(ctx: Context, args: List[str], log_name: str, timeout: float) -> Dict[str, object]:
    log = os.path.join(ctx.tmp, log_name)
    with open(log, "w", encoding="utf-8") as out:
        # As `make test` runs it: bytecode kept even where the environment says PYTHONDONTWRITEBYTECODE.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        usage = run_measured([ctx.python, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ctx.repo,
                             env=env, timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
    with open(log, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    counts = _counts(text)
    slowest = [{"s": float(m["s"]), "when": m["when"], "test": m["test"]} for m in SLOWEST.finditer(text)][:5]
    return {"wall_s": usage.wall_s, "cpu_s": usage.cpu_s, "returncode": usage.returncode, "counts": counts,
            "slowest": slowest, "failed": [m["test"] for m in FAILED.finditer(text)]}


def _count_text(counts: Dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def run(ctx: Context) -> Result:
    result = Result("suite", "Test suite")
    cores = os.cpu_count() or 1
    workers = _workers()
    ctx.log("suite: make quick's tests")
    quick = _pytest(ctx, ["-m", "not slow", "tests/unit", "tests/report", "tests/lint"], "quick.log", 900)
    ctx.log(f"suite: make test's tests ({workers} workers)")
    full: Optional[Dict[str, object]] = None
    if not ctx.quick:
        full = _pytest(ctx, ["-n", str(workers), "--dist", "loadgroup", "--durations=5", "-rfE", "tests"], "full.log", 3600)
    for name, measured, goal in (("make quick", quick, GOAL_QUICK_S), ("make test", full, GOAL_SUITE_S)):
        if measured is None:
            result.rows.append(Row(ITEM, f"{name}: wall", "not run with --quick", f"<= {goal:.0f} s", stats.NOT_AVAILABLE))
            continue
        ok = measured["returncode"] == 0
        wall, cpu = float(measured["wall_s"]), float(measured["cpu_s"])  # type: ignore[arg-type]
        counts = measured["counts"]
        result.rows.append(Row(ITEM, f"{name}: wall ({_count_text(counts)})",  # type: ignore[arg-type]
                               stats.fmt_duration(wall), f"<= {goal:.0f} s",
                               stats.verdict(wall, goal) if ok else stats.NOT_AVAILABLE))
        result.rows.append(Row(ITEM, f"{name}: CPU used / {cores} cores (the wall time it cannot beat here)",
                               f"{stats.fmt_duration(cpu)} / {cores} = {stats.fmt_duration(cpu / cores)}"))
        if not ok:
            failed = ", ".join(measured["failed"]) or "see its output"  # type: ignore[arg-type]
            result.notes.append(f"{name} failed (exit {measured['returncode']}: {failed}): its time is not a result")
    result.raw = {"workers": workers, "quick": quick, "full": full}
    if full is not None:
        result.details.append(
            f"`pytest -n {workers} --dist loadgroup tests` (what `make test` runs after its install steps, with the "
            f"venv and collections in place) and `pytest -m 'not slow' tests/unit tests/report tests/lint` "
            f"(`make quick`), in this checkout, one after the other. CPU is the suite's own and its children's "
            f"(ansible-playbook, sshd, moto, gcc): divided by the cores it is the wall time no scheduling can beat "
            f"on this machine.")
        result.details.append("")
        result.details.append("The slowest tests of that run:")
        result.details.append("")
        for slow in full["slowest"]:  # type: ignore[union-attr]
            result.details.append(f"- {slow['s']:.0f} s {slow['when']} `{slow['test']}`")
        result.details += ["", *WHY]
    return result


# What the numbers rest on, kept with the benchmark so that a regenerated docs/benchmarks.md keeps it.
WHY = [
    "What limits it: the suite is CPU-bound. Its workers share two cores, and the CPU it uses, divided "
    "by the cores, is within a few percent of its wall time. Most of that CPU is ansible-playbook: about 120 "
    "runs (process accounting of one full run: 108 s of CPU in their main processes, median 0.8 s each, "
    "0.55 s of which is ansible-playbook starting; 76 s in 2,362 worker forks), and in the EC2 tests the "
    "modules each run starts on the controller.",
    "",
    "What changed (this stop): every run on a host costs three task rounds fewer (see the fan-out's notes), "
    "and `make test` keeps the checkout's bytecode where the environment sets PYTHONDONTWRITEBYTECODE, as "
    "this machine's does: every one of the suite's Pythons compiled labagent, the plugins and the tests "
    "again (tests/ansible and tests/report: 88.8 s of CPU with it set, 81 s without). The harness's "
    "private-directory test is one playbook for its four directories instead of twelve ad-hoc runs (18 s "
    "to 5 s).",
    "",
    "What changed before (issue 12, the stop before): an EC2 run's AWS work is two module runs, not a "
    "dozen. Measured with process accounting on `tests/cloud` alone, each amazon.aws module was a Python "
    "that imports boto3 and loads the EC2 API model, about 0.6 s of CPU, and a provision and a teardown took five and seven or more "
    "of them (one `ec2_instance` per host, one `ec2_key` per key pair). `lab_ec2_launch` "
    "(roles/ec2_provision/library/) creates the key pair, the security group and the instances and waits "
    "until they run; `lab_ec2_remove` (roles/ec2_teardown/library/) terminates, waits, deletes groups and "
    "key pairs and looks again. Both keep amazon.aws's connection code (`AnsibleAWSModule`: credentials, "
    "region, endpoint, retries) and take a boto3 client, a clock and a sleep, so their own tests run them "
    "against moto without Ansible. `provision.yml` of one instance against moto went from 8.4 s to 3.4 s "
    "(`ec2_security_group` also slept 3 s after creating a group), `teardown.yml` from 6.2 s to 1.7 s. "
    "Three tests waited on purpose longer than their point needs: an SSH wait of 30 s where two rounds "
    "(12 s) show the progress line, 20 s for a host that never answers where 6 s show it is recorded "
    "unreachable; the fresh install no longer byte-compiles every dependency (`pip --no-compile`, a third "
    "of its CPU).",
    "",
    "What is left: the EC2 tests still start about 50 playbooks against moto, the multi-host tests run "
    "`run.yml` on SSH namespace hosts, and ansible-lint checks every role. None of them tests a rule that "
    "lives in Python; those are unit tests (`tests/cloud/test_plan_unit.py`, `test_launch_unit.py`, "
    "`test_remove_unit.py`, `tests/unit`).",
]
