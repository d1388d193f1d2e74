"""The phase script: one run of the lab on this host. Build allocate.c, start it with the captures
around it, drive it phase by phase (baseline, allocated, touching, touched, freed, exited), then analyse
what was captured and write results.json. The parts live by job: params.py (the knobs and their
checks), workload.py (the workload client), run_record.py (the record of the run as it goes)."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
from dataclasses import asdict, replace
from typing import Callable, Dict, List, Optional

from . import analysis, children, hostfacts, parsers, procfs, tools, vocab, workload
from .clock import SystemClock
from .errors import LabError  # noqa: F401  (re-exported)
from .params import MIN_INTERVAL, Params, check_memory, validate  # noqa: F401  (re-exported)
from .record import Outcome, RunRecord, Step, Timing
from .record import Workload as WorkloadRecord
from .run_record import _MEMINFO, SAMPLES_FLUSH_S, Run, prepare_out_dir  # noqa: F401  (re-exported)
from .sampler import PeriodicThread, Sampler
from .units import format_size
from .vocab import PHASES, VARIANTS  # noqa: F401  (re-exported for callers of experiment)
from .workload import Workload, WorkloadDied


class Interrupted(Exception):
    """The agent was asked to stop (SIGTERM, SIGINT)."""


def run_experiment(params: Params, out_dir: str, *, clock=None, proc_root: str = "/proc",
                   host_root: str = "/", progress: Callable[[str], None] = lambda _m: None,
                   argv: Optional[List[str]] = None) -> Dict[str, object]:
    """Runs the lab and returns results.json's content. Raises LabError before anything starts
    for bad input; a workload that dies mid-run is recorded (complete: false), not raised."""
    validate(params)
    params = replace(params, step_bytes=params.declared_variant.step_bytes(params.size_bytes, params.step_bytes))
    clock = clock or SystemClock()
    prepare_out_dir(out_dir, params.force)
    meminfo = procfs.read_system(proc_root)
    check_memory(params, meminfo["mem_available_kib"])  # type: ignore[arg-type]
    raw_dir = os.path.join(out_dir, vocab.RAW_DIR)
    binary = workload.build_workload(out_dir, raw_dir)

    run = Run(params, out_dir, clock, proc_root, progress, argv or [])
    run.update(host=hostfacts.read_host_facts(host_root, ask_imds=params.ask_imds),
               tools={"versions": tools.tool_versions()})
    run.capture_once()  # uname -a, os-release: what needs no workload
    run.save()

    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def interrupted(signum, _frame):
        raise Interrupted(f"agent stopped by {signal.Signals(signum).name}")

    for sig in previous:
        signal.signal(sig, interrupted)
    threads: List[PeriodicThread] = []
    client: Optional[Workload] = None
    started = children.Children()  # ended in `finally`; a death signal covers the exits that skip it
    try:
        for thread in run.start_continuous(None, started.spawn):  # sar -r 1: from before the workload
            thread.start()
            threads.append(thread)
        with open(os.path.join(raw_dir, vocab.PROGRAM_LOG), "w", encoding="utf-8") as out, \
                open(os.path.join(raw_dir, vocab.PROGRAM_STDERR), "w", encoding="utf-8") as err:
            client = workload.start(binary, params.size_bytes, params.step_bytes, params.variant,
                                    timeout_s=params.timeout_s, spawn=started.spawn, cwd=out_dir, stdout=out,
                                    stderr=err, env=tools.capture_env())
        run.update(workload=WorkloadRecord(
            pid=client.pid, command=tuple([f"./{vocab.WORKLOAD_BINARY}"] + client.command[1:]),
            # glibc's malloc tunables change the mmap threshold the writeup explains.
            malloc_env={k: v for k, v in os.environ.items() if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")}))
        drive_phases(run, client, stop, threads, started.spawn)
        run.update(outcome=Outcome(status="complete", reason=None, signal=None, phase=None), complete=True)
    except (WorkloadDied, Interrupted) as exc:
        status = "interrupted" if isinstance(exc, Interrupted) else "failed"
        sig = None
        if client is not None and client.proc.poll() is not None and client.proc.returncode < 0:
            sig = signal.Signals(-client.proc.returncode).name
        reason = str(exc) if sig is None else f"the workload was killed by {sig} during {run.phase}"
        run.update(outcome=Outcome(status=status, reason=reason, signal=sig, phase=run.phase))
        progress(f"run {status}: {reason}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if client is not None:
            client.close()
        stop.set()
        run.stop_captures(threads)
        started.end()
        run.close()
        run.end_phases()
        finish_run(run)
    return run.record.to_json()


def _record(run: Run) -> RunRecord:
    """The run's record, a run's (not a recording's)."""
    rec = run.record
    assert isinstance(rec, RunRecord)
    return rec


def _set_workload(run: Run, **fields: object) -> None:
    """Fields of the workload's part of the record (its pointer, its exit status)."""
    workload = _record(run).workload
    if workload is not None:
        run.update(workload=replace(workload, **fields))


def drive_phases(run: Run, client: Workload, stop: threading.Event, threads: List[PeriodicThread],
                 spawn: Callable[..., subprocess.Popen] = children.spawn) -> None:
    """The run's phases, each a command to the workload, its answer, and a snapshot: baseline (the
    sampler and the captures of the workload start: the ps loop; its snapshot and ps u at the end of
    its pause, right before malloc), allocated, touching (one timed
    step per --step-interval), touched, freed (variants that free), exited. WorkloadDied when the workload stops answering."""
    params = run.params
    pid = client.pid

    client.wait_baseline()
    run.begin_phase("baseline")
    sampler = Sampler(run.clock, params.sample_interval_s, run.origin, functools.partial(run.sample, pid), run.on_sample)
    started = [PeriodicThread("sampler", sampler.run)] + run.start_continuous(pid, spawn)
    threads.extend(started)
    for thread in started:
        thread.start()
    # The baseline snapshot closes the pause, right before malloc: the machine-wide figures (Committed_AS
    # above all) move by several MiB in the run's first second (the agent's threads and buffers, sar's
    # sadc starting), and the writeup reads the call's effect as allocated minus baseline.
    run.save()
    run.wait(params.pause_s, stop)
    base = run.snapshot("baseline", pid)
    run.capture_once(pid)  # ps u
    run.progress(f"baseline: VSZ {base.reading['vsz_kib']} KiB, RSS {base.reading['rss_kib']} KiB")
    run.save()

    pointer = client.alloc()
    run.begin_phase("allocated")
    _set_workload(run, pointer=pointer)
    snap = run.snapshot("allocated", pid)
    run.progress(f"allocated {format_size(params.size_bytes)} at 0x{pointer}: VSZ {snap.reading['vsz_kib']} KiB, "
                 f"RSS {snap.reading['rss_kib']} KiB")
    run.save()
    run.wait(params.pause_s, stop)

    run.begin_phase("touching")
    run.save()  # a run killed while touching says it got that far
    start = run.clock.monotonic()
    for index in range(params.steps):
        deadline = start + index * params.step_interval_s
        run.clock.wait_until(deadline, threading.Event())
        sent = run.clock.monotonic()
        step_index, touched = client.touch()
        took = run.clock.monotonic() - sent
        reading = procfs.read_process(pid, run.proc_root) or {}
        step = Step(index=step_index, bytes=touched, t=round(sent - run.origin, 6),
                    late_ms=round((sent - deadline) * 1000, 3), ms=round(took * 1000, 3),
                    rss_kib=reading.get("rss_kib"), min_flt=reading.get("min_flt"), maj_flt=reading.get("maj_flt"),
                    anon_huge_kib=reading.get("anon_huge_kib"))
        run.update(steps=_record(run).steps + (step,))
        run.progress_file.update(touched_bytes=touched, step=index + 1, rss_kib=reading.get("rss_kib"),
                                 min_flt=reading.get("min_flt"), t=run.elapsed())
        run.progress(f"touched {format_size(touched)} ({index + 1}/{params.steps}): RSS {reading.get('rss_kib')} KiB, "
                     f"min_flt {reading.get('min_flt')}")
    timing = client.finish_touching()
    if timing is not None:
        run.update(timing=Timing(first_touch_ns=timing[0], second_pass_ns=timing[1]))
    run.begin_phase("touched")
    run.snapshot("touched", pid)
    run.save()
    run.wait(params.pause_s, stop)

    if params.declared_variant.frees:
        client.free()
        run.begin_phase("freed")
        run.snapshot("freed", pid)
        run.save()
        run.wait(params.pause_s, stop)

    status = client.exit()
    run.begin_phase("exited")
    _set_workload(run, exit_status=status)
    if status != 0:
        raise WorkloadDied(f"the workload exited with status {status}")
    run.snapshot("exited", None)
    run.progress("workload exited")
    run.wait(params.tail_s, stop)


def finish_run(run: Run) -> None:
    """Analysis over what was captured, then results.json, samples.csv: also for a partial run."""
    count, huge_peak = run.samples_written()
    run.parse_continuous()
    rec = _record(run)
    snaps = rec.snapshots
    maps_before = parsers.parse_maps(snaps["baseline"].maps or "") if "baseline" in snaps else ()
    maps_after = parsers.parse_maps(snaps["allocated"].maps or "") if "allocated" in snaps else ()
    pointer_hex = rec.workload.pointer if rec.workload is not None else None
    steps = [asdict(step) for step in rec.steps]  # the analysis reads them as results.json has them
    host = rec.host
    summary = analysis.summarize(
        snapshots={k: v.reading for k, v in snaps.items()},
        maps_before=maps_before, maps_after=maps_after,
        pointer=int(pointer_hex, 16) if pointer_hex else None,
        size_bytes=run.params.size_bytes, touched_bytes=max((step.bytes for step in rec.steps), default=0),
        thp_enabled=host.get("thp_enabled"), page_size=int(host.get("page_size") or 4096),
        anon_huge_peak_kib=huge_peak, steps=steps, timing=asdict(rec.timing) if rec.timing is not None else None)
    allocated = snaps["allocated"].reading if "allocated" in snaps else {}
    run.update(summary=summary, step_deltas=tuple(analysis.step_deltas(steps, allocated)), samples_count=count)
    run.save()
