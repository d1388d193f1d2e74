"""A run's figures as a table: runs/<id>/summary.csv and summary.json, one row per host x variant x
repeat with the host's facts, the knobs and the summary fields, for a spreadsheet or pandas; a run
that recorded a command (run.json kind `recording`) has a recording's figures instead of the knobs and
the experiment's figures.

Also the reader the run list and the comparison share: read_run() loads every agent directory of a
run (or one agent directory on its own) with its place in the run (host, variant, repeat) and status.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .. import maps_growth, results, vocab
from ..errors import LabError
from ..record import RecordError, RecordingRecord
from ..vocab import VARIANTS
from . import model

RUN_JSON = vocab.RUN_JSON
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
SUMMARY_SCHEMA = 1
# directories in a run that are not agent directories (the index's plots)
NOT_ENTRIES = ("plots",)

# The columns, in order, declared once (summary.csv's header and summary.json's keys).
ID_COLUMNS = ("run_id", "name", "host", "variant", "repeat", "status", "reason", "started_utc")
FACT_COLUMNS = ("hostname", "instance_type", "arch", "cpu_model", "cpus", "mem_total_kib", "kernel", "distro",
                "glibc", "page_size", "thp_enabled", "thp_defrag", "overcommit_memory")
KNOB_COLUMNS = ("size_bytes", "step_bytes", "step_interval_s", "sample_interval_s", "pause_s", "tail_s")
FIGURE_COLUMNS = ("touched_bytes", "vsz_before_kib", "vsz_after_alloc_kib", "vsz_delta_kib",
                  "rss_before_alloc_kib", "rss_before_touch_kib", "rss_after_touch_kib", "rss_alloc_delta_kib",
                  "rss_touch_delta_kib", "min_flt_alloc", "min_flt_touch", "maj_flt_touch", "faults_per_mib",
                  "fault_granularity_kib", "fault_mode", "anon_huge_kib_peak", "huge_pages_used",
                  "committed_as_delta_kib", "mem_used_alloc_delta_kib", "mem_used_touch_delta_kib",
                  "step_ms_median", "step_ms_min", "step_ms_max", "first_touch_gib_s", "second_pass_gib_s",
                  "ns_per_fault", "first_touch_slowdown", "touch_from_step")
# summary.region and summary.heap, flattened: column -> (object, key)
NESTED_COLUMNS = {"region_start": ("region", "start"), "region_end": ("region", "end"),
                  "region_size_bytes": ("region", "size_bytes"), "region_pointer_offset": ("region", "pointer_offset"),
                  "region_in_heap": ("region", "in_heap"), "heap_changed": ("heap", "changed"),
                  "heap_delta_bytes": ("heap", "delta_bytes")}
# host facts: column -> results.json host key
FACT_KEYS = {"instance_type": "ec2_instance_type"}
COLUMNS = ID_COLUMNS + FACT_COLUMNS + KNOB_COLUMNS + FIGURE_COLUMNS + tuple(NESTED_COLUMNS)

# A recording's row (labagent record, results.json kind `recording`): the recording block, its params,
# the start and end readings, the summary's peaks and totals, and summary.maps_growth by kind.
RECORDING_BLOCK_COLUMNS = {"mode": "mode", "command": "command", "pid": "pid", "exit_status": "exit_status",
                           "signal": "signal", "marks": "marks"}
RECORDING_PARAM_COLUMNS = ("duration_s", "sample_interval_s")
READING_COLUMNS = ("vsz_kib", "rss_kib", "min_flt", "maj_flt", "sys_anon_huge_kib")
RECORDING_FIGURE_COLUMNS = ("vsz_kib_peak", "rss_kib_peak", "anon_huge_kib_peak", "min_flt_recorded",
                            "maj_flt_recorded")
MAPS_GROWTH_KEYS = ("before_bytes", "after_bytes", "change_bytes")
RECORDING_COLUMNS = (ID_COLUMNS + FACT_COLUMNS + tuple(RECORDING_BLOCK_COLUMNS) + ("stop_by",)
                     + RECORDING_PARAM_COLUMNS + ("length_s", "samples")
                     + tuple(f"{key}_{at}" for key in READING_COLUMNS
                             for at in (vocab.RECORDING_START, vocab.RECORDING_END))
                     + RECORDING_FIGURE_COLUMNS
                     + tuple(f"maps_{kind}_{key}" for kind in maps_growth.KINDS for key in MAPS_GROWTH_KEYS))


@dataclass(frozen=True)
class Entry:
    """One agent directory of a run: where it belongs, what the controller recorded, what it wrote
    (None when it wrote nothing readable; `error` then says why when a file was there)."""
    name: str
    key: model.EntryKey
    status: Mapping[str, Any]
    data: Optional[model.Record]
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.data is not None and bool(self.data.complete)

    @property
    def state(self) -> str:
        """ok, or why not: the agent's outcome, the controller's status, or `failed`."""
        if self.data is not None:
            return "ok" if self.ok else str(self.data.outcome.status or "incomplete")
        if self.error:
            return "failed"  # whatever the controller recorded, its results cannot be read
        recorded = self.status.get("status")
        return "failed" if recorded in (None, "ok") else str(recorded)  # "ok" but no results.json: not ok

    @property
    def reason(self) -> Optional[str]:
        if self.ok:
            return None
        if self.error:
            return self.error
        if self.data is not None:
            return self.data.outcome.reason or self.status.get("reason") or "incomplete"
        return self.status.get("reason") or "no results"


@dataclass(frozen=True)
class RunData:
    """A run as read from disk: its directory, id, run.json (None without one) and agent directories;
    `single`: the directory is one agent directory, not runs/<run_id>/."""
    path: str
    run_id: str
    meta: Optional[Mapping[str, Any]]
    entries: Tuple[Entry, ...]
    single: bool = False


def _load_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise LabError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from None


def _entry(path: str, name: str, status: Mapping[str, Any], entries: Optional[Mapping[str, Any]]) -> Entry:
    data: Optional[model.Record] = None
    error = None
    if os.path.isfile(os.path.join(path, results.RESULTS)):
        try:
            data = results.load_record(path)
        except (json.JSONDecodeError, UnicodeDecodeError, RecordError) as exc:
            error = f"results.json is unreadable: {exc}"
    return Entry(name, model.entry_key(name, entries, data), status, data, error)


def _order(entry: Entry) -> Tuple[Any, ...]:
    variant = entry.key.variant
    return (entry.key.host, VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS), variant,
            entry.key.repeat, entry.name)


def read_run(path: str) -> RunData:
    """runs/<run_id>/ (one directory per agent run, run.json when the controller wrote one), or one
    agent directory on its own (results.json in it)."""
    if not os.path.isdir(path):
        raise LabError(f"{path} is not a directory (expected runs/<run_id> or one host's directory)")
    path = os.path.normpath(path)
    run_id = os.path.basename(os.path.realpath(path))
    if os.path.isfile(os.path.join(path, results.RESULTS)):
        return RunData(path, run_id, None, (_entry(path, run_id, {}, None),), single=True)
    meta = _load_json(os.path.join(path, RUN_JSON)) if os.path.isfile(os.path.join(path, RUN_JSON)) else None
    statuses = (meta or {}).get("hosts") or {}
    recorded = (meta or {}).get("entries")
    names = {entry for entry in os.listdir(path) if os.path.isdir(os.path.join(path, entry))
             and not entry.startswith(".") and entry not in NOT_ENTRIES}
    names.update(statuses)
    if not names:
        raise LabError(f"{path} holds no results.json and no host directories: not a run")
    entries = [_entry(os.path.join(path, name), name, statuses.get(name) or {}, recorded) for name in names]
    return RunData(path, str((meta or {}).get("run_id") or run_id), meta, tuple(sorted(entries, key=_order)))


def _utc(wall: Any) -> Optional[str]:
    if wall is None:
        return None
    moment = datetime.datetime.fromtimestamp(float(wall), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_row(run_id: str, entry: Entry) -> Dict[str, Any]:
    """One row: every column of COLUMNS, None where the run did not record it."""
    row: Dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(run_id=run_id, name=entry.name, host=entry.key.host, variant=entry.key.variant,
               repeat=entry.key.repeat, status=entry.state, reason=entry.reason)
    if entry.data is None:
        return row
    rec = entry.data
    host = rec.host
    summary = model.summary_of(rec)
    row["started_utc"] = _utc(rec.started_wall)
    row.update({column: host.get(FACT_KEYS.get(column, column)) for column in FACT_COLUMNS})
    row.update({column: model.knob(rec, column) for column in KNOB_COLUMNS})
    row.update({column: summary.get(column) for column in FIGURE_COLUMNS})
    for column, (parent, key) in NESTED_COLUMNS.items():
        row[column] = (summary.get(parent) or {}).get(key)
    return row


def recording_row(run_id: str, entry: Entry) -> Dict[str, Any]:
    """One host's recording: every column of RECORDING_COLUMNS, None where it was not recorded. The
    command is its words joined as a shell would read them; marks is how many the user made."""
    row: Dict[str, Any] = dict.fromkeys(RECORDING_COLUMNS)
    row.update(run_id=run_id, name=entry.name, host=entry.key.host, variant=entry.key.variant,
               repeat=entry.key.repeat, status=entry.state, reason=entry.reason)
    rec = entry.data
    if not isinstance(rec, RecordingRecord):
        return row
    block = rec.recording
    row["started_utc"] = _utc(rec.started_wall)
    row.update({column: rec.host.get(FACT_KEYS.get(column, column)) for column in FACT_COLUMNS})
    row.update({column: block.get(key) for column, key in RECORDING_BLOCK_COLUMNS.items()})
    command = block.get("command")
    row["command"] = " ".join(shlex.quote(str(word)) for word in command) if command else None
    row["marks"] = len(block.get("marks") or [])
    row["stop_by"] = (block.get("stop") or {}).get("by")
    row.update({column: rec.params.get(column) for column in RECORDING_PARAM_COLUMNS})
    row["length_s"] = model.recording_length(rec)
    row["samples"] = rec.samples_count if rec.samples_count is not None else len(rec.samples or ())
    for at in (vocab.RECORDING_START, vocab.RECORDING_END):
        reading = model.reading_of(rec, at)
        row.update({f"{key}_{at}": reading.get(key) for key in READING_COLUMNS})
    row.update({column: rec.summary.get(column) for column in RECORDING_FIGURE_COLUMNS})
    growth = rec.summary.get("maps_growth") or {}
    for kind in maps_growth.KINDS:
        row.update({f"maps_{kind}_{key}": (growth.get(kind) or {}).get(key) for key in MAPS_GROWTH_KEYS})
    return row


def is_recording(run: RunData) -> bool:
    """A run that recorded a command (run.json kind `recording`), or a recording's own directory."""
    if (run.meta or {}).get("kind") == vocab.RECORDING_KIND:
        return True
    return any(isinstance(entry.data, RecordingRecord) for entry in run.entries)


def columns_of(run: RunData) -> Tuple[str, ...]:
    """summary.csv's columns for this run: a recording's, or the experiment's."""
    return RECORDING_COLUMNS if is_recording(run) else COLUMNS


def summary_rows(run: RunData) -> List[Dict[str, Any]]:
    row = recording_row if is_recording(run) else summary_row
    return [row(run.run_id, entry) for entry in run.entries]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def summary_csv(rows: List[Mapping[str, Any]], columns: Tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def summary_json(run_id: str, rows: List[Mapping[str, Any]], columns: Tuple[str, ...] = COLUMNS) -> str:
    doc = {"schema_version": SUMMARY_SCHEMA, "run_id": run_id, "columns": list(columns),
           "rows": [{column: row.get(column) for column in columns} for row in rows]}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def write_summary(run: RunData) -> List[str]:
    """<run>/summary.csv and <run>/summary.json; returns their paths."""
    rows = summary_rows(run)
    columns = columns_of(run)
    written = []
    for name, text in ((SUMMARY_CSV, summary_csv(rows, columns)),
                       (SUMMARY_JSON, summary_json(run.run_id, rows, columns))):
        path = os.path.join(run.path, name)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        written.append(path)
    return written
