"""The agent run as people run it, `python -m labagent run` from the checkout, measured from outside."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from labagent import results

from .core import BenchError, ChildUsage, Context, reap, start, tail


def agent_argv(ctx: Context, out_dir: str, *, size: str, step: str, step_interval: float,
               sample_interval: float, pause: float, tail_s: float) -> List[str]:
    return [ctx.python, "-m", "labagent", "run", "--out", out_dir, f"--size={size}", f"--step={step}",
            f"--step-interval={step_interval}", f"--sample-interval={sample_interval}", f"--pause={pause}",
            f"--tail={tail_s}", "--no-imds", "--quiet"]


def run_agent(ctx: Context, out_dir: str, *, timeout: float = 300.0,
              watch: Optional[Callable[[int], None]] = None, **knobs: Any) -> Tuple[ChildUsage, Dict[str, Any]]:
    """Runs one experiment into out_dir; returns the agent's usage and its results.json.

    watch(pid), if given, is called over and over while the agent runs (it should sleep a little):
    a reading of the agent from outside.
    """
    log_path = out_dir + ".stderr"
    with open(log_path, "w", encoding="utf-8") as err:
        started = time.perf_counter()
        proc = start(agent_argv(ctx, out_dir, **knobs), cwd=ctx.repo, stderr=err)
        usage = reap(proc, started, timeout=timeout,
                     between=None if watch is None else (lambda: watch(proc.pid)))
    if usage.returncode != 0:
        raise BenchError(f"the agent exited with {usage.returncode}: {tail(log_path)}")
    try:
        data = results.load_run(out_dir)  # with its samples (from samples.jsonl)
    except (OSError, ValueError) as exc:
        raise BenchError(f"the agent wrote no readable results.json in {out_dir}: {exc}") from None
    return usage, data
