"""The record of one run as it goes: results.json (written through record.py's typed records at every
phase boundary), samples.jsonl (the sampler's ticks), raw/ (the tools' verbatim output), progress.json.
The phase script (experiment.py) and the recorder (recorder.py) fill it."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import Callable, Dict, List, Optional

from . import __version__, captures, children, procfs, record, results, tools, vocab
from .errors import LabError
from .params import Params
from .progress import Progress, ProgressFile
from .sampler import PeriodicThread


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


_NO_PROCESS: Dict[str, object] = dict.fromkeys(procfs.PROCESS_FIELDS)  # a tick after the workload is gone
_MEMINFO = "_meminfo"  # a queued record's /proc/meminfo text, replaced by its fields when written
SAMPLES_FLUSH_S = 0.1  # samples.jsonl is written at least this often (every tick at 100 ms and slower)


class Run:
    """The state of one run, written out as it goes. record_data is results.json's content as it builds
    up, checked against record.RunRecord at every save; elapsed() is the run's clock."""

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
        self.record_data: Dict[str, object] = {
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
        self._polled: Dict[str, captures.Capture] = {}  # thread name -> its polled capture
        self._processes: List[tools.ProcessCapture] = []  # continuous captures running
        self.lock = threading.Lock()

    # -- time and phases
    def elapsed(self) -> float:
        """Seconds since the run began (the `t` of phases, snapshots and steps)."""
        return round(self.clock.monotonic() - self.origin, 6)

    def begin_phase(self, name: str) -> None:
        now = self.elapsed()
        phases = self.record_data["phases"]
        if phases and phases[-1]["end"] is None:  # type: ignore[index]
            phases[-1]["end"] = now  # type: ignore[index]
            phases[-1]["end_wall"] = round(self.origin_wall + now, 3)  # type: ignore[index]
        phases.append({"name": name, "start": now, "start_wall": round(self.origin_wall + now, 3),  # type: ignore[union-attr]
                       "end": None, "end_wall": None})
        self.phase = name
        self.progress_file.update(phase=name, t=now)

    def end_phases(self) -> None:
        phases = self.record_data["phases"]
        if phases and phases[-1]["end"] is None:  # type: ignore[index]
            now = self.elapsed()
            phases[-1]["end"] = now  # type: ignore[index]
            phases[-1]["end_wall"] = round(self.origin_wall + now, 3)  # type: ignore[index]

    def save(self) -> None:
        """results.json through the typed run record (a field of the wrong shape fails here, in tests)."""
        with self.lock:
            record.write(self.out_dir, record.from_json(self.record_data))

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

    def snapshot(self, name: str, pid: Optional[int], with_process: bool = True) -> Dict[str, object]:
        """The state at a phase boundary, taken while the workload waits for its next command: the
        reading and every EACH_PHASE capture of captures.py (those of the process itself only while it
        lives: with_process), listed under `captures` (name -> raw file)."""
        snap: Dict[str, object] = {"t": self.elapsed(), "reading": self.reading(pid)}
        taken: Dict[str, str] = {}
        for capture in captures.scheduled(captures.EACH_PHASE):
            if capture.needs_pid and (pid is None or not with_process):
                continue
            raw_name = capture.raw_name(name)
            if capture.read is not None:
                text: Optional[str] = capture.read(pid, self.proc_root)  # type: ignore[arg-type]
                self.write_raw(raw_name, text)  # type: ignore[arg-type]
            else:
                text = self.capture(capture, raw_name, pid)
            if text is None:
                continue
            taken[capture.name] = vocab.raw_path(raw_name)
            if capture.inline:
                snap[capture.name] = text
            if capture.parsed_as is not None and capture.parser is not None:
                snap[capture.parsed_as] = asdict(capture.parser(text))
        snap["captures"] = taken
        self.record_data["snapshots"][name] = snap  # type: ignore[index]
        reading = snap["reading"]
        if reading.get("rss_kib") is not None:  # type: ignore[attr-defined]  (exited: keep the last reading)
            self.progress_file.update(rss_kib=reading.get("rss_kib"), min_flt=reading.get("min_flt"), t=snap["t"])  # type: ignore[attr-defined]
        return snap

    def capture(self, capture: captures.Capture, raw_name: str, pid: Optional[int] = None) -> Optional[str]:
        """Runs a capture's command into raw/raw_name and returns its text; None, said in tools.<name>,
        when its program is missing or fails."""
        argv = capture.argv(pid)
        if not self._has_program(capture):
            return None
        try:
            text = tools.run_text(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            self.record_data["tools"].setdefault(capture.name, {"available": True, "error": str(exc)})  # type: ignore[union-attr]
            return None
        self.write_raw(raw_name, text)
        return text

    def _has_program(self, capture: captures.Capture) -> bool:
        program = capture.program
        if program is None or tools.which(program.name) is not None:
            return True
        self.record_data["tools"].setdefault(capture.name, {  # type: ignore[union-attr]
            "available": False, "reason": f"{program.name} not found: {program.hint}"})
        return False

    def capture_once(self, pid: Optional[int] = None) -> None:
        """The ONCE captures of captures.py: those that need no PID (pid None: before the workload
        starts), or those that do (at baseline); each listed in tools.<name>."""
        for capture in captures.scheduled(captures.ONCE, needs_pid=pid is not None):
            if self.capture(capture, capture.raw_name(), pid) is not None:
                self.record_data["tools"][capture.name] = {  # type: ignore[index]
                    "available": True, "raw": vocab.raw_path(capture.raw_name()), "command": " ".join(capture.argv(pid))}

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
                    capture, self.clock, self.origin, self.params.sample_interval_s, int(pid or 0), path)))
                continue
            process = tools.ProcessCapture(capture, path, pid)
            process.start(spawn)
            self._processes.append(process)
            self.record_data["tools"][capture.name] = {  # type: ignore[index]
                "available": True, "raw": vocab.raw_path(capture.raw_name()), "command": " ".join(process.argv),
                "locale": dict(tools.CAPTURE_LOCALE), "started_wall": round(self.clock.wall(), 3),
                "pid": process.proc.pid if process.proc is not None else None}
        return threads

    def stop_captures(self, threads: List[PeriodicThread]) -> None:
        """Stops the sampler and the polled captures (their ticks into ticks and tools.<name>), then the
        continuous processes."""
        for thread in threads:
            result = thread.stop()
            if thread.name in self._polled:
                capture = self._polled[thread.name]
                target = self.record_data["tools"][capture.name] = {  # type: ignore[index]
                    "available": True, "raw": vocab.raw_path(capture.raw_name()), "ticks": result}
            else:  # the sampler
                self.record_data["ticks"] = result.as_dict() if result is not None else {}  # type: ignore[attr-defined]
                target = self.record_data["ticks"]
            if thread.error is not None:
                target["error"] = f"{type(thread.error).__name__}: {thread.error}"  # type: ignore[index]
        for process in self._processes:
            process.stop()
        self._processes = []

    def parse_continuous(self) -> None:
        """Each continuous capture's rows (captures.Capture.to_rows) into results.json, and whether its
        text parsed into tools.<name>.parse: a capture that does not parse is said so in the results and
        in a note for the writeup, never left empty."""
        for capture in captures.scheduled(captures.CONTINUOUS):
            tool = self.record_data["tools"].get(capture.name)  # type: ignore[union-attr]
            path = os.path.join(self.raw_dir, capture.raw_name())
            if capture.to_rows is None or capture.parser is None or not os.path.exists(path) \
                    or not (tool or {}).get("available"):
                continue
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            raw = vocab.raw_path(capture.raw_name())
            try:
                rows = capture.to_rows(capture.parser(text))
            except ValueError as exc:
                tool["parse"] = {"ok": False, "rows": 0, "error": str(exc)}
                self.record_data["notes"].append({  # type: ignore[union-attr]
                    "en": f"{raw} could not be parsed, so the writeup shows no {capture.name} figures ({exc}).",
                    "ja": f"{raw} を解析できなかったため、{capture.name} の数値は載せていない ({exc})。"})
                continue
            if capture.rows_field is not None:
                self.record_data[capture.rows_field] = rows
            else:
                tool["rows"] = rows
            tool["parse"] = {"ok": True, "rows": len(rows), "error": None}

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
