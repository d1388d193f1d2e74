"""Drift-free sampling: ticks on absolute deadlines of a monotonic clock, lateness recorded, never hidden."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional


@dataclass
class TickStats:
    """How well the sampler kept its schedule."""

    interval_s: float
    late_threshold_ms: float
    ticks: int = 0
    late: int = 0
    missed: int = 0
    lateness_ms: List[float] = field(default_factory=list)

    def as_dict(self) -> Dict[str, object]:
        ordered = sorted(self.lateness_ms)

        def pct(q: float) -> Optional[float]:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {
            "interval_s": self.interval_s,
            "late_threshold_ms": self.late_threshold_ms,
            "ticks": self.ticks,
            "late": self.late,
            "missed": self.missed,
            "lateness_ms_p50": pct(0.50),
            "lateness_ms_p99": pct(0.99),
            "lateness_ms_max": round(ordered[-1], 3) if ordered else None,
        }


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
        k = max(0, int((self.clock.monotonic() - self.origin) / self.interval_s))
        missed = 0
        while max_ticks is None or self.stats.ticks < max_ticks:
            deadline = self.origin + k * self.interval_s
            if not self.clock.wait_until(deadline, stop):
                break
            now = self.clock.monotonic()
            behind = int((now - deadline) / self.interval_s)
            if behind > 0:  # whole intervals passed while we slept: skip to the current one
                missed += behind
                k += behind
                deadline = self.origin + k * self.interval_s
            record = self.read()
            late_ms = (now - deadline) * 1000.0
            record.update({
                "tick": k,
                "t": round(now - self.origin, 6),
                "late_ms": round(late_ms, 3),
                "missed_before": missed,
            })
            self.stats.ticks += 1
            self.stats.missed += missed
            self.stats.lateness_ms.append(late_ms)
            if late_ms > self.stats.late_threshold_ms:
                self.stats.late += 1
            missed = 0
            self.sink(record)
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
