"""Goal 6: the agent's own memory. Its VmRSS, read from outside every 100 ms, over a long run that
samples every 10 ms: flat while it samples, and what the end of the run costs."""
from __future__ import annotations

import os
import threading
import time
import tracemalloc
from typing import Any, Dict, List, Optional, Tuple

from labagent.clock import FakeClock
from labagent.params import Params
from labagent.run_record import Run
from labagent.sampler import Sampler

from . import stats
from .agent import run_agent
from .core import Context, Result, Row, SleepTarget, read_vmrss_kib

ITEM = "6 agent memory"
GOAL_GROWTH_KIB = 1024.0
WARM_UP_S = 2.0  # after baseline begins: the ps loop and sar have started, imports are done
EDGE_S = 5.0  # start and end RSS: the median of the readings in the window's first and last 5 s


def _window(data: Dict[str, Any]) -> Tuple[float, float]:
    """Wall-clock start and end of the sampling window: baseline + warm-up to the end of the last phase."""
    phases = data["phases"]
    origin = float(data["started_wall"])
    return origin + float(phases[0]["start"]) + WARM_UP_S, origin + float(phases[-1]["end"])


def run(ctx: Context) -> Result:
    result = Result("memory", "Memory of the agent itself")
    size_mib = ctx.pick(56, 16)
    knobs = dict(size=f"{size_mib}MiB", step="1MiB", step_interval=1.0, sample_interval=0.01, pause=1.0, tail_s=1.0)
    expected_s = 3 * 1.0 + size_mib * 1.0 + 1.0
    readings: List[Tuple[float, int]] = []

    def watch(pid: int) -> None:
        rss = read_vmrss_kib(pid)
        if rss is not None:
            readings.append((time.time(), rss))
        time.sleep(0.1)

    ctx.log(f"memory: agent at 10 ms sampling for about {expected_s:.0f} s, VmRSS read every 100 ms")
    usage, data = run_agent(ctx, os.path.join(ctx.tmp, "memory"), timeout=expected_s + 120, watch=watch, **knobs)
    start_wall, end_wall = _window(data)
    inside = [(t, rss) for t, rss in readings if start_wall <= t <= end_wall]
    first = [rss for t, rss in inside if t <= start_wall + EDGE_S]
    last = [rss for t, rss in inside if t >= end_wall - EDGE_S]
    start_kib, end_kib = stats.median(first), stats.median(last)
    growth = None if start_kib is None or end_kib is None else end_kib - start_kib
    per_min = stats.slope([t / 60.0 for t, _ in inside], [float(rss) for _, rss in inside])
    peak = max((rss for _, rss in readings), default=None)
    after = [rss for t, rss in readings if t > end_wall]
    ticks = data.get("ticks") or {}
    samples = len(data.get("samples") or [])
    run_s = float(data["phases"][-1]["end"]) - float(data["phases"][0]["start"])
    result.raw = {
        "knobs": knobs, "window_s": end_wall - start_wall, "readings": len(readings),
        "rss_start_kib": start_kib, "rss_end_kib": end_kib, "growth_kib": growth, "slope_kib_per_min": per_min,
        "rss_peak_kib": peak, "rss_after_sampling_max_kib": max(after, default=None),
        "series": [(round(t - start_wall, 2), rss) for t, rss in readings],
        "agent_cpu_s": usage.cpu_s, "agent_wall_s": usage.wall_s, "run_s": run_s, "samples": samples,
        "ticks": ticks,
    }
    per_hour = None if per_min is None else per_min * 60.0
    result.rows = [
        Row(ITEM, f"agent VmRSS while sampling at 10 ms: start -> end of {end_wall - start_wall:.0f} s",
            f"{stats.fmt_kib(start_kib)} -> {stats.fmt_kib(end_kib)}"),
        Row(ITEM, "growth over the run", "n/a" if growth is None else f"{growth:+,.0f} KiB",
            f"<= {GOAL_GROWTH_KIB:,.0f} KiB", stats.verdict(growth, GOAL_GROWTH_KIB)),
        Row(ITEM, "trend (least squares), extrapolated to 1 h", "n/a" if per_hour is None else f"{per_hour:+,.0f} KiB/h"),
        Row(ITEM, f"peak VmRSS, incl. writing results ({samples} samples)", stats.fmt_kib(peak)),
        Row(ITEM, "agent CPU at 10 ms, incl. its gcc, ps loop, sar (share of one core)",
            stats.fmt_pct(usage.cpu_s / usage.wall_s * 100.0, signed=False)),
        Row(ITEM, "the agent's own 10 ms ticks in this run: p99 / late / missed", _ticks_text(ticks)),
    ]
    result.details.append(
        f"`python -m labagent run --size {knobs['size']} --step 1MiB --step-interval 1 --sample-interval 0.01 "
        f"--pause 1 --tail 1`; VmRSS of the agent's PID read from /proc/PID/status every 100 ms by this process "
        f"({len(readings)} readings). Start and end are the medians of the first and last {EDGE_S:.0f} s of the "
        f"sampling window (baseline + {WARM_UP_S:.0f} s to the end of the last phase); the peak includes the "
        f"agent's own end of run (analysis, results.json).")
    retained = retained_per_tick(ctx)
    result.raw["retained_per_tick"] = retained
    top = retained["top"][0] if retained["top"] else None
    result.rows.append(Row(ITEM, f"bytes kept per tick by Sampler + Run.on_sample (tracemalloc, {retained['ticks']:,} ticks)",
                           f"{retained['bytes_per_tick']:.0f} B" + (f", most at {top['where']}" if top else "")))
    if ticks.get("error"):
        result.notes.append(
            f"The agent's sampler thread stopped with an error during this run and recorded it in "
            f"results.json ticks.error: {ticks['error'][:160]}")
    if per_hour is not None and per_hour > GOAL_GROWTH_KIB:
        result.notes.append(
            f"RSS trends up by {per_hour:,.0f} KiB per hour at 10 ms (flat enough for a 60 s run, not for an hour). "
            f"The sampling path itself keeps {retained['bytes_per_tick']:.0f} B per tick (tracemalloc), about "
            f"{retained['bytes_per_tick'] * 360000 / 1024 / 1024:.0f} MiB an hour at 10 ms"
            + (f", allocated at {top['where']}" if top else "")
            + ": Sampler appends every tick's lateness to TickStats.lateness_ms to compute percentiles at the end.")
    if peak is not None and end_kib is not None and peak - end_kib > GOAL_GROWTH_KIB:
        result.notes.append(
            f"At the end the agent reads every sample back into memory (results.read_samples in _finish) and "
            f"writes them into results.json: RSS peaks {peak - end_kib:+,.0f} KiB above the sampling level for "
            f"{samples} samples, and this grows with the run's length.")
    return result


def _ticks_text(ticks: Dict[str, Any]) -> str:
    if ticks.get("error") and "ticks" not in ticks:
        return "sampler stopped with an error (see notes)"
    p99: Optional[float] = ticks.get("lateness_ms_p99")
    return f"{stats.fmt_ms(p99)} / {ticks.get('late')} of {ticks.get('ticks')} / {ticks.get('missed')}"


def retained_per_tick(ctx: Context) -> Dict[str, Any]:
    """Bytes the agent's sampling path keeps per tick: a Sampler on a fake clock (no waiting) reading a
    real process with Run.reading and writing samples.jsonl with Run.on_sample, under tracemalloc."""
    ticks = ctx.pick(10000, 3000)
    out_dir = os.path.join(ctx.tmp, "memory-tracemalloc")
    os.makedirs(out_dir)
    clock = FakeClock()
    with SleepTarget() as pid:
        run = Run(Params(), out_dir, clock, "/proc", lambda _m: None, [])
        sampler = Sampler(clock, 0.01, clock.monotonic(), lambda: run.reading(pid), run.on_sample)
        try:
            sampler.run(threading.Event(), max_ticks=200)  # warm-up: first allocations, file buffers
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                sampler.run(threading.Event(), max_ticks=200 + ticks)
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
        finally:
            run.sample_log.close()
    diff = [d for d in after.compare_to(before, "lineno") if d.size_diff > 0]
    repo = ctx.repo + os.sep
    top = [{"where": f"{d.traceback[0].filename.replace(repo, '')}:{d.traceback[0].lineno}", "bytes": d.size_diff,
            "count": d.count_diff} for d in diff[:3]]
    return {"ticks": ticks, "bytes_per_tick": sum(d.size_diff for d in diff) / ticks, "top": top}
