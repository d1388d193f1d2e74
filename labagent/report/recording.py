"""The writeup of a recording (`labagent record`): the view recording.md.j2 shows, and its rendering.

What a recording has that an experiment has not: phases named by the user's marks, a process the lab
knows nothing about. So this view says what happened to the address space and to memory (timeline,
maps growth by kind, THP), each number with the file it comes from, and no malloc-specific reasoning."""
from __future__ import annotations

import os
import shlex
from typing import Any, Dict, List, Mapping, Optional, Tuple

import jinja2

from .. import captures as declared  # the capture tools' declarations
from .. import maps_growth, parsers, vocab
from ..record import EXEC_SNAPSHOT, RecordingRecord, Snapshot, comparison_start
from ..vocab import RECORDING_END, RECORDING_START
from . import model, plots
from .runs import phase_end as _phase_end, recording_length

TEMPLATE = "recording.md.j2"
# The mappings that changed most, listed in the writeup (the full diff follows in a folded block).
CHANGES_SHOWN = 12
# A raw capture longer than this many lines is shown as its head and tail.
EXCERPT_HEAD = 4
EXCERPT_TAIL = 4
# A command longer than this is shown in the title as its program's name and "…" (whole in the text).
TITLE_COMMAND_MAX = 40
# Fewer samples than this and the writeup warns that a peak can fall between them (or after the last).
FEW_SAMPLES = 5
READING_KEYS = ("vsz_kib", "rss_kib", "rss_anon_kib", "rss_file_kib", "min_flt", "maj_flt", "anon_huge_kib")


def excerpt(text: Optional[str], head: int = EXCERPT_HEAD, tail: int = EXCERPT_TAIL) -> Optional[str]:
    """The first `head` and last `tail` lines, with a line saying how many were left out between."""
    if text is None:
        return None
    lines = text.splitlines()
    if len(lines) <= head + tail + 1:
        return text
    return "\n".join(lines[:head] + [f"... ({len(lines) - head - tail} lines)"] + lines[-tail:]) + "\n"


def _raw_or(raw: Mapping[str, str], name: str, copy: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(text, the file it is from): raw/<name> as captured, else results.json's copy (source None)."""
    return (raw[name], vocab.raw_path(name)) if name in raw else (copy, None)


def _delta(after: Mapping[str, Any], before: Mapping[str, Any], key: str) -> Optional[int]:
    if after.get(key) is None or before.get(key) is None:
        return None
    return int(after[key]) - int(before[key])


def series(rec: RecordingRecord) -> Dict[str, Any]:
    """The columns plots.Plotter.host draws, with the marks as its phases."""
    samples = rec.samples or ()
    out: Dict[str, Any] = {"t": [s.get("t") for s in samples]}
    for key in model.PROCESS_SERIES + model.SYSTEM_SERIES:
        out[key] = [s.get(key) for s in samples]
    out["phases"] = [(p.name, float(p.start), float(_phase_end(p, samples) or p.start))
                     for p in rec.phases if p.start is not None]
    return out


def title_command(command: List[str]) -> Optional[str]:
    """The command as the title shows it: whole when short, else the program's name and "…"."""
    if not command:
        return None
    whole = " ".join(shlex.quote(str(a)) for a in command)
    if len(whole) <= TITLE_COMMAND_MAX:
        return whole
    return os.path.basename(str(command[0])) + (" …" if len(command) > 1 else "")


def _reading_row(name: str, snap: Optional[Snapshot], by: str, t: Optional[float]) -> Dict[str, Any]:
    reading = snap.reading if snap is not None else {}
    row = {"name": name, "by": by, "t": model.seconds_text(t)}
    for key in READING_KEYS:
        row[key] = model.num(reading.get(key))
    return row


def _maps_view(raw: Mapping[str, str], snaps: Mapping[str, Snapshot], pid: Any,
               base: str = RECORDING_START) -> Optional[Dict[str, Any]]:
    """Growth by kind and the mappings that changed, from the maps at `base` (start, or the snapshot
    after the last exec) and at the end, as captured."""
    texts = {}
    for name in (base, RECORDING_END):
        snap = snaps.get(name)
        texts[name] = _raw_or(raw, vocab.maps_file(name), snap.maps if snap else None)
    (before_text, before_src), (after_text, after_src) = texts[base], texts[RECORDING_END]
    if not before_text or not after_text:
        return None
    before, after = parsers.parse_maps(before_text), parsers.parse_maps(after_text)
    totals = [{"kind": t.kind, "before": model.num(t.before_bytes), "after": model.num(t.after_bytes),
               "change": model.signed(t.change_bytes), "change_size": model.mib_text(abs(t.change_bytes)) if t.change_bytes else None,
               "grew": t.change_bytes > 0, "count": f"{t.before_count} → {t.after_count}"}
              for t in maps_growth.totals(before, after)]
    changes = maps_growth.changes(before, after)
    src = f"`{before_src or f'results.json snapshots.{base}.maps'}`, `{after_src or 'results.json snapshots.end.maps'}`"
    return {
        "totals": totals, "grew": [t["kind"] for t in totals if t["grew"]],
        "changes": [{"kind": c.kind, "change": c.change, "start": f"{c.start:08x}", "before": model.num(c.before_bytes),
                     "after": model.num(c.after_bytes), "delta": model.signed(c.change_bytes), "perms": c.perms,
                     "pathname": c.pathname or "(anonymous)"} for c in changes[:CHANGES_SHOWN]],
        "more": max(0, len(changes) - CHANGES_SHOWN), "count": len(changes), "src": src,
        "diff": model.code_block(model.maps_diff(before_text, after_text), "diff",
                                 f"{before_src or base} -> {after_src or 'end'}"),
        "end_from_t": model.seconds_text(snaps[RECORDING_END].maps_t if RECORDING_END in snaps else None),
        "pid": pid,
    }


def recording_view(inp: model.HostInput, lang: str = "en") -> Dict[str, Any]:
    """Everything recording.md.j2 shows."""
    data, raw = inp.data, inp.raw
    assert isinstance(data, RecordingRecord), "a run has its own view (model.host_view)"
    rec = data.recording
    host = data.host
    snaps = data.snapshots
    summary = data.summary
    samples = data.samples or ()
    tools = data.tools
    ticks = data.ticks
    offset = int(host.get("utc_offset_s") or 0)
    phases = data.phases
    by = {m.get("name"): m.get("by") for m in rec.get("marks") or []}
    rows = []
    for phase in phases:
        name = phase.name
        rows.append(dict(_reading_row(name, snaps.get(name), by.get(name, "start"), phase.start),
                         end=model.seconds_text(_phase_end(phase, samples)),
                         clock=model.clock_text(phase.start_wall, offset)))
    base = comparison_start(snaps, data.execs)
    if EXEC_SNAPSHOT in snaps:  # not a phase: a row of its own, where its time puts it
        ex = snaps[EXEC_SNAPSHOT]
        at = next((i for i, p in enumerate(phases) if p.start is not None and p.start > ex.t), len(rows))
        rows.insert(at, dict(_reading_row(EXEC_SNAPSHOT, ex, "exec", ex.t), end=None, clock=None))
    end_snap = snaps.get(RECORDING_END)
    # The process had exited at the end: its figures are the last sample's, taken at reading_t.
    end_last_sample = end_snap.reading_t if end_snap is not None else None
    if end_snap is not None:
        rows.append(dict(_reading_row(RECORDING_END, end_snap, "end" if end_last_sample is None else "end-last",
                                      end_snap.t if end_last_sample is None else end_last_sample),
                         end=None, clock=None))
    number = 0
    for row in rows:  # the phases are numbered as the plots number them; the snapshots that are no phase not
        if row["by"] not in ("exec", "end", "end-last"):
            number += 1
            row["n"] = number
        else:
            row["n"] = None
    start_r = model.reading_of(data, base)
    end_r = model.reading_of(data, RECORDING_END)
    last = next((s for s in reversed(samples) if s.get("rss_kib") is not None), {})
    command = rec.get("command") or []
    count = data.samples_count if data.samples_count is not None else len(samples)
    free_h = {}
    for name in (RECORDING_START, RECORDING_END):
        snap = snaps.get(name)
        text, src = _raw_or(raw, vocab.free_h_file(name), snap.free_h if snap else None)
        free_h[name] = model.code_block(text, "", src or f"results.json snapshots.{name}.free_h", declared.FREE_H.text)
    sar = tools.get("sar") or {}
    return {
        "name": inp.name,
        "hostname": host.get("hostname") or inp.name,
        "complete": bool(data.complete),
        "outcome": data.outcome,
        "stop": dict({"by": None, "status": None, "signal": None}, **(rec.get("stop") or {})),
        "mode": rec.get("mode"),
        "pid": rec.get("pid"),
        "command": " ".join(shlex.quote(str(a)) for a in command) if command else None,
        "title_command": title_command(list(command)),
        "agent_command": model.agent_command(data.agent.argv),
        "exit_status": rec.get("exit_status"),
        "signal": rec.get("signal"),
        "started": model.clock_text(data.started_wall, offset),
        "duration": model.seconds_text((rec.get("stop") or {}).get("duration_s")),
        "length": model.seconds_text(recording_length(data)),
        "marks": [{"name": m.get("name"), "by": m.get("by"), "t": model.seconds_text(m.get("t"))}
                  for m in rec.get("marks") or []],
        "phases": rows,
        "samples": model.num(count),
        "few_samples": count < FEW_SAMPLES,
        "smaller_interval": "0.1" if float(data.params.get("sample_interval_s") or 1.0) > 0.1 else "0.01",
        "end_last_sample": model.seconds_text(end_last_sample),
        "interval": model.seconds_text(data.params.get("sample_interval_s")),
        "ticks": {"late": model.num(ticks.get("late")), "missed": model.num(ticks.get("missed")),
                  "p99": ticks.get("lateness_ms_p99")},
        "peaks": {"vsz": model.num(summary.get("vsz_kib_peak")), "rss": model.num(summary.get("rss_kib_peak")),
                  "huge": model.num(summary.get("anon_huge_kib_peak")),
                  "min_flt": model.num(summary.get("min_flt_recorded")),
                  "maj_flt": model.num(summary.get("maj_flt_recorded"))},
        "change": {key: model.signed(_delta(end_r or last, start_r, key)) for key in ("vsz_kib", "rss_kib", "min_flt")},
        # the faults from the same two readings as the table's rows (not the summary's, which older
        # recordings counted from the first sample)
        "faults": {key: {"count": model.num(_delta(end_r or last, start_r, key)), "from": model.num(start_r.get(key)),
                         "to": model.num((end_r or last).get(key))} for key in ("min_flt", "maj_flt")},
        "maps": _maps_view(raw, snaps, rec.get("pid"), base),
        "compared_from": base,
        "compared_t": model.seconds_text(snaps[base].t if base in snaps else None),
        # the program as its exe names it when that was read (comm can stay the same: a pyenv shim's is
        # python3 before and after), else its comm
        "execs": [{"t": model.seconds_text(e.t), "before_t": model.seconds_text(e.before_t), "before": e.exe_before or e.comm_before, "after": e.exe_after or e.comm_after,
                   "exe_before": e.exe_before, "exe_after": e.exe_after} for e in data.execs or ()],
        "thp": {"mode": host.get("thp_enabled"), "peak": model.num(summary.get("anon_huge_kib_peak")),
                "sys_start": model.num(start_r.get("sys_anon_huge_kib")),
                "sys_end": model.num(end_r.get("sys_anon_huge_kib"))},
        "capture": model.code_block(excerpt(raw.get(vocab.CAPTURE_LOG)), "", vocab.raw_path(vocab.CAPTURE_LOG)
                                    if vocab.CAPTURE_LOG in raw else None),
        "free_h": free_h,
        "sar": model.code_block(excerpt(raw.get(vocab.SAR_R), 6, 4), "", vocab.raw_path(vocab.SAR_R), sar.get("command"))
        if raw.get(vocab.SAR_R) else None,
        "sar_reason": None if sar.get("available") else sar.get("reason"),
        "sar_rows": (sar.get("parse") or {}).get("rows"),
        "host": {"kernel": host.get("kernel"), "distro": host.get("distro"), "arch": host.get("arch"),
                 "page_size": model.num(host.get("page_size")), "thp_pmd": model.size_text(host.get("thp_pmd_size"))},
        "notes": model.note_texts(data.notes, lang),
        "raw_files": sorted(raw),
    }


def render_recording(envs: Dict[str, jinja2.Environment], plotter: Optional[plots.Plotter],
                     inp: model.HostInput, out_dir: str) -> List[str]:
    """README.md (en) and README.ja.md (ja), as `envs` asks, and plots/process.svg, plots/system.svg
    (shared by both languages) in the recording's directory; no plots when `plotter` is None."""
    from .render import PLOTS, READMES  # render imports this module lazily: no cycle at import

    assert isinstance(inp.data, RecordingRecord)
    written = plotter.host(inp.name, series(inp.data), os.path.join(out_dir, PLOTS)) if plotter else []
    pages = []
    for lang, env in envs.items():
        text = env.get_template(TEMPLATE).render(r=recording_view(inp, lang))
        path = os.path.join(out_dir, READMES[lang])
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        pages.append(path)
    return pages + written
