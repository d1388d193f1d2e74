"""The controller's one step after the hosts ran (`labagent record-run RUN_DIR`): unpack every host's
archive into runs/<run_id>/<host>/ (one variant, one repeat) or runs/<run_id>/<host>__<variant>__r<k>/,
judge every run from what the hosts brought back and what Ansible saw, and write run.json. The playbook
passes each host's outcome on stdin and reads the verdict this prints; nothing is built in Jinja. A run
that recorded a command on every host (plan.json kind `recording`, run.yml -e lab_command) has one
`labagent record` directory per host instead: it becomes runs/<run_id>/<host>/.

Input (stdin): {"hosts": {"<host>": OUTCOME, ...}, "failures": {"<host>": OUTCOME, ...}} where OUTCOME is
{"status": "ok"|"failed"|"unreachable", "reason": str|null}, or {} or null for none. `hosts` lists every
host of the run with the experiment's outcome on it (the agent's exit); `failures`, why a host could not
be reached or prepared, which wins. A host with neither vanished mid-run."""
from __future__ import annotations

import json
import os
import shutil
import tarfile
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from . import batch, vocab
from .errors import LabError
from .record import RecordError, RecordingRecord, RunRecord, from_json, write_json_atomic

PLAN_JSON = "plan.json"  # the run settled by the lab role (its `lab_run` fact), written before any host ran
LATEST = "latest"
VANISHED = {"status": "unreachable", "reason": "the host stopped answering before it recorded an outcome"}


def plan_run(run_dir: str, plan_text: str) -> str:
    """The controller's first step (`labagent plan-run RUN_DIR`, the run settled by the lab role on
    stdin): refuses a run id that is taken, creates runs/<run_id>/ and writes plan.json, which a later
    `playbooks/fetch.yml` reads if the playbook is interrupted. Returns plan.json's path."""
    try:
        plan = json.loads(plan_text)
    except json.JSONDecodeError as exc:
        raise LabError(f"plan-run reads the run (the lab_run fact) as JSON on stdin ({exc.msg})") from None
    if not isinstance(plan, dict) or not plan.get("id"):
        raise LabError("plan-run reads the run (the lab_run fact, with its id) as JSON on stdin")
    if os.path.exists(os.path.join(run_dir, vocab.RUN_JSON)):
        raise LabError(f"runs/{os.path.basename(os.path.normpath(run_dir))} already holds a run; choose another "
                       "lab_run_id (nothing was overwritten)")
    try:
        os.makedirs(run_dir, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create the run directory {run_dir}: {exc.strerror}") from None
    path = os.path.join(run_dir, PLAN_JSON)
    write_json_atomic(path, plan)
    return path


def archive_path(run_dir: str, host: str) -> str:
    """Where the playbook fetches a host's archive (the agent's --archive)."""
    return os.path.join(run_dir, f"{host}.tar.gz")


def read_plan(run_dir: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(run_dir, PLAN_JSON), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise LabError(f"{run_dir} has no {PLAN_JSON}: it is not a run settled by run.yml") from None
    except json.JSONDecodeError as exc:
        raise LabError(f"{os.path.join(run_dir, PLAN_JSON)} is not valid JSON ({exc.msg})") from None


def entries_of(plan: Mapping[str, Any]) -> Tuple[batch.BatchEntry, ...]:
    params = plan.get("params") or {}
    return batch.plan(list(params.get("variants") or []), int(params.get("repeats") or 1))


def _extract(archive: str, staging: str) -> None:
    """The archive into a fresh staging directory, refusing members that would leave it."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, filter="data")
            else:  # Python without extraction filters: refuse what would leave the staging directory
                for member in tar.getmembers():
                    if member.name.startswith("/") or ".." in member.name.split("/") or member.issym() or member.islnk():
                        raise LabError(f"{archive} holds {member.name!r}, which would leave its directory")
                tar.extractall(staging)  # noqa: S202 (members checked above)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LabError(f"cannot unpack {archive}: {exc}") from None


def unpack(run_dir: str, host: str, entries: Tuple[batch.BatchEntry, ...]) -> bool:
    """Unpacks <host>.tar.gz (a batch directory) into the host's entry directories and removes it.
    False when there is no archive. An entry fetched before (fetch.yml run twice) is replaced."""
    archive = archive_path(run_dir, host)
    if not os.path.exists(archive):
        return False
    single = len(entries) == 1
    staging = os.path.join(run_dir, f".{host}.unpack")
    _extract(archive, staging)
    for entry in entries:
        source = os.path.join(staging, entry.dir_name)
        if not os.path.isdir(source):
            continue
        target = os.path.join(run_dir, vocab.entry_name(host, entry.variant, entry.repeat, single=single))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(source, target)
    batch_json = os.path.join(staging, vocab.BATCH_JSON)
    if os.path.exists(batch_json):
        os.replace(batch_json, os.path.join(run_dir, f".{host}.{vocab.BATCH_JSON}"))
    shutil.rmtree(staging, ignore_errors=True)
    os.remove(archive)
    return True


def unpack_recording(run_dir: str, host: str) -> bool:
    """Unpacks <host>.tar.gz (one `labagent record --out` directory) into runs/<run_id>/<host>/ and
    removes it. False when there is no archive; a recording fetched before is replaced."""
    archive = archive_path(run_dir, host)
    if not os.path.exists(archive):
        return False
    staging = os.path.join(run_dir, f".{host}.unpack")
    _extract(archive, staging)
    target = os.path.join(run_dir, host)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    os.remove(archive)
    return True


def _results(path: str) -> Union[RunRecord, RecordingRecord, str, None]:
    """The agent's typed record in `path`; why not, when its results.json is there but is not a record;
    None when there is none (or it was cut short before it was whole JSON)."""
    try:
        with open(os.path.join(path, vocab.RESULTS), encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    try:
        return from_json(data)
    except RecordError as exc:
        return f"its results.json is not a run record ({exc})"


def judge(run_dir: str, host: str, entry: batch.BatchEntry, single: bool,
          host_outcome: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """One run's status: its results.json when the host brought one back (complete: ok; else failed
    with the agent's reason), else the host's own outcome (or VANISHED when it has none)."""
    return judge_dir(os.path.join(run_dir, vocab.entry_name(host, entry.variant, entry.repeat, single=single)),
                     host_outcome)


def judge_dir(path: str, host_outcome: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """One agent directory's status (see judge)."""
    data = _results(path)
    if isinstance(data, str):
        return {"status": "failed", "reason": data}
    if data is not None:
        if data.complete:
            return {"status": "ok", "reason": None}
        if data.outcome.status == "running":  # killed before it could say (e.g. the async timeout)
            return {"status": "failed",
                    "reason": (host_outcome or {}).get("reason") or "the agent stopped before it finished this run"}
        return {"status": "failed", "reason": data.outcome.reason or "incomplete"}
    if host_outcome is None:
        return dict(VANISHED)
    status = str(host_outcome.get("status") or "failed")
    reason = host_outcome.get("reason")
    if status == "ok":  # the agent ended well but this run's results did not come back
        return {"status": "failed", "reason": "the host's archive held no results for this run"}
    return {"status": status, "reason": reason or "failed"}


def record_run(run_dir: str, host_outcomes: Mapping[str, Optional[Mapping[str, Any]]]) -> Dict[str, Any]:
    """Unpacks, judges and writes run.json for the hosts given; returns the verdict the playbook reads:
    {run_id, dir, total, ok, failed: {name: {status, reason}}}."""
    plan = read_plan(run_dir)
    for host in host_outcomes:
        if not vocab.PLAIN_NAME_RE.match(host) or ".." in host:
            raise LabError(f"host name {host!r} cannot name a directory under {run_dir}")
    statuses: Dict[str, Any] = {}
    names: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    if plan.get("kind") == vocab.RECORDING_KIND:  # lab_command: one recording per host, in runs/<id>/<host>/
        for host, outcome in host_outcomes.items():
            unpack_recording(run_dir, host)
            statuses[host] = judge_dir(os.path.join(run_dir, host), outcome)
            names[host] = {"host": host, "variant": vocab.RECORDING_KIND, "repeat": 1}
        extra = {"kind": vocab.RECORDING_KIND, "record": plan.get("record")}
    else:
        entries = entries_of(plan)
        single = len(entries) == 1
        for host in host_outcomes:
            unpack(run_dir, host, entries)
        for host, outcome in host_outcomes.items():
            for entry in entries:
                name = vocab.entry_name(host, entry.variant, entry.repeat, single=single)
                statuses[name] = judge(run_dir, host, entry, single, outcome)
                names[name] = {"host": host, "variant": entry.variant, "repeat": entry.repeat}
    record = {"run_id": plan.get("id"), "command": plan.get("command"), "lab_version": plan.get("lab_version"),
              "lab_commit": plan.get("lab_commit"), "params": plan.get("params"), "hosts": statuses,
              "entries": names, **extra}
    write_json_atomic(os.path.join(run_dir, vocab.RUN_JSON), record)
    _point_latest(run_dir)
    failed = {name: s for name, s in statuses.items() if s["status"] != "ok"}
    return {"run_id": plan.get("id"), "dir": run_dir, "total": len(statuses), "ok": len(statuses) - len(failed),
            "failed": failed}


def _point_latest(run_dir: str) -> None:
    """runs/latest -> this run (replaced atomically)."""
    parent, name = os.path.split(os.path.normpath(run_dir))
    link = os.path.join(parent, LATEST)
    tmp = os.path.join(parent, f".{LATEST}.{os.getpid()}")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(name, tmp)
    os.replace(tmp, link)


SHAPE = 'record-run reads {"hosts": {host: {status, reason} or {}}, "failures": {...}} on stdin'


def read_outcomes(text: str) -> Dict[str, Optional[Mapping[str, Any]]]:
    """Each host's one outcome from the playbook's input (stdin): its failure when it has one, else the
    experiment's, else None."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"{SHAPE} ({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise LabError(SHAPE)
    failures = data.get("failures") or {}
    outcomes: Dict[str, Optional[Mapping[str, Any]]] = {}
    for host, outcome in data["hosts"].items():
        chosen = failures.get(host) or outcome or None
        if chosen is not None and not (isinstance(chosen, dict) and chosen.get("status")):
            raise LabError(f"{SHAPE}: {host}'s outcome is {chosen!r}")
        outcomes[str(host)] = chosen
    return outcomes
