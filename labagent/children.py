"""How the agent starts a process, so that nothing it starts outlives it, however the agent dies.

Every child gets three things:
- a death signal: in the child, before exec, prctl(PR_SET_PDEATHSIG, SIGKILL), so the kernel kills it
  when the agent dies, also by SIGKILL, the OOM killer or Ansible's async timeout, where no Python
  code of the agent runs any more;
- a session, hence a process group, of its own (its id is the child's PID): the agent ends the whole
  group, grandchildren included, on every exit path it does run (`Children.end`). sar's `sadc` is such
  a grandchild: sar forks it itself, so it has no death signal, but it is in sar's group and dies of
  SIGPIPE at its next write (within a second) once sar is gone;
- SIGINT and SIGQUIT at their defaults, as a terminal's foreground job has them, whatever the agent
  inherited: a script's background job (`labagent run ... &`) starts with both ignored, and an ignored
  disposition survives exec, while the agent stops a continuous capture with SIGINT, as ^C does (sar
  sets its own handler, a command that does not would never stop for it).

The kernel sends the death signal when the *thread* that forked the child ends, not the process: so
`spawn` (a child that runs on after the call) is for the main thread only; `run` (which waits for the
child) may be called from any thread, since that thread cannot end before its child does.
"""
from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import threading
from typing import Callable, List, Optional, Sequence, Tuple

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGKILL


# Signals a child starts with at their defaults (see the module's docstring).
DEFAULT_IN_CHILD = (signal.SIGINT, signal.SIGQUIT)


@functools.lru_cache(maxsize=1)
def _libc() -> Optional[Tuple[Callable[..., int], Callable[..., int]]]:
    """libc's prctl and signal, resolved in the parent: the child only calls them (no import, no dlopen
    after fork)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl, set_signal = libc.prctl, libc.signal
    except (OSError, AttributeError):  # not Linux/glibc-like: the process group is all there is
        return None
    # int prctl(int option, unsigned long arg2, ...): full-width arguments on every ABI (arm64 too).
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    # sighandler_t signal(int signum, sighandler_t handler): SIG_DFL is the null pointer.
    set_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    set_signal.restype = ctypes.c_void_p
    return prctl, set_signal


def _child_setup(libc: Optional[Tuple[Callable[..., int], Callable[..., int]]],
                 parent: int) -> Callable[[], None]:
    """What the child runs between fork and exec."""

    def setup() -> None:
        if libc is not None:
            prctl, set_signal = libc
            if prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
            for number in DEFAULT_IN_CHILD:
                set_signal(int(number), None)  # SIG_DFL
        if os.getppid() != parent:
            os._exit(1)  # the agent died between fork and prctl: its death signal was never armed

    return setup


def _popen(argv: Sequence[str], kwargs: dict) -> subprocess.Popen:
    for name in ("preexec_fn", "start_new_session", "process_group"):
        if name in kwargs:
            raise TypeError(f"spawn() sets {name} itself")
    # preexec_fn runs Python between fork and exec, which the docs call unsafe with threads; it only
    # calls C functions resolved before the fork and os.getppid(), none of which takes a lock.
    return subprocess.Popen(list(argv), preexec_fn=_child_setup(_libc(), os.getpid()),
                            start_new_session=True, **kwargs)


def spawn(argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen(argv, ...) for a child that runs on after the call: dies with the agent,
    leads its own process group. Main thread only (see the module's docstring)."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("spawn() from the main thread only: a child's death signal follows the thread "
                           "that forked it; use children.run() for a command waited for in this thread")
    return _popen(argv, popen_kwargs)


def run(argv: Sequence[str], *, timeout: Optional[float] = None, check: bool = False,
        **popen_kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(argv, ...) with the child set up as by spawn(); any thread may call it.
    On a timeout (or anything else raised while waiting) the child's whole group is killed."""
    proc = _popen(argv, popen_kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        _kill_group(proc, signal.SIGKILL)
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal proc's process group, if proc is not reaped yet: until then its PID, which is the
    group's id, cannot have been given to another process."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # the group is empty already


class Children:
    """The children one run started with `spawn`; `end` kills each one's process group and reaps it."""

    def __init__(self) -> None:
        self._procs: List[subprocess.Popen] = []

    def spawn(self, argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
        proc = spawn(argv, **popen_kwargs)
        self._procs.append(proc)
        return proc

    def end(self) -> List[int]:
        """SIGKILL the group of every child not reaped yet, then reap it; returns those children's PIDs."""
        ended = [proc.pid for proc in self._procs if proc.returncode is None]
        for proc in self._procs:
            _kill_group(proc, signal.SIGKILL)
        for proc in self._procs:
            proc.wait()
        return ended
