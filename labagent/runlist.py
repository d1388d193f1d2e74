"""`labagent runs [DIR]`: the runs kept under runs/, newest first, one line each: id, date, hosts ok and
failed, variants, size and the writeups' language(s). Reads summary.json where `labagent report`
wrote one, else run.json and the agents' results.json; never renders anything."""
from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .errors import LabError
from .record import RecordError, RecordingRecord, RunRecord, from_json
from .results import RESULTS
from .units import format_size

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"  # written by labagent.report.summary
README_RE = re.compile(r"^README(\.[a-z]{2})?\.md$")
LATEST = "latest"
COMPARE_PREFIX = "compare-"  # comparisons live beside the runs (labagent report --compare)
# A writeup is Japanese when it has kana in its first bytes (headings come first).
KANA_RE = re.compile("[\u3040-\u30ff]")
LANG_PROBE_CHARS = 4096
NOT_ENTRIES = ("plots",)


@dataclass(frozen=True)
class RunListing:
    """One run in the list. `started` is epoch seconds of its first agent run (None when unknown)."""
    run_id: str
    path: str
    started: Optional[float]
    hosts_ok: int
    hosts_failed: int
    runs_ok: int
    runs_total: int
    variants: Tuple[str, ...]
    sizes: Tuple[int, ...]
    langs: Tuple[str, ...]
    latest: bool = False

    def to_json(self) -> Dict[str, Any]:
        out = asdict(self)
        out["started_utc"] = _utc(self.started)
        out["variants"], out["sizes"], out["langs"] = list(self.variants), list(self.sizes), list(self.langs)
        return out


@dataclass(frozen=True)
class _Run:
    """What one run's files say, entry by entry: (host, variant, ok, started wall, size bytes)."""
    entries: Tuple[Tuple[str, Optional[str], bool, Optional[float], Optional[int]], ...]


def _utc(wall: Optional[float]) -> Optional[str]:
    if wall is None:
        return None
    return datetime.datetime.fromtimestamp(wall, tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load(path: str) -> Optional[Dict[str, Any]]:
    """A JSON file, or None when it is missing or unreadable (the list shows what it can)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _from_summary(doc: Mapping[str, Any]) -> _Run:
    entries = []
    for row in doc.get("rows") or []:
        started = row.get("started_utc")
        wall = (datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=datetime.timezone.utc).timestamp() if started else None)
        entries.append((str(row.get("host")), row.get("variant"), row.get("status") == "ok", wall,
                        row.get("size_bytes")))
    return _Run(tuple(entries))


def _record(path: str) -> Optional[Union[RunRecord, RecordingRecord]]:
    """An agent's typed record, or None when its results.json is missing, unreadable or no record (the
    list shows what it can: such an entry counts as not ok)."""
    try:
        return from_json(_load(path))
    except RecordError:
        return None


def _from_results(data: Optional[Union[RunRecord, RecordingRecord]], host: str, variant: Optional[str],
                  status: Optional[str]) -> Tuple[str, Optional[str], bool, Optional[float], Optional[int]]:
    if data is None:
        return (host, variant, status == "ok", None, None)
    if isinstance(data, RecordingRecord):
        return (host, variant, data.complete, data.started_wall, None)
    return (host, variant or data.params.variant, data.complete, data.started_wall, data.params.size_bytes)


def _from_files(path: str) -> Optional[_Run]:
    """Without summary.json: run.json's statuses and entries, and each agent's results.json."""
    if os.path.isfile(os.path.join(path, RESULTS)):  # one agent directory
        data = _record(os.path.join(path, RESULTS))
        return _Run((_from_results(data, os.path.basename(path), None, None),)) if data is not None else None
    meta = _load(os.path.join(path, RUN_JSON)) or {}
    statuses = meta.get("hosts") or {}
    recorded = meta.get("entries") or {}
    names = set(statuses)
    names.update(entry for entry in os.listdir(path) if entry not in NOT_ENTRIES
                 and os.path.isfile(os.path.join(path, entry, RESULTS)))
    if not names:
        return None
    entries = []
    for name in sorted(names):
        place = recorded.get(name) or {}
        data = _record(os.path.join(path, name, RESULTS))
        entries.append(_from_results(data, str(place.get("host") or name), place.get("variant"),
                                     (statuses.get(name) or {}).get("status")))
    return _Run(tuple(entries))


def _writeups(directory: str) -> List[str]:
    """README.md and any README.<lang>.md in a directory."""
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
            if README_RE.match(name) and os.path.isfile(os.path.join(directory, name))]


def _langs(path: str) -> Tuple[str, ...]:
    """The languages of the writeups in a run: its index's and its agents' README.md (and
    README.<lang>.md beside them, where a run was written in several)."""
    found = set()
    directories = [path] + [os.path.join(path, entry) for entry in os.listdir(path)
                            if os.path.isdir(os.path.join(path, entry))]
    for candidate in (c for directory in directories for c in _writeups(directory)):
        with open(candidate, encoding="utf-8", errors="replace") as handle:
            found.add("ja" if KANA_RE.search(handle.read(LANG_PROBE_CHARS)) else "en")
    return tuple(sorted(found))


def _listing(path: str, latest: Optional[str]) -> Optional[RunListing]:
    summary = _load(os.path.join(path, SUMMARY_JSON))
    run = _from_summary(summary) if summary and summary.get("rows") else _from_files(path)
    if run is None:
        return None
    hosts: Dict[str, bool] = {}
    variants: List[str] = []
    for host, variant, ok, _wall, _size in run.entries:
        hosts[host] = hosts.get(host, True) and ok
        if variant and variant not in variants:
            variants.append(variant)
    walls = [wall for _h, _v, _ok, wall, _s in run.entries if wall is not None]
    name = os.path.basename(path)
    return RunListing(
        run_id=name, path=path, started=min(walls) if walls else None,
        hosts_ok=sum(1 for ok in hosts.values() if ok), hosts_failed=sum(1 for ok in hosts.values() if not ok),
        runs_ok=sum(1 for entry in run.entries if entry[2]), runs_total=len(run.entries),
        variants=tuple(variants), sizes=tuple(sorted({int(s) for *_rest, s in run.entries if s is not None})),
        langs=_langs(path), latest=name == latest)


def list_runs(root: str) -> List[RunListing]:
    """Every run directory under `root`, newest first (runs with no known start last, by id)."""
    if not os.path.isdir(root):
        raise LabError(f"{root} is not a directory (expected the runs directory, e.g. runs)")
    link = os.path.join(root, LATEST)
    latest = os.path.basename(os.path.realpath(link)) if os.path.islink(link) else None
    listings = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name == LATEST or name.startswith((".", COMPARE_PREFIX)) or not os.path.isdir(path):
            continue
        listing = _listing(path, latest)
        if listing is not None:
            listings.append(listing)
    listings.sort(key=lambda r: (r.started is not None, r.started or 0.0, r.run_id), reverse=True)
    return listings


HEADER = ("id", "date", "hosts ok", "failed", "runs ok", "variants", "size", "lang")


def _cells(run: RunListing) -> Tuple[str, ...]:
    return (run.run_id + (" (latest)" if run.latest else ""), _utc(run.started) or "-", str(run.hosts_ok),
            str(run.hosts_failed), f"{run.runs_ok}/{run.runs_total}", ",".join(run.variants) or "-",
            ",".join(format_size(s) for s in run.sizes) or "-", ",".join(run.langs) or "-")


def table(runs: Iterable[RunListing]) -> str:
    """The list as aligned text columns (one header line; `no runs` when there are none)."""
    rows = [_cells(run) for run in runs]
    if not rows:
        return "no runs\n"
    widths = [max(len(row[i]) for row in rows + [HEADER]) for i in range(len(HEADER))]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n"
                   for row in [HEADER] + rows)


def to_json_lines(runs: Iterable[RunListing]) -> str:
    return "".join(json.dumps(run.to_json(), sort_keys=True) + "\n" for run in runs)
