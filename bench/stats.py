"""Pure arithmetic for the benchmarks: percentiles, ratios, slopes, verdicts and how figures are printed.

Nothing here reads a clock or a file, so tests/unit/test_bench_helpers.py checks it exactly.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

MET = "met"
MISSED = "missed"
INFO = "info"
NOT_AVAILABLE = "n/a"


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The q-th percentile (0..100), interpolated linearly between closest ranks (numpy's default);
    None for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> Optional[float]:
    return percentile(values, 50.0)


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def change_pct(value: Optional[float], base: Optional[float]) -> Optional[float]:
    """How much value is above base, in percent of base (negative when below)."""
    r = ratio(value, base)
    return None if r is None else (r - 1.0) * 100.0


def spread_pct(values: Sequence[float]) -> Optional[float]:
    """(max - min) / median of the values, in percent: how far repeats of one thing disagree."""
    mid = median(values)
    if mid is None or mid <= 0:
        return None
    return (max(values) - min(values)) / mid * 100.0


def slope(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    """Least-squares slope dy/dx; None for fewer than two distinct x."""
    if len(xs) != len(ys):
        raise ValueError(f"slope: {len(xs)} x values but {len(ys)} y values")
    if len(xs) < 2:
        return None
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    var_x = sum((x - mean_x) ** 2 for x in xs)
    if var_x == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var_x


def lateness_summary(lateness_ms: Sequence[float], late_threshold_ms: float) -> Dict[str, Optional[float]]:
    """p50/p99/max lateness of kept ticks and how many were later than the threshold."""
    return {
        "ticks": len(lateness_ms),
        "p50_ms": percentile(lateness_ms, 50.0),
        "p99_ms": percentile(lateness_ms, 99.0),
        "max_ms": max(lateness_ms) if lateness_ms else None,
        "late": sum(1 for value in lateness_ms if value > late_threshold_ms),
        "late_threshold_ms": late_threshold_ms,
    }


def kept_share(ticks: int, missed: int) -> Optional[float]:
    """Share of the schedule's ticks that were taken (0..1): taken / (taken + missed)."""
    total = ticks + missed
    return None if total <= 0 else ticks / total


def verdict(value: Optional[float], limit: float, *, at_least: bool = False) -> str:
    """MET when value <= limit (or >= limit with at_least), MISSED otherwise, NOT_AVAILABLE without a value."""
    if value is None:
        return NOT_AVAILABLE
    return MET if (value >= limit if at_least else value <= limit) else MISSED


def spread_indices(have: int, want: int) -> List[int]:
    """`want` indices into a sequence of `have` items, spread evenly from the first to the last item
    (to thin a run's samples to a given count); never more than `have`."""
    if have <= 0 or want <= 0:
        return []
    if want >= have:
        return list(range(have))
    if want == 1:
        return [0]
    return [round(i * (have - 1) / (want - 1)) for i in range(want)]


def fmt_duration(seconds: Optional[float]) -> str:
    """A duration with a unit that keeps three significant digits: 296 µs, 6.64 ms, 12.3 s."""
    if seconds is None:
        return "n/a"
    magnitude = abs(seconds)
    if magnitude < 1e-3:
        return f"{_sig3(seconds * 1e6)} µs"
    if magnitude < 1.0:
        return f"{_sig3(seconds * 1e3)} ms"
    return f"{_sig3(seconds)} s"


def fmt_ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{_sig3(value)} ms"


def fmt_ratio(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{_sig3(value)}x"


def fmt_pct(value: Optional[float], signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1f} %" if signed else f"{value:.1f} %"


def fmt_kib(value: Optional[float]) -> str:
    """KiB as KiB below 10 MiB, else MiB: 812 KiB, 1,024 KiB, 23.4 MiB."""
    if value is None:
        return "n/a"
    if abs(value) < 10 * 1024:
        return f"{value:,.0f} KiB"
    return f"{value / 1024:.1f} MiB"


def _sig3(value: float) -> str:
    """Three significant digits without exponent: 296, 29.6, 2.96, 0.296."""
    if value == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"
