"""All of a host's variants and repeats in one agent invocation (`labagent run --variants a,b --repeats N
--out DIR`): each run in DIR/<variant>__r<k>/ (vocab.batch_dir_name), one after the other, and DIR/batch.json
saying which ran and how each ended. With --archive, the whole of DIR is packed into one tar.gz at the
end, whatever happened, so the controller fetches one file per host."""
from __future__ import annotations

import os
import signal
import tarfile
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import variants, vocab
from .errors import LabError
from .record import write_json_atomic

MAX_REPEATS = 100

# batch.json's status while the agent runs, and once it has ended (however it ended).
RUNNING = "running"
DONE = "done"


@dataclass(frozen=True)
class BatchEntry:
    """One run of the batch: a variant's k-th repeat (k from 1)."""

    variant: str
    repeat: int

    @property
    def dir_name(self) -> str:
        return vocab.batch_dir_name(self.variant, self.repeat)


def plan(names: Sequence[str], repeats: int) -> Tuple[BatchEntry, ...]:
    """Every run, variant by variant, repeats in order. LabError for an unknown or repeated variant or a
    repeat count outside 1..100."""
    if not names:
        raise LabError("--variants names no variant")
    for name in names:
        variants.get(name)
    if len(set(names)) != len(names):
        raise LabError(f"--variants names a variant twice: {','.join(names)}")
    if not 1 <= repeats <= MAX_REPEATS:
        raise LabError(f"--repeats must be 1 to {MAX_REPEATS}, not {repeats}")
    return tuple(BatchEntry(name, k) for name in names for k in range(1, repeats + 1))


def parse_variants(text: str) -> List[str]:
    """`malloc,calloc` -> ["malloc", "calloc"] (blanks dropped)."""
    return [name.strip() for name in text.split(",") if name.strip()]


class _Stopped(Exception):
    """The agent was asked to stop between two runs."""


RunOne = Callable[..., Mapping[str, Any]]


def run_batch(params: Any, entries: Sequence[BatchEntry], out_dir: str, *, run_one: RunOne,
              progress: Callable[[str], None] = lambda _m: None, argv: Optional[List[str]] = None,
              archive: Optional[str] = None) -> Dict[str, Any]:
    """Runs every entry with run_one (experiment.run_experiment) and returns batch.json's content.
    A run that fails is recorded and the next one starts; a stop signal ends the batch (the runs not
    started are recorded as such). Raises LabError before anything starts for bad input, including a
    run directory that already holds a run (unless params.force)."""
    for entry in entries:
        existing = os.path.join(out_dir, entry.dir_name, vocab.RESULTS)
        if os.path.exists(existing) and not params.force:
            raise LabError(f"{os.path.dirname(existing)} already holds a run (results.json); choose another --out "
                           "or pass --force")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot write to --out {out_dir}: {exc.strerror}") from None
    state: Dict[str, Any] = {"status": RUNNING, "entries": [
        {"variant": e.variant, "repeat": e.repeat, "dir": e.dir_name, "status": "pending", "reason": None}
        for e in entries]}
    path = os.path.join(out_dir, vocab.BATCH_JSON)
    write_json_atomic(path, state)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def stopped(signum, _frame):
        raise _Stopped(f"agent stopped by {signal.Signals(signum).name}")

    for sig in previous:
        signal.signal(sig, stopped)  # run_one installs its own for its run and puts these back after
    try:
        for index, entry in enumerate(entries):
            record = state["entries"][index]
            record["status"] = RUNNING
            write_json_atomic(path, state)
            progress(f"{entry.variant} r{entry.repeat} ({index + 1} of {len(entries)})")
            try:
                data = run_one(replace(params, variant=entry.variant), os.path.join(out_dir, entry.dir_name),
                               progress=progress, argv=argv)
            except LabError as exc:  # this host cannot run this one (e.g. memory): the others may
                record.update(status="failed", reason=str(exc))
                continue
            outcome = data.get("outcome") or {}
            record.update(status=outcome.get("status") or "failed", reason=outcome.get("reason"))
            if record["status"] == "interrupted":
                raise _Stopped(str(outcome.get("reason") or "agent stopped"))
    except _Stopped as exc:
        for record in state["entries"]:
            if record["status"] in ("pending", RUNNING):
                record.update(status="interrupted", reason=str(exc))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        state["status"] = DONE
        write_json_atomic(path, state)
        if archive is not None:
            pack(out_dir, archive)
    return state


def complete(state: Mapping[str, Any]) -> bool:
    return all(record["status"] == "complete" for record in state["entries"])


def pack(out_dir: str, archive: str) -> None:
    """out_dir as one tar.gz (written to a temporary name, then renamed: a reader that sees the archive
    sees all of it). The workload's binary stays behind (it is rebuilt from allocate.c), and so does a
    killed recorder's marks FIFO."""
    tmp = f"{archive}.tmp"
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(out_dir, arcname=".", filter=_leave_binaries)
    os.replace(tmp, archive)


# Left behind: the workload's binary (rebuilt from allocate.c) and a killed recorder's marks FIFO.
LEFT_BEHIND = (vocab.WORKLOAD_BINARY, "marks.fifo")


def _leave_binaries(info: tarfile.TarInfo) -> Optional[tarfile.TarInfo]:
    return None if os.path.basename(info.name) in LEFT_BEHIND else info
