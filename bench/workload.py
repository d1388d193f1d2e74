"""The lab's own workload, allocate.c, compiled here and driven over its control pipe as the agent
drives it: a realistic process to sample (100 MiB touched) and steps to time without the agent."""
from __future__ import annotations

import os
import pkgutil
import select
import subprocess
import time
from typing import List, Optional

from .core import BenchError, Context


def build(ctx: Context) -> str:
    """`gcc allocate.c -o allocate` once per benchmark run, in its scratch directory."""
    work = os.path.join(ctx.tmp, "allocate-bin")
    binary = os.path.join(work, "allocate")
    if os.path.exists(binary):
        return binary
    os.makedirs(work, exist_ok=True)
    source = pkgutil.get_data("labagent", "allocate.c")
    if source is None:
        raise BenchError("labagent/allocate.c is missing")
    with open(os.path.join(work, "allocate.c"), "wb") as handle:
        handle.write(source)
    done = subprocess.run(["gcc", "allocate.c", "-o", "allocate"], cwd=work, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"gcc could not build allocate.c: {done.stdout.strip()[:200]}")
    return binary


class Workload:
    """One allocate process: `with Workload(ctx, size, step) as w: w.alloc(); w.touch()`; killed by its
    PID on exit. Sizes in bytes."""

    def __init__(self, ctx: Context, size: int, step: int, variant: str = "malloc") -> None:
        self.argv = [build(ctx), "-s", str(size), "-t", str(step), "-v", variant]
        self.steps = -(-size // step)
        self.proc: Optional[subprocess.Popen] = None
        self._read_fd = -1
        self._buffer = b""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the workload is started by `with`"
        return self.proc.pid

    def __enter__(self) -> "Workload":
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(self.argv + ["-c", str(write_fd)], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        self._read_fd = read_fd
        self.expect("baseline")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1

    def send(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((word + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"the workload exited before '{word}'") from None

    def expect(self, word: str, timeout: float = 30.0) -> List[str]:
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._read_fd], [], [], timeout)
            chunk = os.read(self._read_fd, 4096) if ready else None
            if not chunk:
                raise BenchError(f"the workload said nothing (or exited) while we waited for '{word}'")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        parts = line.decode().split()
        if not parts or parts[0] != word:
            raise BenchError(f"the workload said {line!r}, expected '{word}'")
        return parts

    def alloc(self) -> None:
        self.send("alloc")
        self.expect("allocated")

    def touch(self) -> float:
        """One step; seconds from sending `touch` to reading `step` back (what the agent's steps[].ms times)."""
        started = time.monotonic()
        self.send("touch")
        self.expect("step")
        return time.monotonic() - started

    def touch_all(self) -> None:
        for _ in range(self.steps):
            self.touch()
        self.expect("touched")
