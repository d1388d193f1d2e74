"""bench/wake_floor.c and its Python twin, the floor the sampler benchmark measures beside the agent:
each builds, wakes the number of ticks it is asked for on a 10 ms grid, and reports a CPU time per tick
that is a real measurement (positive, below the tick itself). No timing is asserted."""
import os
import subprocess
import time

import pytest

from bench import sampler_cost
from bench.core import BenchError, Context


def _ctx(tmp_path):
    return Context(quick=True, tmp=str(tmp_path), log=lambda _m: None)


def test_the_c_floor_builds_wakes_and_reports_cpu_per_tick(tmp_path):
    binary = sampler_cost.build_wake_floor(_ctx(tmp_path))
    started = time.monotonic()
    per_tick = sampler_cost.wake_floor_round(binary, os.getpid(), 20)
    # 20 ticks of 10 ms per C mode (3) and the Python one: each mode waited its grid out.
    assert time.monotonic() - started >= 4 * 20 * 0.01 * 0.9
    assert set(per_tick) == set(sampler_cost.FLOOR_MODES)
    for name, seconds in per_tick.items():
        assert 0 < seconds < 0.01, (name, seconds)  # a wake costs CPU, and less than the tick it waits for


def test_the_c_floor_refuses_bad_usage_and_a_missing_process(tmp_path):
    binary = sampler_cost.build_wake_floor(_ctx(tmp_path))
    usage = subprocess.run([binary], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "usage: wake_floor PID MODE TICKS" in usage.stderr
    gone = subprocess.run([binary, "0", "3", "5"], capture_output=True, text=True, check=False)  # /proc/0 is never a process
    assert gone.returncode == 1 and gone.stdout == ""
    with pytest.raises(BenchError, match="wake_floor exited with 1"):
        sampler_cost.wake_floor_round(binary, 0, 5)
