"""progress.json: where a running experiment is (phase, bytes touched of the total, RSS, min_flt),
rewritten as it changes; `labagent progress DIR` reads it for the playbook's poll, one JSON line."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from .errors import LabError
from .units import format_size
from .vocab import BATCH_JSON, SAMPLES_JSONL

PROGRESS_JSON = "progress.json"
POLL_S = 0.05  # how often a long poll (`labagent progress --wait`) looks at the job


@dataclass(frozen=True)
class Progress:
    """A running experiment's position: `t` is seconds since the run began; `step` of `steps` writes
    done, `touched_bytes` of `size_bytes`; RSS and min_flt from the latest reading (None before one)."""
    variant: str
    phase: str
    size_bytes: int
    touched_bytes: int
    step: int
    steps: int
    rss_kib: Optional[int]
    min_flt: Optional[int]
    t: float

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Progress":
        return cls(variant=str(data["variant"]), phase=str(data["phase"]), size_bytes=int(data["size_bytes"]),
                   touched_bytes=int(data["touched_bytes"]), step=int(data["step"]), steps=int(data["steps"]),
                   rss_kib=None if data.get("rss_kib") is None else int(data["rss_kib"]),
                   min_flt=None if data.get("min_flt") is None else int(data["min_flt"]), t=float(data["t"]))


def replace_json(path: str, data: Mapping[str, Any]) -> None:
    """Write path whole and rename it into place: a reader never sees half a file. No fsync: what this
    writes (progress.json, a background job's file) is state for a poll, not the record."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


class ProgressFile:
    """Keeps <out>/progress.json equal to the latest Progress (replaced atomically: a reader never
    sees half a file). No fsync: it is a hint for the people watching, not a record."""

    def __init__(self, out_dir: str, initial: Progress) -> None:
        self.path = os.path.join(out_dir, PROGRESS_JSON)
        self.current = initial
        self._write()

    def update(self, **changes: Any) -> None:
        self.current = replace(self.current, **changes)
        self._write()

    def _write(self) -> None:
        replace_json(self.path, self.current.to_json())


def read_progress(out_dir: str) -> Optional[Progress]:
    """The latest progress, or None before the agent wrote any (or when the file is not ours)."""
    try:
        with open(os.path.join(out_dir, PROGRESS_JSON), encoding="utf-8") as handle:
            return Progress.from_json(json.load(handle))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def job_finished(job_file: str) -> bool:
    """Whether Ansible's async job (its results file, as async_status reads it) has ended: the file
    holds the module's result, not the wrapper's {"started": ...} marker. A missing file ends the
    wait too: async_status then says what happened."""
    try:
        with open(job_file, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return True
    except json.JSONDecodeError:
        return False  # being written
    return "started" not in data or bool(data.get("finished"))


def _kib(value: Optional[int]) -> str:
    return "?" if value is None else f"{value:,} KiB"


def progress_line(progress: Optional[Progress]) -> str:
    """One line for a person: `touching 30MiB of 100MiB (3/10), RSS 31,012 KiB, min_flt 7,771, 4.2 s`."""
    if progress is None:
        return "starting"
    touched = format_size(progress.touched_bytes) if progress.touched_bytes else "0"
    return (f"{progress.phase} {touched} of {format_size(progress.size_bytes)} ({progress.step}/{progress.steps}), "
            f"RSS {_kib(progress.rss_kib)}, min_flt {'?' if progress.min_flt is None else f'{progress.min_flt:,}'}, "
            f"{progress.t:.1f} s")


def current_run(out_dir: str) -> Tuple[str, int]:
    """The directory a `labagent run` in out_dir is writing, and how many runs it makes: out_dir itself
    (1), or with --variants the run batch.json says is running (else the last that started)."""
    try:
        with open(os.path.join(out_dir, BATCH_JSON), encoding="utf-8") as handle:
            entries = [e for e in json.load(handle)["entries"] if isinstance(e, dict) and e.get("dir")]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return out_dir, 1
    started = [e for e in entries if e.get("status") != "pending"]
    running = [e for e in started if e.get("status") == "running"]
    chosen = (running or started or entries)[-1:]
    return (os.path.join(out_dir, str(chosen[0]["dir"])) if chosen else out_dir), len(entries)


def job_result(job_file: str) -> Dict[str, Any]:
    """A finished job's result as async_status would report it, cut to what the playbook reads: the
    agent's exit status (None when the async timeout killed it), Ansible's message and the agent's last
    line on stderr."""
    try:
        with open(job_file, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {"rc": None, "msg": f"the job's results file {job_file} is gone", "stderr": ""}
    except json.JSONDecodeError:
        return {"rc": None, "msg": f"the job's results file {job_file} is not JSON", "stderr": ""}
    lines = [line for line in str(data.get("stderr") or "").splitlines() if line.strip()]
    rc = data.get("rc")
    return {"rc": rc if isinstance(rc, int) else None, "msg": str(data.get("msg") or ""),
            "stderr": lines[-1] if lines else ""}


# How much of samples.jsonl's end a recording's poll reads to find its last line (a line is ~0.5 KiB).
TAIL_BYTES = 8192
RECORDING_KEYS = ("phase", "vsz_kib", "rss_kib", "min_flt", "t")


def last_sample(path: str) -> Optional[Dict[str, Any]]:
    """The last complete line of samples.jsonl (read from its end), or None before the first."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.split(b"\n")):
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a line cut by the read's start, or one being written
        if isinstance(data, dict):
            return data
    return None


def recording_progress(out_dir: str) -> Optional[Dict[str, Any]]:
    """A recording's position (`labagent record`): its phase (the last mark), the process's VSZ, RSS and
    min_flt at the latest sample, and seconds since it began; None before the first sample. A recording
    has no size or steps, so it is not a Progress."""
    sample = last_sample(os.path.join(out_dir, SAMPLES_JSONL))
    if sample is None:
        return None
    return dict({key: sample.get(key) for key in RECORDING_KEYS}, kind="recording")


def recording_line(state: Optional[Mapping[str, Any]]) -> str:
    """`phase start, VSZ 40,212 KiB, RSS 31,012 KiB, min_flt 7,771, 4.2 s` (`exited` once the process is gone)."""
    if state is None:
        return "starting"
    seconds = f"{float(state.get('t') or 0):.1f} s"
    if state.get("rss_kib") is None:
        return f"phase {state.get('phase')}, the process has exited, {seconds}"
    faults = "?" if state.get("min_flt") is None else f"{int(state['min_flt']):,}"
    return (f"phase {state.get('phase')}, VSZ {_kib(state.get('vsz_kib'))}, RSS {_kib(state.get('rss_kib'))}, "
            f"min_flt {faults}, {seconds}")


def is_recording(out_dir: str) -> bool:
    """Whether out_dir is a `labagent record --out` directory that has sampled: samples.jsonl, but neither
    the progress.json a run writes before its first sample nor a batch's batch.json."""
    return (os.path.exists(os.path.join(out_dir, SAMPLES_JSONL))
            and not os.path.exists(os.path.join(out_dir, PROGRESS_JSON))
            and not os.path.exists(os.path.join(out_dir, BATCH_JSON)))


def pack_left(out_dir: str, archive: str) -> bool:
    """Once the job has ended: out_dir packed into archive when its agent did not pack it (killed at the
    timeout, or a recording: `labagent record` has no --archive). True when it packed."""
    if os.path.exists(archive) or not os.path.isdir(out_dir):
        return False
    from .batch import pack
    try:
        pack(out_dir, archive)
    except OSError as exc:
        raise LabError(f"cannot pack {out_dir} into {archive}: {exc.strerror}") from None
    return True


def poll_record(out_dir: str, job_file: Optional[str], wait_s: float = 0.0, *,
                recording: bool = False, archive: Optional[str] = None,
                monotonic: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """What `labagent progress` prints: the progress, its line, the run it is about (a directory name,
    <variant>__r<k> when --variants makes several runs, else out_dir's), whether the job has finished
    (None without --job-file) and, once it has, its result (`job`). With wait_s, first waits up to that
    long for the job to finish (a long poll: one round trip per wait_s, none wasted after the end). With
    archive, once the job has finished (and not refused), packs out_dir there if the agent did not
    (`packed`), and says whether there is an archive to fetch (`archived`)."""
    if job_file and wait_s > 0:
        deadline = monotonic() + wait_s
        while not job_finished(job_file) and monotonic() < deadline:
            sleep(min(POLL_S, max(0.0, deadline - monotonic())))
    record = _poll(out_dir, job_file, recording)
    if archive is not None:
        # An agent that refused to run (exit status 2: bad input for this host, a command that cannot
        # start) left no run: nothing to pack or fetch.
        ended = bool(record["finished"]) and (record["job"] or {}).get("rc") != 2
        record["packed"] = ended and pack_left(out_dir, archive)
        record["archived"] = ended and os.path.isfile(archive)
    return record


def _poll(out_dir: str, job_file: Optional[str], recording: bool) -> Dict[str, Any]:
    # `labagent record --out out_dir`: one directory, its samples say where it is (--recording, or seen).
    if recording or is_recording(out_dir):
        state = recording_progress(out_dir)
        finished = job_finished(job_file) if job_file else None
        return {"lab_progress": state, "line": recording_line(state),
                "run": os.path.basename(os.path.normpath(out_dir)), "finished": finished,
                "job": job_result(job_file) if job_file and finished else None}
    run_dir, runs = current_run(out_dir)
    progress = read_progress(run_dir)
    finished = job_finished(job_file) if job_file else None
    return {"lab_progress": progress.to_json() if progress else None, "line": progress_line(progress),
            "run": os.path.basename(os.path.normpath(run_dir if runs > 1 else out_dir)),
            "finished": finished, "job": job_result(job_file) if job_file and finished else None}
