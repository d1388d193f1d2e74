"""The lines of allocate.c that one variant executes: its allocation branch, the touch loop and any
step of main() that names the variant, as the writeup's body shows them (the full source goes to
the appendix)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

# The body shows at most this many lines of the program.
MAX_LINES = 60
_MAIN_RE = re.compile(r"^int main\(")
_IF_RE = re.compile(r"^(?P<indent>\s*)(?P<else>\} else )?if \((?P<cond>.*)\)\s*(?P<brace>\{)?\s*$")
_GAP = "/* ... */"


@dataclass(frozen=True)
class Excerpt:
    """The chosen lines, joined with a `/* ... */` line where lines were left out, and the 1-based
    (first, last) line numbers of each run of kept lines."""
    text: str
    spans: Tuple[Tuple[int, int], ...]
    lines: int


def _block_end(lines: List[str], start: int) -> int:
    """The index of the line that closes the brace opened on line `start`."""
    depth = 0
    for index in range(start, len(lines)):
        depth += lines[index].count("{") - lines[index].count("}")
        if depth <= 0 and index > start:
            return index
    return len(lines) - 1


def _chain_branch_end(lines: List[str], start: int, indent: str) -> int:
    """The last line of an `} else if (...) {` branch's body: the line before the next `}` at its indent."""
    for index in range(start + 1, len(lines)):
        if lines[index].startswith(indent + "}"):
            return index - 1
    return len(lines) - 1


def _names(cond: str) -> List[str]:
    return re.findall(r'strcmp\(variant, "([a-z-]+)"\)', cond)


def excerpt(source: Optional[str], variant: str) -> Optional[Excerpt]:
    """The lines of main() that run for `variant`; None when the source is missing or not the shape
    this reads (then the writeup links the full source only)."""
    if not source:
        return None
    lines = source.splitlines()
    main = next((i for i, line in enumerate(lines) if _MAIN_RE.match(line)), None)
    if main is None:
        return None
    keep: List[Tuple[int, int, Optional[str]]] = []  # (first, last, replacement of the first line)

    def covered(index: int) -> bool:
        return any(a <= index <= b for a, b, _ in keep)

    index = main
    while index < len(lines):
        match = _IF_RE.match(lines[index])
        if match and variant in _names(match.group("cond")) and not covered(index):
            indent = match.group("indent")
            if match.group("else"):
                last = _chain_branch_end(lines, index, indent)
                keep.append((index, last, f"{indent}if ({match.group('cond')}) {{"))
                keep.append((last + 1, last + 1, f"{indent}}}"))
                index = last + 1
                continue
            if match.group("brace"):
                # a block, or the first branch of a chain: stop before its `} else`
                last = _chain_branch_end(lines, index, indent)
                closing = lines[last + 1] if last + 1 < len(lines) else ""
                keep.append((index, last, None))
                keep.append((last + 1, last + 1, f"{indent}}}" if closing.strip().startswith("} else") else None))
                index = last + 2
                continue
            last = index + 1
            keep.append((index, last, None))
            index = last + 1
            continue
        index += 1
    loop = next((i for i in range(main, len(lines)) if "unsigned long done = 0" in lines[i]), None)
    if not keep or loop is None or not lines[loop - 1].strip() == "{":
        return None
    loop_end = _block_end(lines, loop - 1)
    keep = [k for k in keep if not (loop - 1 <= k[0] <= loop_end)]
    keep.append((loop - 1, loop_end, None))
    touched = next((i for i in range(loop_end, len(lines)) if 'announce("touched' in lines[i]), None)
    if touched is not None:
        keep.append((touched, touched, None))
    keep.sort()
    out: List[str] = []
    spans: List[Tuple[int, int]] = []
    pruned = _prune(lines, loop, loop_end, variant)
    previous = None
    for first, last, replacement in keep:
        if previous is not None and first > previous + 1:
            out.append(_GAP)
        if previous is None or first > previous + 1 or not spans:
            spans.append((first + 1, last + 1))
        else:
            spans[-1] = (spans[-1][0], last + 1)
        out.append(replacement if replacement is not None else pruned.get(first, lines[first]))
        out.extend(pruned.get(i, lines[i]) for i in range(first + 1, last + 1) if pruned.get(i, "") is not None)
        previous = last
    text = "\n".join(_dedent(out)) + "\n"
    return Excerpt(text=text, spans=tuple(spans), lines=text.count("\n"))


def _prune(lines: List[str], first: int, last: int, variant: str) -> dict:
    """Inside the touch loop, an if/else chain keeps only the body of the branch `variant` runs (the
    one naming it; the `chunks` one for small-mallocs; else the final `else`): {line index: new text,
    or None to drop the line}."""
    out: dict = {}
    index = first
    while index <= last:
        match = _IF_RE.match(lines[index])
        if not match or match.group("else") or not match.group("brace"):
            index += 1
            continue
        indent = match.group("indent")
        heads = [index]
        end = index
        while True:
            end = _chain_branch_end(lines, end, indent) + 1
            if end > last or not lines[end].strip().startswith("} else"):
                break
            heads.append(end)
        if len(heads) < 2:
            index += 1
            continue
        conds = [lines[h] for h in heads]
        chosen = next((k for k, c in enumerate(conds) if f'"{variant}"' in c), None)
        if chosen is None and variant == "small-mallocs":
            chosen = next((k for k, c in enumerate(conds) if "chunks" in c), None)
        if chosen is None and conds[-1].strip() == "} else {":
            chosen = len(conds) - 1
        if chosen is None:
            return {}
        bounds = heads + [end]
        for k in range(len(heads)):
            if k == chosen:
                continue
            body = range(bounds[k] + 1, bounds[k + 1])
            for j, line_index in enumerate(body):
                out[line_index] = (indent + "    " + _GAP) if j == 0 else None
        index = end + 1
    return out


def _dedent(lines: List[str]) -> List[str]:
    width = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip() and line != _GAP), default=0)
    return [line if line == _GAP else line[width:] for line in lines]
