"""Goal 3: the observer effect. The agent's own time per touch step (results.json steps[].ms) with
sampling at 10 ms against sampling at 60 s (one tick at the start: no sampler in effect), same size,
runs interleaved; then the workload driven directly, to see what sampling costs the workload itself
(its own CPU time and run-queue wait) with and without smaps_rollup in the tick."""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from labagent import parsers, procfs
from labagent.clock import SystemClock
from labagent.sampler import Sampler
from labagent.units import MIB

from . import stats
from .agent import run_agent
from .core import Context, Result, Row
from .workload import start_workload

ITEM = "3 observer effect"
GOAL_PCT = 2.0
MODES = {"10ms": 0.01, "60s": 60.0}
# The direct test uses a larger region: smaps_rollup's page-table walk grows with it (lab_size goes to 1 TiB).
DIRECT_SIZE_MIB = 256


def run(ctx: Context) -> Result:
    result = Result("observer", "Observer effect on the workload")
    pairs = ctx.pick(6, 2)
    knobs = dict(size="100MiB", step="10MiB", step_interval=0.1, pause=0.2, tail_s=0.2)  # the lab's default size
    # ABBA order: neither mode always runs first (a warm page cache or a busy neighbour favours one).
    order: List[str] = []
    for index in range(pairs):
        order += ["10ms", "60s"] if index % 2 == 0 else ["60s", "10ms"]
    runs: Dict[str, List[Dict[str, object]]] = {mode: [] for mode in MODES}
    for index, mode in enumerate(order):
        ctx.log(f"observer: run {index + 1}/{len(order)}, sampling every {mode}")
        out_dir = os.path.join(ctx.tmp, f"observer-{index}-{mode}")
        usage, data = run_agent(ctx, out_dir, sample_interval=MODES[mode], timeout=120, **knobs)
        step_ms = [float(s["ms"]) for s in data["steps"]]
        ticks = data.get("ticks") or {}
        runs[mode].append({"step_ms": step_ms, "sampler_error": ticks.get("error"), "step_ms_median": data["summary"].get("step_ms_median"),
                           "samples": len(data.get("samples") or []), "ticks": data.get("ticks"),
                           "agent_cpu_s": usage.cpu_s, "wall_s": usage.wall_s})
    pooled = {mode: [ms for r in rs for ms in r["step_ms"]] for mode, rs in runs.items()}  # type: ignore[union-attr]
    medians = {mode: stats.median(values) for mode, values in pooled.items()}
    per_run = {mode: [stats.median(r["step_ms"]) for r in rs] for mode, rs in runs.items()}  # type: ignore[arg-type]
    delta = stats.change_pct(medians["10ms"], medians["60s"])
    noise = stats.spread_pct(per_run["60s"])  # type: ignore[arg-type]
    result.raw = {"knobs": knobs, "order": order, "runs": runs, "median_step_ms": medians,
                  "per_run_median_ms": per_run, "delta_pct": delta, "noise_pct_60s_runs": noise}
    ctx.log("observer: the workload driven directly: no sampler, the tick, the tick without smaps_rollup")
    direct = pieces(ctx, ctx.pick(3, 2), DIRECT_SIZE_MIB)
    cpu = {mode: stats.median(values) for mode, values in direct["cpu_ms"].items()}
    wait = {mode: stats.median(values) for mode, values in direct["wait_ms"].items()}
    step_mean = {mode: sum(values) / len(values) for mode, values in direct["step_ms"].items()}
    result.raw["direct"] = {"size_mib": DIRECT_SIZE_MIB, "runs_per_mode": ctx.pick(3, 2), **direct,
                            "median_cpu_ms": cpu, "median_wait_ms": wait, "mean_step_ms": step_mean}
    errors = sum(1 for r in runs["10ms"] if r["sampler_error"])
    result.raw["sampler_errors_10ms"] = errors
    result.rows = [
        Row(ITEM, "touch step (10 MiB), sampling 60 s (no sampler): median [IQR]", _median_iqr(pooled["60s"])),
        Row(ITEM, "touch step (10 MiB), sampling 10 ms: median [IQR]", _median_iqr(pooled["10ms"])),
        Row(ITEM, f"10 ms vs 60 s ({pairs} runs each, {len(pooled['10ms'])} steps each, interleaved)",
            stats.fmt_pct(delta), f"<= +{GOAL_PCT:.0f} %", stats.verdict(delta, GOAL_PCT)),
        Row(ITEM, "spread of per-run medians at 60 s (noise floor)", stats.fmt_pct(noise, signed=False)),
        Row(ITEM, f"workload's own CPU for {DIRECT_SIZE_MIB} MiB of touches: none / tick / tick w/o smaps_rollup",
            " / ".join(stats.fmt_ms(cpu[mode]) for mode in DIRECT)),
        Row(ITEM, "workload's run-queue wait meanwhile: none / tick / tick w/o smaps_rollup",
            " / ".join(stats.fmt_ms(wait[mode]) for mode in DIRECT)),
    ]
    if errors:
        result.notes.append(
            f"In {errors} of {len(runs['10ms'])} agent runs at 10 ms the sampler thread died when the workload "
            f"exited (results.json ticks.error: {str(next(r['sampler_error'] for r in runs['10ms'] if r['sampler_error']))[:90]}...): "
            f"the tail after exit was not sampled.")
    result.details.append(
        f"Each run: `python -m labagent run --size {knobs['size']} --step {knobs['step']} --step-interval 0.1 "
        f"--pause 0.2 --tail 0.2 --sample-interval 0.01|60`. A step's ms is the agent's own: from writing "
        f"`touch` to the workload until its `step` line is read back, so it includes the agent's wake-up.")
    result.details.append("Per-run medians (ms): " + "; ".join(
        f"{mode}: " + ", ".join(stats.fmt_ms(v) for v in values) for mode, values in per_run.items()))
    if noise is not None and noise > GOAL_PCT:
        result.notes.append(
            f"The per-run medians of one mode already differ by {stats.fmt_pct(noise, signed=False)} on this box "
            f"(load average {os.getloadavg()[0]:.2f} after the runs), more than the {GOAL_PCT:.0f} % goal: the "
            f"verdict is only as good as that noise floor.")
    cpu_effect = stats.change_pct(cpu["tick"], cpu["none"])
    cpu_effect_plain = stats.change_pct(cpu["no_rollup"], cpu["none"])
    cpu_noise = max(GOAL_PCT, stats.spread_pct(direct["cpu_ms"]["none"]) or 0.0)  # runs without a sampler disagree this much
    result.raw["direct"]["cpu_noise_pct"] = cpu_noise
    result.details.append(
        f"Driven directly: the workload alone ({DIRECT_SIZE_MIB} MiB in 8 MiB steps every 50 ms, "
        f"{ctx.pick(3, 2)} runs per mode, interleaved), with a labagent Sampler at 10 ms in a thread of the driving "
        f"process reading it with the agent's tick, or with that tick minus smaps_rollup. The workload's own CPU "
        f"time and run-queue wait come from /proc/PID/schedstat: they say what sampling costs the workload, "
        f"without the agent's wake-ups in the figure. Mean step (ms): "
        + ", ".join(f"{mode} {stats.fmt_ms(v)}" for mode, v in step_mean.items())
        + ". Note that sampling at 60 s also slows the agent's ps loop to one line per 60 s (it runs at "
        "max(1 s, the sample interval)).")
    if delta is not None and delta > GOAL_PCT:
        within_noise = noise is not None and delta <= noise
        text = (f"Steps are {stats.fmt_pct(delta)} slower with 10 ms sampling"
                + (f", within the {stats.fmt_pct(noise, signed=False)} spread between repeats of one mode." if within_noise else "."))
        if cpu_effect is not None and abs(cpu_effect) <= cpu_noise:
            text += (f" The workload's own CPU time does not grow with sampling beyond its noise "
                     f"({stats.fmt_pct(cpu_effect)} driven directly at {DIRECT_SIZE_MIB} MiB, runs without a sampler "
                     f"differ by {stats.fmt_pct(cpu_noise, signed=False)}), so the difference is in the timing path: the agent's thread "
                     f"waking up to read the step's reply while its sampler thread and the workload share 2 busy cores.")
        result.notes.append(text)
    if cpu_effect is not None and cpu_effect_plain is not None and cpu_effect - cpu_effect_plain > cpu_noise:
        result.notes.append(
            f"Driven directly at {DIRECT_SIZE_MIB} MiB, the workload itself needs {stats.fmt_pct(cpu_effect)} CPU to "
            f"touch its memory while the tick samples it, {stats.fmt_pct(cpu_effect_plain)} with the tick minus "
            f"smaps_rollup: reading smaps_rollup walks all the workload's page tables (it grows with the touched "
            f"region, and lab_size goes to 1 TiB) while the workload faults pages in, and the faults slow down.")
    return result


def _median_iqr(values: List[float]) -> str:
    return (f"{stats.fmt_ms(stats.median(values))} [{stats.fmt_ms(stats.percentile(values, 25))} - "
            f"{stats.fmt_ms(stats.percentile(values, 75))}]")


def _no_rollup(pid: int) -> object:
    """The tick without /proc/PID/smaps_rollup: stat, status and meminfo, parsed as the agent parses them."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat, open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return parsers.parse_proc_stat(stat.read()), parsers.parse_proc_status(status.read()), procfs.read_system()


DIRECT: Dict[str, Optional[Callable[[int], object]]] = {
    "none": None,
    "tick": lambda pid: (procfs.read_process(pid), procfs.read_system()),
    "no_rollup": _no_rollup,
}


def schedstat(pid: int) -> Tuple[int, int]:
    """(ns on a CPU, ns waiting on a run queue) of pid so far, from /proc/PID/schedstat."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
        on_cpu, waiting, _slices = handle.read().split()
    return int(on_cpu), int(waiting)


def pieces(ctx: Context, repeats: int, size_mib: int) -> Dict[str, Dict[str, List[float]]]:
    """The workload driven here, size_mib in 8 MiB steps every 50 ms, with a labagent Sampler at 10 ms
    reading it from another thread (or none), modes interleaved. Per mode: step times (ms), and per run
    the workload's own CPU time and run-queue wait while touching (ms, /proc/PID/schedstat)."""
    found: Dict[str, Dict[str, List[float]]] = {key: {mode: [] for mode in DIRECT} for key in ("step_ms", "cpu_ms", "wait_ms")}
    modes = list(DIRECT)
    clock = SystemClock()
    for index in range(repeats):
        for mode in modes[index % len(modes):] + modes[:index % len(modes)]:
            with start_workload(ctx, size_mib * MIB, 8 * MIB) as workload:
                stop = threading.Event()
                thread = None
                read = DIRECT[mode]
                if read is not None:
                    pid = workload.pid
                    sampler = Sampler(clock, 0.01, clock.monotonic(), lambda r=read: {"reading": r(pid)}, lambda _r: None)
                    thread = threading.Thread(target=sampler.run, args=(stop,), daemon=True)
                    thread.start()
                try:
                    workload.alloc()
                    cpu0, wait0 = schedstat(workload.pid)
                    start = clock.monotonic()
                    for step in range(workload.steps):
                        time.sleep(max(0.0, start + (step + 1) * 0.05 - clock.monotonic()))
                        sent = time.monotonic()  # to `step` back: what the agent's steps[].ms times
                        workload.touch()
                        found["step_ms"][mode].append((time.monotonic() - sent) * 1000.0)
                    workload.finish_touching()
                    cpu1, wait1 = schedstat(workload.pid)
                    found["cpu_ms"][mode].append((cpu1 - cpu0) / 1e6)
                    found["wait_ms"][mode].append((wait1 - wait0) / 1e6)
                finally:
                    stop.set()
                    if thread is not None:
                        thread.join(10)
    return found
