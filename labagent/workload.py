"""The workload client: build allocate.c, start it, and speak its control protocol. Commands go to its
stdin one word a line (alloc, touch, free, exit); it answers on a control pipe (-c FD): `baseline`,
`allocated PTR`, `step INDEX BYTES`, `timing NS NS` (one-timed-step variants), `touched`, `freed`.
The agent's phase script (experiment.py) and the benchmarks (bench/) both drive it through here."""
from __future__ import annotations

import os
import pkgutil
import select
import subprocess
from typing import Callable, List, Optional, Tuple

from . import captures, children, tools, variants, vocab
from .errors import LabError


class WorkloadDied(Exception):
    """The workload ended before the run was done (killed by a signal, OOM, crash)."""


def build_workload(out_dir: str, raw_dir: str) -> str:
    """`gcc allocate.c -o allocate` in out_dir, as the original did; gcc's words to raw_dir. Returns the binary."""
    if tools.which(captures.GCC.name) is None:
        raise LabError(f"gcc not found: {tools.INSTALL_HINTS[captures.GCC.name]}")
    source = pkgutil.get_data("labagent", vocab.WORKLOAD_SOURCE)
    if source is None:
        raise LabError(f"{vocab.WORKLOAD_SOURCE} is missing from the agent package; rebuild labagent.pyz")
    with open(os.path.join(out_dir, vocab.WORKLOAD_SOURCE), "wb") as handle:
        handle.write(source)
    argv = captures.GCC_BUILD.argv()
    done = children.run(argv, cwd=out_dir, env=tools.capture_env(),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    with open(os.path.join(raw_dir, captures.GCC_BUILD.raw_name()), "w", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(argv)}\n" + done.stdout)
    if done.returncode != 0:
        first = done.stdout.strip().splitlines()[:1]
        raise LabError(f"gcc failed to build {vocab.WORKLOAD_SOURCE}: {first[0] if first else 'no output'} "
                       f"(is libc6-dev / glibc-devel installed?)")
    return os.path.join(out_dir, vocab.WORKLOAD_BINARY)


def workload_argv(binary: str, size_bytes: int, step_bytes: int, variant: str) -> List[str]:
    """allocate's command line without its control pipe: -s SIZE -t STEP and the variant's flag."""
    return [binary, "-s", str(size_bytes), "-t", str(step_bytes), *variants.get(variant).workload_flag]


class ControlChannel:
    """Lines the workload writes on its control fd, read with a timeout."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read_line(self, timeout: float) -> Optional[str]:
        """The next line, or None at EOF (the workload is gone)."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                raise WorkloadDied(f"the workload said nothing for {timeout:.0f}s")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Workload:
    """One started allocate process and its protocol; WorkloadDied when it stops answering. A context
    manager: leaving it kills the process if it still runs and closes the pipes (see `start`)."""

    def __init__(self, proc: subprocess.Popen, command: List[str], channel: ControlChannel,
                 variant: variants.Variant, steps: int, timeout_s: float) -> None:
        self.proc = proc
        self.command = command  # as started, without the control pipe's -c FD
        self.channel = channel
        self.variant = variant
        self.steps = steps  # touch commands until `touched`
        self.timeout_s = timeout_s

    @property
    def pid(self) -> int:
        return self.proc.pid

    def expect(self, word: str) -> List[str]:
        """The next line's words; WorkloadDied unless it starts with word."""
        line = self.channel.read_line(self.timeout_s)
        if line is None:
            self.proc.wait()
            raise WorkloadDied(f"the workload exited with status {self.proc.returncode} before '{word}'")
        parts = line.split()
        if not parts or parts[0] != word:
            raise WorkloadDied(f"the workload said {line!r}, expected {word!r}")
        return parts

    def send(self, word: str) -> None:
        try:
            self.proc.stdin.write((word + "\n").encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            self.proc.wait()
            raise WorkloadDied(f"the workload exited with status {self.proc.returncode} before '{word}'") from None

    def wait_baseline(self) -> None:
        """The workload is up and waits for `alloc`."""
        self.expect("baseline")

    def alloc(self) -> str:
        """Allocates the block; its address in hex, as allocate prints it."""
        self.send("alloc")
        return self.expect("allocated")[1]

    def touch(self) -> Tuple[int, int]:
        """Writes the next step: (its index, bytes touched so far)."""
        self.send("touch")
        parts = self.expect("step")
        return int(parts[1]), int(parts[2])

    def finish_touching(self) -> Optional[Tuple[int, int]]:
        """After the last step: `touched`, preceded for a one-timed-step variant by its timing
        (first touch ns, second pass ns), which this returns (None for the others)."""
        timing = None
        if self.variant.one_timed_step:
            parts = self.expect("timing")
            timing = (int(parts[1]), int(parts[2]))
        self.expect("touched")
        return timing

    def touch_all(self) -> Optional[Tuple[int, int]]:
        for _ in range(self.steps):
            self.touch()
        return self.finish_touching()

    def free(self) -> None:
        self.send("free")
        self.expect("freed")

    def exit(self) -> int:
        """Tells it to exit and waits (timeout_s) for its exit status."""
        self.send("exit")
        self.proc.stdin.close()  # type: ignore[union-attr]
        return self.proc.wait(timeout=self.timeout_s)

    def close(self) -> None:
        """Kills the process if it still runs, reaps it, closes its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass  # nothing was left to write to a process that is gone
        self.channel.close()

    def __enter__(self) -> "Workload":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start(binary: str, size_bytes: int, step_bytes: int, variant: str, *, timeout_s: float = 60.0,
          spawn: Callable[..., subprocess.Popen] = children.spawn, **popen_kwargs) -> Workload:
    """Starts allocate with a control pipe (spawn: children.spawn, or a Children's); popen_kwargs go to
    spawn (stdout, stderr, cwd, env). The caller waits for `baseline` (Workload.wait_baseline)."""
    declared = variants.get(variant)
    command = workload_argv(binary, size_bytes, step_bytes, variant)
    read_fd, write_fd = os.pipe()
    proc = None
    try:
        proc = spawn(command + ["-c", str(write_fd)], stdin=subprocess.PIPE, pass_fds=(write_fd,), **popen_kwargs)
    finally:
        os.close(write_fd)
        if proc is None:
            os.close(read_fd)
    return Workload(proc, command, ControlChannel(read_fd), declared,
                    declared.steps(size_bytes, step_bytes), timeout_s)
