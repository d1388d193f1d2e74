"""Writes the writeups of a fetched run: `<host>/README.md` and `<host>/plots/*.svg` per host, and
`<run>/README.md` with `<run>/plots/*.svg` comparing the hosts. Reads files, asks model.py for the
figures, fills the templates, asks plots.py for the SVGs."""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import jinja2

from .. import results, vocab
from ..errors import LabError
from ..record import RecordError, RecordingRecord
from ..vocab import RECORDING_KIND
from . import model, plots

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
RUN_JSON = vocab.RUN_JSON
README = "README.md"
# Each language's writeup: English is README.md (what a browser of the directory shows first).
READMES = {"en": "README.md", "ja": "README.ja.md"}
PLOTS = "plots"
# raw/ files the writeup shows (anything else stays in raw/ for the reader).
RAW_SUFFIXES = (".txt", ".log", ".stderr")
# A run of this many hosts or more is drawn by several processes (each builds its figures once).
PARALLEL_MIN_HOSTS = 8
MAX_WORKERS = 8


def languages(lang: Union[str, Sequence[str]]) -> List[str]:
    """`en`, `ja`, `en,ja` or a list of them: the languages to write, each once, in LANGS order."""
    items = lang.split(",") if isinstance(lang, str) else list(lang)
    items = [str(item).strip() for item in items if str(item).strip()]
    bad = [item for item in items if item not in model.LANGS]
    if bad or not items:
        raise LabError(f"--lang {','.join(bad) or lang!r} is not one of {', '.join(model.LANGS)} (or several, comma-separated)")
    return [item for item in model.LANGS if item in items]


def environment(lang: str, templates: Optional[str] = None) -> jinja2.Environment:
    """Built-in templates for `lang`; a `templates` directory overrides them by file name (its
    `<lang>/` subdirectory first, then the directory itself)."""
    if lang not in model.LANGS:
        raise LabError(f"--lang {lang!r} is not one of {', '.join(model.LANGS)}")
    loaders: List[jinja2.BaseLoader] = []
    if templates:
        if not os.path.isdir(templates):
            raise LabError(f"--templates {templates} is not a directory")
        loaders.append(jinja2.FileSystemLoader([os.path.join(templates, lang), templates]))
    loaders.append(jinja2.FileSystemLoader(os.path.join(TEMPLATES, lang)))  # words.md.j2, variants/: prose
    # host.md.j2 and index.md.j2: one structure for every language (common/), unless DIR replaces them
    loaders.append(jinja2.FileSystemLoader(os.path.join(TEMPLATES, "common")))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES))  # common/: section partials shared by the languages
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=False, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


# A Japanese character: kana, CJK ideographs, CJK and full-width punctuation.
_JA_CHAR = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_JA_CLOSERS = "、。）」』"
# A line that starts its own block: it is never the continuation of the paragraph above it.
_BLOCK_START = re.compile(r"\s*(?:[-*+] |\d+\. |#|>|\||```|~~~|$)")


def join_ja_soft_breaks(text: str) -> str:
    """Japanese Markdown: joins a soft line break inside a paragraph where it follows 、。）」』 or lies
    between two Japanese characters, since a browser shows such a break as a space ("ない。 マシン").
    Fenced code blocks, tables, headings, list items, quotes, hard breaks and blank lines are kept."""
    lines = text.split("\n")
    out: List[str] = []
    fence: Optional[str] = None
    joinable = False  # the last line in `out` is paragraph text that a next line may continue
    for line in lines:
        stripped = line.lstrip()
        if fence is not None:
            out.append(line)
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            out.append(line)
            joinable = False
            continue
        if joinable and not _BLOCK_START.match(line):
            prev = out[-1]
            last, first = prev[-1:], stripped[:1]
            if last in _JA_CLOSERS or (_JA_CHAR.match(last) and _JA_CHAR.match(first)):
                out[-1] = prev + stripped
                continue
        out.append(line)
        # a hard break (two trailing spaces or a backslash) and table rows stay as they are
        joinable = bool(stripped) and not stripped.startswith(("|", "#")) \
            and not line.endswith(("  ", "\\"))
    return "\n".join(out)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def read_host(host_dir: str, name: str, status: Optional[Dict[str, Any]] = None,
              run: Optional[Dict[str, Any]] = None) -> model.HostInput:
    """One agent directory: results.json as its typed record (samples from samples.jsonl), raw/,
    allocate.c."""
    data = results.load_record(host_dir)
    raw_dir = os.path.join(host_dir, vocab.RAW_DIR)
    raw: Dict[str, str] = {}
    if os.path.isdir(raw_dir):
        for entry in sorted(os.listdir(raw_dir)):
            if entry.endswith(RAW_SUFFIXES) and os.path.isfile(os.path.join(raw_dir, entry)):
                raw[entry] = _read_text(os.path.join(raw_dir, entry))
    source_path = os.path.join(host_dir, vocab.WORKLOAD_SOURCE)
    source = _read_text(source_path) if os.path.isfile(source_path) else None
    return model.HostInput(name=name, data=data, raw=raw, source=source, status=status, run=run)


def _write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def render_host(envs: Dict[str, jinja2.Environment], plotter: Optional[plots.Plotter], inp: model.HostInput,
                host_dir: str) -> Tuple[List[str], Dict[str, Any]]:
    """Writes one host's writeup in each language of `envs` (README.md, README.ja.md) and its plots,
    which carry no language and serve both; returns the paths and the plots' series (for the index)."""
    series = model.series(inp.data)
    # no plotter: the Markdown only (the writeup links plots/ all the same)
    written = plotter.host(inp.name, series, os.path.join(host_dir, PLOTS)) if plotter else []
    readmes = []
    for lang, env in envs.items():
        view = model.host_view(inp, lang)
        text = env.get_template("host.md.j2").render(h=view, langs=list(envs))
        if lang == "ja":
            text = join_ja_soft_breaks(text)
        readmes.append(_write(os.path.join(host_dir, READMES[lang]), text))
    return readmes + written, series


def _host_names(run_dir: str, meta: Optional[Dict[str, Any]]) -> List[str]:
    names = {entry for entry in os.listdir(run_dir)
             if os.path.isdir(os.path.join(run_dir, entry)) and not entry.startswith(".") and entry != PLOTS}
    names.update((meta or {}).get("hosts") or {})
    return sorted(names)


def _render_chunk(jobs: List[Tuple[str, str, Optional[Dict[str, Any]], Optional[Dict[str, Any]]]], langs: List[str],
                  templates: Optional[str], draw: bool = True) -> List[Tuple[List[str], Optional[Dict[str, Any]], Dict[str, Any]]]:
    """Renders some hosts of a run with one environment per language and one Plotter (in a worker
    process, or here): per host, the paths written, the plots' series and the index's row."""
    envs = {lang: environment(lang, templates) for lang in langs}
    plotter = plots.Plotter() if draw else None
    out = []
    for host_dir, name, status, meta in jobs:
        entries = (meta or {}).get("entries")
        try:
            inp = read_host(host_dir, name, status, meta)
        except (json.JSONDecodeError, UnicodeDecodeError, RecordError) as exc:
            out.append(([], None, model.host_row(name, None, {"status": "failed",
                                                             "reason": f"results.json is unreadable: {exc}"},
                                                 model.entry_key(name, entries, None))))
            continue
        paths, series = render_host(envs, plotter, inp, host_dir)
        out.append((paths, series, model.host_row(name, inp.data, status, model.entry_key(name, entries, inp.data))))
    return out


def _workers(count: int) -> int:
    """Processes to render `count` hosts with: drawing SVGs is CPU-bound and hosts are independent."""
    if count < PARALLEL_MIN_HOSTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, count // 2, MAX_WORKERS))


def _render_hosts(jobs: List[Tuple[str, str, Optional[Dict[str, Any]], Optional[Dict[str, Any]]]], lang: List[str],
                  templates: Optional[str], draw: bool = True) -> List[Tuple[List[str], Optional[Dict[str, Any]], Dict[str, Any]]]:
    workers = _workers(len(jobs))
    if workers == 1:
        return _render_chunk(jobs, lang, templates, draw)
    # Contiguous chunks keep the order; each worker builds its figures once for its chunk. The
    # output of a host does not depend on which worker drew it (tests check a host alone and in a run).
    # This process draws the first chunk itself while forked workers draw the others.
    size = -(-len(jobs) // workers)
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(chunks) - 1, mp_context=context) as pool:
        others = pool.map(_render_chunk, chunks[1:], [lang] * (len(chunks) - 1), [templates] * (len(chunks) - 1),
                          [draw] * (len(chunks) - 1))
        first = _render_chunk(chunks[0], lang, templates, draw)
        return first + [item for chunk in others for item in chunk]


def _overlay(rows: List[Dict[str, Any]], drawn: Dict[str, Dict[str, Any]],
             variants: Any = None) -> List[Tuple[str, Dict[str, Any]]]:
    """The series the index overlays: every host's; with several variants or repeats per host, one
    line per host and variant (its first complete repeat, else its first), named `host · variant`."""
    if not model.is_grouped(rows):
        return [(row["name"], drawn[row["name"]]) for row in rows if row["name"] in drawn]
    picked: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (not r["ok"], r["repeat"], r["name"])):
        if row["name"] in drawn:
            picked.setdefault((row["host"], row["variant"]), row)
    order = model.variant_order(rows, variants)
    return [(f"{host} · {variant}", drawn[picked[(host, variant)]["name"]])
            for host, variant in sorted(picked, key=lambda hv: (hv[0], order.index(hv[1])))]


def render_run(path: str, lang: Union[str, Sequence[str]] = "en", templates: Optional[str] = None,
               draw: bool = True) -> List[str]:
    """Renders one host (a directory with results.json) or a whole run (runs/<run_id>/ with one
    directory per host, and run.json when the controller wrote one), in one language or several
    (`en,ja`: README.md and README.ja.md side by side). `draw=False` writes the Markdown only (the
    golden tests: the plots have their own). Returns the paths written."""
    langs = languages(lang)
    if not os.path.isdir(path):
        raise LabError(f"{path} is not a directory (expected runs/<run_id> or one host's directory)")
    envs = {code: environment(code, templates) for code in langs}
    path = os.path.normpath(path)
    if os.path.isfile(os.path.join(path, results.RESULTS)):
        inp = read_host(path, os.path.basename(path))
        plotter = plots.Plotter() if draw else None
        if isinstance(inp.data, RecordingRecord):  # `labagent record`: its own writeup
            from .recording import render_recording
            return render_recording(envs, plotter, inp, path)
        written, _series = render_host(envs, plotter, inp, path)
        return written

    meta: Optional[Dict[str, Any]] = None
    if os.path.isfile(os.path.join(path, RUN_JSON)):
        try:
            meta = json.loads(_read_text(os.path.join(path, RUN_JSON)))
        except json.JSONDecodeError as exc:
            raise LabError(f"{os.path.join(path, RUN_JSON)} is not JSON ({exc.msg} at line {exc.lineno})") from None
    names = _host_names(path, meta)
    if not names:
        raise LabError(f"{path} holds no results.json and no host directories: nothing to report")
    if (meta or {}).get("kind") == RECORDING_KIND:  # run.yml -e lab_command=...: a recording per host
        return _render_recordings(path, meta or {}, names, envs, draw)
    statuses = (meta or {}).get("hosts") or {}
    rows: Dict[str, Dict[str, Any]] = {}
    jobs = []
    for name in names:
        host_dir = os.path.join(path, name)
        if os.path.isfile(os.path.join(host_dir, results.RESULTS)):
            jobs.append((host_dir, name, statuses.get(name), meta))
        else:
            rows[name] = model.host_row(name, None, statuses.get(name),
                                        model.entry_key(name, (meta or {}).get("entries"), None))
    written: List[str] = []
    drawn: Dict[str, Dict[str, Any]] = {}
    for (_dir, name, _status, _meta), (paths, series, row) in zip(jobs, _render_hosts(jobs, langs, templates, draw)):
        written.extend(paths)
        rows[name] = row
        if series is not None:
            drawn[name] = series
    ordered = [rows[name] for name in names]
    overlay = _overlay(ordered, drawn, ((meta or {}).get("params") or {}).get("variants"))
    view = model.index_view(os.path.basename(path), meta, ordered, plotted=bool(overlay))
    plotter = plots.Plotter()
    index_plots = plotter.index(overlay, os.path.join(path, PLOTS), grouped=view["grouped"]) if overlay and draw else []
    if draw and view["grouped"] and view["repeats"]["plot"]:
        index_plots.append(plotter.spread(view["repeats"]["plot"], os.path.join(path, PLOTS)))
    for code, env in envs.items():
        others = [{"lang": other, "readme": READMES[other]} for other in langs if other != code]
        text = env.get_template("index.md.j2").render(run=view, others=others)
        written.append(_write(os.path.join(path, READMES[code]), text))
    written.extend(index_plots)
    return written


RECORDING_INDEX = "recording_index.md.j2"


def _render_recordings(path: str, meta: Dict[str, Any], names: List[str], envs: Dict[str, jinja2.Environment],
                       draw: bool) -> List[str]:
    """A run that recorded lab_command on every host (run.json kind `recording`): each host's recording
    writeup (labagent.report.recording) and the run's index of them, in each language of `envs`."""
    from .index import recording_row, recordings_index_view
    from .recording import recording_view, render_recording
    from .recording import series as recording_series

    statuses = meta.get("hosts") or {}
    plotter = plots.Plotter() if draw else None
    written: List[str] = []
    rows: List[Dict[str, Any]] = []
    drawn: List[Tuple[str, Dict[str, Any]]] = []
    for name in names:
        host_dir = os.path.join(path, name)
        view = None
        status = statuses.get(name)
        if os.path.isfile(os.path.join(host_dir, results.RESULTS)):
            try:
                inp = read_host(host_dir, name, status, meta)
            except (json.JSONDecodeError, UnicodeDecodeError, RecordError) as exc:
                status = {"status": "failed", "reason": f"results.json is unreadable: {exc}"}
            else:
                written.extend(render_recording(envs, plotter, inp, host_dir))
                view = recording_view(inp, next(iter(envs)))
                drawn.append((name, recording_series(inp.data)))
        rows.append(recording_row(name, view, status))
    index_plots = [plotter.recordings(drawn, os.path.join(path, PLOTS))] if plotter and drawn else []
    run = recordings_index_view(os.path.basename(path), meta, rows, plotted=bool(index_plots))
    for code, env in envs.items():
        others = [{"lang": other, "readme": READMES[other]} for other in envs if other != code]
        text = env.get_template(RECORDING_INDEX).render(run=run, others=others)
        written.append(_write(os.path.join(path, READMES[code]), text))
    return written + index_plots
