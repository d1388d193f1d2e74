"""SVG plots of a run: per host, the process (VSZ, RSS, faults) and the system (used, available,
commit) over time with phases marked; per run, every host's RSS and faults overlaid.

Deterministic: Agg, a fixed svg.hashsalt, no Date metadata, text kept as text (svg.fonttype none),
fixed sizes. The per-host figures are built once and refilled for each host: building a figure
costs as much as drawing it, and a run may have dozens of hosts.
"""
from __future__ import annotations

import io
import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402  (matplotlib's own dependency)
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.markers import TICKDOWN, TICKLEFT  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..vocab import PHASES  # noqa: E402

# Text that may be Japanese (host names, and rows named after them) names a CJK-capable family first:
# the SVG keeps text as text, so the reader's browser picks the first family it has, and DejaVu Sans
# has no kana or kanji. Such text asks for the generic "sans-serif", which the SVG spells out as this
# list; matplotlib measures it with the first of them it finds (DejaVu Sans where none is installed).
CJK_FAMILIES = ["Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", "Meiryo", "Source Han Sans JP"]
NAME_FONT = "sans-serif"
RC = {
    "svg.hashsalt": "malloc-lab",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.sans-serif": CJK_FAMILIES + ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    # No grid: gridlines are a Line2D per tick and cost as much as the data; phases are shaded.
    "axes.grid": False,
    "lines.linewidth": 1.4,
    "path.simplify": True,
    # A fixed title position: matplotlib otherwise measures every axis to place it, on every draw.
    "axes.titley": 1.0,
}
SAVE = {"format": "svg", "metadata": {"Date": None}}
KIB_PER_MIB = 1024.0
PHASE_SHADE = ("#f2f2f2", "#ffffff")
COLORS = {"vsz": "#1f77b4", "rss": "#d62728", "huge": "#9467bd", "faults": "#2ca02c",
          "used": "#8c564b", "rss_process": "#d62728", "available": "#1f77b4", "commit": "#ff7f0e"}
# A step between known points this many times the usual one is a gap in the capture.
GAP_FACTOR = 3.0
# Lines of at most this many points also mark each point.
MARKERS_UP_TO = 60
# The per-host legend's rows, in points from the top of their axes.
LEGEND_TOP_PT = 10.0
LEGEND_ROW_PT = 12.0
# Up to this many hosts the overlays name each host; beyond, lines are coloured by fault mode.
LEGEND_HOSTS = 12
MODE_COLORS = {"huge": "#9467bd", "base": "#1f77b4", "mixed": "#ff7f0e", "prefaulted": "#2ca02c", "unknown": "#7f7f7f"}
# The spread plot: a colour per variant, in allocate.c's order (tab10, cycled past ten).
VARIANT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")
SPREAD_ROW_IN = 0.26  # inches per host x variant row
THOUSANDS = FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _column(values: Sequence[Optional[float]], scale: float = 1.0) -> np.ndarray:
    array = np.array(values, dtype=float)  # None -> nan
    return array / scale if scale != 1.0 else array


def _finite(t: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Points in time order, a missing reading left as a break in the line, not drawn as a zero. Where
    points are far apart (a capture that stopped and started again, like the seed's three sar runs),
    the line breaks instead of drawing a slope nobody measured."""
    # A sample without this reading (a second capture.sh skipped, a second sar did not run) breaks
    # the line there: nan stays in, and matplotlib draws no segment across it.
    keep = np.isfinite(t)
    t, y = t[keep], y[keep]
    if t.size > 2:
        steps = np.diff(t)
        gaps = np.nonzero(steps > GAP_FACTOR * np.median(steps))[0]
        if gaps.size:
            t = np.insert(t, gaps + 1, np.nan)
            y = np.insert(y, gaps + 1, np.nan)
    return t, y


def _runs(x: np.ndarray, y: np.ndarray) -> List[np.ndarray]:
    """A line's unbroken stretches (split where _finite left a gap) as (n, 2) arrays for a LineCollection."""
    breaks = np.nonzero(~(np.isfinite(x) & np.isfinite(y)))[0]
    out = []
    for part in np.split(np.column_stack([x, y]), breaks):
        part = part[np.isfinite(part).all(axis=1)]
        if len(part):
            out.append(part)
    return out


def _since(values: np.ndarray, start: int = 0) -> np.ndarray:
    """Each value minus the first known one from index `start` on (else the first known one at all):
    the machine's totals are large, the lab's changes small."""
    known = values[start:][np.isfinite(values[start:])]
    if not known.size:
        known = values[np.isfinite(values)]
    return values - known[0] if known.size else values


def reference_index(t: np.ndarray, phases: Sequence[Tuple[str, float, float]]) -> int:
    """The sample the whole-machine plot measures change from: the last one of `baseline`, right
    before malloc (the machine's figures move by several MiB while the agent and sar start, and the
    writeup reads the call's effect from there), else the first."""
    if len(phases) > 1 and phases[0][0] == "baseline":
        before = np.nonzero(t < phases[1][1])[0]
        if before.size:
            return int(before[-1])
    return 0


def _limits(arrays: Sequence[np.ndarray], floor: Optional[float] = None) -> Tuple[float, float]:
    values = [a[np.isfinite(a)] for a in arrays]
    values = [v for v in values if v.size]
    if not values:
        return (0.0, 1.0)
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if floor is not None:
        lo = min(lo, floor)
    pad = (hi - lo) * 0.06 or max(abs(hi) * 0.05, 1.0)
    return (lo - pad if floor is None or lo - pad > floor else floor, hi + pad)


def _references(ref: Optional[Dict[str, Any]]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """The faults axis's reference lines over the touch phase, from min_flt at `allocated`: what one
    fault per page and one fault per huge page would have counted by the end of the writes."""
    if not ref:
        return {}
    x = np.array([ref["start"], ref["end"]], dtype=float)
    return {"ref_page": (x, np.array([ref["min_flt"], ref["min_flt"] + ref["pages"]], dtype=float)),
            "ref_huge": (x, np.array([ref["min_flt"], ref["min_flt"] + ref["huge_pages"]], dtype=float))}


def _save(fig: Figure, path: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, **SAVE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def tick_values(lo: float, hi: float, bins: int) -> List[float]:
    """Round tick positions inside [lo, hi], as matplotlib would choose them."""
    span = hi - lo
    return [float(v) for v in MaxNLocator(bins).tick_values(lo, hi) if lo - 1e-9 * span <= v <= hi + 1e-9 * span]


def tick_labels(values: Sequence[float]) -> List[str]:
    """'0', '2,500', '0.5': thousands separators, and no more decimals than the steps need."""
    for decimals in range(4):
        texts = [f"{v:,.{decimals}f}" for v in values]
        if all(abs(float(text.replace(",", "")) - v) < 1e-9 for text, v in zip(texts, values)):
            return ["0" if text.strip("-0.,") == "" else text for text in texts]
    return [f"{v:,.3f}" for v in values]


class _Pool:
    """Texts made once and reused: per host only their words, places and visibility change (making
    artists costs more than drawing them). Unused ones are hidden, and hidden artists draw nothing."""

    def __init__(self, ax: Any, size: int, transform: Any, **style: Any) -> None:
        self.texts = [ax.text(0.0, 0.0, "", transform=transform, visible=False, **style) for _ in range(size)]

    def fill(self, items: Sequence[Tuple[float, float, str]]) -> None:
        for index, text in enumerate(self.texts):
            if index < len(items):
                x, y, words = items[index]
                text.set_position((x, y))
                text.set_text(words)
                text.set_visible(True)
            else:
                text.set_visible(False)


# The key naming the phases, under a host figure's title: at most this many characters a line (the
# width of the figure at its 8-point font) and this many lines (the room between title and axes).
KEY_LINE_CHARS = 90
KEY_LINES = 2


def phase_key(names: Sequence[str]) -> str:
    """`1 start   2 grown   ...`: each phase's number and name, wrapped between entries; what does not fit
    in KEY_LINES lines ends in `…` (every phase keeps its number on its band, as the phase table has it)."""
    lines: List[str] = []
    for number, name in enumerate(names, start=1):
        entry = f"{number} {name}"
        if lines and len(lines[-1]) + 3 + len(entry) <= KEY_LINE_CHARS:
            lines[-1] += "   " + entry
        elif len(lines) < KEY_LINES:
            lines.append(entry)
        else:
            lines[-1] += "   …"
            break
    return "\n".join(lines)


class _HostFigure:
    """A figure of stacked axes sharing time, refilled per host: the lines' data, the phases'
    shading and names, the ticks, the legend.

    Ticks are drawn here (one marker line and a text per label) instead of by matplotlib's Axis,
    whose per-tick artists cost more than everything else in the figure together; every artist is
    made once, when the figure is, so what a host's SVG holds never depends on the hosts before it."""

    MAX_PHASES = len(PHASES)  # the experiment's; a recording's marks may make more (`phases`)

    def __init__(self, rows: Sequence[Sequence[Tuple[str, str, str]]], ylabels: Sequence[str], xlabel: str,
                 height: float, phases: int = MAX_PHASES) -> None:
        self.height = height
        self.phases = phases  # how many phases this figure shades and numbers
        self.fig = Figure(figsize=(8.0, height), dpi=100)
        # Margins in inches, whatever the height: the title and phase names above, the time axis below.
        self.fig.subplots_adjust(left=0.11, right=0.97, top=1 - 0.8 / height, bottom=0.5 / height, hspace=0.12)
        self.axes = self.fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
        self.lines: Dict[str, Any] = {}
        self.spans: List[List[Any]] = []
        self.ytick_marks: List[Any] = []
        self.xtick_marks: List[Any] = []
        self.ytick_labels: List[_Pool] = []
        self.legend_lines: List[List[Any]] = []
        self.legend_texts: List[_Pool] = []
        for ax, specs, ylabel in zip(self.axes, rows, ylabels):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_autoscale_on(False)
            self.spans.append([ax.add_patch(Rectangle((0.0, 0.0), 0.0, 1.0, transform=ax.get_xaxis_transform(),
                                                      color=PHASE_SHADE[i % 2], zorder=0, linewidth=0,
                                                      visible=False)) for i in range(self.phases)])
            for key, label, color in specs:
                style = {"huge": "--", "ref_page": ":", "ref_huge": "-."}.get(key, "-")
                (self.lines[key],) = ax.plot([], [], style, color=color, label=label,
                                             linewidth=1.0 if key.startswith("ref_") else None)
            # Tick labels sit a few points off the axes whatever the axes' height.
            (mark,) = ax.plot([], [], linestyle="None", marker=TICKLEFT, color="black", markersize=3.5,
                              markeredgewidth=0.8, transform=ax.get_yaxis_transform(), clip_on=False)
            self.ytick_marks.append(mark)
            (mark,) = ax.plot([], [], linestyle="None", marker=TICKDOWN, color="black", markersize=3.5,
                              markeredgewidth=0.8, transform=ax.get_xaxis_transform(), clip_on=False)
            self.xtick_marks.append(mark)
            self.ytick_labels.append(_Pool(ax, 10, offset_copy(ax.get_yaxis_transform(), fig=self.fig, x=-5,
                                                               units="points"), ha="right", va="center", fontsize=9))
            ax.text(0, 0.5, ylabel, rotation=90, ha="center", va="center", fontsize=9,
                    transform=offset_copy(ax.transAxes, fig=self.fig, x=-50, units="points"))
            # The legend: a sample of each line with data and its name, top left (matplotlib's
            # Legend lays itself out as nested boxes on every draw, at many times the cost).
            count = len(specs) if len(specs) > 1 else 0
            samples = []
            for row in range(count):
                place = offset_copy(ax.transAxes, fig=self.fig, x=8, y=-LEGEND_TOP_PT - LEGEND_ROW_PT * row,
                                    units="points")
                (sample,) = ax.plot([0.0, 0.045], [1.0, 1.0], transform=place, visible=False)
                samples.append((sample, place))
            self.legend_lines.append(samples)
            pool = _Pool(ax, count, ax.transAxes, fontsize=8, va="center", ha="left")
            for text, (_sample, place) in zip(pool.texts, samples):
                text.set_transform(place)
            self.legend_texts.append(pool)
        last = self.axes[-1]
        self.xtick_labels = _Pool(last, 16, offset_copy(last.get_xaxis_transform(), fig=self.fig, y=-5,
                                                        units="points"), ha="center", va="top", fontsize=9)
        last.text(0.5, 0, xlabel, ha="center", va="top", fontsize=9,
                  transform=offset_copy(last.transAxes, fig=self.fig, y=-20, units="points"))
        top = self.axes[0]
        self.phase_names = _Pool(top, self.phases, top.get_xaxis_transform(), fontsize=8, va="bottom",
                                 ha="center", color="#555555")
        self.title = self.fig.suptitle("", x=0.11, ha="left", y=1 - 0.08 / height, va="top", fontsize=10,
                                       fontfamily=NAME_FONT)
        # The key to the shading: a grey and a white swatch, then each phase's number and name.
        key_y = 1 - 0.42 / height
        for offset, shade in enumerate(PHASE_SHADE):
            self.fig.patches.append(Rectangle((0.11 + 0.018 * offset, key_y - 0.012), 0.016, 0.024 * 3.6 / height,
                                              transform=self.fig.transFigure, facecolor=shade, edgecolor="#999999",
                                              linewidth=0.5, figure=self.fig))
        self.phase_key = self.fig.text(0.155, key_y, "", ha="left", va="center", fontsize=8, color="#555555")

    def _headroom(self, index: int, rows: int, ylim: Tuple[float, float]) -> Tuple[float, float]:
        """Raises the top of the y range so that the lines stay below the legend's rows (drawn inside
        the axes, top left, 12 points apart): the legend never covers the data."""
        if not self.legend_lines[index] or rows < 1:
            return ylim
        height_pt = self.axes[index].get_position().height * self.height * 72.0
        band = min((LEGEND_TOP_PT + LEGEND_ROW_PT * rows) / height_pt, 0.5)
        lo, hi = ylim
        return (lo, lo + (hi - lo) / (1.0 - band))

    def _legend(self, index: int, keys: Sequence[str]) -> None:
        samples, texts = self.legend_lines[index], self.legend_texts[index]
        for row, (sample, _place) in enumerate(samples):
            if row < len(keys):
                line = self.lines[keys[row]]
                sample.set_linestyle(line.get_linestyle())
                sample.set_color(line.get_color())
                sample.set_marker(line.get_marker())
                sample.set_markevery([1])
                sample.set_visible(True)
            else:
                sample.set_visible(False)
        texts.fill([(0.055, 1.0, self.lines[k].get_label()) for k in keys])

    def fill(self, title: str, t: np.ndarray, values: Dict[str, np.ndarray],
             phases: Sequence[Tuple[str, float, float]], floors: Sequence[Optional[float]]) -> None:
        for key, line in self.lines.items():
            if key.startswith("ref_"):  # a reference line: its own (t, y) points, drawn as given
                x, y = values.get(key) or (np.array([]), np.array([]))
                line.set_data(x, y)
                line.set_visible(bool(len(y)))
                continue
            x, y = _finite(t, values[key])
            line.set_data(x, y)
            line.set_visible(bool(np.isfinite(y).any()))
            line.set_marker("." if 0 < np.isfinite(y).sum() <= MARKERS_UP_TO else "None")
        end = max([float(np.nanmax(t)) if t.size and np.isfinite(t).any() else 0.0] + [p[2] for p in phases])
        start = min([0.0] + [p[1] for p in phases])
        if end <= start:
            end = start + 1.0
        self.axes[0].set_xlim(start, end)
        xs = tick_values(start, end, 8)
        for index, (ax, floor) in enumerate(zip(self.axes, floors)):
            keys = [k for k, line in self.lines.items() if line.axes is ax and line.get_visible()]
            arrays = [values[k][1] if k.startswith("ref_") else values[k] for k in keys]
            data = [a for k, a in zip(keys, arrays) if not k.startswith("ref_")]
            top = max((float(np.nanmax(a)) for a in data if np.isfinite(a).any()), default=0.0)
            # a reference far above the measured line (one fault per page, under huge pages) runs off
            # the top rather than squash the measurement: the y range holds every measured series
            arrays = [a for k, a in zip(keys, arrays)
                      if not (k.startswith("ref_") and len(a) and float(np.nanmax(a)) > 4 * max(top, 1.0))]
            ylim = self._headroom(index, len(keys), _limits(arrays, floor))
            ax.set_ylim(*ylim)
            ys = tick_values(ylim[0], ylim[1], 4)
            self.ytick_marks[index].set_data([0.0] * len(ys), ys)
            self.ytick_labels[index].fill([(0.0, y, text) for y, text in zip(ys, tick_labels(ys))])
            self.xtick_marks[index].set_data(xs, [0.0] * len(xs))
            for number, span in enumerate(self.spans[index]):
                if number < len(phases):
                    span.set_x(phases[number][1])
                    span.set_width(phases[number][2] - phases[number][1])
                    span.set_visible(True)
                else:
                    span.set_visible(False)
            if self.legend_lines[index]:
                self._legend(index, keys)
        self.xtick_labels.fill([(x, 0.0, text) for x, text in zip(xs, tick_labels(xs))])
        # Phases numbered on their bands (centred, so neighbours do not overlap), named in the key
        # under the title: a name on a narrow band would be clipped or stacked.
        self.phase_names.fill([((lo + hi) / 2, 1.01, str(number))
                               for number, (_name, lo, hi) in enumerate(phases[:self.phases], start=1)])
        self.phase_key.set_text(phase_key([name for name, _lo, _hi in phases[:self.phases]]))
        self.title.set_text(title)


# The words on the plots. The plots serve every language's writeup, so they carry no prose: the
# kernel's and the tools' own names (VSZ, min_flt, Committed_AS), phase names and units ("any").
# The per-language sets are kept for templates that override the plots' captions.
LABELS = {
    "any": {
        "process": "{name}: VSZ, RSS, AnonHugePages, min_flt", "mib": "MiB", "faults": "min_flt",
        "minor": "min_flt", "system": "{name}: /proc/meminfo, Δ since t = {t0} s",
        "since_first": "Δ MiB", "used": "used (MemTotal − MemFree − Buffers − Cached − SReclaimable)",
        "available": "MemAvailable", "commit": "Committed_AS", "seconds": "t (s)",
        "rss_process": "RSS (PID)", "ref_page": "1 / {kib} KiB page", "ref_huge": "1 / {kib} KiB huge page",
        "rss_title": "RSS", "rss": "RSS MiB", "faults_title": "min_flt",
        "faults_log": "min_flt (log)", "since_touch": "t − t(touching) (s)",
        "huge": "fault_mode: huge", "base": "fault_mode: base", "mixed": "fault_mode: mixed",
        "prefaulted": "fault_mode: prefaulted", "unknown": "fault_mode: ?",
        "rss_title_grouped": "RSS (host · variant, r1)", "faults_title_grouped": "min_flt (host · variant, r1)",
        "spread_title": "median ◆, min – max |, repeats ·",
        "spread_faults": "min_flt / MiB (log)", "spread_step": "ms / step (median)",
    },
    "en": {
        "process": "{name}: the process (VSZ, RSS, faults)", "mib": "MiB", "faults": "minor faults (min_flt)",
        "minor": "minor faults", "system": "{name}: the whole machine's memory, change since t = {t0} s",
        "since_first": "change, MiB", "used": "used", "available": "available",
        "commit": "Committed_AS (commit charge)", "seconds": "seconds since the run began",
        "rss_title": "RSS per host", "rss": "RSS MiB", "faults_title": "minor faults per host",
        "faults_log": "minor faults (min_flt, log scale)", "since_touch": "seconds since touching began",
        "huge": "huge pages (a fault per huge page)", "base": "one fault per page", "mixed": "mixed",
        "prefaulted": "prefaulted (faults at allocation)", "unknown": "fault mode unknown",
        "rss_title_grouped": "RSS per host and variant (one repeat each)",
        "faults_title_grouped": "minor faults per host and variant (one repeat each)",
        "spread_title": "median (marker) and min–max (bar) over the repeats; ticks: each repeat",
        "spread_faults": "minor faults per MiB written (log scale)", "spread_step": "time per step, ms (median of a run)",
    },
    "ja": {
        "process": "{name}: プロセス (VSZ、RSS、fault)", "mib": "MiB", "faults": "minor fault (min_flt)",
        "minor": "minor fault", "system": "{name}: マシン全体のメモリ (t = {t0} 秒からの変化)",
        "since_first": "変化 MiB", "used": "used (使用中)", "available": "available (利用可能)",
        "commit": "Committed_AS (コミット量)", "seconds": "実行開始からの秒数",
        "rss_title": "ホストごとの RSS", "rss": "RSS MiB", "faults_title": "ホストごとの minor fault",
        "faults_log": "minor fault (min_flt、対数目盛)", "since_touch": "書き込み開始からの秒数",
        "huge": "huge page (huge page ごとに 1 回)", "base": "page ごとに 1 回", "mixed": "混在",
        "prefaulted": "prefault 済み (確保時に fault)", "unknown": "fault の単位は不明",
        "rss_title_grouped": "ホスト・variant ごとの RSS (各 1 回分)",
        "faults_title_grouped": "ホスト・variant ごとの minor fault (各 1 回分)",
        "spread_title": "繰り返しの中央値 (印) と最小–最大 (棒)。縦線: 各回",
        "spread_faults": "書き込み 1 MiB あたりの minor fault (対数目盛)", "spread_step": "1 回の書き込みの時間 ms (各回の中央値)",
    },
}


class Plotter:
    """Draws a run's plots in one language; reuse one Plotter for every host of a run."""

    def __init__(self) -> None:
        self.words = LABELS["any"]
        self._process: Optional[_HostFigure] = None
        self._system: Optional[_HostFigure] = None

    def host(self, name: str, series: Dict[str, Any], plots_dir: str) -> List[str]:
        """plots/process.svg and plots/system.svg for one host."""
        t = _column(series["t"])
        phases = series["phases"]
        words = self.words
        # Made once per run, with room for the experiment's phases; a recording with more marks gets
        # figures of its size (and the next host figures of its own size again).
        capacity = max(_HostFigure.MAX_PHASES, len(phases))
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            if self._process is None or self._process.phases != capacity:
                self._process = _HostFigure(
                    [[("vsz", "VSZ", COLORS["vsz"]), ("rss", "RSS", COLORS["rss"]),
                      ("huge", "AnonHugePages", COLORS["huge"])],
                     [("faults", words["minor"], COLORS["faults"]), ("ref_page", words["ref_page"], "#7f7f7f"),
                      ("ref_huge", words["ref_huge"], COLORS["huge"])]],
                    [words["mib"], words["faults"]], words["seconds"], 5.6, capacity)
                self._system = _HostFigure(
                    [[("used", words["used"], COLORS["used"]), ("rss", words["rss_process"], COLORS["rss_process"]),
                      ("available", words["available"], COLORS["available"]),
                      ("commit", words["commit"], COLORS["commit"])]],
                    [words["since_first"]], words["seconds"], 4.0, capacity)
            assert self._system is not None
            ref = series.get("reference") or {}
            self._process.lines["ref_page"].set_label(words["ref_page"].format(kib=ref.get("page_kib", 4)))
            self._process.lines["ref_huge"].set_label(words["ref_huge"].format(kib=ref.get("huge_kib", 2048)))
            self._process.fill(
                words["process"].format(name=name), t,
                {"vsz": _column(series["vsz_kib"], KIB_PER_MIB), "rss": _column(series["rss_kib"], KIB_PER_MIB),
                 "huge": _column(series["anon_huge_kib"], KIB_PER_MIB), "faults": _column(series["min_flt"]),
                 **_references(series.get("reference"))},
                phases, [0.0, 0.0])
            ref_at = reference_index(t, phases)
            self._system.fill(
                words["system"].format(name=name, t0=f"{t[ref_at]:.1f}" if len(t) else "0"), t,
                {"used": _since(_column(series["mem_used_kib"], KIB_PER_MIB), ref_at),
                 "rss": _since(_column(series["rss_kib"], KIB_PER_MIB), ref_at),
                 "available": _since(_column(series["mem_available_kib"], KIB_PER_MIB), ref_at),
                 "commit": _since(_column(series["committed_as_kib"], KIB_PER_MIB), ref_at)},
                phases, [None])
            return [_save(self._process.fig, os.path.join(plots_dir, "process.svg")),
                    _save(self._system.fig, os.path.join(plots_dir, "system.svg"))]

    def index(self, hosts: Sequence[Tuple[str, Dict[str, Any]]], plots_dir: str, grouped: bool = False) -> List[str]:
        """plots/rss.svg and plots/faults.svg: every host on one time axis, aligned where touching began.
        `grouped`: the lines are host x variant (named `host · variant`; the fault mode is in the table)."""
        written = []
        words = self.words
        titles = (words["rss_title_grouped"], words["faults_title_grouped"]) if grouped else \
            (words["rss_title"], words["faults_title"])
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            for filename, key, scale, ylabel, log, title in (
                    ("rss.svg", "rss_kib", KIB_PER_MIB, words["rss"], False, titles[0]),
                    ("faults.svg", "min_flt", 1.0, words["faults_log"], True, titles[1])):
                fig = Figure(figsize=(8.0, 4.6), dpi=100)
                fig.subplots_adjust(left=0.11, right=0.75, top=0.92, bottom=0.12)
                ax = fig.add_subplot()
                arrays = []
                by_mode = len(hosts) > LEGEND_HOSTS  # many hosts: one colour per fault mode, not per host
                # many lines of a mode are drawn as one collection (a Line2D each costs as much as the figure)
                segments: Dict[str, List[np.ndarray]] = {}
                for name, series in hosts:
                    t = _column(series["t"])
                    shift = series.get("touch_start")
                    x, y = _finite(t - (shift or 0.0), _column(series[key], scale))
                    if log:
                        keep = ~(y <= 0)  # keeps the gaps' nan
                        x, y = x[keep], y[keep]
                    if not np.isfinite(y).any():
                        continue
                    mode = series.get("fault_mode") or "unknown"
                    if by_mode:
                        segments.setdefault(mode, []).extend(_runs(x, y))
                    else:
                        # the host and its fault mode, short enough for the legend's column at the right
                        ax.plot(x, y, label=name if grouped else f"{name} ({mode})")
                    arrays.append(y)
                handles = []
                for mode in sorted(segments):
                    color = MODE_COLORS.get(mode, MODE_COLORS["unknown"])
                    ax.add_collection(LineCollection(segments[mode], colors=color, linewidths=1.0, alpha=0.7))
                    handles.append(Line2D([], [], color=color, linewidth=1.0, alpha=0.7, label=words.get(mode, mode)))
                if segments:
                    ax.autoscale_view()
                ax.axvline(0.0, color="#555555", linestyle=":", linewidth=1)
                if log:
                    ax.set_yscale("log")
                else:
                    ax.set_ylim(*_limits(arrays, 0.0))
                    ax.yaxis.set_major_formatter(THOUSANDS)
                ax.set_xlabel(words["since_touch"])
                ax.set_ylabel(ylabel)
                ax.set_title(title, loc="left")
                if arrays:
                    ax.legend(handles=handles or None, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                              prop={"family": NAME_FONT, "size": 8}, frameon=False)
                written.append(_save(fig, os.path.join(plots_dir, filename)))
        return written

    def recordings(self, hosts: Sequence[Tuple[str, Dict[str, Any]]], plots_dir: str) -> str:
        """plots/rss.svg of a run that recorded one command on every host: each host's RSS on one time
        axis, from the start of its recording (the commands started together, within the fan-out)."""
        words = self.words
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            fig = Figure(figsize=(8.0, 4.6), dpi=100)
            fig.subplots_adjust(left=0.11, right=0.75, top=0.92, bottom=0.12)
            ax = fig.add_subplot()
            arrays = []
            for name, series in hosts:
                x, y = _finite(_column(series["t"]), _column(series["rss_kib"], KIB_PER_MIB))
                if not np.isfinite(y).any():
                    continue
                ax.plot(x, y, label=name)
                arrays.append(y)
            ax.set_ylim(*_limits(arrays, 0.0))
            ax.yaxis.set_major_formatter(THOUSANDS)
            ax.set_xlabel(words["seconds"])
            ax.set_ylabel(words["rss"])
            ax.set_title(words["rss_title"], loc="left")
            if arrays:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), prop={"family": NAME_FONT, "size": 8},
                          frameon=False)
            return _save(fig, os.path.join(plots_dir, "rss.svg"))

    def spread(self, rows: Sequence[Dict[str, Any]], plots_dir: str) -> str:
        """plots/spread.svg: per host x variant, the median of the repeats with a bar from min to max,
        and each repeat as a dot, for minor faults per MiB and time per step, side by side."""
        words = self.words
        count = len(rows)
        height = 1.3 + SPREAD_ROW_IN * max(count, 2)
        variants: List[str] = []
        for row in rows:
            if row["variant"] not in variants:
                variants.append(row["variant"])
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            fig = Figure(figsize=(8.0, height), dpi=100)
            # Margins in inches whatever the height: the labels at left, the title above, the axis below.
            fig.subplots_adjust(left=0.27, right=0.98, top=1 - 0.55 / height, bottom=0.6 / height, wspace=0.08)
            axes = fig.subplots(1, 2, sharey=True)
            ys = np.arange(count, dtype=float)
            for ax, key, values_key, xlabel, log in (
                    (axes[0], "faults_per_mib", "faults_values", words["spread_faults"], True),
                    (axes[1], "step_ms", "step_values", words["spread_step"], False)):
                for index, variant in enumerate(variants):
                    picked = [(y, row) for y, row in zip(ys, rows) if row["variant"] == variant and row[key]
                              and (not log or row[key]["min"] > 0)]
                    if not picked:
                        continue
                    color = VARIANT_COLORS[index % len(VARIANT_COLORS)]
                    med = np.array([row[key]["median"] for _y, row in picked])
                    lo = np.array([row[key]["min"] for _y, row in picked])
                    hi = np.array([row[key]["max"] for _y, row in picked])
                    at = np.array([y for y, _row in picked])
                    ax.errorbar(med, at, xerr=np.vstack([med - lo, hi - med]), fmt="o", color=color,
                                markersize=5, elinewidth=2.0, capsize=3)
                    dots = [(v, y) for y, row in picked for v in row[values_key] if v is not None and (not log or v > 0)]
                    if dots:
                        ax.plot([d[0] for d in dots], [d[1] for d in dots], linestyle="None", marker="|",
                                color="#333333", markersize=7, markeredgewidth=0.8)
                if log:
                    ax.set_xscale("log")
                else:
                    ax.set_xlim(left=0.0)
                ax.set_xlabel(xlabel)
                ax.grid(axis="x", color="#dddddd", linewidth=0.6)
                ax.set_axisbelow(True)
            # Row labels as plain texts: matplotlib's tick machinery costs a figure's worth per label.
            axes[0].set_yticks([])
            axes[0].set_ylim(count - 0.5, -0.5)
            place = offset_copy(axes[0].get_yaxis_transform(), fig=fig, x=-5, units="points")
            for y, row in zip(ys, rows):
                axes[0].text(0.0, y, row["label"], transform=place, ha="right", va="center", fontsize=9,
                             fontfamily=NAME_FONT)
            fig.suptitle(words["spread_title"], x=0.27, ha="left", y=1 - 0.12 / height, va="top", fontsize=10)
            return _save(fig, os.path.join(plots_dir, "spread.svg"))
