"""The clock the sampler and the experiment run on: real by default, injectable in tests."""
from __future__ import annotations

import threading
import time

SHORT_WAIT_S = 0.05  # waits up to this long sleep without watching the stop event


class SystemClock:
    """Monotonic time for scheduling, wall time for timestamps people read."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def wait_until(self, deadline: float, stop: threading.Event) -> bool:
        """Sleeps until the monotonic deadline; returns False once stop is set: at once for a
        long wait, at the deadline for a short one (at most SHORT_WAIT_S later)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return not stop.is_set()
            if remaining <= SHORT_WAIT_S:
                # One clock_nanosleep: Event.wait costs the sampler more CPU per tick (a lock made,
                # acquired with a timeout, and released) than any other step of a 10 ms tick but the reads.
                time.sleep(remaining)
            elif stop.wait(remaining):
                return False


class FakeClock:
    """A clock tests drive: waiting advances time, optionally with a scripted lateness."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall_offset - start
        self.lateness: list = []  # extra seconds added to successive waits

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait_until(self, deadline: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        extra = self.lateness.pop(0) if self.lateness else 0.0
        self.now = max(self.now, deadline) + extra
        return True
