"""`labagent report --compare runs/A runs/B [...]`: one writeup comparing whole runs, in
runs/compare-<A>-vs-<B>/: what differs between them (knobs, host facts, variants, version), the
figures side by side, and RSS and faults overlaid, aligned where touching began."""
from __future__ import annotations

import os
import statistics
import string
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import LabError
from ..units import format_size
from ..vocab import VARIANTS
from . import model, plots, render, summary

README = "README.md"
PLOTS = "plots"
COMPARE_PREFIX = "compare-"
LETTERS = string.ascii_uppercase

# Host facts that explain the numbers, in the order the writeup lists them (summary.csv's names).
FACTS = ("instance_type", "arch", "cpu_model", "cpus", "mem_total_kib", "kernel", "distro", "glibc", "page_size",
         "thp_enabled", "thp_defrag", "overcommit_memory")
# The agent's knobs (summary.csv's names) and how a value is shown.
KNOBS = ("size_bytes", "step_bytes", "step_interval_s", "sample_interval_s", "pause_s", "tail_s")
# The comparison table: column -> (summary field, digits, signed)
COLUMNS = {"vsz_delta": ("vsz_delta_kib", 0, True), "rss_touch_delta": ("rss_touch_delta_kib", 0, True),
           "faults_per_mib": ("faults_per_mib", 2, False), "granularity": ("fault_granularity_kib", 1, False),
           "step_ms": ("step_ms_median", 2, False), "commit_delta": ("committed_as_delta_kib", 0, True),
           "ns_per_fault": ("ns_per_fault", 1, False)}
# columns compared with the same host and variant in the first run, as a change in percent
VERSUS_FIRST = ("faults_per_mib", "step_ms")


@dataclass(frozen=True)
class Difference:
    """One thing compared between the runs: its kind (knob, fact, variant, version), its name (a
    summary.csv column, or `variants`, `repeats`, `version`) and its value in each run: a string,
    None when unknown, or ((host, value), ...) when the run's hosts disagree."""
    kind: str
    name: str
    values: Tuple[Any, ...]


def _num(value: Optional[float], digits: int = 0, sign: bool = False) -> Optional[str]:
    if value is None:
        return None
    text = f"{value:,.{digits}f}"
    return ("+" + text) if sign and value > 0 else text


def _seconds(value: Any) -> Optional[str]:
    return None if value is None else f"{float(value):g} s"


def _show(column: str, value: Any) -> Optional[str]:
    """A knob's or fact's value as the writeup shows it."""
    if value is None:
        return None
    if column in ("size_bytes", "step_bytes"):
        return format_size(int(value))
    if column.endswith("_s"):
        return _seconds(value)
    if column == "mem_total_kib":
        return f"{int(value) / (1024 * 1024):.1f} GiB"
    return str(value)


def _has_results(row: Mapping[str, Any]) -> bool:
    return any(row.get(column) is not None for column in KNOBS)  # the agent wrote its params


def _per_run(rows: Sequence[Mapping[str, Any]], column: str) -> Any:
    """A run's value of a fact or knob over its hosts with results: the value when they agree (None
    when no host has it), else a tuple of (host, value or None), one per host."""
    by_host: Dict[str, Optional[str]] = {}
    for row in rows:
        if _has_results(row):
            by_host.setdefault(row["host"], _show(column, row.get(column)))
    values = set(by_host.values())
    if len(values) <= 1:
        return next(iter(values), None)
    return tuple(sorted(by_host.items()))


def _version(run: summary.RunData) -> Optional[str]:
    meta = run.meta or {}
    if meta.get("lab_version"):
        commit = meta.get("lab_commit")
        return f"{meta['lab_version']} ({commit})" if commit else str(meta["lab_version"])
    versions = sorted({str(e.data.agent.version) for e in run.entries
                       if e.data is not None and e.data.agent.version})
    return ", ".join(versions) or None


def _variants(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    present = {row["variant"] for row in rows}
    return sorted(present, key=lambda v: (VARIANTS.index(v) if v in VARIANTS else len(VARIANTS), v))


def differences(runs: Sequence[summary.RunData], rows: Sequence[Sequence[Mapping[str, Any]]]
                ) -> Tuple[List[Difference], List[Difference]]:
    """(what differs between the runs, what is the same in all of them), knobs first, then the
    variants and repeats, the host facts and malloc-lab's version."""
    items: List[Difference] = []
    for column in KNOBS:
        items.append(Difference("knob", column, tuple(_per_run(r, column) for r in rows)))
    items.append(Difference("variant", "variants", tuple(", ".join(_variants(r)) or None for r in rows)))
    items.append(Difference("knob", "repeats", tuple(str(max((row["repeat"] for row in r), default=1)) for r in rows)))
    for column in FACTS:
        items.append(Difference("fact", column, tuple(_per_run(r, column) for r in rows)))
    items.append(Difference("version", "version", tuple(_version(run) for run in runs)))
    differ = [d for d in items if len(set(d.values)) > 1]
    same = [d for d in items if len(set(d.values)) == 1 and isinstance(d.values[0], str)]
    return differ, same


def _median(values: Sequence[Any]) -> Optional[float]:
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


def _percent(value: Optional[float], base: Optional[float]) -> Optional[str]:
    if value is None or base is None or base == 0:
        return None
    change = (value - base) / base * 100.0
    return f"{change:+.1f} %" if round(change, 1) != 0 else "±0 %"


def groups(letters: Sequence[str], rows: Sequence[Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """The comparison table: per variant, run and host, the median of the complete repeats; and for
    VERSUS_FIRST, the change from the same host and variant in the first run."""
    order = _variants([row for r in rows for row in r])
    out: List[Dict[str, Any]] = []
    medians: Dict[Tuple[str, str, str], Dict[str, Optional[float]]] = {}
    for variant in order:
        for letter, run_rows in zip(letters, rows):
            for host in sorted({row["host"] for row in run_rows if row["variant"] == variant}):
                members = [row for row in run_rows if row["variant"] == variant and row["host"] == host]
                ok = [row for row in members if row["status"] == "ok"]
                if not ok:
                    continue
                stats = {col: _median([row.get(field) for row in ok]) for col, (field, _d, _s) in COLUMNS.items()}
                medians[(letter, host, variant)] = stats
                first = medians.get((letters[0], host, variant)) if letter != letters[0] else None
                modes = sorted({str(row.get("fault_mode") or "unknown") for row in ok})
                out.append({
                    "variant": variant, "run": letter, "host": host, "ok": len(ok), "count": len(members),
                    "modes": modes,
                    "cells": {col: _num(stats[col], digits, sign) for col, (_f, digits, sign) in COLUMNS.items()},
                    "versus": {col: _percent(stats[col], first[col]) if first else None for col in VERSUS_FIRST},
                })
    return out


def _overlay(letters: Sequence[str], runs: Sequence[summary.RunData]) -> List[Tuple[str, Dict[str, Any]]]:
    """The plots' lines: per run, host and variant, its first complete repeat (else its first with
    samples), named `A · host · variant`."""
    lines = []
    for letter, run in zip(letters, runs):
        picked: Dict[Tuple[str, str], summary.Entry] = {}
        for entry in sorted(run.entries, key=lambda e: (not e.ok, e.key.repeat, e.name)):
            if entry.data is not None and entry.data.samples:
                picked.setdefault((entry.key.host, entry.key.variant), entry)
        for (host, variant), entry in sorted(picked.items(), key=lambda kv: (
                VARIANTS.index(kv[0][1]) if kv[0][1] in VARIANTS else len(VARIANTS), kv[0][0])):
            lines.append((f"{letter} · {host} · {variant}", model.series(entry.data)))
    return lines


def _problems(letters: Sequence[str], rows: Sequence[Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """The runs that failed or are incomplete; a host all of whose runs failed for one reason (say,
    unreachable) is one line, named by the host, with `count` its runs."""
    out: List[Dict[str, Any]] = []
    for letter, run_rows in zip(letters, rows):
        for host in sorted({row["host"] for row in run_rows}):
            members = [row for row in run_rows if row["host"] == host]
            failed = [row for row in members if row["status"] != "ok"]
            if len(failed) > 1 and len(failed) == len(members) and len({(r["status"], r["reason"]) for r in failed}) == 1:
                out.append({"run": letter, "name": host, "count": len(failed), "status": failed[0]["status"],
                            "reason": failed[0]["reason"]})
                continue
            out.extend({"run": letter, "name": row["name"], "count": 1, "status": row["status"],
                        "reason": row["reason"]} for row in failed)
    return out


def out_dir(runs: Sequence[summary.RunData]) -> str:
    """runs/compare-<A>-vs-<B>[-vs-<C>...], beside the first run."""
    names = [os.path.basename(os.path.realpath(run.path)) for run in runs]
    parent = os.path.dirname(os.path.realpath(runs[0].path))
    return os.path.join(parent, COMPARE_PREFIX + "-vs-".join(names))


def compare_view(runs: Sequence[summary.RunData], rows: Sequence[Sequence[Mapping[str, Any]]], out: str,
                 plotted: bool) -> Dict[str, Any]:
    """Everything compare.md.j2 shows; `rows`: each run's summary rows."""
    letters = LETTERS[:len(runs)]
    differ, same = differences(runs, rows)
    table = groups(letters, rows)
    listed = []
    for letter, run, run_rows in zip(letters, runs, rows):
        readme = os.path.join(run.path, README)
        target = readme if os.path.isfile(readme) else run.path
        walls = sorted(row["started_utc"] for row in run_rows if row.get("started_utc"))
        listed.append({
            "letter": letter, "run_id": run.run_id, "dir": os.path.basename(os.path.realpath(run.path)),
            "link": os.path.relpath(target, out).replace(os.sep, "/"),
            "started": walls[0].replace("T", " ").replace("Z", "") if walls else None,
            "hosts": sorted({row["host"] for row in run_rows}),
            "ok": sum(1 for row in run_rows if row["status"] == "ok"), "count": len(run_rows),
        })
    return {
        "runs": listed, "letters": list(letters), "differ": differ, "same": same, "groups": table,
        "versus": len(runs) > 1 and any(any(g["versus"].values()) for g in table),
        "first": letters[0], "problems": _problems(letters, rows), "plots": plotted,
        "dirs": [r["dir"] for r in listed],
    }


def compare_runs(paths: Sequence[str], lang: str = "en", out: Optional[str] = None,
                 templates: Optional[str] = None) -> List[str]:
    """Reads the runs, writes <out>/README.md, <out>/summary.csv (every run's rows) and the
    overlaid plots; returns the paths written."""
    if len(paths) < 2:
        raise LabError("--compare needs two or more runs: labagent report --compare runs/A runs/B")
    if len(paths) > len(LETTERS):
        raise LabError(f"--compare takes at most {len(LETTERS)} runs")
    real = [os.path.realpath(p) for p in paths]
    if len(set(real)) != len(real):
        raise LabError("--compare was given the same run twice: " + ", ".join(paths))
    env = render.environment(lang, templates)
    runs = [summary.read_run(path) for path in paths]
    target = out or out_dir(runs)
    os.makedirs(target, exist_ok=True)
    lines = _overlay(LETTERS[:len(runs)], runs)
    written = plots.Plotter().index(lines, os.path.join(target, PLOTS), grouped=True) if lines else []
    rows = [summary.summary_rows(run) for run in runs]
    view = compare_view(runs, rows, target, plotted=bool(lines))
    text = env.get_template("compare.md.j2").render(c=view)
    readme = os.path.join(target, README)
    with open(readme, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    table = os.path.join(target, summary.SUMMARY_CSV)
    with open(table, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(summary.summary_csv([row for run_rows in rows for row in run_rows]))
    return [readme, table] + written
