"""Goal 4: what Ansible adds. Wall time of `ansible-playbook run.yml` minus the experiment's own duration
(results.json: last phase end - first phase start), on localhost and on 1, 3 and 8 SSH test hosts in
network namespaces, with the controller's CPU (RUSAGE_CHILDREN) and the whole machine's busy CPU."""
from __future__ import annotations

import collections
import glob
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Union

from . import stats
from .core import BenchError, Context, Result, Row, children_cpu_s, machine_busy_s

ITEM = "4 orchestration"
GOAL_RATIO = 1.3
HOST_COUNTS = (1, 3, 8)
# Our own slots: never the other engineers' prefixes (mlt, mlx, ml) or subnets.
SLOTS = (("mlb", "10.231.80.0/24"), ("mlbb", "10.231.81.0/24"))
KNOBS = {"lab_size": "8MiB", "lab_step": "4MiB", "lab_step_interval": "0.1", "lab_sample_interval": "0.1",
         "lab_pause": "0.2", "lab_tail": "0.2", "lab_report_render": "false", "lab_install_packages": "false"}
PLAYBOOK_TIMEOUT_S = 600.0

Config = Union[str, int]  # "localhost" or a host count


def _label(config: Config) -> str:
    return "localhost" if config == "localhost" else f"{config} host{'s' if config != 1 else ''}"


def experiment_seconds(run_dir: str) -> Dict[str, float]:
    """Per host: last phase end - first phase start, from its fetched results.json."""
    spans = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "results.json"))):
        with open(path, encoding="utf-8") as handle:
            phases = json.load(handle)["phases"]
        if phases and phases[-1].get("end") is not None:
            spans[os.path.basename(os.path.dirname(path))] = float(phases[-1]["end"]) - float(phases[0]["start"])
    return spans


def task_times(junit_dir: str) -> Dict[str, float]:
    """Per task (name without the host), the longest any host took, from the junit callback's XML."""
    times: Dict[str, float] = collections.defaultdict(float)
    for path in glob.glob(os.path.join(junit_dir, "*.xml")):
        for case in ET.parse(path).getroot().iter("testcase"):
            name = re.sub(r"^\[[^\]]*\] ", "", case.get("name", ""))
            times[name] = max(times[name], float(case.get("time") or 0.0))
    return dict(times)


def _playbook(ctx: Context, config: Config, repeat: int, groups, inventory: Optional[str],
              knobs_in: Optional[Dict[str, str]] = None, tag: str = "bench", junit_on: bool = True,
              repo: Optional[str] = None) -> Dict[str, Any]:
    from tests.hosts import ansible_bin  # the harness lives with the tests; imported only when used

    work = os.path.join(ctx.tmp, "orchestration")
    run_id = f"{tag}-{config}-{repeat}"
    junit = os.path.join(work, "junit", run_id)
    os.makedirs(junit)
    argv = [str(ansible_bin("ansible-playbook")), "run.yml"]
    if inventory is not None:
        argv += ["-i", inventory]
    knobs = dict(KNOBS if knobs_in is None else knobs_in, lab_runs_dir=os.path.join(work, "runs"), lab_run_id=run_id,
                 lab_remote_dir=os.path.join(work, "remote") if inventory is None else "/tmp/malloc-lab")
    for key, value in knobs.items():
        argv += ["-e", f"{key}={value}"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    if junit_on:
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=junit,
                   JUNIT_HIDE_TASK_ARGUMENTS="true")
    env["PATH"] = os.path.dirname(ctx.python) + os.pathsep + env.get("PATH", "")
    cpu0, busy0, wall0 = children_cpu_s(), machine_busy_s(), time.monotonic()
    try:
        done = groups.run(argv, cwd=repo or ctx.repo, env=env, timeout=PLAYBOOK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"ansible-playbook on {_label(config)} took over {PLAYBOOK_TIMEOUT_S:.0f} s (stopped)") from None
    wall = time.monotonic() - wall0
    controller_cpu, busy = children_cpu_s() - cpu0, machine_busy_s() - busy0
    if done.returncode != 0:
        raise BenchError(f"ansible-playbook on {_label(config)} exited with {done.returncode}: "
                         f"{_why(os.path.join(knobs['lab_runs_dir'], run_id), done.stdout + done.stderr)}")
    spans = experiment_seconds(os.path.join(knobs["lab_runs_dir"], run_id))
    expected_hosts = 1 if config == "localhost" else int(config)
    if len(spans) != expected_hosts:
        raise BenchError(f"{_label(config)}: {len(spans)} of {expected_hosts} hosts brought back a complete run")
    experiment = max(spans.values())
    return {"config": config, "repeat": repeat, "wall_s": wall, "experiment_s": experiment,
            "overhead_s": wall - experiment, "controller_cpu_s": controller_cpu, "machine_busy_s": busy,
            "busy_share": busy / (wall * (os.cpu_count() or 1)), "tasks": task_times(junit)}


def _why(run_dir: str, output: str) -> str:
    """The first failed host's reason from run.json, else the playbook's last fatal line."""
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as handle:
            hosts = json.load(handle).get("hosts") or {}
    except (OSError, ValueError):
        hosts = {}
    failed = {name: h for name, h in hosts.items() if (h or {}).get("status") != "ok"}
    if failed:
        name, host = sorted(failed.items())[0]
        return f"{len(failed)} of {len(hosts)} hosts failed, e.g. {name}: {host.get('status')}: {host.get('reason')}"
    fatal = [line.strip() for line in output.splitlines() if line.startswith(("fatal:", "ERROR!", "[ERROR]"))]
    return (fatal or [line.strip() for line in output.splitlines() if line.strip()][-1:] or ["no output"])[-1][:300]


def _measure(ctx: Context, config: Config, repeat: int, knobs: Optional[Dict[str, str]] = None,
             tag: str = "bench", slots=SLOTS, **playbook: Any) -> Dict[str, Any]:
    """One playbook run; namespace hosts are brought up for it and always torn down after it."""
    from tests.hosts import HostsError, ProcessGroups, up_first_free

    groups = ProcessGroups()
    if config == "localhost":
        try:
            return _playbook(ctx, config, repeat, groups, None, knobs, tag, **playbook)
        finally:
            groups.stop_all()
    try:
        lab = up_first_free(slots, count=int(config))
    except HostsError as exc:
        raise BenchError(f"could not bring up {_label(config)}: {exc}") from None
    try:
        inventory = str(lab.write_inventory())
        return _playbook(ctx, config, repeat, groups, inventory, knobs, tag, **playbook)
    finally:
        groups.stop_all()  # every ansible process we started, by its group id, before the hosts go
        try:
            lab.down()
        except HostsError as exc:
            raise BenchError(f"teardown of {_label(config)} failed: {exc}") from None


def run(ctx: Context) -> Result:
    from tests.hosts import missing_requirements

    result = Result("orchestration", "Orchestration overhead of ansible-playbook")
    reason = missing_requirements()
    configs: List[Config] = ["localhost"] + ([] if reason else list(HOST_COUNTS))
    if reason:
        result.notes.append(f"SSH namespace hosts skipped: {reason}")
    repeats = ctx.pick(2, 1)
    measured: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    for repeat in range(repeats):
        for config in configs:
            ctx.log(f"orchestration: ansible-playbook run.yml on {_label(config)} (repeat {repeat + 1}/{repeats})")
            try:
                measured.append(_measure(ctx, config, repeat))
            except BenchError as exc:  # one failed run is recorded; the others still measure
                ctx.log(f"orchestration: {exc}")
                failures.append({"config": config, "repeat": repeat, "reason": str(exc)})
                result.notes.append(f"Run {repeat + 1} on {_label(config)} failed and is left out: {exc}")
    shutil.rmtree(os.path.join(ctx.tmp, "orchestration"), ignore_errors=True)
    configs = [c for c in configs if any(m["config"] == c for m in measured)]
    by_config: Dict[str, Dict[str, Any]] = {}
    for config in configs:
        mine = [m for m in measured if m["config"] == config]
        by_config[str(config)] = {
            key: stats.median([m[key] for m in mine])
            for key in ("wall_s", "experiment_s", "overhead_s", "controller_cpu_s", "machine_busy_s", "busy_share")}
        by_config[str(config)]["overheads_s"] = [m["overhead_s"] for m in mine]
    result.raw = {"knobs": KNOBS, "repeats": repeats, "runs": measured, "failures": failures, "median": by_config}
    _rows(result, configs, by_config, measured)
    return result


def _rows(result: Result, configs: List[Config], med: Dict[str, Dict[str, Any]], measured: List[Dict[str, Any]]) -> None:
    for config in configs:
        m = med[str(config)]
        result.rows.append(Row(
            ITEM, f"{_label(config)}: overhead (wall - experiment)",
            f"{stats.fmt_duration(m['overhead_s'])} (wall {stats.fmt_duration(m['wall_s'])}, "
            f"controller CPU {stats.fmt_duration(m['controller_cpu_s'])}, machine busy "
            f"{stats.fmt_pct(m['busy_share'] * 100, signed=False)})"))
    if "1" not in med or "8" not in med:
        result.rows.append(Row(ITEM, "8 hosts / 1 host overhead", "not measured", f"<= {GOAL_RATIO}x", stats.NOT_AVAILABLE))
        return
    growth = stats.ratio(med["8"]["overhead_s"], med["1"]["overhead_s"])
    result.raw["overhead_8_over_1"] = growth
    result.rows.append(Row(ITEM, "8 hosts / 1 host overhead", stats.fmt_ratio(growth), f"<= {GOAL_RATIO}x",
                           stats.verdict(growth, GOAL_RATIO)))
    points = [(float(k), med[k]["controller_cpu_s"]) for k in ("1", "3", "8") if k in med]
    cpu_per_host = stats.slope([x for x, _ in points], [y for _, y in points])
    result.raw["controller_cpu_s_per_host"] = cpu_per_host
    busy_points = [(float(k), med[k]["machine_busy_s"]) for k in ("1", "3", "8") if k in med]
    busy_per_host = stats.slope([x for x, _ in busy_points], [y for _, y in busy_points])
    result.raw["machine_busy_s_per_host"] = busy_per_host
    result.rows.append(Row(ITEM, "CPU per extra host: controller / whole machine",
                           f"{stats.fmt_duration(cpu_per_host)} / {stats.fmt_duration(busy_per_host)}"))
    # Which tasks grow from 1 to 8 hosts (junit callback: the longest any host took, per task).
    one = _median_tasks([m for m in measured if m["config"] == 1])
    eight = _median_tasks([m for m in measured if m["config"] == 8])
    growth_by_task = sorted(((eight.get(name, 0.0) - one.get(name, 0.0), name) for name in eight), reverse=True)
    result.raw["task_growth_1_to_8_s"] = {name: round(delta, 3) for delta, name in growth_by_task}
    result.details += ["Tasks that grow most from 1 to 8 hosts (seconds the slowest host took, junit callback):", "",
                       "| task | 1 host | 8 hosts |", "| --- | --- | --- |"]
    for _delta, name in growth_by_task[:8]:
        result.details.append(f"| {name} | {one.get(name, 0.0):.2f} s | {eight.get(name, 0.0):.2f} s |")
    result.details.append("")
    result.details.append(
        "Controller CPU is RUSAGE_CHILDREN of this process across the playbook (ansible-playbook, its forks, "
        "the ssh clients it waited for); machine busy is /proc/stat across the same wall time, all cores, "
        "so it includes the hosts' sshd sessions and agents (and anything else running on the box).")
    if growth is not None and growth > GOAL_RATIO:
        busy8 = med["8"]["busy_share"]
        cores = os.cpu_count() or 1
        floor = None if busy_per_host is None else busy_per_host * 7 / cores
        result.notes.append(
            f"From 1 to 8 hosts the overhead grows {stats.fmt_ratio(growth)}. Every task runs once per host, and each "
            f"extra host costs the machine about {stats.fmt_duration(busy_per_host)} of CPU over the playbook "
            f"({stats.fmt_duration(cpu_per_host)} of it on the controller: a forked worker and an ssh exchange per "
            f"task; the rest is the host side: sshd, the agent's Pythons (check-tools, the run, the polls), gcc and "
            f"the captures). Seven extra hosts "
            f"on {cores} cores therefore add at least {stats.fmt_duration(floor)} of wall time, and the cores are "
            f"{stats.fmt_pct(busy8 * 100, signed=False)} busy during the 8-host run: the fan-out is CPU-bound, not "
            f"network- or wait-bound. Fewer tasks per host (or cheaper ones) is the only lever here.")


def _median_tasks(runs: List[Dict[str, Any]]) -> Dict[str, float]:
    names = {name for run in runs for name in run["tasks"]}
    return {name: stats.median([run["tasks"].get(name, 0.0) for run in runs]) or 0.0 for name in names}
