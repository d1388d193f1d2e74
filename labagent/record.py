"""results.json as typed records: frozen dataclasses with to_json/from_json at the file boundary,
including the schema_version check. The agent builds results.json as a RunRecord (run_record.Run); the
report reads it through the same records (results.load_record); docs/results.schema.json is generated
from them.

A field whose metadata says OMIT is left out of the JSON when it is None (older runs and partial runs
lack it); any other None is written as null. Open-ended parts (host facts, tool records, readings,
samples, the summary's figures) stay JSON objects here: their keys belong to the modules that make
them (hostfacts, captures, procfs, analysis).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import variants, vocab
from .errors import LabError

SCHEMA_VERSION = 1
OMIT = {"omit_if_none": True}
JsonObject = Dict[str, Any]

T = TypeVar("T")


REQUIRED = {"required": True}


def _omit() -> Any:
    return field(default=None, metadata=OMIT)


def _required() -> Any:
    """A field every record has, placed after optional ones to keep results.json's key order."""
    return field(default=None, metadata=REQUIRED)


class RecordError(ValueError):
    """results.json does not have the shape of a run record; says where."""


@dataclass(frozen=True)
class Outcome:
    status: str = field(metadata={"schema": {"enum": ["running", "complete", "failed", "interrupted"]}})
    reason: Optional[str]
    signal: Optional[str]  # e.g. SIGKILL when the workload was killed (OOM)
    phase: Optional[str]  # the phase it ended in, when not complete


@dataclass(frozen=True)
class AgentInfo:
    version: Optional[str]  # None: a run rebuilt from a lab note (tests/fixtures/seedrun.py), no agent ran
    argv: Tuple[str, ...]
    python: Optional[str]
    command: Optional[Tuple[str, ...]] = _omit()  # the interpreter's command line as typed


@dataclass(frozen=True)
class RunParams:
    """The knobs the run used (experiment.Params as recorded; a test keeps the two in step)."""

    size_bytes: int
    step_bytes: int
    step_interval_s: float
    sample_interval_s: float
    pause_s: Optional[float]  # None (and timeout_s): not known, in a run rebuilt from a lab note
    tail_s: Optional[float]
    variant: str = field(metadata={"schema": {"enum": list(variants.NAMES)}})
    force: bool
    ask_imds: bool
    timeout_s: Optional[float]


@dataclass(frozen=True)
class Phase:
    name: str = field(metadata={"schema": {"enum": list(vocab.PHASES)}})
    start: float  # seconds since the run's origin (monotonic)
    start_wall: float
    end: Optional[float]
    end_wall: Optional[float]


@dataclass(frozen=True)
class Step:
    index: int
    bytes: int  # written so far
    t: float
    late_ms: Optional[float]  # None (and ms): not timed, in a run rebuilt from a lab note
    ms: Optional[float]
    rss_kib: Optional[int]
    min_flt: Optional[int]
    maj_flt: Optional[int] = _omit()
    anon_huge_kib: Optional[int] = None


@dataclass(frozen=True)
class Snapshot:
    """The state at a phase boundary."""

    t: float
    reading: JsonObject  # procfs.PROCESS_FIELDS + SYSTEM_FIELDS, and the phase
    maps: Optional[str] = _omit()
    free_h: Optional[str] = _omit()
    free_b: Optional[str] = _omit()
    free: Optional[JsonObject] = _omit()
    # A recording's end after its process exited: when the reading and the maps kept were taken.
    reading_t: Optional[float] = _omit()
    maps_t: Optional[float] = _omit()
    # Every per-phase capture taken (captures.py, EACH_PHASE): its name -> its raw file (raw/free-b-baseline.txt).
    # Older runs lack it: their texts are the inline fields above (maps, free_h, free_b), from the same declarations.
    captures: Optional[Dict[str, str]] = _omit()


@dataclass(frozen=True)
class Workload:
    pid: int
    command: Tuple[str, ...]
    malloc_env: Optional[Dict[str, str]] = _omit()
    pointer: Optional[str] = _omit()  # hex, from allocate.c's "allocated" line
    exit_status: Optional[int] = _omit()


@dataclass(frozen=True)
class Timing:
    """The fullspeed variant's two passes over the block."""

    first_touch_ns: int
    second_pass_ns: int


@dataclass(frozen=True)
class RunRecord:
    """Everything one agent run recorded: results.json."""

    schema_version: int
    complete: bool
    outcome: Outcome
    agent: AgentInfo
    params: RunParams
    host: JsonObject  # hostfacts.read_host_facts
    phases: Tuple[Phase, ...]
    steps: Tuple[Step, ...]
    snapshots: Dict[str, Snapshot] = field(metadata={"schema": {"propertyNames": {"enum": list(vocab.PHASES)}}})
    tools: JsonObject  # versions, and per capture (captures.py names): available, raw, command, ...
    ticks: JsonObject  # the sampler's tick statistics
    # Inline only in older runs (and the fixtures made then); now samples.jsonl alone
    # holds them (samples_file), so rewriting results.json costs the same however long the run.
    samples: Optional[Tuple[JsonObject, ...]] = _omit()
    samples_file: str = _required()
    # analysis.summarize; the figures every variant reports are required, a variant's own are named in variants.py
    summary: JsonObject = field(default=None, metadata={"required": True,
                                                        "schema": {"required": list(variants.COMMON_FIGURES)}})
    notes: Optional[Tuple[Union[str, Dict[str, str]], ...]] = _omit()  # a string, or {lang: text}
    started_wall: float = _required()  # the wall clock at the run's origin
    workload: Optional[Workload] = _omit()
    timing: Optional[Timing] = _omit()
    sar: Optional[Tuple[JsonObject, ...]] = _omit()  # sar -r 1's rows, parsed
    step_deltas: Optional[Tuple[JsonObject, ...]] = _omit()
    samples_count: Optional[int] = _omit()
    capture_locale: Optional[Dict[str, str]] = _omit()  # tools.CAPTURE_LOCALE: the env every captured tool ran in

    def to_json(self) -> JsonObject:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> "RunRecord":
        """The record of a parsed results.json; RecordError says which field is wrong, LabError when
        the file is from a newer malloc-lab."""
        _check_version(data)
        return _from_json(cls, data, "results.json")



@dataclass(frozen=True)
class RecordedPhase:
    """A phase of a recording: `start`, then one per mark, named by the user (labagent mark) or markN."""

    name: str = field(metadata={"schema": {"pattern": "^[A-Za-z0-9._-]{1,48}$"}})
    start: float
    start_wall: float
    end: Optional[float]
    end_wall: Optional[float]


# The snapshot a recording takes right after its process exec'd (the last exec, when there were several):
# the start of its start-to-end comparison instead of `start`, which is the program before the exec.
EXEC_SNAPSHOT = "exec"


@dataclass(frozen=True)
class ExecEvent:
    """The recorded process became another program (execve) during a recording: /proc/PID/exe or
    comm changed between two looks of the recorder (every 0.1 s while it watches): the exec happened
    between the last look that saw the program before (before_t) and the first that saw the new one
    (t); several execs between two looks show as one."""

    t: float
    before_t: float
    comm_before: str
    comm_after: str
    exe_before: Optional[str]  # /proc/PID/exe's target; None when it cannot be read (another user's process)
    exe_after: Optional[str]


@dataclass(frozen=True)
class RecordingRecord:
    """What `labagent record` wrote: results.json with "kind": "recording". The same parts as a run's
    where they mean the same (outcome, agent, host, snapshots, tools, ticks, samples, sar); its own
    params (the command or PID) and phases (the marks), and no malloc figures."""

    schema_version: int
    complete: bool
    outcome: Outcome
    agent: AgentInfo
    params: JsonObject  # recorder.RecordParams: command or pid, sample interval, duration
    host: JsonObject
    phases: Tuple[RecordedPhase, ...]
    steps: Tuple[JsonObject, ...]  # always empty: a recording has no steps of its own
    snapshots: Dict[str, Snapshot]  # start, one per mark, end
    tools: JsonObject
    capture_locale: Optional[Dict[str, str]] = _omit()
    ticks: JsonObject = _required()
    samples: Optional[Tuple[JsonObject, ...]] = _omit()
    samples_file: str = _required()
    summary: JsonObject = _required()  # the maps growth by kind and the process's change, start to end
    notes: Optional[Tuple[Union[str, Dict[str, str]], ...]] = _omit()
    started_wall: float = _required()
    kind: str = field(default=None, metadata={"required": True, "schema": {"const": vocab.RECORDING_KIND}})
    recording: JsonObject = _required()  # mode, pid, command, marks, how it stopped
    samples_count: Optional[int] = _omit()
    sar: Optional[Tuple[JsonObject, ...]] = _omit()
    workload: Optional[JsonObject] = _omit()
    # Each exec of the process while it was recorded (older recordings lack it: none was looked for).
    execs: Optional[Tuple[ExecEvent, ...]] = _omit()

    def to_json(self) -> JsonObject:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> "RecordingRecord":
        _check_version(data)
        return _from_json(cls, data, "results.json")


def comparison_start(snapshots: Dict[str, Snapshot], execs: Optional[Tuple[ExecEvent, ...]]) -> str:
    """The snapshot a recording's start-to-end figures start from: `exec` when the process exec'd and
    that snapshot was taken after the last exec, else `start` (then the figures straddle any exec)."""
    snap = snapshots.get(EXEC_SNAPSHOT)
    if execs and snap is not None and snap.t >= execs[-1].t:
        return EXEC_SNAPSHOT
    return vocab.RECORDING_START


def from_json(data: Any) -> Union[RunRecord, RecordingRecord]:
    """The record of a parsed results.json: a recording when its "kind" says so, else a run."""
    if isinstance(data, dict) and data.get("kind") == vocab.RECORDING_KIND:
        return RecordingRecord.from_json(data)
    return RunRecord.from_json(data)


def _check_version(data: Any) -> None:
    if not isinstance(data, dict):
        raise RecordError("results.json: expected an object")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"results.json: schema_version is {version!r}, expected a number")
    if version > SCHEMA_VERSION:
        raise LabError(f"results.json has schema_version {version}, newer than this malloc-lab reads "
                       f"({SCHEMA_VERSION}): update malloc-lab")

def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: JsonObject = {}
        plain = _plain_fields(type(value))
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get("omit_if_none"):
                continue
            # JSON objects (and lists of them) hold no records: as they are, not walked (30k samples)
            out[f.name] = (list(item) if isinstance(item, tuple) else item) if f.name in plain else _to_json(item)
        return out
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> Dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))


@functools.lru_cache(maxsize=None)
def _plain_fields(cls: type) -> frozenset:
    """Fields typed as JSON objects or lists of them: nothing inside is a record."""
    plain = (JsonObject, Optional[JsonObject], Tuple[JsonObject, ...], Optional[Tuple[JsonObject, ...]])
    return frozenset(name for name, hint in _hints(cls).items() if hint in plain)


def _from_json(cls: Type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecordError(f"{where}: unknown field {unknown[0]!r}")
    hints = _hints(cls)
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING or f.metadata.get("required"):
                raise RecordError(f"{where}: missing {name!r}")
            continue
        values[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**values)  # type: ignore[call-arg]


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for alternative in inner[:-1]:  # the first alternative the value fits; the last one says why not
            try:
                return _convert(alternative, value, where)
            except RecordError:
                continue
        return _convert(inner[-1], value, where)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _from_json(hint, value, where)
    if origin in (tuple, Tuple):
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Dict, Mapping):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {type(value).__name__}")
        if args[1] is Any:
            return value  # a JSON object: its keys belong to the module that made it
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    expected = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if expected is None:
        raise RecordError(f"{where}: no rule for {hint!r}")  # a record type this module does not handle
    if not isinstance(value, expected) or (hint is not bool and isinstance(value, bool)):
        raise RecordError(f"{where}: expected {hint.__name__}, got {value!r:.40}")
    return value


def write(out_dir: str, record: Union[RunRecord, "RecordingRecord"]) -> None:
    """results.json, rewritten atomically (a reader never sees half a file)."""
    write_json_atomic(os.path.join(out_dir, vocab.RESULTS), record.to_json())


def write_json_atomic(path: str, data: JsonObject) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read(out_dir: str) -> Union[RunRecord, RecordingRecord]:
    """The record of out_dir/results.json, a run's or a recording's (samples as stored:
    results.load_run fills them in)."""
    with open(os.path.join(out_dir, vocab.RESULTS), encoding="utf-8") as handle:
        return from_json(json.load(handle))


# -- docs/results.schema.json, generated from the records above (scripts/results-schema.py)
SCHEMA_ID = "https://github.com/malloc-lab/malloc-lab/docs/results.schema.json"


def json_schema() -> JsonObject:
    """A JSON Schema (draft 2020-12) of results.json, from the records' types: a run (RunRecord) or a
    recording (RecordingRecord, "kind": "recording"); exactly one fits."""
    shapes = {}
    for name, cls in (("run", RunRecord), ("recording", RecordingRecord)):
        shape = _schema_of(cls)
        shape["properties"]["schema_version"] = {"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION}
        shapes[name] = shape
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "malloc-lab results.json", "$defs": shapes,
            "oneOf": [{"$ref": "#/$defs/run"}, {"$ref": "#/$defs/recording"}]}


def _schema_of(hint: Any) -> JsonObject:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        inner = [a for a in args if a is not type(None)]
        nullable = [{"type": "null"}] if type(None) in args else []
        return {"anyOf": [_schema_of(a) for a in inner] + nullable}
    if hint is Any:
        return {}
    if dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        fields = dataclasses.fields(hint)
        out: JsonObject = {"type": "object"}
        doc = (hint.__doc__ or "").strip()
        if doc and not doc.startswith(hint.__name__ + "("):
            out["description"] = " ".join(doc.split())
        out["properties"] = {f.name: dict(_schema_of(hints[f.name]), **f.metadata.get("schema", {})) for f in fields}
        out["required"] = [f.name for f in fields if f.default is dataclasses.MISSING or f.metadata.get("required")]
        out["additionalProperties"] = False
        return out
    if origin in (tuple, Tuple):
        return {"type": "array", "items": _schema_of(args[0])}
    if origin in (dict, Dict, Mapping):
        return {"type": "object", "additionalProperties": _schema_of(args[1])} if args[1] is not Any else {"type": "object"}
    return {"type": {int: "integer", float: "number", str: "string", bool: "boolean"}[hint]}
