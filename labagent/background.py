"""`labagent background --job-file F --timeout S -- run|record ...`: start the agent's command detached from
the caller and keep a job file that says how it ended, the way Ansible's async_wrapper does for a module.

The playbook starts each host's experiment this way over a plain SSH command: no module, no
async_wrapper (three Pythons on the host, each importing Ansible's module_utils, around one agent).
`labagent progress --job-file F` reads the file as it reads async_wrapper's.

Three processes, all forks of this one (no exec, nothing imported again):
- the caller's: writes the job file ({"started": 1, "finished": 0}), prints it as one JSON line with
  "results_file" and returns at once (the SSH command ends);
- a supervisor, in a new session with no terminal and stdio on /dev/null: it waits for the command and
  writes the job file's end: {"finished": 1, "rc": exit status or -signal, "stderr": its last lines},
  or, at the timeout, kills the command's process group with SIGKILL, as async_wrapper does, and writes
  {"finished": 1, "failed": 1, "rc": null, "msg": "Timeout exceeded ..."};
- the command itself, in its own process group (what the timeout kills; the agent's own children die
  with it, labagent/children.py), its stdout and stderr on a pipe to the supervisor.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from typing import Callable, Dict, List, Optional

from .errors import LabError
from .progress import replace_json

COMMANDS = ("run", "record")  # what may run in the background: the two that run for long
STDERR_TAIL_BYTES = 16384  # the end of the command's output the job file keeps (the playbook reads its last line)
WAKE_S = 0.5  # the supervisor looks at the command at least this often


def _exit_status(status: int) -> int:
    """waitpid's status as subprocess reports it: the exit code, or -N for a signal."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def end_record(status: Optional[int], output: bytes, timeout_s: float) -> Dict[str, object]:
    """What the job file says at the end: the command's exit status (None when the timeout killed it,
    async_wrapper's "Timeout exceeded"), and the end of what it printed."""
    text = output[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
    if status is None:  # the message is also the output's last line: the line a reader of the job takes
        msg = f"Timeout exceeded: the command ran for {timeout_s:g} s and was killed (SIGKILL)"
        return {"started": 1, "finished": 1, "failed": 1, "rc": None, "msg": msg,
                "stderr": text + ("" if not text or text.endswith("\n") else "\n") + f"labagent background: {msg}\n"}
    rc = _exit_status(status)
    return {"started": 1, "finished": 1, "failed": int(rc != 0), "rc": rc, "stderr": text,
            "msg": "" if rc == 0 else f"non-zero return code {rc}"}


def supervise(pid: int, read_fd: int, timeout_s: float, *,
              monotonic: Callable[[], float] = time.monotonic) -> Dict[str, object]:
    """Read the command's output until it exits, or kill its process group at the timeout; its end record."""
    deadline = monotonic() + timeout_s
    output = bytearray()
    status: Optional[int] = None
    reading = True
    while True:
        done, status_now = os.waitpid(pid, os.WNOHANG)
        if done:
            status = status_now
            break
        remaining = deadline - monotonic()
        if remaining <= 0:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended just now; reaped below either way
            os.waitpid(pid, 0)
            status = None
            break
        if not reading:  # the command closed its output and goes on: only its end is waited for
            time.sleep(min(WAKE_S, remaining))
            continue
        ready, _, _ = select.select([read_fd], [], [], min(WAKE_S, remaining))
        if ready:
            chunk = os.read(read_fd, 65536)
            reading = bool(chunk)  # EOF is always "ready": never select on it again
            output += chunk
            del output[:-STDERR_TAIL_BYTES]
    # What is left in the pipe (a child of the command may still hold it open: never block on it).
    os.set_blocking(read_fd, False)
    try:
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            output += chunk
    except BlockingIOError:
        pass
    return end_record(status, bytes(output), timeout_s)


def _devnull_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _run_command(main: Callable[[List[str]], int], command: List[str], write_fd: int) -> None:
    """In the command's process: its own group, stdout and stderr to the supervisor; never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        # Python's own streams onto the pipe too (an embedding caller may have replaced sys.stderr).
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        code = main(command)
    except SystemExit as exc:  # argparse's usage errors: exit status 2 after its line on stderr
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - a fork must never return into the caller's code: say why, exit 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start(main: Callable[[List[str]], int], command: List[str], job_file: str, timeout_s: float) -> Dict[str, object]:
    """Start `labagent <command>` detached; return what the caller prints. Only the caller returns."""
    if not command or command[0] not in COMMANDS:
        raise LabError(f"background runs one of {', '.join(COMMANDS)} after --, not {' '.join(command) or 'nothing'}")
    if timeout_s <= 0:
        raise LabError(f"--timeout must be more than 0 s, not {timeout_s:g}")
    job_file = os.path.abspath(job_file)
    started = {"started": 1, "finished": 0, "results_file": job_file}
    try:
        os.makedirs(os.path.dirname(job_file), mode=0o700, exist_ok=True)
        replace_json(job_file, started)
    except OSError as exc:
        raise LabError(f"cannot write the job file {job_file}: {exc.strerror}") from None
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() != 0:
        return started
    # The supervisor: no terminal, no SSH channel held open, a session of its own.
    code = 1
    try:
        os.setsid()
        _devnull_stdio()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _run_command(main, command, write_fd)
        os.close(write_fd)
        try:
            os.setpgid(pid, pid)  # also here: the timeout's killpg must not race the child's own setpgid
        except OSError:
            pass  # the child did it first (or has already exited)
        replace_json(job_file, dict(started, pid=pid))
        replace_json(job_file, dict(supervise(pid, read_fd, timeout_s), pid=pid, results_file=job_file))
        code = 0
    finally:
        os._exit(code)
