"""The record of one run as it goes: results.json (record.py's typed record, built field by field and
written at every phase boundary), samples.jsonl (the sampler's ticks), raw/ (the tools' verbatim
output), progress.json (an experiment's). The phase script (experiment.py) and the recorder (recorder.py) fill it."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import __version__, captures, children, procfs, record, results, tools, vocab
from .errors import LabError
from .params import Params
from .progress import Progress, ProgressFile
from .record import (AgentInfo, JsonObject, Outcome, Phase, RecordedPhase, RecordingRecord, RunParams, RunRecord,
                     Snapshot)
from .sampler import PeriodicThread, TickStats, half_tick


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


_MEMINFO = "_meminfo"  # a queued record's /proc/meminfo bytes, replaced by SYSTEM_FIELDS when it is written
# A sampler tick's record as samples.jsonl has it, every key in its place from the start (a dict that
# never regrows as it fills): the process's fields (None once the workload is gone), SYSTEM_FIELDS
# (None until the line is written), _MEMINFO, then what the Sampler (tick, t, late_ms, missed_before)
# and on_sample (wall) fill in.
_TICK_RECORD: Dict[str, Any] = dict.fromkeys(("phase",) + procfs.PROCESS_FIELDS + procfs.SYSTEM_FIELDS + (
    _MEMINFO, "tick", "t", "late_ms", "missed_before", "wall"))
SAMPLES_FLUSH_S = 0.25  # samples.jsonl is written at least this often (every tick at 250 ms and slower)


class Run:
    """The state of one run, written out as it goes. `record` is results.json's content as it builds up:
    a frozen record.RunRecord (a RecordingRecord for `labagent record`, as_recording) whose fields are
    replaced as the run goes (update); its open-ended JSON parts (tools, the recording's own) are
    filled in place. elapsed() is the run's clock."""

    def __init__(self, params: Params, out_dir: str, clock, proc_root: str,
                 progress: Callable[[str], None], argv: List[str], keep_progress: bool = True) -> None:
        self.params = params
        self.out_dir = out_dir
        self.raw_dir = os.path.join(out_dir, vocab.RAW_DIR)
        self.clock = clock
        self.proc_root = proc_root
        self.progress = progress
        self.phase = "starting"
        self.origin = clock.monotonic()
        self.origin_wall = clock.wall()
        self.record: Union[RunRecord, RecordingRecord] = RunRecord(
            schema_version=results.SCHEMA_VERSION, complete=False,
            outcome=Outcome(status="running", reason=None, signal=None, phase=None),
            agent=AgentInfo(version=__version__, argv=tuple(argv), python=sys.version.split()[0],
                            command=tuple(getattr(sys, "orig_argv", [sys.executable] + sys.argv))),
            params=RunParams(**asdict(params)), host={}, phases=(), steps=(), snapshots={}, tools={},
            capture_locale=dict(tools.CAPTURE_LOCALE), ticks={},
            # The samples live in samples.jsonl only (results.load_run reads them): results.json,
            # rewritten at every phase boundary, costs the same however many ticks the run takes.
            samples_file=results.SAMPLES_JSONL, summary={}, notes=(), started_wall=self.origin_wall)
        self.sample_log = results.SampleLog(os.path.join(out_dir, results.SAMPLES_JSONL))
        self.sample_csv = results.SampleCsv(os.path.join(out_dir, results.SAMPLES_CSV))
        # progress.json, an experiment's position for the playbook's poll; a recording has none (keep_progress
        # false): it has no size or steps, and its poll reads the last line of samples.jsonl
        # (progress.recording_progress).
        self.progress_file: Optional[ProgressFile] = ProgressFile(
            out_dir, Progress(params.variant, self.phase, params.size_bytes, 0, 0, params.steps, None, None, 0.0)
        ) if keep_progress else None
        # smaps_rollup is read by the sampler once in each whole second of the run, at its first tick
        # there (its value carried between reads): by the second the tick was due in, so that a tick that
        # woke a little late does not push the next read to the second after (it is a walk of the page
        # tables, too dear for every 10 ms tick).
        self._rollup_second = -1
        self._half_tick = half_tick(params.sample_interval_s)
        self._anon_huge_kib: Optional[int] = None
        self._tick_reader: Optional[procfs.TickReader] = None  # the sampler's kept-open /proc files
        self._pending: List[Dict[str, Any]] = []  # ticks not yet in samples.jsonl (on_sample)
        self._meminfo_parsed: Tuple[bytes, Dict[str, Any]] = (b"", {})  # the last meminfo text written, parsed
        self._flushed_t = float("-inf")
        self._polled: Dict[str, captures.Capture] = {}  # thread name -> its polled capture
        self._processes: List[tools.ProcessCapture] = []  # continuous captures running
        self.lock = threading.Lock()

    # -- the record
    def update(self, **fields: Any) -> None:
        """Replaces fields of the record (dataclasses.replace: it stays a frozen record)."""
        with self.lock:
            self.record = dataclasses.replace(self.record, **fields)

    def as_recording(self, params: JsonObject) -> None:
        """Makes the record a recording's (`labagent record`): the same parts where they mean the same,
        its own params, and no steps."""
        rec = self.record
        self.record = RecordingRecord(
            schema_version=rec.schema_version, complete=rec.complete, outcome=rec.outcome, agent=rec.agent,
            params=params, host=rec.host, phases=(), steps=(), snapshots={}, tools=rec.tools,
            capture_locale=rec.capture_locale, ticks=rec.ticks, samples=(), samples_file=rec.samples_file,
            summary=rec.summary, notes=rec.notes, started_wall=rec.started_wall, kind=vocab.RECORDING_KIND,
            recording={})

    def add_note(self, note: Dict[str, str]) -> None:
        """A note for the writeup, {lang: text}."""
        self.update(notes=(self.record.notes or ()) + (note,))

    def save(self) -> None:
        """results.json from the typed record, read back through record.from_json first: a field of the
        wrong shape fails here, in tests, not in the report."""
        with self.lock:
            data = self.record.to_json()
            record.from_json(data)
            record.write_json_atomic(os.path.join(self.out_dir, vocab.RESULTS), data)

    # -- time and phases
    def elapsed(self) -> float:
        """Seconds since the run began (the `t` of phases, snapshots and steps)."""
        return round(self.clock.monotonic() - self.origin, 6)

    def begin_phase(self, name: str) -> None:
        now = self.elapsed()
        kind = RecordedPhase if isinstance(self.record, RecordingRecord) else Phase
        self.update(phases=self._closed_phases(now) + (kind(name, now, round(self.origin_wall + now, 3), None, None),))
        self.phase = name
        if self.progress_file is not None:
            self.progress_file.update(phase=name, t=now)

    def end_phases(self) -> None:
        phases = self.record.phases
        if phases and phases[-1].end is None:
            self.update(phases=self._closed_phases(self.elapsed()))

    def _closed_phases(self, now: float) -> tuple:
        """The phases with the last one, if still open, ended at `now`."""
        phases = self.record.phases
        if phases and phases[-1].end is None:
            last = dataclasses.replace(phases[-1], end=now, end_wall=round(self.origin_wall + now, 3))
            return phases[:-1] + (last,)
        return phases

    # -- readings
    def reading(self, pid: Optional[int], with_rollup: bool = True) -> Dict[str, Any]:
        record: Dict[str, Any] = {"phase": self.phase}
        process = procfs.read_process(pid, self.proc_root, with_rollup) if pid is not None else None
        for key in procfs.PROCESS_FIELDS:
            record[key] = process.get(key) if process else None
        record.update(procfs.read_system(self.proc_root))
        return record

    def sample(self, pid: int) -> Dict[str, Any]:
        """A sampler tick, what `reading` gives, read through kept-open files (procfs.TickReader);
        AnonHugePages (smaps_rollup, a walk of the page tables) once in each second of the run."""
        reader = self._tick_reader
        if reader is None:
            reader = self._tick_reader = procfs.TickReader(pid, self.proc_root)
        record = _TICK_RECORD.copy()
        record["phase"] = self.phase
        process = reader.process()
        if process is not None:
            record.update(process)
            second = int(self.clock.monotonic() - self.origin + self._half_tick)
            if second != self._rollup_second:
                self._rollup_second = second
                self._anon_huge_kib = procfs.read_anon_huge_kib(pid, self.proc_root)
            record["anon_huge_kib"] = self._anon_huge_kib
        record[_MEMINFO] = reader.system_bytes()  # parsed when the line is written (flush_samples)
        return record

    def close(self) -> None:
        """Writes what is queued, closes samples.jsonl and the sampler's /proc files (after the
        sampler has stopped)."""
        self.flush_samples()
        self.sample_log.close()
        self.sample_csv.close()
        if self._tick_reader is not None:
            self._tick_reader.close()
            self._tick_reader = None

    def snapshot(self, name: str, pid: Optional[int], with_process: bool = True) -> Snapshot:
        """The state at a phase boundary, taken while the workload waits for its next command: the
        reading and every EACH_PHASE capture of captures.py (those of the process itself only while it
        lives: with_process), listed under `captures` (name -> raw file). A capture declared `inline`
        or `parsed_as` names a field of record.Snapshot."""
        t, reading = self.elapsed(), self.reading(pid)
        texts: Dict[str, Any] = {}
        taken: Dict[str, str] = {}
        for capture in captures.scheduled(captures.EACH_PHASE):
            if capture.needs_pid and (pid is None or not with_process):
                continue
            raw_name = capture.raw_name(name)
            if capture.read is not None and pid is not None:
                text: Optional[str] = capture.read(pid, self.proc_root)
                self.write_raw(raw_name, text or "")
            else:
                text = self.capture(capture, raw_name, pid)
            if text is None:
                continue
            taken[capture.name] = vocab.raw_path(raw_name)
            if capture.inline:
                texts[capture.name] = text
            if capture.parsed_as is not None and capture.parser is not None:
                texts[capture.parsed_as] = asdict(capture.parser(text))
        snap = Snapshot(t=t, reading=reading, captures=taken, **texts)
        self.put_snapshot(name, snap)
        if self.progress_file is not None and reading.get("rss_kib") is not None:  # (exited: keep the last reading)
            self.progress_file.update(rss_kib=reading.get("rss_kib"), min_flt=reading.get("min_flt"), t=t)
        return snap

    def put_snapshot(self, name: str, snap: Snapshot) -> None:
        self.update(snapshots=dict(self.record.snapshots, **{name: snap}))

    def capture(self, capture: captures.Capture, raw_name: str, pid: Optional[int] = None) -> Optional[str]:
        """Runs a capture's command into raw/raw_name and returns its text; None, said in tools.<name>,
        when its program is missing or fails."""
        argv = capture.argv(pid)
        if not self._has_program(capture):
            return None
        try:
            text = tools.run_text(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            self.record.tools.setdefault(capture.name, {"available": True, "error": str(exc)})
            return None
        self.write_raw(raw_name, text)
        return text

    def _has_program(self, capture: captures.Capture) -> bool:
        program = capture.program
        if program is None or tools.which(program.name) is not None:
            return True
        self.record.tools.setdefault(capture.name, {
            "available": False, "reason": f"{program.name} not found: {program.hint}"})
        return False

    def capture_once(self, pid: Optional[int] = None) -> None:
        """The ONCE captures of captures.py: those that need no PID (pid None: before the workload
        starts), or those that do (at baseline); each listed in tools.<name>."""
        for capture in captures.scheduled(captures.ONCE, needs_pid=pid is not None):
            if self.capture(capture, capture.raw_name(), pid) is not None:
                self.record.tools[capture.name] = {"available": True, "raw": vocab.raw_path(capture.raw_name()),
                                                   "command": " ".join(capture.argv(pid))}

    def start_continuous(self, pid: Optional[int], spawn: Callable[..., subprocess.Popen] = children.spawn
                         ) -> List[PeriodicThread]:
        """Starts the CONTINUOUS captures of captures.py that wait for a PID (pid given) or not (pid
        None): a process now, listed in tools.<name>; a polled one as a thread returned for the caller
        to start beside the sampler (stop_captures lists it)."""
        threads: List[PeriodicThread] = []
        for capture in captures.scheduled(captures.CONTINUOUS, needs_pid=pid is not None):
            if not self._has_program(capture):
                continue
            path = os.path.join(self.raw_dir, capture.raw_name())
            if capture.polled:
                self._polled[capture.name] = capture
                threads.append(PeriodicThread(capture.name, tools.poll_loop(
                    capture, self.clock, self.origin, self.params.sample_interval_s, pid, path)))
                continue
            process = tools.ProcessCapture(capture, path, pid)
            process.start(spawn)
            self._processes.append(process)
            self.record.tools[capture.name] = {
                "available": True, "raw": vocab.raw_path(capture.raw_name()), "command": " ".join(process.argv),
                "locale": dict(tools.CAPTURE_LOCALE), "started_wall": round(self.clock.wall(), 3),
                "pid": process.proc.pid if process.proc is not None else None}
        return threads

    def stop_captures(self, threads: List[PeriodicThread]) -> None:
        """Stops the sampler and the polled captures (their ticks into ticks and tools.<name>), then the
        continuous processes."""
        for thread in threads:
            result = thread.stop()
            target: JsonObject = result.as_dict() if isinstance(result, TickStats) else {}
            if thread.name in self._polled:
                capture = self._polled[thread.name]
                target = self.record.tools[capture.name] = {
                    "available": True, "raw": vocab.raw_path(capture.raw_name()), "ticks": result}
            else:  # the sampler
                self.update(ticks=target)
            if thread.error is not None:
                target["error"] = f"{type(thread.error).__name__}: {thread.error}"
        for process in self._processes:
            process.stop()
        self._processes = []

    def parse_continuous(self) -> None:
        """Each continuous capture's rows (captures.Capture.to_rows) into results.json, and whether its
        text parsed into tools.<name>.parse: a capture that does not parse is said so in the results and
        in a note for the writeup, never left empty."""
        for capture in captures.scheduled(captures.CONTINUOUS):
            tool = self.record.tools.get(capture.name)
            path = os.path.join(self.raw_dir, capture.raw_name())
            if capture.to_rows is None or capture.parser is None or not os.path.exists(path) \
                    or tool is None or not tool.get("available"):
                continue
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            raw = vocab.raw_path(capture.raw_name())
            try:
                rows = capture.to_rows(capture.parser(text))
            except ValueError as exc:
                tool["parse"] = {"ok": False, "rows": 0, "error": str(exc)}
                self.add_note({
                    "en": f"{raw} could not be parsed, so the writeup shows no {capture.name} figures ({exc}).",
                    "ja": f"{raw} を解析できなかったため、{capture.name} の数値は載せていない ({exc})。"})
                continue
            if capture.rows_field is not None:
                self.update(**{capture.rows_field: tuple(rows)})
            else:
                tool["rows"] = rows
            tool["parse"] = {"ok": True, "rows": len(rows), "error": None}

    def write_raw(self, name: str, text: str) -> None:
        with open(os.path.join(self.raw_dir, name), "w", encoding="utf-8") as handle:
            handle.write(text)

    def on_sample(self, record: Dict[str, Any]) -> None:
        """Queues a tick's record for samples.jsonl and samples.csv, written at least every SAMPLES_FLUSH_S.

        Sampling faster than that, the meminfo bytes of the queued ticks are parsed and their lines and
        rows written in one go (a write(2) per file) every SAMPLES_FLUSH_S: the parsing and the writes,
        done per tick, cost the sampler more than the reads themselves (a thread waking into cold caches
        every 10 ms), and each batch starts cold too (batches of 0.1 s cost ~9 µs a tick more than 1 s
        ones). A SIGKILL of the agent loses at most the last SAMPLES_FLUSH_S of samples (samples.csv, written
        second, may lack one batch more, and a write cut by the kill leaves a torn last line, which
        samples.jsonl's readers drop); a run that ends otherwise loses none (close)."""
        t = record["t"]
        record["wall"] = round(self.origin_wall + t, 3)
        self._pending.append(record)
        if t - self._flushed_t >= SAMPLES_FLUSH_S:
            self.flush_samples()

    def flush_samples(self) -> None:
        """Writes the queued records to samples.jsonl, each with meminfo's fields in place of its bytes."""
        pending = self._pending
        if not pending:
            return
        parse = procfs.parse_tick_meminfo
        last_bytes, last_fields = self._meminfo_parsed
        for record in pending:
            meminfo = record.pop(_MEMINFO, None)
            if meminfo is None:
                continue
            if meminfo != last_bytes:  # else the text of the tick before (often, on a quiet host): its fields
                last_bytes, last_fields = meminfo, parse(meminfo)
            record.update(last_fields)  # SYSTEM_FIELDS are in place already (_TICK_RECORD)
        self._meminfo_parsed = (last_bytes, last_fields)
        self._flushed_t = pending[-1]["t"]
        self._pending = []
        self.sample_log.extend(pending)
        self.sample_csv.extend(pending)

    def samples_written(self) -> Tuple[int, Optional[int]]:
        """At the end (after close): samples.csv complete, a header only when there was no sample; the
        samples' count and peak anon_huge_kib, what results.write_samples_csv returns."""
        if self.sample_csv.rows == 0:
            return results.write_samples_csv(self.sample_csv.path, [])
        return self.sample_csv.rows, self.sample_csv.anon_huge_peak

    def wait(self, seconds: float, stop: threading.Event) -> None:
        self.clock.wait_until(self.clock.monotonic() + seconds, stop)
