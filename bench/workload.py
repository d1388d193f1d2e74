"""The lab's own workload for the benchmarks: allocate.c built once per benchmark run in its scratch
directory, then driven through the agent's workload client (labagent/workload.py) as the agent drives
it: a realistic process to sample (100 MiB touched) and steps to time without the agent."""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from typing import Iterator

from labagent import vocab, workload
from labagent.errors import LabError

from .core import BenchError, Context


def build(ctx: Context) -> str:
    """`gcc allocate.c -o allocate` once per benchmark run, in its scratch directory."""
    work = os.path.join(ctx.tmp, "allocate-bin")
    binary = os.path.join(work, vocab.WORKLOAD_BINARY)
    if os.path.exists(binary):
        return binary
    os.makedirs(work, exist_ok=True)
    try:
        return workload.build_workload(work, work)
    except LabError as exc:
        raise BenchError(str(exc)) from None


@contextmanager
def start_workload(ctx: Context, size: int, step: int, variant: str = "malloc") -> Iterator[workload.Workload]:
    """One allocate process waiting for `alloc` (sizes in bytes), killed by its PID when the block ends;
    a workload that stops answering is a BenchError."""
    try:
        with workload.start(build(ctx), size, step, variant, timeout_s=30.0, spawn=subprocess.Popen,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as client:
            client.wait_baseline()
            yield client
    except workload.WorkloadDied as exc:
        raise BenchError(str(exc)) from None
