"""How the writeup prints numbers, sizes, times and verbatim blocks: thousands separators
(104,861,696), signs, binary sizes, and fenced code blocks that survive backticks inside."""
from __future__ import annotations

import re
import time
from typing import Any, Dict, Optional

from ..units import format_size

KIB = 1024
MIB = 1024 * 1024


def num(value: Optional[float], digits: int = 0) -> Optional[str]:
    """104861696 -> '104,861,696'; 0.555 with digits=2 -> '0.56'; None stays None."""
    if value is None:
        return None
    if digits == 0:
        return f"{int(round(value)):,}"
    return f"{value:,.{digits}f}"


def signed(value: Optional[float], digits: int = 0) -> Optional[str]:
    """+102,404 / -4,884 / 0."""
    if value is None:
        return None
    text = num(value, digits)
    return f"+{text}" if value > 0 else text


def hexaddr(value: Optional[int]) -> Optional[str]:
    return None if value is None else f"0x{value:x}"


def size_text(num_bytes: Optional[int]) -> Optional[str]:
    """Exact binary size with a space, as prose writes it: '100 MiB', '4 KiB', '4100 B'."""
    if num_bytes is None:
        return None
    text = format_size(int(num_bytes))
    return re.sub(r"^([0-9]+)([A-Za-z]+)$", r"\1 \2", text)


def mib_text(num_bytes: Optional[float]) -> Optional[str]:
    """'90 MiB' when whole, else '12.3 MiB'."""
    if num_bytes is None:
        return None
    value = num_bytes / MIB
    return f"{int(value):,} MiB" if value == int(value) else f"{value:,.1f} MiB"


def seconds_text(value: Optional[float]) -> Optional[str]:
    """Seconds as the writeup shows them: '17', '0.5', '1.04'."""
    if value is None:
        return None
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def clock_text(wall: Optional[float], utc_offset_s: Optional[int]) -> Optional[str]:
    """An epoch time as the host's local time of day (HH:MM:SS), the clock sar and ps print."""
    if wall is None:
        return None
    return time.strftime("%H:%M:%S", time.gmtime(int(wall // 1) + int(utc_offset_s or 0)))


def code_block(text: Optional[str], lang: str = "", src: Optional[str] = None,
               command: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """A fenced block of verbatim text (fence longer than any backtick run inside), with a `$ command`
    line first when the capture was a command's output, and where it came from."""
    if text is None:
        return None
    body = (f"$ {command}\n" if command else "") + text
    if not body.endswith("\n"):
        body += "\n"
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return {"fence": "`" * max(3, longest + 1), "lang": lang, "body": body, "src": src}
