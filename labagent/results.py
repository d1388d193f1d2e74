"""How a run is kept on disk: results.json (rewritten atomically), samples.jsonl (appended per tick),
samples.csv (at the end), raw/ (verbatim captures). A run killed at any point stays readable."""
from __future__ import annotations

import csv
import json
import os
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from . import record, vocab
from .record import write_json_atomic  # noqa: F401  (the primitive; record.write uses it)
from .procfs import PROCESS_FIELDS, SYSTEM_FIELDS

SCHEMA_VERSION = record.SCHEMA_VERSION
RESULTS = vocab.RESULTS
SAMPLES_JSONL = vocab.SAMPLES_JSONL
SAMPLES_CSV = vocab.SAMPLES_CSV
SAMPLE_COLUMNS = ("tick", "t", "wall", "late_ms", "missed_before", "phase") + PROCESS_FIELDS + SYSTEM_FIELDS


class SampleLog:
    """samples.jsonl: one flushed line per tick, so a kill loses at most the tick being written."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")
        self.count = 0

    def append(self, record: Dict[str, object]) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        self._handle.close()


def read_samples(path: str) -> List[Dict[str, object]]:
    """Samples from samples.jsonl; a torn last line (the agent was killed mid-write) is dropped."""
    return list(iter_samples(path))


# results.json carries the samples inline up to this many (about 5 minutes at 10 ms); a longer run
# keeps them in samples.jsonl only, and load_run() reads them from there.
INLINE_SAMPLES_MAX = 30_000


def iter_samples(path: str) -> Iterator[Dict[str, object]]:
    """Samples from samples.jsonl one at a time; a torn last line (a kill mid-write) is dropped."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            yield json.loads(line)


def write_samples_csv(path: str, samples: Iterable[Dict[str, object]]) -> Tuple[int, Optional[int]]:
    """samples.csv from any iterable of samples, streamed; returns (rows, peak anon_huge_kib)."""
    rows, peak = 0, None
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SAMPLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in samples:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in SAMPLE_COLUMNS})
            rows += 1
            huge = row.get("anon_huge_kib")
            if huge is not None and (peak is None or int(huge) > peak):  # type: ignore[arg-type]
                peak = int(huge)  # type: ignore[arg-type]
    return rows, peak


def load_run(out_dir: str) -> Dict[str, object]:
    """results.json with its samples; for an incomplete run, the samples come from samples.jsonl."""
    path = os.path.join(out_dir, RESULTS)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not data.get("samples"):
        data["samples"] = read_samples(os.path.join(out_dir, SAMPLES_JSONL))
    return data
