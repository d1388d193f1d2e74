"""How a run is kept on disk: results.json (rewritten atomically), samples.jsonl (appended per tick),
samples.csv (appended with it), raw/ (verbatim captures). A run killed at any point stays readable."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import record, vocab
from .record import write_json_atomic  # noqa: F401  (the primitive; record.write uses it)
from .procfs import PROCESS_FIELDS, SYSTEM_FIELDS

SCHEMA_VERSION = record.SCHEMA_VERSION
RESULTS = vocab.RESULTS
SAMPLES_JSONL = vocab.SAMPLES_JSONL
SAMPLES_CSV = vocab.SAMPLES_CSV
SAMPLE_COLUMNS = ("tick", "t", "wall", "late_ms", "missed_before", "phase") + PROCESS_FIELDS + SYSTEM_FIELDS


class SampleLog:
    """samples.jsonl: one line per tick. Lines go to the kernel as they are given (one write(2) per
    call on an unbuffered fd, no Python file layer), so a kill of the agent loses none of them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._encode = json.JSONEncoder(separators=(",", ":")).encode
        self.count = 0

    def append(self, record: Dict[str, object]) -> None:
        self.extend([record])

    def extend(self, records: List[Dict[str, object]]) -> None:
        """Several lines in one write(2) (a kill mid-write leaves a torn last line, which readers drop)."""
        os.write(self._fd, "".join(self._encode(record) + "\n" for record in records).encode())
        self.count += len(records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SampleCsv:
    """samples.csv, appended with samples.jsonl: the rows of each batch of lines SampleLog has just
    written, in one write(2), so the end of a run need not read samples.jsonl back. The file appears
    with the first batch (header first); `rows` and `anon_huge_peak` are what write_samples_csv returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self.rows = 0
        self.anon_huge_peak: Optional[int] = None

    def extend(self, records: List[Dict[str, object]]) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            writer.writerow(SAMPLE_COLUMNS)
        rows, peak = _write_rows(writer, records)
        os.write(self._fd, buffer.getvalue().encode())
        self.rows += rows
        if peak is not None and (self.anon_huge_peak is None or peak > self.anon_huge_peak):
            self.anon_huge_peak = peak

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_samples(path: str) -> List[Dict[str, object]]:
    """Samples from samples.jsonl; a torn last line (the agent was killed mid-write) is dropped."""
    return list(iter_samples(path))


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
    """samples.csv from any iterable of samples, streamed; returns (rows, peak anon_huge_kib).
    A missing or null field is an empty cell (the csv module writes None as one)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_COLUMNS)
        return _write_rows(writer, samples)


def _write_rows(writer, samples: Iterable[Dict[str, object]]) -> Tuple[int, Optional[int]]:
    """samples.csv's rows of samples into a csv.writer; (rows, peak anon_huge_kib)."""
    rows, peak = 0, None
    for row in samples:
        writer.writerow(map(row.get, SAMPLE_COLUMNS))
        rows += 1
        huge = row.get("anon_huge_kib")
        if huge is not None and (peak is None or int(huge) > peak):  # type: ignore[arg-type]
            peak = int(huge)  # type: ignore[arg-type]
    return rows, peak


def load_record(out_dir: str) -> Union[record.RunRecord, record.RecordingRecord]:
    """results.json as its typed record (record.from_json), with its samples as load_run reads them:
    what the report reads. RecordError when the file is not a run record, LabError when it is from a
    newer malloc-lab."""
    return record.from_json(load_run(out_dir))


def load_run(out_dir: str) -> Dict[str, object]:
    """results.json with its samples under "samples": read from its `samples_file` (samples.jsonl),
    or, in runs written before the agent stopped inlining them, from results.json itself."""
    path = os.path.join(out_dir, RESULTS)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not data.get("samples"):
        name = os.path.basename(str(data.get("samples_file") or SAMPLES_JSONL))  # never outside out_dir
        data["samples"] = read_samples(os.path.join(out_dir, name))
    return data
