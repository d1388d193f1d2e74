"""Sizes and durations as users type them ("100MiB", "0.2s"), parsed strictly."""
from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2,
    "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3,
    "t": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)?\s*$")

MIB = 1024 * 1024


def parse_size(text: str) -> int:
    """Bytes from "100MiB", "10M", "4096" (binary units: the lab's sizes are MiB, as in the original)."""
    match = _SIZE_RE.match(str(text))
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (examples: 100MiB, 10M, 512KiB, 4096)")
    value = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if value != int(value):
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def parse_duration(text: str) -> float:
    """Seconds from "1", "0.2s", "10ms"."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 1, 0.5s, 10ms)")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def format_size(num_bytes: int) -> str:
    """The shortest exact binary form: 104857600 -> "100MiB", 4100 -> "4100B"."""
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", MIB), ("KiB", 1024)):
        if num_bytes >= factor and num_bytes % factor == 0:
            return f"{num_bytes // factor}{unit}"
    return f"{num_bytes}B"
