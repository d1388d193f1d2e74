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
    return max(4, min(8, cores * 2))  # the Makefile's TEST_WORKERS rule


def _counts(text: str) -> Dict[str, int]:
    found = SUMMARY.findall(text)
    if not found:
        raise BenchError("pytest printed no summary line")
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", found[-1][0])}


def _pytest(ctx: Context, args: List[str], log_name: str, timeout: float) -> Dict[str, object]:
    log = os.path.join(ctx.tmp, log_name)
    with open(log, "w", encoding="utf-8") as out:
        usage = run_measured([ctx.python, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ctx.repo,
                             timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
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
    return result
