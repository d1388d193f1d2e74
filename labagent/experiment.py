"""One run of the lab on this host: build allocate.c, drive it phase by phase, sample, capture, analyse."""
from __future__ import annotations

import os
import pkgutil
import select
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable, Dict, List, Optional

from . import (__version__, analysis, captures, children, hostfacts, knobs, parsers, procfs, record, results, tools,
               variants, vocab)
from .clock import SystemClock
from .progress import Progress, ProgressFile
from .sampler import PeriodicThread, Sampler
from .units import format_size
from .errors import LabError  # noqa: F401  (re-exported)
from .vocab import PHASES, VARIANTS  # noqa: F401  (re-exported for callers of experiment)

MAX_SIZE = 1024 ** 4  # 1 TiB: above this a size is a typo, --force or not
MIN_INTERVAL = 0.01


class WorkloadDied(Exception):
    """The workload ended before the run was done (killed by a signal, OOM, crash)."""


class Interrupted(Exception):
    """The agent was asked to stop (SIGTERM, SIGINT)."""


@dataclass(frozen=True)
class Params:
    # Defaults from the knobs' declarations (labagent/knobs.py, labagent/variants.py).
    size_bytes: int = int(knobs.SIZE_KNOB.value)
    step_bytes: int = int(knobs.STEP_KNOB.value)
    step_interval_s: float = knobs.STEP_INTERVAL_KNOB.value
    sample_interval_s: float = knobs.SAMPLE_INTERVAL_KNOB.value
    pause_s: float = knobs.PAUSE_KNOB.value
    tail_s: float = knobs.TAIL_KNOB.value
    variant: str = variants.DEFAULT
    force: bool = False
    ask_imds: bool = True
    timeout_s: float = 60.0

    @property
    def declared_variant(self) -> variants.Variant:
        """The declared variant; LabError for an undeclared one."""
        return variants.get(self.variant)

    @property
    def steps(self) -> int:
        return self.declared_variant.steps(self.size_bytes, self.step_bytes)


def validate(params: Params) -> None:
    """Refuses what cannot make a meaningful run, naming the option."""
    variants.get(params.variant)  # refuses an undeclared --variant before anything reads its steps
    if params.size_bytes <= 0:
        raise LabError("--size must be positive")
    if params.size_bytes > MAX_SIZE:
        raise LabError(f"--size {format_size(params.size_bytes)} is absurd for this lab (at most 1TiB)")
    if params.step_bytes <= 0:
        raise LabError("--step must be positive")
    if params.step_bytes > params.size_bytes:
        raise LabError(f"--step {format_size(params.step_bytes)} is larger than --size {format_size(params.size_bytes)}")
    if params.steps > 100_000:
        raise LabError(f"--step is too small: {params.steps} steps (at most 100000)")
    for name, value in (("--step-interval", params.step_interval_s), ("--sample-interval", params.sample_interval_s)):
        if not value > 0:
            raise LabError(f"{name} must be positive")
        if value < MIN_INTERVAL:
            raise LabError(f"{name} {value}s is below the 10ms minimum")
    if params.sample_interval_s > 60:
        raise LabError("--sample-interval must be at most 60s")
    for name, value in (("--pause", params.pause_s), ("--tail", params.tail_s)):
        if value < 0:
            raise LabError(f"{name} must not be negative")


def prepare_out_dir(out_dir: str, force: bool) -> None:
    if os.path.exists(os.path.join(out_dir, results.RESULTS)) and not force:
        raise LabError(f"{out_dir} already holds a run (results.json); choose another --out or pass --force")
    try:
        os.makedirs(os.path.join(out_dir, vocab.RAW_DIR), exist_ok=True)
        probe = os.path.join(out_dir, ".write-test")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise LabError(f"cannot write to --out {out_dir}: {exc.strerror}") from None
    if force:
        for name in (results.SAMPLES_JSONL, results.SAMPLES_CSV):
            path = os.path.join(out_dir, name)
            if os.path.exists(path):
                os.remove(path)


def check_memory(params: Params, mem_available_kib: Optional[int]) -> None:
    if mem_available_kib is not None and params.size_bytes > mem_available_kib * 1024 and not params.force:
        raise LabError(
            f"--size {format_size(params.size_bytes)} does not fit in MemAvailable "
            f"({mem_available_kib // 1024} MiB); pass --force to run it anyway (the OOM killer may end it)")


def build_workload(out_dir: str, raw_dir: str) -> str:
    """`gcc allocate.c -o allocate` in the run directory, as the original did."""
    if tools.which("gcc") is None:
        raise LabError(f"gcc not found: {tools.INSTALL_HINTS['gcc']}")
    source = pkgutil.get_data("labagent", "allocate.c")
    if source is None:
        raise LabError("allocate.c is missing from the agent package; rebuild labagent.pyz")
    with open(os.path.join(out_dir, "allocate.c"), "wb") as handle:
        handle.write(source)
    done = children.run(["gcc", "allocate.c", "-o", "allocate"], cwd=out_dir, env=tools.capture_env(),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    with open(os.path.join(raw_dir, "gcc.txt"), "w", encoding="utf-8") as handle:
        handle.write("$ gcc allocate.c -o allocate\n" + done.stdout)
    if done.returncode != 0:
        first = done.stdout.strip().splitlines()[:1]
        raise LabError(f"gcc failed to build allocate.c: {first[0] if first else 'no output'} "
                       f"(is libc6-dev / glibc-devel installed?)")
    return os.path.join(out_dir, "allocate")


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


_NO_PROCESS: Dict[str, object] = dict.fromkeys(procfs.PROCESS_FIELDS)  # a tick after the workload is gone
_MEMINFO = "_meminfo"  # a queued record's /proc/meminfo text, replaced by its fields when written
SAMPLES_FLUSH_S = 0.1  # samples.jsonl is written at least this often (every tick at 100 ms and slower)


class Run:
    """The state of one run, written out as it goes."""

    def __init__(self, params: Params, out_dir: str, clock, proc_root: str,
                 progress: Callable[[str], None], argv: List[str]) -> None:
        self.params = params
        self.out_dir = out_dir
        self.raw_dir = os.path.join(out_dir, vocab.RAW_DIR)
        self.clock = clock
        self.proc_root = proc_root
        self.progress = progress
        self.phase = "starting"
        self.origin = clock.monotonic()
        self.origin_wall = clock.wall()
        self.data: Dict[str, object] = {
            "schema_version": results.SCHEMA_VERSION,
            "complete": False,
            "outcome": {"status": "running", "reason": None, "signal": None, "phase": None},
            "agent": {"version": __version__, "argv": argv, "python": sys.version.split()[0],
                      "command": list(getattr(sys, "orig_argv", [sys.executable] + sys.argv))},
            "params": asdict(params),
            "host": {},
            "phases": [],
            "steps": [],
            "snapshots": {},
            "tools": {},
            "capture_locale": dict(tools.CAPTURE_LOCALE),
            "ticks": {},
            # The samples live in samples.jsonl only (results.load_run reads them): results.json,
            # rewritten at every phase boundary, costs the same however many ticks the run takes.
            "samples_file": results.SAMPLES_JSONL,
            "summary": {},
            "notes": [],
            "started_wall": self.origin_wall,
        }
        self.sample_log = results.SampleLog(os.path.join(out_dir, results.SAMPLES_JSONL))
        self.progress_file = ProgressFile(out_dir, Progress(params.variant, self.phase, params.size_bytes, 0, 0,
                                                            params.steps, None, None, 0.0))
        # smaps_rollup is read at most once a second by the sampler (its value carried between reads).
        self._rollup_due = 0.0
        self._anon_huge_kib: Optional[int] = None
        self._tick_reader: Optional[procfs.TickReader] = None  # the sampler's kept-open /proc files
        self._pending: List[Dict[str, object]] = []  # ticks not yet in samples.jsonl (on_sample)
        self._flushed_t = float("-inf")
        self.lock = threading.Lock()

    # -- time and phases
    def t(self) -> float:
        return round(self.clock.monotonic() - self.origin, 6)

    def begin_phase(self, name: str) -> None:
        now = self.t()
        phases = self.data["phases"]
        if phases and phases[-1]["end"] is None:  # type: ignore[index]
            phases[-1]["end"] = now  # type: ignore[index]
            phases[-1]["end_wall"] = round(self.origin_wall + now, 3)  # type: ignore[index]
        phases.append({"name": name, "start": now, "start_wall": round(self.origin_wall + now, 3),  # type: ignore[union-attr]
                       "end": None, "end_wall": None})
        self.phase = name
        self.progress_file.update(phase=name, t=now)

    def end_phases(self) -> None:
        phases = self.data["phases"]
        if phases and phases[-1]["end"] is None:  # type: ignore[index]
            now = self.t()
            phases[-1]["end"] = now  # type: ignore[index]
            phases[-1]["end_wall"] = round(self.origin_wall + now, 3)  # type: ignore[index]

    def save(self) -> None:
        """results.json through the typed run record (a field of the wrong shape fails here, in tests)."""
        with self.lock:
            record.write(self.out_dir, record.from_json(self.data))

    # -- readings
    def reading(self, pid: Optional[int], with_rollup: bool = True) -> Dict[str, object]:
        record: Dict[str, object] = {"phase": self.phase}
        process = procfs.read_process(pid, self.proc_root, with_rollup) if pid is not None else None
        for key in procfs.PROCESS_FIELDS:
            record[key] = process.get(key) if process else None
        record.update(procfs.read_system(self.proc_root))
        return record

    def sample(self, pid: int) -> Dict[str, object]:
        """A sampler tick, what `reading` gives, read through kept-open files (procfs.TickReader);
        AnonHugePages (smaps_rollup, a walk of the page tables) at most once a second."""
        reader = self._tick_reader
        if reader is None:
            reader = self._tick_reader = procfs.TickReader(pid, self.proc_root)
        record: Dict[str, object] = {"phase": self.phase}
        process = reader.process()
        if process is None:
            record.update(_NO_PROCESS)
        else:
            record.update(process)
            now = self.clock.monotonic()
            if now >= self._rollup_due:
                self._rollup_due = now + 1.0
                self._anon_huge_kib = procfs.read_anon_huge_kib(pid, self.proc_root)
            record["anon_huge_kib"] = self._anon_huge_kib
        record[_MEMINFO] = reader.system_bytes()  # parsed when the line is written (on_sample)
        return record

    def close(self) -> None:
        """Writes what is queued, closes samples.jsonl and the sampler's /proc files (after the
        sampler has stopped)."""
        self.flush_samples()
        self.sample_log.close()
        if self._tick_reader is not None:
            self._tick_reader.close()
            self._tick_reader = None

    def snapshot(self, name: str, pid: Optional[int], with_maps: bool = True) -> Dict[str, object]:
        """The state at a phase boundary, taken while the workload waits for its next command."""
        snap: Dict[str, object] = {"t": self.t(), "reading": self.reading(pid)}
        if with_maps and pid is not None:
            maps = procfs.read_maps(pid, self.proc_root)
            snap["maps"] = maps
            self.write_raw(captures.MAPS.raw_name(name), maps)
        for free in captures.FREE_CAPTURES:  # -h for the writeup, then -b: its numbers are exact
            text = self.capture(free.argv(), free.raw_name(name))
            if text is not None:
                snap[free.name] = text
        if text is not None:
            snap["free"] = asdict(captures.FREE_B.parser(text))  # type: ignore[misc]
        self.data["snapshots"][name] = snap  # type: ignore[index]
        reading = snap["reading"]
        if reading.get("rss_kib") is not None:  # type: ignore[attr-defined]  (exited: keep the last reading)
            self.progress_file.update(rss_kib=reading.get("rss_kib"), min_flt=reading.get("min_flt"), t=snap["t"])  # type: ignore[attr-defined]
        return snap

    def capture(self, argv: List[str], raw_name: str) -> Optional[str]:
        if tools.which(argv[0]) is None:
            self.data["tools"].setdefault(argv[0], {"available": False, "reason": tools.INSTALL_HINTS.get(argv[0])})  # type: ignore[union-attr]
            return None
        try:
            text = tools.run_text(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            self.data["tools"].setdefault(argv[0], {"available": True, "error": str(exc)})  # type: ignore[union-attr]
            return None
        self.write_raw(raw_name, text)
        return text

    def write_raw(self, name: str, text: str) -> None:
        with open(os.path.join(self.raw_dir, name), "w", encoding="utf-8") as handle:
            handle.write(text)

    def on_sample(self, record: Dict[str, object]) -> None:
        """Queues a tick's record for samples.jsonl, written at least every SAMPLES_FLUSH_S.

        Sampling faster than that, the meminfo text of each tick is parsed and the lines are written
        in one go every SAMPLES_FLUSH_S: a write(2) and the parsing, done per tick, cost the sampler
        several times the reads themselves (a thread waking into cold caches every 10 ms). A kill of
        the agent loses at most the last SAMPLES_FLUSH_S of samples."""
        record["wall"] = round(self.origin_wall + float(record["t"]), 3)  # type: ignore[arg-type]
        self._pending.append(record)
        if float(record["t"]) - self._flushed_t >= SAMPLES_FLUSH_S:  # type: ignore[arg-type]
            self.flush_samples()

    def flush_samples(self) -> None:
        """Writes the queued records to samples.jsonl, each with meminfo's fields in place of its text."""
        if not self._pending:
            return
        lines = []
        for queued in self._pending:
            record: Dict[str, object] = {}
            for key, value in queued.items():
                if key == _MEMINFO:
                    record.update(procfs.parse_tick_meminfo(value))  # type: ignore[arg-type]
                else:
                    record[key] = value
            lines.append(record)
        self._flushed_t = float(self._pending[-1]["t"])  # type: ignore[arg-type]
        self._pending = []
        self.sample_log.extend(lines)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        self.clock.wait_until(self.clock.monotonic() + seconds, stop)


def _ps_loop(run: Run, pid: int, path: str) -> Callable[[threading.Event], object]:
    """capture.sh: a ps line per second (or per sample interval, if longer), on deadlines."""
    interval = max(1.0, run.params.sample_interval_s)
    handle = open(path, "w", encoding="utf-8")
    state = {"finished": False}

    def read() -> Dict[str, object]:
        if not state["finished"]:
            wall = run.clock.wall()
            line = tools.capture_line(pid, wall)
            if line is None:
                line = tools.finished_line(wall)
                state["finished"] = True
            handle.write(line + "\n")
            handle.flush()
        return {}

    def loop(stop: threading.Event) -> object:
        try:
            return Sampler(run.clock, interval, run.origin, read, lambda _r: None).run(stop).as_dict()
        finally:
            handle.close()

    return loop


def run_experiment(params: Params, out_dir: str, *, clock=None, proc_root: str = "/proc",
                   host_root: str = "/", progress: Callable[[str], None] = lambda _m: None,
                   argv: Optional[List[str]] = None) -> Dict[str, object]:
    """Runs the lab and returns results.json's content. Raises LabError before anything starts
    for bad input; a workload that dies mid-run is recorded (complete: false), not raised."""
    validate(params)
    params = replace(params, step_bytes=params.declared_variant.step_bytes(params.size_bytes, params.step_bytes))
    clock = clock or SystemClock()
    prepare_out_dir(out_dir, params.force)
    meminfo = procfs.read_system(proc_root)
    check_memory(params, meminfo["mem_available_kib"])  # type: ignore[arg-type]
    raw_dir = os.path.join(out_dir, vocab.RAW_DIR)
    binary = build_workload(out_dir, raw_dir)

    run = Run(params, out_dir, clock, proc_root, progress, argv or [])
    run.data["host"] = hostfacts.read_host_facts(host_root, ask_imds=params.ask_imds)
    run.data["tools"] = {"versions": tools.tool_versions()}
    for capture in captures.HOST_CAPTURES:
        run.capture(capture.argv(), capture.raw_name())
    run.save()

    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def interrupted(signum, _frame):
        raise Interrupted(f"agent stopped by {signal.Signals(signum).name}")

    for sig in previous:
        signal.signal(sig, interrupted)
    sar = tools.SarCapture(os.path.join(raw_dir, captures.SAR_R.raw_name())) if tools.which("sar") else None
    if sar is None:
        run.data["tools"]["sar"] = {"available": False, "reason": f"sar not found: {tools.INSTALL_HINTS['sar']}"}  # type: ignore[index]
    threads: List[PeriodicThread] = []
    proc: Optional[subprocess.Popen] = None
    started = children.Children()  # ended in `finally`; a death signal covers the exits that skip it
    ctl_read, ctl_write = os.pipe()
    try:
        if sar is not None:
            sar.start(started.spawn)
            run.data["tools"]["sar"] = {"available": True, "raw": vocab.raw_path(captures.SAR_R.raw_name()),  # type: ignore[index]
                                        "command": " ".join(captures.SAR_R.argv()),
                                        "locale": dict(tools.CAPTURE_LOCALE),
                                        "started_wall": round(clock.wall(), 3)}
        with open(os.path.join(raw_dir, vocab.PROGRAM_LOG), "w", encoding="utf-8") as out, \
                open(os.path.join(raw_dir, vocab.PROGRAM_STDERR), "w", encoding="utf-8") as err:
            command = [binary, "-s", str(params.size_bytes), "-t", str(params.step_bytes),
                       "-v", params.variant, "-c", str(ctl_write)]
            proc = started.spawn(command, cwd=out_dir, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                 pass_fds=(ctl_write,), env=tools.capture_env())
        os.close(ctl_write)
        ctl_write = -1
        run.data["workload"] = {
            "pid": proc.pid, "command": ["./allocate"] + command[1:-2],
            # glibc's malloc tunables change the mmap threshold the writeup explains.
            "malloc_env": {k: v for k, v in os.environ.items()
                           if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")},
        }
        _drive(run, proc, ControlChannel(ctl_read), stop, threads)
        run.data["outcome"] = {"status": "complete", "reason": None, "signal": None, "phase": None}
        run.data["complete"] = True
    except (WorkloadDied, Interrupted) as exc:
        status = "interrupted" if isinstance(exc, Interrupted) else "failed"
        sig = None
        if proc is not None and proc.poll() is not None and proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
        reason = str(exc) if sig is None else f"the workload was killed by {sig} during {run.phase}"
        run.data["outcome"] = {"status": status, "reason": reason, "signal": sig, "phase": run.phase}
        progress(f"run {status}: {reason}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ctl_write >= 0:
            os.close(ctl_write)
        os.close(ctl_read)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        for thread in threads:
            result = thread.stop()
            if thread.name == "sampler":
                run.data["ticks"] = result.as_dict() if result is not None else {}  # type: ignore[attr-defined]
                target = run.data["ticks"]
            else:
                target = run.data["tools"]["ps_loop"] = {"available": True,  # type: ignore[index]
                                                         "raw": vocab.raw_path(captures.PS_LOOP.raw_name()),
                                                         "ticks": result}
            if thread.error is not None:
                target["error"] = f"{type(thread.error).__name__}: {thread.error}"  # type: ignore[index]
        if sar is not None:
            sar.stop()
        started.end()
        run.close()
        run.end_phases()
        _finish(run)
    return run.data


def _drive(run: Run, proc: subprocess.Popen, channel: ControlChannel, stop: threading.Event,
           threads: List[PeriodicThread]) -> None:
    params = run.params
    pid = proc.pid

    def expect(word: str) -> List[str]:
        line = channel.read_line(params.timeout_s)
        if line is None:
            proc.wait()
            raise WorkloadDied(f"the workload exited with status {proc.returncode} before '{word}'")
        parts = line.split()
        if not parts or parts[0] != word:
            raise WorkloadDied(f"the workload said {line!r}, expected {word!r}")
        return parts

    def send(word: str) -> None:
        try:
            proc.stdin.write((word + "\n").encode())  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            proc.wait()
            raise WorkloadDied(f"the workload exited with status {proc.returncode} before '{word}'") from None

    expect("baseline")
    run.begin_phase("baseline")
    sampler = Sampler(run.clock, params.sample_interval_s, run.origin, lambda: run.sample(pid), run.on_sample)
    threads.append(PeriodicThread("sampler", sampler.run))
    if tools.which("ps"):
        threads.append(PeriodicThread("ps-loop", _ps_loop(run, pid, os.path.join(run.raw_dir, captures.PS_LOOP.raw_name()))))
    for thread in threads:
        thread.start()
    base = run.snapshot("baseline", pid)
    if run.capture(captures.PS_U.argv(pid), captures.PS_U.raw_name()) is not None:
        run.data["tools"][captures.PS_U.name] = {"available": True, "raw": vocab.raw_path(captures.PS_U.raw_name()),  # type: ignore[index]
                                                 "command": " ".join(captures.PS_U.argv(pid))}
    run.progress(f"baseline: VSZ {base['reading']['vsz_kib']} KiB, RSS {base['reading']['rss_kib']} KiB")  # type: ignore[index]
    run.save()
    run.wait(params.pause_s, stop)

    send("alloc")
    parts = expect("allocated")
    run.begin_phase("allocated")
    run.data["workload"]["pointer"] = parts[1]  # type: ignore[index]
    snap = run.snapshot("allocated", pid)
    run.progress(f"allocated {format_size(params.size_bytes)} at 0x{parts[1]}: VSZ {snap['reading']['vsz_kib']} KiB, "  # type: ignore[index]
                 f"RSS {snap['reading']['rss_kib']} KiB")  # type: ignore[index]
    run.save()
    run.wait(params.pause_s, stop)

    run.begin_phase("touching")
    run.save()  # a run killed while touching says it got that far
    start = run.clock.monotonic()
    steps = run.data["steps"]
    for index in range(params.steps):
        deadline = start + index * params.step_interval_s
        run.clock.wait_until(deadline, threading.Event())
        sent = run.clock.monotonic()
        send("touch")
        parts = expect("step")
        took = run.clock.monotonic() - sent
        reading = procfs.read_process(pid, run.proc_root) or {}
        steps.append({"index": int(parts[1]), "bytes": int(parts[2]), "t": round(sent - run.origin, 6),  # type: ignore[union-attr]
                      "late_ms": round((sent - deadline) * 1000, 3), "ms": round(took * 1000, 3),
                      "rss_kib": reading.get("rss_kib"), "min_flt": reading.get("min_flt"),
                      "maj_flt": reading.get("maj_flt"),
                      "anon_huge_kib": reading.get("anon_huge_kib")})
        run.progress_file.update(touched_bytes=int(parts[2]), step=index + 1, rss_kib=reading.get("rss_kib"),
                                 min_flt=reading.get("min_flt"), t=run.t())
        run.progress(f"touched {format_size(int(parts[2]))} ({index + 1}/{params.steps}): RSS {reading.get('rss_kib')} KiB, "
                     f"min_flt {reading.get('min_flt')}")
    if params.declared_variant.one_timed_step:
        parts = expect("timing")
        run.data["timing"] = {"first_touch_ns": int(parts[1]), "second_pass_ns": int(parts[2])}
    expect("touched")
    run.begin_phase("touched")
    run.snapshot("touched", pid)
    run.save()
    run.wait(params.pause_s, stop)

    if params.declared_variant.frees:
        send("free")
        expect("freed")
        run.begin_phase("freed")
        run.snapshot("freed", pid)
        run.save()
        run.wait(params.pause_s, stop)

    send("exit")
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=params.timeout_s)
    run.begin_phase("exited")
    run.data["workload"]["exit_status"] = proc.returncode  # type: ignore[index]
    if proc.returncode != 0:
        raise WorkloadDied(f"the workload exited with status {proc.returncode}")
    run.snapshot("exited", None, with_maps=False)
    run.progress("workload exited")
    run.wait(params.tail_s, stop)


def read_sar_capture(run: Run) -> None:
    """sar -r 1's rows into the run's `sar`, and whether its text parsed into tools.sar.parse: a capture
    that does not parse is said so in the results and in a note for the writeup, never left empty."""
    sar_path = os.path.join(run.raw_dir, captures.SAR_R.raw_name())
    tool = run.data["tools"].get("sar")  # type: ignore[union-attr]
    if not os.path.exists(sar_path) or not (tool or {}).get("available"):
        return
    with open(sar_path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        report = captures.SAR_R.parser(text)  # type: ignore[misc]
    except ValueError as exc:
        tool["parse"] = {"ok": False, "rows": 0, "error": str(exc)}  # type: ignore[index]
        run.data["notes"].append({  # type: ignore[union-attr]
            "en": f"raw/sar-r.txt could not be parsed, so the writeup shows no sar figures ({exc}).",
            "ja": f"raw/sar-r.txt を解析できなかったため、sar の数値は載せていない ({exc})。"})
    else:
        run.data["sar"] = [{"time": r.time, "seconds": r.seconds, **r.values} for r in report.rows]
        tool["parse"] = {"ok": True, "rows": len(report.rows), "error": None}  # type: ignore[index]


def _finish(run: Run) -> None:
    """Analysis over what was captured, then results.json, samples.csv: also for a partial run."""
    jsonl = os.path.join(run.out_dir, results.SAMPLES_JSONL)
    count, huge_peak = results.write_samples_csv(os.path.join(run.out_dir, results.SAMPLES_CSV),
                                                 results.iter_samples(jsonl))
    snaps = run.data["snapshots"]
    read_sar_capture(run)
    maps_before = parsers.parse_maps(snaps["baseline"]["maps"]) if "baseline" in snaps else ()  # type: ignore[index,operator]
    maps_after = parsers.parse_maps(snaps["allocated"]["maps"]) if "allocated" in snaps else ()  # type: ignore[index,operator]
    pointer_hex = (run.data.get("workload") or {}).get("pointer")  # type: ignore[union-attr]
    steps = run.data["steps"]
    touched = max((s["bytes"] for s in steps), default=0)  # type: ignore[union-attr]
    host = run.data["host"]
    run.data["summary"] = analysis.summarize(
        snapshots={k: v["reading"] for k, v in snaps.items()},  # type: ignore[union-attr]
        maps_before=maps_before, maps_after=maps_after,
        pointer=int(pointer_hex, 16) if pointer_hex else None,
        size_bytes=run.params.size_bytes, touched_bytes=touched,
        thp_enabled=host.get("thp_enabled"), page_size=int(host.get("page_size") or 4096),  # type: ignore[union-attr]
        anon_huge_peak_kib=huge_peak, steps=steps, timing=run.data.get("timing"))  # type: ignore[arg-type]
    run.data["step_deltas"] = analysis.step_deltas(steps, (snaps.get("allocated") or {}).get("reading") or {})  # type: ignore[arg-type,union-attr]
    run.data["samples_count"] = count
    run.save()
