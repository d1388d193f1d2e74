"""Goal 2: does labagent.sampler.Sampler keep its schedule on the real clock? At 1 s over 120 s: late
(> 50 ms) or missed ticks; at 10 ms: p50/p99/max lateness and the share of ticks kept."""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List

from labagent.clock import SystemClock
from labagent.params import Params
from labagent.run_record import Run
from labagent.sampler import Sampler, TickStats

from . import stats
from .core import Context, Result, Row
from .sampler_cost import target

ITEM = "2 fidelity"
LATE_1S_MS = 50.0
GOAL_P99_10MS = 5.0


def _sampler_thread(run: Run, pid: int, interval: float, origin: float, stop: threading.Event,
                    max_ticks, out: Dict[str, TickStats], lateness: List[float]) -> threading.Thread:
    """The agent's own sampling: Run.sample of the target as the read, Run.on_sample (samples.jsonl) as the
    sink; every tick's lateness is kept here (the agent keeps only a histogram)."""
    def sink(record) -> None:
        lateness.append(float(record["late_ms"]))
        run.on_sample(record)

    sampler = Sampler(SystemClock(), interval, origin, lambda: run.sample(pid), sink)

    def loop() -> None:
        out[str(interval)] = sampler.run(stop, max_ticks=max_ticks)

    return threading.Thread(target=loop, name=f"sampler-{interval}", daemon=True)


def run(ctx: Context) -> Result:
    result = Result("fidelity", "Sampler fidelity on the real clock")
    seconds_1s = ctx.pick(120, 20)
    seconds_10ms = ctx.pick(60, 15)
    clock = SystemClock()
    found: Dict[str, TickStats] = {}
    late_1s: List[float] = []
    late_10ms: List[float] = []
    stop_1s, stop_10ms = threading.Event(), threading.Event()
    runs: List[Run] = []
    with target(ctx, "workload") as pid:
        for name in ("1s", "10ms"):
            out_dir = os.path.join(ctx.tmp, f"fidelity-{name}")
            os.makedirs(out_dir)
            runs.append(Run(Params(), out_dir, clock, "/proc", lambda _m: None, []))
        origin = clock.monotonic() + 0.05
        threads = [_sampler_thread(runs[0], pid, 1.0, origin, stop_1s, seconds_1s, found, late_1s),
                   _sampler_thread(runs[1], pid, 0.01, origin, stop_10ms, None, found, late_10ms)]
        ctx.log(f"fidelity: 1 s sampler for {seconds_1s} s and, in a second thread, 10 ms for {seconds_10ms} s")
        load0 = os.getloadavg()
        try:
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, origin + seconds_10ms - clock.monotonic()))
            stop_10ms.set()
            threads[1].join(10)
            threads[0].join(seconds_1s + 10)
        finally:
            stop_1s.set()
            stop_10ms.set()
            for thread in threads:
                thread.join(10)
            for run_ in runs:
                run_.sample_log.close()
    one, fast = found["1.0"], found["0.01"]
    raw: Dict[str, object] = {"loadavg_before": load0, "loadavg_after": os.getloadavg(),
                              "concurrent": "the 1 s and 10 ms samplers ran at the same time, in two threads"}
    s1 = stats.lateness_summary(late_1s, LATE_1S_MS)
    raw["1s"] = {"seconds": seconds_1s, "missed": one.missed, **s1, "agent_stats": one.as_dict()}
    s10 = stats.lateness_summary(late_10ms, fast.late_threshold_ms)
    kept = stats.kept_share(fast.ticks, fast.missed)
    raw["10ms"] = {"seconds": seconds_10ms, "missed": fast.missed, "kept_share": kept, **s10,
                   "agent_stats": fast.as_dict()}
    result.raw = raw
    bad_1s = int(s1["late"] or 0) + one.missed
    result.rows = [
        Row(ITEM, f"1 s for {seconds_1s} s: late (> 50 ms) + missed ticks",
            f"{bad_1s} ({s1['late']} late, {one.missed} missed of {one.ticks + one.missed})", "0",
            stats.verdict(bad_1s, 0)),
        Row(ITEM, "1 s: p99 / max lateness", f"{stats.fmt_ms(s1['p99_ms'])} / {stats.fmt_ms(s1['max_ms'])}"),
        Row(ITEM, f"10 ms for {seconds_10ms} s: p50 / max lateness",
            f"{stats.fmt_ms(s10['p50_ms'])} / {stats.fmt_ms(s10['max_ms'])}"),
        Row(ITEM, "10 ms: p99 lateness", stats.fmt_ms(s10["p99_ms"]), f"<= {GOAL_P99_10MS:.0f} ms",
            stats.verdict(s10["p99_ms"], GOAL_P99_10MS)),
        Row(ITEM, "10 ms: ticks kept (taken / scheduled)",
            f"{stats.fmt_pct(None if kept is None else kept * 100, signed=False)} "
            f"({fast.ticks} of {fast.ticks + fast.missed}; {s10['late']} later than "
            f"{fast.late_threshold_ms:g} ms)"),
    ]
    result.details.append(
        f"Both samplers read the lab's workload holding 100 MiB, touched, with the agent's Run.reading and append to samples.jsonl "
        f"with Run.on_sample, in two threads of one process (as the agent runs its sampler beside the ps loop). "
        f"Load average before/after: {load0[0]:.2f} / {raw['loadavg_after'][0]:.2f}.")  # type: ignore[index]
    if bad_1s:
        result.notes.append("At 1 s a tick was late or missed: the machine stalled the thread for > 50 ms "
                            "(see the load average); the sampler recorded it, as it should.")
    if s10["p99_ms"] is not None and s10["p99_ms"] > GOAL_P99_10MS:
        result.notes.append("At 10 ms the p99 lateness is above 5 ms: the thread's wake-ups are delayed by the "
                            "scheduler and the GIL (two samplers and this process share it).")
    return result
