"""Drift-free sampling: ticks on absolute deadlines of a monotonic clock, lateness recorded, never hidden."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional


@dataclass
class TickStats:
    """How well the sampler kept its schedule."""

    interval_s: float
    late_threshold_ms: float
    ticks: int = 0
    late: int = 0
    missed: int = 0
    # Lateness counted in 10 µs bins: constant memory however long the run (a list grew 33 B a tick).
    lateness_bins: Dict[int, int] = field(default_factory=dict)
    lateness_max_ms: Optional[float] = None

    def add(self, late_ms: float) -> None:
        self.ticks += 1
        key = round(late_ms * 100)  # an int
        self.lateness_bins[key] = self.lateness_bins.get(key, 0) + 1
        if self.lateness_max_ms is None or late_ms > self.lateness_max_ms:
            self.lateness_max_ms = late_ms
        if late_ms > self.late_threshold_ms:
            self.late += 1

    def percentile(self, q: float) -> Optional[float]:
        if not self.ticks:
            return None
        rank = min(self.ticks - 1, int(q * self.ticks))
        seen = 0
        for key in sorted(self.lateness_bins):
            seen += self.lateness_bins[key]
            if seen > rank:
                return round(key / 100.0, 3)
        return None

    def as_dict(self) -> Dict[str, object]:
        return {
            "interval_s": self.interval_s,
            "late_threshold_ms": self.late_threshold_ms,
            "ticks": self.ticks,
            "late": self.late,
            "missed": self.missed,
            "lateness_ms_p50": self.percentile(0.50),
            "lateness_ms_p99": self.percentile(0.99),
            "lateness_ms_max": round(self.lateness_max_ms, 3) if self.lateness_max_ms is not None else None,
        }


def half_tick(interval_s: float) -> float:
    """Half a sample interval, at most half a second: the middle between two of the sampler's ticks
    (where the ps loop runs, off the sampler's grid), and how late a tick may wake and still count in
    the second it was due in (smaps_rollup's once-a-second read)."""
    return min(0.5, interval_s / 2.0)


def default_late_threshold_ms(interval_s: float) -> float:
    """A tick is late past 50 ms, or past a quarter interval when sampling faster than 200 ms."""
    return min(50.0, interval_s * 1000.0 / 4.0)


class Sampler:
    """Calls `read` on every deadline origin + k * interval and hands the record to `sink`.

    When the thread wakes after one or more whole deadlines have passed (a stalled machine),
    those ticks are counted as missed on the next record (`missed_before`) instead of being
    taken late in a burst: the schedule stays on its grid and nothing is hidden.
    """

    def __init__(self, clock, interval_s: float, origin: float,
                 read: Callable[[], Dict[str, object]], sink: Callable[[Dict[str, object]], None],
                 late_threshold_ms: Optional[float] = None) -> None:
        self.clock = clock
        self.interval_s = interval_s
        self.origin = origin
        self.read = read
        self.sink = sink
        self.stats = TickStats(
            interval_s=interval_s,
            late_threshold_ms=late_threshold_ms if late_threshold_ms is not None
            else default_late_threshold_ms(interval_s))

    def run(self, stop: threading.Event, max_ticks: Optional[int] = None) -> TickStats:
        # Bound once: at 10 ms this is the agent's hottest loop, and each pass starts in caches gone cold.
        origin, interval, read, sink, stats = self.origin, self.interval_s, self.read, self.sink, self.stats
        wait_until, monotonic, add = self.clock.wait_until, self.clock.monotonic, stats.add
        began = monotonic()
        k = max(0, int((began - origin) / interval))
        missed = 0
        while max_ticks is None or stats.ticks < max_ticks:
            deadline = origin + k * interval
            if not wait_until(deadline, stop):
                break
            now = monotonic()
            behind = int((now - deadline) / interval)
            if behind > 0:  # whole intervals passed while we slept: skip to the current one
                missed += behind
                k += behind
                deadline = origin + k * interval
            record = read()
            # Late after the later of its deadline and the sampler's start: the run's origin is taken before
            # the workload starts, and a deadline that passed before the sampler existed (tick 0, some
            # 80 ms) is a start-up delay, not a late tick. Its `t` stays the true time.
            late_ms = (now - (deadline if deadline > began else began)) * 1000.0
            record["tick"] = k
            record["t"] = round(now - origin, 6)
            record["late_ms"] = round(late_ms, 3)
            record["missed_before"] = missed
            stats.missed += missed
            add(late_ms)
            missed = 0
            sink(record)
            k += 1
        return self.stats


class PeriodicThread(threading.Thread):
    """Runs a sampler-like loop in the background until stop() is called."""

    def __init__(self, name: str, loop: Callable[[threading.Event], object]) -> None:
        super().__init__(name=name, daemon=True)
        self._loop = loop
        self._stop_event = threading.Event()
        self.result: object = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.result = self._loop(self._stop_event)
        except (OSError, ValueError) as exc:  # recorded in the results by the caller
            self.error = exc

    def stop(self, timeout: float = 10.0) -> object:
        """Stops the loop and returns its result; a failure is left in `error` for the caller to record."""
        self._stop_event.set()
        self.join(timeout)
        return self.result
