"""The sampler keeps an absolute schedule and reports lateness and missed ticks (fake clock)."""
import threading

import pytest

from labagent.clock import FakeClock
from labagent.sampler import Sampler, default_late_threshold_ms


def run_ticks(clock, interval, n, lateness=()):
    clock.lateness = list(lateness)
    records = []
    origin = clock.monotonic()
    sampler = Sampler(clock, interval, origin, lambda: {}, records.append)
    stats = sampler.run(threading.Event(), max_ticks=n)
    return records, stats


def test_ticks_stay_on_the_grid_without_drift():
    clock = FakeClock()
    # Every wake is 30 ms late: a sleep(interval) loop would drift 30 ms per tick.
    records, stats = run_ticks(clock, 1.0, 5, lateness=[0.03] * 5)
    assert [r["t"] for r in records] == pytest.approx([0.03, 1.03, 2.03, 3.03, 4.03])
    assert [r["tick"] for r in records] == [0, 1, 2, 3, 4]
    assert stats.late == 0 and stats.missed == 0


def test_a_sampler_started_after_the_origin_reads_at_once_and_is_not_late():
    """The run's origin is taken before the workload starts: the sampler begins some 80 ms after it.
    Its first reading is taken at once, at its true time, and is not counted late: the deadline passed
    before the sampler existed."""
    clock = FakeClock()
    origin = clock.monotonic()
    clock.advance(0.08)
    records = []
    stats = Sampler(clock, 1.0, origin, lambda: {}, records.append).run(threading.Event(), max_ticks=3)
    assert [r["tick"] for r in records] == [0, 1, 2]
    assert [r["t"] for r in records] == pytest.approx([0.08, 1.0, 2.0])
    assert [r["late_ms"] for r in records] == pytest.approx([0.0, 0.0, 0.0])
    assert stats.late == 0 and stats.missed == 0


def test_a_stall_is_recorded_as_missed_ticks_not_hidden():
    clock = FakeClock()
    # The third wake comes 2.5 intervals late (a stalled machine): ticks 2 and 3 are missed.
    records, stats = run_ticks(clock, 1.0, 4, lateness=[0, 0, 2.5, 0])
    assert [r["tick"] for r in records] == [0, 1, 4, 5]
    assert records[2]["missed_before"] == 2
    assert records[2]["late_ms"] == pytest.approx(500.0)
    assert stats.missed == 2 and stats.late == 1


def test_late_threshold_scales_with_fast_sampling():
    assert default_late_threshold_ms(1.0) == 50.0
    assert default_late_threshold_ms(0.01) == 2.5
    clock = FakeClock()
    _, stats = run_ticks(clock, 0.01, 3, lateness=[0.001, 0.003, 0.0])
    assert stats.late == 1
    assert stats.as_dict()["lateness_ms_max"] == pytest.approx(3.0)


def test_stop_ends_the_loop():
    clock = FakeClock()
    stop = threading.Event()
    stop.set()
    stats = Sampler(clock, 1.0, clock.monotonic(), lambda: {}, lambda r: None).run(stop)
    assert stats.ticks == 0
