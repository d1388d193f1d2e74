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

Two ways to start one, because of what the machine-wide figures the lab reads would otherwise show:
- `spawn` (allocate, sar, a recording's command: started once, running for the whole run) forks, and
  arms the death signal between fork and exec in Python (preexec_fn);
- `run` (the commands the agent waits for: the ps loop's `ps` every second, each phase's `ps` and
  `free`, the version probes) uses posix_spawn, which does not copy the agent: a fork charges the
  child with a copy of every private writable mapping of the agent (its heap, each thread's 8 MiB
  stack) until it execs, and that moved `Committed_AS` by 30-60 MiB at the very moments the sampler,
  running on the same grid as the ps loop, read it. posix_spawn cannot run code in the child, so the
  death signal is armed by util-linux's `setpriv --pdeathsig KILL` exec'ing the command; where setpriv
  cannot (not installed, older than 2.33) the child has no death signal, and a short command the
  agent waits for then ends on its own. So does one started in the instant between the spawn and
  setpriv's prctl, should the agent die right then. A `run` with its own working directory (gcc's build,
  before the run's first reading) is forked as `spawn` forks.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import locale
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGKILL


# Signals a child starts with at their defaults (see the module's docstring).
DEFAULT_IN_CHILD = (signal.SIGINT, signal.SIGQUIT)
# Python ignores these two for itself; a child it starts gets them back at their defaults, as
# subprocess's restore_signals does.
RESTORED_IN_CHILD = (signal.SIGPIPE, signal.SIGXFSZ)
# The command that arms the death signal of a posix_spawn'd child, then execs it (util-linux >= 2.33).
SETPRIV = ("setpriv", "--pdeathsig", "KILL", "--")
# run()'s keyword arguments that posix_spawn serves; any other (cwd) makes run() fork as spawn() does.
_SPAWNED_KWARGS = frozenset(("stdin", "stdout", "stderr", "env", "universal_newlines", "text"))


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


@functools.lru_cache(maxsize=1)
def _death_signal_prefix() -> Tuple[str, ...]:
    """SETPRIV (setpriv by its path) when it runs here with --pdeathsig, else () (see the docstring)."""
    setpriv = shutil.which(SETPRIV[0])
    if setpriv is None:
        return ()
    prefix = (setpriv, *SETPRIV[1:])
    quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        pid = os.posix_spawn(setpriv, [*prefix, "true"], os.environ, file_actions=quiet)
        _, status = os.waitpid(pid, 0)
    except OSError:
        return ()
    return prefix if os.waitstatus_to_exitcode(status) == 0 else ()


def _file_actions(stdin, stdout, stderr) -> Tuple[List[tuple], Dict[int, int], List[int]]:
    """posix_spawn's file actions for run()'s stdin/stdout/stderr (None: the agent's own, DEVNULL, PIPE,
    STDOUT for stderr, or a file), the read ends of its pipes by fd, and the write ends to close."""
    actions: List[tuple] = []
    reads: Dict[int, int] = {}
    writes: List[int] = []
    if stdin == subprocess.DEVNULL:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    elif stdin is not None:
        raise ValueError("run(): stdin is None or DEVNULL")
    for fd, target in ((1, stdout), (2, stderr)):
        if target is None:
            continue
        if target == subprocess.PIPE:
            read, write = os.pipe()
            reads[fd] = read
            writes.append(write)
            actions.append((os.POSIX_SPAWN_DUP2, write, fd))
        elif target == subprocess.DEVNULL:
            actions.append((os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0))
        elif target == subprocess.STDOUT and fd == 2:
            actions.append((os.POSIX_SPAWN_DUP2, 1, 2))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, target if isinstance(target, int) else target.fileno(), fd))
    return actions, reads, writes


def _left(deadline: Optional[float]) -> Optional[float]:
    """Seconds to the deadline (None: none); TimeoutExpired once it has passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise subprocess.TimeoutExpired([], 0)
    return left


def _collect(pid: int, reads: Dict[int, int], deadline: Optional[float]) -> Tuple[Dict[int, bytes], int]:
    """What the child writes to its pipes until each is closed, and its wait status once it has ended;
    TimeoutExpired at the deadline. Its end is watched through a pidfd (Linux 5.3), else polled."""
    chunks: Dict[int, List[bytes]] = {fd: [] for fd in reads}
    try:
        pidfd: Optional[int] = os.pidfd_open(pid)
    except (AttributeError, OSError):  # an older kernel
        pidfd = None
    try:
        with selectors.DefaultSelector() as selector:
            for fd, read in reads.items():
                selector.register(read, selectors.EVENT_READ, fd)
            if pidfd is not None:
                selector.register(pidfd, selectors.EVENT_READ, None)  # readable once the child has ended
            while selector.get_map():
                for key, _ in selector.select(_left(deadline)):
                    data = b"" if key.data is None else os.read(key.fd, 65536)
                    if data:
                        chunks[key.data].append(data)
                    else:
                        selector.unregister(key.fd)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if pidfd is not None:
        _, status = os.waitpid(pid, 0)  # it has ended: this does not block
    else:
        while True:  # no pidfd: poll for the end
            ended, status = os.waitpid(pid, os.WNOHANG)
            if ended:
                break
            left = _left(deadline)
            time.sleep(0.01 if left is None else min(0.01, left))
    return {fd: b"".join(parts) for fd, parts in chunks.items()}, status


def _run_spawned(argv: Sequence[str], timeout: Optional[float], stdin=None, stdout=None, stderr=None,
                 env=None, universal_newlines: bool = False, text: bool = False) -> subprocess.CompletedProcess:
    """run() by posix_spawn: the child set up as spawn() sets it up, without a copy of the agent."""
    environment = os.environ if env is None else env
    program = argv[0] if os.sep in argv[0] else shutil.which(argv[0], path=environment.get("PATH", os.defpath))
    if program is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    prefix = _death_signal_prefix()
    actions, reads, writes = _file_actions(stdin, stdout, stderr)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        pid = os.posix_spawn(prefix[0] if prefix else program, [*prefix, program, *argv[1:]], environment,
                             file_actions=actions, setsid=True,
                             setsigdef=DEFAULT_IN_CHILD + RESTORED_IN_CHILD)
    except BaseException:
        for fd in (*reads.values(), *writes):
            os.close(fd)
        raise
    for fd in writes:
        os.close(fd)
    try:
        out, status = _collect(pid, reads, deadline)
    except BaseException as exc:
        _signal_group(pid, signal.SIGKILL)  # not reaped yet: the group's id is still this child's
        os.waitpid(pid, 0)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise subprocess.TimeoutExpired(list(argv), timeout or 0) from None
        raise
    finally:
        for fd in reads.values():
            os.close(fd)
    decoded: Dict[int, object] = dict(out)
    if text or universal_newlines:
        encoding = locale.getpreferredencoding(False)
        decoded = {fd: data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n") for fd, data in out.items()}
    return subprocess.CompletedProcess(list(argv), os.waitstatus_to_exitcode(status), decoded.get(1), decoded.get(2))


def run(argv: Sequence[str], *, timeout: Optional[float] = None, check: bool = False,
        **popen_kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(argv, ...) with the child set up as by spawn(); any thread may call it.
    On a timeout (or anything else raised while waiting) the child's whole group is killed.
    posix_spawn'd, without a copy of the agent, unless popen_kwargs ask for more than it serves (cwd):
    see the module's docstring."""
    if set(popen_kwargs) <= _SPAWNED_KWARGS:
        done = _run_spawned(argv, timeout, **popen_kwargs)
    else:
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


def _signal_group(pgid: int, sig: int) -> None:
    """Signal the process group pgid, if it still has a member."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is empty already


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal proc's process group, if proc is not reaped yet: until then its PID, which is the
    group's id, cannot have been given to another process."""
    if proc.returncode is None:
        _signal_group(proc.pid, sig)


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
