"""The run's index: one row per host (or per host, variant and repeat), the comparison across
hosts, and for runs with several variants or repeats the median, min and max of each figure."""
from __future__ import annotations


import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import variants, vocab
from ..vocab import VARIANTS
from . import faults
from .formatting import code_block, mib_text, num, signed
from .runs import Record, huge_page_size, summary_of, variant_of


def _thp_text(host: Mapping[str, Any]) -> Optional[str]:
    """THP enabled/defrag as the index shows them, `(inferred)` when the run did not read them."""
    text = "/".join(str(v) for v in (host.get("thp_enabled"), host.get("thp_defrag")) if v) or None
    return f"{text} (inferred)" if text and host.get("thp_inferred") else text


def _mode_split(summary: Mapping[str, Any], host: Mapping[str, Any], variant: str) -> Optional[Dict[str, str]]:
    """The faults of a run whose fault mode is `mixed` because huge pages filled the aligned part of
    the region and base pages its unaligned head and tail (THP `always`): the counts the writeup
    states, or None when the run is not that case."""
    if summary.get("fault_mode") != "mixed":
        return None
    page_size = int(host.get("page_size") or summary.get("page_size") or 4096)
    fs = faults.of_run(summary, host, variant, page_size, huge_page_size(page_size))
    if fs is None or not fs.huge_used or fs.huge_inferred or not fs.head_pages + fs.tail_pages:
        return None
    return {"huge": num(fs.huge_faults), "base": num(fs.base_faults), "other": signed(fs.other_faults),
            "measured": num(fs.measured)}


def host_row(name: str, rec: Optional[Record], status: Optional[Mapping[str, Any]],
             key: Optional["EntryKey"] = None) -> Dict[str, Any]:
    """One line of the comparison table, or a failed host's line. `key` places the directory in a run
    of several variants or repeats (default: from `name` and results.json, see entry_key)."""
    status = status or {}
    key = key or entry_key(name, None, rec)
    where = {"host": key.host, "variant": key.variant, "repeat": key.repeat}
    if rec is None:
        return {"name": name, "ok": False, "has_results": False, "status": status.get("status") or "failed",
                "reason": status.get("reason") or "no results", "link": None, "split": None, "figures": {}, "facts": {},
                **where}
    summary = summary_of(rec)
    host = rec.host
    outcome = rec.outcome
    split = _mode_split(summary, host, key.variant)
    complete = bool(rec.complete)
    return {
        "name": name, "ok": complete, "has_results": True, "link": f"{name}/README.md",
        "status": "ok" if complete else (outcome.status or "incomplete"),
        "reason": None if complete else (outcome.reason or status.get("reason") or "incomplete"),
        "hostname": host.get("hostname"), "instance_type": host.get("ec2_instance_type"),
        "arch": host.get("arch"), "kernel": host.get("kernel"), "distro": host.get("distro"),
        "thp": _thp_text(host),
        "page_size": num(host.get("page_size")),
        "vsz_delta": signed(summary.get("vsz_delta_kib")), "rss_alloc_delta": signed(summary.get("rss_alloc_delta_kib")),
        "rss_touch_delta": signed(summary.get("rss_touch_delta_kib")),
        "touched": mib_text(summary.get("touched_bytes")) if summary.get("touched_bytes") else None,
        "faults_per_mib": num(summary.get("faults_per_mib"), 2) if summary.get("faults_per_mib") is not None else None,
        "granularity": num(summary.get("fault_granularity_kib"), 1) if summary.get("fault_granularity_kib") is not None else None,
        # `split`: a `mixed` run that is huge pages in the aligned part, base pages at the head and tail
        "mode": "split" if split else summary.get("fault_mode"), "split": split,
        "step_ms": num(summary.get("step_ms_median"), 2) if summary.get("step_ms_median") is not None else None,
        "commit_delta": signed(summary.get("committed_as_delta_kib")),
        # the numbers themselves, for the statistics over repeats
        "figures": {k: summary.get(k) for k in FIGURES},
        "facts": {"instance_type": host.get("ec2_instance_type"), "arch": host.get("arch"),
                  "kernel": host.get("kernel"), "distro": host.get("distro"), "page_size": num(host.get("page_size")),
                  "thp": _thp_text(host)},
        **where,
    }


def index_view(run_dir_name: str, run_meta: Optional[Mapping[str, Any]], rows: Sequence[Dict[str, Any]],
               plotted: bool = False) -> Dict[str, Any]:
    """Everything index.md.j2 shows: the run, its hosts, the comparison. A run with several variants
    or repeats per host is compared by (host, variant) groups, with the median, min and max of the
    repeats (`grouped`)."""
    params = (run_meta or {}).get("params") or {}
    grouped = is_grouped(rows)
    return {
        "grouped": grouped,
        "repeats": repeats_view(rows, params.get("variants")) if grouped else None,
        **_run_view(run_dir_name, run_meta, rows, plotted),
        "compared": [r for r in rows if r["has_results"]],
    }


def _run_view(run_dir_name: str, run_meta: Optional[Mapping[str, Any]], rows: Sequence[Dict[str, Any]],
              plotted: bool) -> Dict[str, Any]:
    """What both indexes (the experiment's and the recordings') show of the run itself: its id, the
    command that made it, the lab's version, its knobs, and its hosts with the ones that failed."""
    meta = run_meta or {}
    return {
        "run_id": meta.get("run_id") or run_dir_name,
        "command": code_block(meta.get("command"), "sh", vocab.RUN_JSON, None) if meta.get("command") else None,
        "lab_version": meta.get("lab_version"), "lab_commit": meta.get("lab_commit"),
        "params": [{"name": k, "value": ", ".join(str(x) for x in v) if isinstance(v, list) else str(v)}
                   for k, v in (meta.get("params") or {}).items()],
        "has_run_json": bool(run_meta),
        "hosts": list(rows),
        "problems": [r for r in rows if not r["ok"]],
        "count": len(rows), "ok": sum(1 for r in rows if r["ok"]), "plots": plotted,
    }


# --------------------------------------------------------------------------- repeats and variants

# summary figures the index compares, kept as numbers for the statistics over repeats
FIGURES = ("vsz_delta_kib", "rss_alloc_delta_kib", "rss_touch_delta_kib", "min_flt_alloc", "faults_per_mib",
           "fault_granularity_kib", "step_ms_median", "committed_as_delta_kib", "ns_per_fault", "first_touch_gib_s",
           "second_pass_gib_s", "first_touch_slowdown")
NO_FACTS = {"instance_type": None, "arch": None, "kernel": None, "distro": None, "page_size": None, "thp": None}


@dataclass(frozen=True)
class EntryKey:
    """Where one agent directory belongs in a run: its host, variant and repeat (from 1)."""
    host: str
    variant: str
    repeat: int


def entry_key(name: str, entries: Optional[Mapping[str, Any]], rec: Optional[Record]) -> EntryKey:
    """run.json's `entries[name]` when it has one; else a `<host>__<variant>__r<k>` directory name
    whose variant agrees with results.json; else the directory is the host, results.json's
    params.variant (malloc when unknown) its variant, and this its first repeat."""
    meta = (entries or {}).get(name)
    recorded = variant_of(rec)
    if isinstance(meta, Mapping):
        try:
            repeat = int(meta.get("repeat") or 1)
        except (TypeError, ValueError):
            repeat = 1
        return EntryKey(str(meta.get("host") or name), str(meta.get("variant") or recorded or variants.DEFAULT), repeat)
    parsed = vocab.parse_entry_name(name)  # <host>__<variant>__r<k>, with a declared variant
    if parsed and recorded in (None, parsed[1]):
        return EntryKey(*parsed)
    return EntryKey(name, str(recorded or variants.DEFAULT), 1)


def spread(values: Sequence[Optional[float]]) -> Optional[Dict[str, float]]:
    """The median, min and max of the known values, and how many there were; None when none is known."""
    known = sorted(float(v) for v in values if v is not None)
    if not known:
        return None
    return {"median": statistics.median(known), "min": known[0], "max": known[-1], "n": len(known)}


def spread_text(stats: Optional[Mapping[str, float]], digits: int = 0, sign: bool = False) -> Optional[str]:
    """'256.20 (256.15 – 256.20)': the median, then min – max; the value alone when they are equal."""
    if not stats:
        return None
    fmt = signed if sign else num
    median = fmt(stats["median"], digits)
    if stats["min"] == stats["max"]:
        return median
    return f"{median} ({fmt(stats['min'], digits)} – {fmt(stats['max'], digits)})"


def is_grouped(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether some host ran more than one variant or repeat (the playbook's host__variant__rK layout)."""
    seen: Dict[str, int] = {}
    for row in rows:
        seen[row["host"]] = seen.get(row["host"], 0) + 1
    return any(count > 1 for count in seen.values())


def variant_order(rows: Sequence[Mapping[str, Any]], variants: Any = None) -> List[str]:
    """run.json's params.variants first, in its order; then any other variant, in allocate.c's order."""
    listed = [str(v) for v in variants] if isinstance(variants, list) else []
    present = {row["variant"] for row in rows}
    rest = sorted(present - set(listed), key=lambda v: (VARIANTS.index(v) if v in VARIANTS else len(VARIANTS), v))
    return [v for v in listed if v in present] + rest


# (figure, digits, signed) for each column of the repeats table
_COLUMNS = {"vsz_delta": ("vsz_delta_kib", 0, True), "rss_alloc_delta": ("rss_alloc_delta_kib", 0, True),
            "rss_touch_delta": ("rss_touch_delta_kib", 0, True), "min_flt_alloc": ("min_flt_alloc", 0, False),
            "faults_per_mib": ("faults_per_mib", 2, False), "granularity": ("fault_granularity_kib", 1, False),
            "step_ms": ("step_ms_median", 2, False), "commit_delta": ("committed_as_delta_kib", 0, True),
            "ns_per_fault": ("ns_per_fault", 1, False), "first_gib_s": ("first_touch_gib_s", 3, False),
            "second_gib_s": ("second_pass_gib_s", 3, False), "slowdown": ("first_touch_slowdown", 2, False)}


def _problems(rows: Sequence[Mapping[str, Any]], hosts: Sequence[str], order: Sequence[str]) -> List[Dict[str, Any]]:
    """The runs that failed or are incomplete, in the tables' order; a host none of whose runs left
    results, all for one reason (unreachable), is one line."""
    out: List[Dict[str, Any]] = []
    for host in hosts:
        members = sorted((r for r in rows if r["host"] == host), key=lambda r: (order.index(r["variant"]), r["repeat"], r["name"]))
        failed = [r for r in members if not r["ok"]]
        reasons = {(r["status"], r["reason"]) for r in failed}
        if len(failed) > 1 and len(failed) == len(members) and len(reasons) == 1 \
                and not any(r["has_results"] for r in members):
            out.append({"whole_host": True, "host": host, "count": len(failed), "status": failed[0]["status"],
                        "reason": failed[0]["reason"]})
            continue
        out.extend(dict(r, whole_host=False) for r in failed)
    return out


def _huge_vs_base(groups: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Per host that ran both `malloc` (page by page under THP madvise) and `madv-hugepage`, how much
    longer a step took with huge pages: the ratio of the two medians of the repeats' step times."""
    out = []
    by_key = {(g["host"], g["variant"]): g for g in groups if g["ok"]}
    for (host, variant), huge in sorted(by_key.items()):
        base = by_key.get((host, "malloc"))
        if variant != "madv-hugepage" or not base or base.get("mode") != "base" or huge.get("mode") != "huge":
            continue
        h, b = (huge["stats"].get("step_ms") or {}).get("median"), (base["stats"].get("step_ms") or {}).get("median")
        if h and b:
            out.append({"host": host, "huge_ms": num(h, 2), "base_ms": num(b, 2), "ratio": num(h / b, 1),
                        "slower": h > b, "runs": min(huge["ok"], base["ok"])})
    return out


def repeats_view(rows: Sequence[Mapping[str, Any]], variants: Any = None) -> Dict[str, Any]:
    """The index of a run with several variants or repeats: per host its facts; per (variant, host) its
    runs and, over the complete ones, the median, min and max of each figure (the comparison across
    hosts reads these medians); the spread plot's numbers."""
    order = variant_order(rows, variants)
    hosts: List[str] = sorted({row["host"] for row in rows})
    by_group: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for row in rows:
        by_group.setdefault((row["variant"], row["host"]), []).append(row)
    groups = []
    for variant in order:
        for host in hosts:
            members = sorted(by_group.get((variant, host), []), key=lambda r: (r["repeat"], r["name"]))
            if not members:
                continue
            ok = [r for r in members if r["ok"]]
            stats = {col: spread([r["figures"].get(fig) for r in ok]) for col, (fig, _d, _s) in _COLUMNS.items()}
            modes: Dict[str, int] = {}
            for r in ok:
                modes[r.get("mode") or "unknown"] = modes.get(r.get("mode") or "unknown", 0) + 1
            facts = dict(NO_FACTS, **next((r["facts"] for r in members if r.get("facts")), {}))
            groups.append({
                "host": host, "variant": variant, "label": f"{host} · {variant}",
                "instance_type": facts.get("instance_type"),
                "runs": [{"repeat": r["repeat"], "name": r["name"], "link": r["link"], "ok": r["ok"],
                          "status": r["status"]} for r in members],
                "ok": len(ok), "count": len(members),
                "cells": {col: spread_text(stats[col], digits, sign) for col, (_f, digits, sign) in _COLUMNS.items()},
                "stats": stats,
                "modes": [{"mode": m, "count": c} for m, c in sorted(modes.items())],
                "mode": next(iter(modes)) if len(modes) == 1 else None,
                "min_flt_alloc_matters": any(r.get("mode") == "prefaulted" for r in ok),
            })
    host_rows = []
    for host in hosts:
        members = [r for r in rows if r["host"] == host]
        facts = dict(NO_FACTS, **next((r["facts"] for r in members if r.get("facts")), {}))
        host_rows.append({"host": host, "ok": sum(1 for r in members if r["ok"]), "count": len(members),
                          "has_results": any(r["has_results"] for r in members), **facts})
    repeats = max((r["repeat"] for r in rows), default=1)
    return {
        "hosts": host_rows, "groups": groups, "variants": order, "repeats": repeats,
        "entries": len(rows), "compared": [g for g in groups if g["ok"]],
        "fullspeed": [g for g in groups if g["variant"] == "fullspeed" and g["ok"]],
        "huge_vs_base": _huge_vs_base(groups),
        "problems": _problems(rows, hosts, order),
        "plot": [{"label": g["label"], "variant": g["variant"], "faults_per_mib": g["stats"]["faults_per_mib"],
                  "step_ms": g["stats"]["step_ms"],
                  "faults_values": [r["figures"].get("faults_per_mib") for r in by_group[(g["variant"], g["host"])] if r["ok"]],
                  "step_values": [r["figures"].get("step_ms_median") for r in by_group[(g["variant"], g["host"])] if r["ok"]]}
                 for g in groups if g["ok"]],
    }


# --------------------------------------------------------------------------- a run of recordings

def recording_row(name: str, view: Optional[Mapping[str, Any]], status: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """One host's line in the index of a run that recorded lab_command on every host: from the host's
    recording view (labagent.report.recording.recording_view, numbers already formatted), or a host that
    brought no recording back, with the controller's status and reason."""
    status = status or {}
    if view is None:
        return {"name": name, "ok": False, "has_results": False, "status": status.get("status") or "failed",
                "reason": status.get("reason") or "no results", "link": None}
    complete = bool(view.get("complete"))
    outcome = view.get("outcome") or {}
    maps = view.get("maps") or {}
    return {
        "name": name, "ok": complete, "has_results": True, "link": f"{name}/README.md",
        "status": "ok" if complete else (outcome.get("status") or "incomplete"),
        "reason": None if complete else (outcome.get("reason") or status.get("reason") or "incomplete"),
        "hostname": view.get("hostname"), "kernel": (view.get("host") or {}).get("kernel"),
        "arch": (view.get("host") or {}).get("arch"), "thp": (view.get("thp") or {}).get("mode"),
        "length": view.get("length"), "stop": view.get("stop") or {}, "exit_status": view.get("exit_status"),
        "signal": view.get("signal"), "samples": view.get("samples"), "marks": len(view.get("marks") or []),
        "peaks": view.get("peaks") or {}, "change": view.get("change") or {},
        "grew": [t["kind"] for t in maps.get("totals") or [] if t.get("grew")],
        "grew_sizes": {t["kind"]: t.get("change_size") for t in maps.get("totals") or [] if t.get("grew")},
    }


def recordings_index_view(run_dir_name: str, run_meta: Optional[Mapping[str, Any]],
                          rows: Sequence[Dict[str, Any]], plotted: bool = False) -> Dict[str, Any]:
    """Everything recording_index.md.j2 shows: the command recorded, one row per host, the hosts that
    brought no complete recording back with their reasons."""
    params = (run_meta or {}).get("params") or {}
    return {
        **_run_view(run_dir_name, run_meta, rows, plotted),
        "recorded": params.get("command"),
        "recorded_hosts": [r for r in rows if r["has_results"]],
    }
