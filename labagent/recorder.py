"""`labagent record`: the experiment's instruments (drift-free sampler, capture.sh's ps line, `sar -r 1`,
free and maps at each phase) on any process, started by the recorder or attached by PID, with phases the
user marks while it runs (SIGUSR1 to the recorder, or `labagent mark DIR NAME` through DIR/marks.fifo)."""
from __future__ import annotations

import errno
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import captures, children, hostfacts, maps_growth, parsers, procfs, results, tools, vocab
from .clock import SystemClock
from .errors import LabError
from .params import MIN_INTERVAL, Params
from .record import EXEC_SNAPSHOT, ExecEvent, Outcome, RecordingRecord, Snapshot, comparison_start
from .run_record import Run, prepare_out_dir
from .sampler import PeriodicThread, Sampler
from .vocab import RECORDING_END, RECORDING_START

# The control file `labagent mark` writes a mark's name to, one line per mark (see MarkInbox).
MARK_FIFO = "marks.fifo"
# A mark names a phase and a raw file (raw/maps-NAME.txt): short, and safe in a file name.
MARK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MARK_RESERVED = (RECORDING_START, RECORDING_END, EXEC_SNAPSHOT)
# How often the main loop looks at the command, the clock and the stop flag between marks.
POLL_S = 0.1
# A started command gets SIGTERM, then this long, then SIGKILL (its whole process group).
KILL_GRACE_S = 2.0
# The maps are also read by the sampler at most this often and the last copy kept, so a command that
# exits on its own still has maps for the end of the diff (its address space is gone by then).
MAPS_KEEP_EVERY_S = 1.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MARK_SIGNAL = signal.SIGUSR1
# At most this long for a started command's exec to finish before the start snapshot.
EXEC_WAIT_S = 1.0


@dataclass(frozen=True)
class RecordParams:
    """What to record and how: a command to start, or the PID of a running process."""
    command: Tuple[str, ...] = ()
    pid: Optional[int] = None
    sample_interval_s: float = 1.0
    duration_s: Optional[float] = None
    force: bool = False
    ask_imds: bool = True


def validate(params: RecordParams) -> None:
    """Refuses what cannot make a recording, naming the option."""
    if bool(params.command) == (params.pid is not None):
        raise LabError("record needs either a command after `--` or --pid N (not both)")
    if params.pid is not None and params.pid <= 0:
        raise LabError(f"--pid {params.pid} is not a process id")
    if not params.sample_interval_s > 0 or params.sample_interval_s < MIN_INTERVAL:
        raise LabError(f"--sample-interval {params.sample_interval_s}s is below the 10ms minimum")
    if params.sample_interval_s > 60:
        raise LabError("--sample-interval must be at most 60s")
    if params.duration_s is not None and not params.duration_s > 0:
        raise LabError("--duration must be positive")


def check_mark_name(name: str) -> str:
    if not MARK_NAME_RE.match(name):
        raise LabError(f"mark name {name!r} must be 1-40 letters, digits, '.', '_' or '-' (starting with a letter or digit)")
    if name in MARK_RESERVED:
        raise LabError(f"mark name {name!r} is reserved (the recording's own {name} snapshot)")
    return name


def note_refusal(path: str, line: str) -> None:
    """--refused-file: the one line `labagent record` printed when it would not record (a command that
    cannot start, a PID that is not there), kept for whoever collects the recording later without the
    agent's stderr (the playbook's fetch.yml). Written whole or not at all."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # the refusal itself is still printed on stderr, the caller's first source


def forget_refusal(path: str) -> None:
    """Removes an earlier attempt's --refused-file: this recording is going ahead."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def send_mark(out_dir: str, name: str) -> None:
    """`labagent mark DIR NAME`: one line on the recorder's FIFO; an error when no recorder reads it."""
    check_mark_name(name)
    path = os.path.join(out_dir, MARK_FIFO)
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise LabError(f"{path} is not the recorder's FIFO")
        # Non-blocking: with no reader (no recorder running) open fails with ENXIO instead of hanging.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise LabError(f"no recording is running in {out_dir} (no {MARK_FIFO}); start one with "
                       f"`labagent record --out {out_dir} ...`") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise LabError(f"no recording is running in {out_dir} (nothing reads {MARK_FIFO})") from None
        raise LabError(f"cannot write to {path}: {exc.strerror}") from None
    try:
        os.write(fd, (name + "\n").encode())  # shorter than PIPE_BUF: one atomic write
    finally:
        os.close(fd)


class MarkInbox:
    """DIR/marks.fifo, read by the recorder. It holds the FIFO open for writing too, so the end of one
    `labagent mark` is never an end of file; the FIFO is removed when the recording ends."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, MARK_FIFO)
        try:
            if os.path.lexists(self.path):
                os.remove(self.path)  # left by a recorder that was killed
            os.mkfifo(self.path, 0o600)
            self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            raise LabError(f"cannot make the marks FIFO {self.path}: {exc.strerror} "
                           "(--out must be on a local file system)") from None
        self.buffer = b""
        # A signal (SIGUSR1, Ctrl-C) writes a byte here (signal.set_wakeup_fd) and so ends the wait at
        # once: Python retries an interrupted select, which would delay a SIGUSR1 mark by up to POLL_S.
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)

    def read(self, timeout: float) -> List[str]:
        """Names written since the last call, waiting at most `timeout` for the first (or a signal)."""
        ready, _, _ = select.select([self.fd, self.wake_r], [], [], max(0.0, timeout))
        if self.wake_r in ready:
            try:
                os.read(self.wake_r, 4096)
            except BlockingIOError:
                pass
        if self.fd in ready:
            try:
                self.buffer += os.read(self.fd, 4096)
            except BlockingIOError:
                pass
        *lines, self.buffer = self.buffer.split(b"\n")
        return [line.decode(errors="replace").strip() for line in lines if line.strip()]

    def close(self) -> None:
        for fd in (self.fd, self.wake_r, self.wake_w):
            os.close(fd)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


class Child:
    """The command record started, in a session and process group of its own (so a Ctrl-C at the
    terminal reaches the recorder only), ended with its whole group on every exit path of the recorder;
    started through children.spawn, so it also gets SIGKILL if the recorder itself is killed outright."""

    def __init__(self, command: Tuple[str, ...], raw_dir: str) -> None:
        self.command = command
        with open(os.path.join(raw_dir, vocab.PROGRAM_LOG), "w", encoding="utf-8") as out, \
                open(os.path.join(raw_dir, vocab.PROGRAM_STDERR), "w", encoding="utf-8") as err:
            try:
                # The user's environment, not the capture locale: the program is theirs, not a tool of ours.
                self.proc = children.spawn(list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as exc:
                raise LabError(f"cannot start {command[0]}: {exc.strerror}") from None
        self.pid = self.proc.pid

    def poll(self) -> Optional[int]:
        return self.proc.poll()

    def wait_exec(self, proc_root: str, clock, timeout: float = EXEC_WAIT_S) -> None:
        """Popen returns while the kernel is still building the new address space (VSZ a few KiB):
        wait until the program's own file is mapped, so `start` is the program as exec left it."""
        deadline = clock.monotonic() + timeout
        while clock.monotonic() < deadline and self.proc.poll() is None:
            try:
                exe = os.readlink(os.path.join(proc_root, str(self.pid), "exe"))
                if any(m.pathname == exe for m in parsers.parse_maps(procfs.read_maps(self.pid, proc_root))):
                    return
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                return  # gone already, or not ours to read: the snapshot says what it can
            clock.wait_until(clock.monotonic() + 0.001, threading.Event())

    def stop(self) -> Optional[int]:
        """SIGTERM to the group, SIGKILL after KILL_GRACE_S; the group's leftovers are killed too."""
        if self.proc.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=KILL_GRACE_S)
        _signal_group(self.pid, signal.SIGKILL)  # grandchildren the command left behind
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone (PermissionError: only zombies of another user's session remain)


def read_identity(pid: int, proc_root: str) -> Optional[Tuple[str, Optional[str]]]:
    """(comm, /proc/PID/exe's target) of a live process, None once it is gone or a zombie; the exe is
    None when it cannot be read (another user's process): then comm alone tells an exec."""
    base = os.path.join(proc_root, str(pid))
    try:
        with open(os.path.join(base, "comm"), encoding="utf-8", errors="replace") as handle:
            comm = handle.read().rstrip("\n")
        exe: Optional[str] = os.readlink(os.path.join(base, "exe"))
    except PermissionError:
        exe = None
    except (FileNotFoundError, ProcessLookupError):  # gone, or a zombie (its exe link is gone)
        return None
    return comm, exe


def same_program(a: Tuple[str, Optional[str]], b: Tuple[str, Optional[str]]) -> bool:
    """Two looks at one process saw the same program: the same exe when both were read, else the same
    comm (comm alone would also change on prctl(PR_SET_NAME), which is no exec)."""
    if a[1] is not None and b[1] is not None:
        return a[1] == b[1]
    return a[0] == b[0]


def check_target(pid: int, proc_root: str) -> None:
    """A PID to attach to must exist, be a live process and let us read its maps."""
    if not os.path.isdir(os.path.join(proc_root, str(pid))):
        raise LabError(f"no process with PID {pid} (or it has already exited)")
    if procfs.read_process(pid, proc_root, with_rollup=False) is None:
        raise LabError(f"PID {pid} has no address space to record (a kernel thread, or a process that is exiting)")
    try:
        procfs.read_maps(pid, proc_root)
    except PermissionError:
        raise LabError(f"cannot read /proc/{pid}/maps: permission denied (record your own process, or run as root)") from None
    except (FileNotFoundError, ProcessLookupError):
        raise LabError(f"no process with PID {pid} (it exited while attaching)") from None


def check_command(command: Tuple[str, ...]) -> None:
    """The commonest start failure, before any capture starts: a program that is not there."""
    head = command[0]
    if os.sep not in head and shutil.which(head) is None:
        raise LabError(f"cannot start {head}: command not found")


class Recorder:
    """One recording: the Run record of the experiment (readings, snapshots, captures, phases) driven
    by the user's marks instead of allocate.c's phases."""

    def __init__(self, params: RecordParams, run: Run, pid: int, child: Optional[Child]) -> None:
        self.params = params
        self.run = run
        self.pid = pid
        self.child = child
        self.marks: List[Dict[str, object]] = []
        self.kept_maps: Optional[Tuple[str, float]] = None  # the last maps text read, and when
        self._maps_due = 0.0
        self._maps_vsz = 0  # the VSZ the kept maps were read at
        self.last_live: Optional[Tuple[Dict[str, Any], float]] = None  # the last sample while the process lived
        self.identity: Optional[Tuple[str, Optional[str]]] = None  # (comm, exe) at the last look
        self.identity_t = 0.0  # when the last look was
        self.exec_pending = False  # an exec seen, its snapshot not yet taken

    def look(self) -> None:
        """Every POLL_S: has the process exec'd since the last look? Each exec is recorded (execs); the
        `exec` snapshot, the start of the start-to-end comparison, is taken one look later, once the
        program stayed the same (the dynamic loader has mapped its libraries by then), and again after
        each later exec."""
        ident = read_identity(self.pid, self.run.proc_root)
        if ident is None:
            return
        now, before_t = round(self.run.elapsed(), 3), self.identity_t
        self.identity_t = now
        if self.identity is None:
            self.identity = ident
            return
        if same_program(ident, self.identity):
            if self.exec_pending:
                self.exec_pending = False
                snap = self.snapshot(EXEC_SNAPSHOT)
                self.run.progress(f"snapshot after the exec at {snap.t:.1f}s: VSZ {snap.reading['vsz_kib']} KiB, "
                                  f"RSS {snap.reading['rss_kib']} KiB")
                self.run.save()
            return
        run = self.run
        event = ExecEvent(t=now, before_t=before_t, comm_before=self.identity[0], comm_after=ident[0],
                          exe_before=self.identity[1], exe_after=ident[1])
        run.update(execs=(run.record.execs or ()) + (event,))
        run.progress(f"PID {self.pid} exec'd at {event.t:.1f}s: {event.comm_before} -> {event.comm_after}")
        self.identity = ident
        self.exec_pending = True

    def sample(self) -> Dict[str, Any]:
        """A sampler tick, and a copy of the maps kept for the end snapshot: every MAPS_KEEP_EVERY_S, and
        at any tick whose VSZ is above the kept maps' (a mapping came since), so that a mapping made in
        the last second of a process that exits is in them. Not at a drop: a process that exits unmaps
        what it frees on the way out, and a tick part way through it would keep that instead."""
        record = self.run.sample(self.pid)
        now = self.run.clock.monotonic()
        vsz = record.get("vsz_kib")
        if vsz is not None:
            self.last_live = (dict(record), self.run.elapsed())
        if vsz is not None and (now >= self._maps_due or vsz > self._maps_vsz):
            self._maps_due = now + MAPS_KEEP_EVERY_S
            self._maps_vsz = vsz
            try:
                text = procfs.read_maps(self.pid, self.run.proc_root)
            except (FileNotFoundError, ProcessLookupError):
                text = ""
            if text:
                self.kept_maps = (text, self.run.elapsed())
        return record

    def alive(self) -> bool:
        if self.child is not None:
            return self.child.poll() is None
        return procfs.read_process(self.pid, self.run.proc_root, with_rollup=False) is not None

    def snapshot(self, name: str) -> Snapshot:
        """run.snapshot with maps while the process lives; after it, the last maps the sampler kept."""
        run = self.run
        live = procfs.read_process(self.pid, run.proc_root, with_rollup=False) is not None
        try:
            snap = run.snapshot(name, self.pid, with_process=live)
        except (FileNotFoundError, ProcessLookupError):  # it exited between the two reads
            snap = run.snapshot(name, self.pid, with_process=False)
            live = False
        if not live and self.last_live is not None:  # the process's figures as the last sample saw them
            last, last_t = self.last_live
            reading = dict(snap.reading, **{key: last.get(key) for key in procfs.PROCESS_FIELDS})
            snap = replace(snap, reading=reading, reading_t=last_t)
        if not snap.maps and self.kept_maps is not None:
            text, kept_t = self.kept_maps
            last_at = f" (at {snap.reading_t:.1f} s)" if snap.reading_t is not None else ""
            last_at_ja = f" ({snap.reading_t:.1f} 秒)" if snap.reading_t is not None else ""
            raw_name = captures.MAPS.raw_name(name)
            run.write_raw(raw_name, text)
            snap = replace(snap, maps=text, maps_t=kept_t,
                           captures=dict(snap.captures or {}, **{captures.MAPS.name: vocab.raw_path(raw_name)}))
            run.add_note({
                "en": f"The process had exited at the {name} snapshot: raw/maps-{name}.txt is the last maps "
                      f"the sampler read, at {kept_t:.1f} s, and its VSZ, RSS and faults are the "
                      f"last sample's{last_at}.",
                "ja": f"{name} の時点でプロセスは終了していたため、raw/maps-{name}.txt はサンプラーが "
                      f"{kept_t:.1f} 秒に読んだ最後の maps であり、VSZ・RSS・fault は最後のサンプル{last_at_ja}の値である。"})
        elif live:
            self.kept_maps = (snap.maps or "", snap.t)
        run.put_snapshot(name, snap)
        return snap

    def mark(self, name: str, by: str) -> None:
        """A new phase from now on, with its snapshot (maps, free -h, free -b)."""
        taken = {str(m["name"]) for m in self.marks}
        unique, n = name, 2
        while unique in taken or unique in MARK_RESERVED:
            unique, n = f"{name}-{n}", n + 1
        run = self.run
        run.begin_phase(unique)
        snap = self.snapshot(unique)
        self.marks.append({"name": unique, "t": snap.t, "by": by})
        _recording(run)["marks"] = self.marks
        reading = snap.reading
        run.progress(f"mark {unique} at {snap.t:.1f}s: VSZ {reading['vsz_kib']} KiB, RSS {reading['rss_kib']} KiB")
        run.save()


def record(params: RecordParams, out_dir: str, *, clock=None, proc_root: str = "/proc", host_root: str = "/",
           progress: Callable[[str], None] = lambda _m: None, argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Records until the command exits, the PID is gone, --duration passes or a stop signal comes, and
    returns results.json's content. Raises LabError before anything runs for bad input, a command that
    cannot start, or a PID that is not there. Must run in the main thread (it handles signals)."""
    validate(params)
    clock = clock or SystemClock()
    if params.pid is not None:
        check_target(params.pid, proc_root)
    else:
        check_command(params.command)
    prepare_out_dir(out_dir, params.force)
    raw_dir = os.path.join(out_dir, vocab.RAW_DIR)

    # No progress.json: `labagent progress --recording` reads the last line of samples.jsonl instead.
    run = Run(Params(sample_interval_s=params.sample_interval_s), out_dir, clock, proc_root, progress, argv or [],
              keep_progress=False)
    run.as_recording(dict(asdict(params), command=list(params.command)))
    state: Dict[str, Any] = {"stop": None, "signal_marks": 0}

    def on_stop(signum, _frame):
        state["stop"] = signal.Signals(signum).name

    def on_mark(_signum, _frame):
        state["signal_marks"] = int(state["signal_marks"]) + 1

    # From here a Ctrl-C or a mark is ours: before the command starts, a Ctrl-C makes a short recording.
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS + (MARK_SIGNAL,)}
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop)
    signal.signal(MARK_SIGNAL, on_mark)
    try:
        run.update(host=hostfacts.read_host_facts(host_root, ask_imds=params.ask_imds),
                   tools={"versions": tools.tool_versions()})
        run.capture_once()  # uname -a, os-release
        child = Child(params.command, raw_dir) if params.command else None
    except LabError:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        run.close()
        raise
    pid = child.pid if child is not None else int(params.pid or 0)  # validate: a command or a PID
    run.update(recording={"mode": "command" if child else "pid", "pid": pid, "command": list(params.command),
                              "agent_pid": os.getpid(), "marks": [], "exit_status": None, "signal": None,
                              "mark_fifo": MARK_FIFO})
    recorder = Recorder(params, run, pid, child)
    threads: List[PeriodicThread] = []
    stop = threading.Event()
    inbox: Optional[MarkInbox] = None
    previous_wakeup = -1
    try:
        # The start snapshot first: a started command is already running, and every moment counts.
        if child is not None:
            child.wait_exec(proc_root, clock)
        recorder.look()  # the program at start: an exec after this one is seen by the next looks
        run.begin_phase(RECORDING_START)
        snap = recorder.snapshot(RECORDING_START)
        sampler = Sampler(clock, params.sample_interval_s, run.origin, recorder.sample, run.on_sample)
        # the captures declared in captures.py: those of the process (the ps loop, ps u), then the
        # system-wide ones (sar -r 1), each from its declaration
        for thread in [PeriodicThread("sampler", sampler.run)] + run.start_continuous(pid):
            thread.start()
            threads.append(thread)
        run.capture_once(pid)
        for thread in run.start_continuous(None):
            thread.start()
            threads.append(thread)
        run.save()
        inbox = MarkInbox(out_dir)  # after results.json: a mark can be taken once the FIFO is there
        previous_wakeup = signal.set_wakeup_fd(inbox.wake_w, warn_on_full_buffer=False)
        progress(f"recording PID {pid} into {out_dir}: VSZ {snap.reading['vsz_kib']} KiB, "
                 f"RSS {snap.reading['rss_kib']} KiB; mark a phase with `kill -USR1 {os.getpid()}` "
                 f"or `labagent mark {out_dir} NAME`")
        stopped = _watch(recorder, inbox, state, params, clock)
        if recorder.exec_pending:  # an exec just before the stop: its snapshot now, if the program is still there
            if read_identity(pid, proc_root) is not None:
                recorder.exec_pending = False
                recorder.snapshot(EXEC_SNAPSHOT)
        run.end_phases()  # the last phase ends where the end snapshot is taken
        recorder.snapshot(RECORDING_END)
        _recording(run)["stop"] = stopped
        run.update(outcome=Outcome(status="complete", reason=stop_text(stopped), signal=None, phase=None),
                   complete=True)
    finally:
        if not run.record.complete:
            run.update(outcome=Outcome(status="failed", reason="the recorder stopped on an error", signal=None,
                                       phase=run.phase))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if inbox is not None:
            signal.set_wakeup_fd(previous_wakeup)
            inbox.close()
        if child is not None:
            returncode = child.stop()
            _recording(run).update(
                exit_status=returncode if returncode is not None and returncode >= 0 else None,
                signal=signal.Signals(-returncode).name if returncode and returncode < 0 else None)
        stop.set()
        run.stop_captures(threads)
        run.close()
        run.end_phases()
        finish(run)
    progress(f"recording stopped: {run.record.outcome.reason}")
    return run.record.to_json()


def _recording(run: Run) -> Dict[str, Any]:
    """The recording's own part of the record (mode, pid, command, marks, how it stopped), filled in place."""
    rec = run.record
    assert isinstance(rec, RecordingRecord)
    return rec.recording


def stop_text(stop: Dict[str, object]) -> str:
    """What stopped a recording, in words (the writeup words it per language from the same record)."""
    by = stop["by"]
    if by == "signal":
        return f"stopped by {stop['signal']}"
    if by == "exit":
        return f"the command exited with status {stop['status']}"
    if by == "killed":
        return f"the command was killed by {stop['signal']}"
    if by == "gone":
        return f"process {stop['pid']} exited"
    return f"--duration {stop['duration_s']:g}s reached"


def _watch(recorder: Recorder, inbox: MarkInbox, state: Dict[str, Any], params: RecordParams,
           clock) -> Dict[str, object]:
    """Takes marks until something stops the recording; returns what did: {"by": signal, exit, killed,
    gone or duration, and the signal, status, pid or duration_s}."""
    run = recorder.run
    deadline = run.origin + params.duration_s if params.duration_s is not None else None
    signal_marks = 0
    while True:
        wait = POLL_S if deadline is None else min(POLL_S, deadline - clock.monotonic())
        names = inbox.read(wait)
        while signal_marks < int(state["signal_marks"]):
            signal_marks += 1
            recorder.mark(f"mark{len(recorder.marks) + 1}", "signal")
        for name in names:
            try:
                recorder.mark(check_mark_name(name), "mark")
            except LabError as exc:
                run.progress(f"ignored a mark: {exc}")
        recorder.look()
        if state["stop"] is not None:
            return {"by": "signal", "signal": state["stop"]}
        if not recorder.alive():
            if recorder.child is not None:
                code = recorder.child.poll()
                if code is not None and code < 0:
                    return {"by": "killed", "signal": signal.Signals(-code).name}
                return {"by": "exit", "status": code}
            return {"by": "gone", "pid": recorder.pid}
        if deadline is not None and clock.monotonic() >= deadline:
            return {"by": "duration", "duration_s": params.duration_s}


def finish(run: Run) -> None:
    """samples.csv, sar's rows, the recording's summary, results.json: also after an error."""
    jsonl = os.path.join(run.out_dir, results.SAMPLES_JSONL)
    count, huge_peak = run.samples_written()
    run.update(samples_count=count)
    run.parse_continuous()
    rec = run.record
    assert isinstance(rec, RecordingRecord)
    run.update(summary=summarize(results.iter_samples(jsonl), rec.snapshots, huge_peak,
                                 comparison_start(rec.snapshots, rec.execs)))
    run.save()  # the samples stay in samples.jsonl (results.load_run reads them), as a run's do


def summarize(samples, snapshots: Mapping[str, Snapshot], huge_peak: Optional[int],
              compared_from: str = RECORDING_START) -> Dict[str, object]:
    """Peaks over every reading (the samples and the snapshots at start, marks and end: a snapshot
    can catch a peak between two ticks), start-to-end changes, and which kinds of mapping grew, from
    `compared_from` (`exec` when the process exec'd: the snapshot after its last exec) to the end."""
    peaks: Dict[str, Optional[int]] = {"vsz_kib": None, "rss_kib": None}
    last: Dict[str, Any] = {}

    def take_peaks(reading: Mapping[str, Any]) -> None:
        for key in peaks:
            value, peak = reading.get(key), peaks[key]
            if value is not None and (peak is None or int(value) > peak):
                peaks[key] = int(value)

    for sample in samples:
        if sample.get("vsz_kib") is None:
            continue
        last = sample
        take_peaks(sample)
    for snapshot in snapshots.values():
        take_peaks(snapshot.reading)
    start, end = snapshots.get(compared_from), snapshots.get(RECORDING_END)
    before = parsers.parse_maps((start.maps if start else None) or "")
    after = parsers.parse_maps((end.maps if end else None) or "")
    # Faults from the same readings as the other start-to-end figures (the snapshots, as the writeup's
    # table shows them), not from the first sample: the two can differ (a sample after an exec, say).
    base_r = start.reading if start else {}
    end_r = end.reading if end else last
    faults = {key: (int(end_r[key]) - int(base_r[key])
                    if base_r.get(key) is not None and end_r.get(key) is not None else None)
              for key in ("min_flt", "maj_flt")}
    return {"vsz_kib_peak": peaks["vsz_kib"], "rss_kib_peak": peaks["rss_kib"], "anon_huge_kib_peak": huge_peak,
            "min_flt_recorded": faults["min_flt"], "maj_flt_recorded": faults["maj_flt"],
            "maps_growth": maps_growth.summary(before, after) if before and after else None,
            "compared_from": compared_from}
