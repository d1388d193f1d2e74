"""Goal 5: rendering the writeup of a large comparison. One real agent run is replicated into N hosts of
S samples each (values perturbed per host), then `python -m labagent report` renders it, timed from
outside: 50 x 600 against the goal, and how it grows with hosts and samples."""
from __future__ import annotations

import copy
import json
import os
import pstats
import shutil
import subprocess
from typing import Any, Dict, Optional, Sequence, Tuple

from labagent import results

from . import stats
from .agent import run_agent
from .core import BenchError, Context, Result, Row, run_measured, tail

ITEM = "5 report rendering"
GOAL_S = 5.0
GOAL_SHAPE = (50, 600)
# Process values scaled per host so the hosts differ (and plots overlay rather than coincide).
SCALED = ("vsz_kib", "rss_kib", "rss_anon_kib", "anon_huge_kib", "min_flt")
# Where the renderer's time goes, by function (file suffix, name) in a cProfile of one render.
PROFILE_PARTS = {
    "plots (matplotlib SVG)": [("report/plots.py", "host"), ("report/plots.py", "index")],
    "model (figures for the text)": [("report/model.py", "host_view"), ("report/model.py", "index_view"),
                                     ("report/model.py", "series"), ("report/model.py", "host_row")],
    "templates (Jinja2)": [("jinja2/environment.py", "render")],
    "reading results.json": [("report/render.py", "read_host")],
}


def availability(ctx: Context) -> Optional[str]:
    """None when labagent.report.render can be imported with render_run; else why not, in one line."""
    log = os.path.join(ctx.tmp, "render-import.log")
    with open(log, "w", encoding="utf-8") as err:
        usage = run_measured([ctx.python, "-c", "from labagent.report.render import render_run"],
                             cwd=ctx.repo, stderr=err, timeout=60)
    return None if usage.returncode == 0 else f"labagent.report.render is not available: {tail(log, 1)}"


def scaled_sample(sample: Dict[str, Any], factor: float) -> Dict[str, Any]:
    out = dict(sample)
    for key in SCALED:
        if isinstance(out.get(key), (int, float)):
            out[key] = int(round(out[key] * factor))
    return out


def host_factor(index: int) -> float:
    """A per-host scale in 0.95..1.05, the same for the same index (the inputs stay reproducible)."""
    return 1.0 + ((index * 37) % 11 - 5) / 100.0


def build_run(source_dir: str, data: Dict[str, Any], run_dir: str, hosts: int, samples: int) -> None:
    """A run directory as the playbook leaves it: run.json and one directory per host."""
    all_samples = data["samples"]
    picked = [all_samples[i] for i in stats.spread_indices(len(all_samples), samples)]
    if len(picked) < samples:
        raise BenchError(f"the source run has {len(all_samples)} samples, fewer than {samples}")
    os.makedirs(run_dir)
    names = [f"h{i:02d}" for i in range(1, hosts + 1)]
    for index, name in enumerate(names, 1):
        host_dir = os.path.join(run_dir, name)
        shutil.copytree(os.path.join(source_dir, "raw"), os.path.join(host_dir, "raw"))
        shutil.copy(os.path.join(source_dir, "allocate.c"), host_dir)
        host = copy.deepcopy(data)
        host["host"]["hostname"] = name
        host["samples"] = [scaled_sample(s, host_factor(index)) for s in picked]
        results.write_samples_csv(os.path.join(host_dir, results.SAMPLES_CSV), host["samples"])
        with open(os.path.join(host_dir, results.RESULTS), "w", encoding="utf-8") as handle:
            json.dump(host, handle, indent=1)
    meta = {"command": "python -m bench (synthetic: one real run replicated)",
            "hosts": {name: {"status": "ok", "reason": None} for name in names},
            "lab_version": data["agent"]["version"], "params": {}, "run_id": os.path.basename(run_dir)}
    with open(os.path.join(run_dir, "run.json"), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)


def render(ctx: Context, run_dir: str, profile: Optional[str] = None) -> Dict[str, float]:
    argv = [ctx.python] + (["-m", "cProfile", "-o", profile] if profile else []) + \
        ["-m", "labagent", "report", run_dir, "--lang", "en"]
    log = run_dir + ".log"
    with open(log, "w", encoding="utf-8") as out:
        usage = run_measured(argv, cwd=ctx.repo, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    if usage.returncode != 0:
        raise BenchError(f"labagent report failed ({usage.returncode}): {tail(log)}")
    return {"wall_s": usage.wall_s, "cpu_s": usage.cpu_s}


def profile_shares(path: str) -> Dict[str, float]:
    """Cumulative seconds per part of the renderer, from a cProfile dump."""
    table = pstats.Stats(path).stats  # type: ignore[attr-defined]
    total = max(entry[3] for entry in table.values())
    shares: Dict[str, float] = {"total": total}
    for part, functions in PROFILE_PARTS.items():
        shares[part] = sum(entry[3] for (filename, _line, name), entry in table.items()
                           if any(filename.endswith(suffix) and name == func for suffix, func in functions))
    return shares


def run(ctx: Context) -> Result:
    result = Result("render", "Report rendering of a large comparison")
    reason = availability(ctx)
    if reason is not None:
        result.rows = [Row(ITEM, "50 hosts x 600 samples", "not available", f"<= {GOAL_S:.0f} s", stats.NOT_AVAILABLE)]
        result.raw = {"available": False, "reason": reason}
        result.notes.append(reason)
        return result
    source = os.path.join(ctx.tmp, "render-source")
    ctx.log("render: one real agent run at 10 ms to replicate")
    run_agent(ctx, source, size="32MiB", step="4MiB", step_interval=0.5, sample_interval=0.01, pause=1.0,
              tail_s=1.0, timeout=120)
    data = results.load_run(source)
    grid: Sequence[Tuple[int, int]] = ctx.pick([(10, 150), (10, 600), (25, 600), (50, 150), (50, 600)],
                                              [(10, 150), (10, 600), (50, 600)])
    import_only = run_measured([ctx.python, "-c", "import labagent.report.render"], cwd=ctx.repo, timeout=60)
    # One untimed render first: the first one after a while pays for cold caches (matplotlib's font cache,
    # the page cache of the venv), which no later render does.
    warm = os.path.join(ctx.tmp, "render-warm-up")
    build_run(source, data, warm, 2, 150)
    render(ctx, warm)
    shutil.rmtree(warm)
    repeats = ctx.pick(2, 1)
    timings: Dict[str, Dict[str, float]] = {}
    for hosts, samples in grid:
        run_dir = os.path.join(ctx.tmp, f"render-{hosts}x{samples}")
        build_run(source, data, run_dir, hosts, samples)
        ctx.log(f"render: {hosts} hosts x {samples} samples, {repeats} times")
        # The same directory rendered again rewrites the same files: each render does the full work.
        tries = [render(ctx, run_dir) for _ in range(repeats)]
        timings[f"{hosts}x{samples}"] = {key: stats.median([t[key] for t in tries]) for key in ("wall_s", "cpu_s")}
        timings[f"{hosts}x{samples}"]["wall_s_each"] = [t["wall_s"] for t in tries]  # type: ignore[assignment]
        shutil.rmtree(run_dir)
    profile_dir = os.path.join(ctx.tmp, "render-profile")
    build_run(source, data, profile_dir, 10, 600)
    profile = os.path.join(ctx.tmp, "render.prof")
    render(ctx, profile_dir, profile)
    shares = profile_shares(profile)
    shutil.rmtree(profile_dir)
    result.raw = {"available": True, "source_samples": len(data["samples"]), "import_only_s": import_only.wall_s,
                  "timings": timings, "profile_10x600": shares}
    _rows(result, timings, import_only.wall_s, shares)
    return result


def _per_host(timings: Dict[str, Dict[str, float]], samples: int) -> Optional[float]:
    points = [(int(key.split("x")[0]), t["wall_s"]) for key, t in timings.items() if key.endswith(f"x{samples}")]
    return stats.slope([float(h) for h, _ in points], [w for _, w in points])


def _rows(result: Result, timings: Dict[str, Dict[str, float]], import_s: float, shares: Dict[str, float]) -> None:
    goal_key = f"{GOAL_SHAPE[0]}x{GOAL_SHAPE[1]}"
    wall = timings[goal_key]["wall_s"]
    rows = [Row(ITEM, "50 hosts x 600 samples: `labagent report` wall time (median)", stats.fmt_duration(wall),
                f"<= {GOAL_S:.0f} s", stats.verdict(wall, GOAL_S))]
    for key, t in timings.items():
        if key != goal_key:
            hosts, samples = key.split("x")
            rows.append(Row(ITEM, f"{hosts} hosts x {samples} samples", stats.fmt_duration(t["wall_s"])))
    per_host_600 = _per_host(timings, 600)
    per_host_150 = _per_host(timings, 150)
    rows.append(Row(ITEM, "per extra host (600 / 150 samples)",
                    f"{stats.fmt_duration(per_host_600)} / {stats.fmt_duration(per_host_150)}"))
    rows.append(Row(ITEM, "fixed cost: Python + importing the renderer", stats.fmt_duration(import_s)))
    result.rows = rows
    result.raw["per_host_s"] = {"600": per_host_600, "150": per_host_150}
    total = shares["total"]
    result.details.append("Where rendering 10 hosts x 600 samples spends its time (cProfile, cumulative):")
    result.details.append("")
    result.details += ["| part | share |", "| --- | --- |"]
    parts = {part: seconds for part, seconds in shares.items() if part != "total"}
    parts["the rest (Python start, imports, writing files)"] = max(0.0, total - sum(parts.values()))
    for part, seconds in parts.items():
        result.details.append(f"| {part} | {stats.fmt_pct(seconds / total * 100 if total else None, signed=False)} |")
    if wall > GOAL_S:
        plots = shares.get("plots (matplotlib SVG)", 0.0)
        result.notes.append(
            f"Rendering grows by about {stats.fmt_duration(per_host_600)} per host and barely with samples "
            f"({stats.fmt_duration(per_host_150)} per host at 150): the per-host work, not the data, is the cost; "
            f"{stats.fmt_pct(plots / total * 100 if total else None, signed=False)} of it is drawing the two "
            f"matplotlib SVGs per host, in one process on one core.")
