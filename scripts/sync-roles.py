"""Writes what the lab role states about the agent from the agent's own declarations, so each is stated
once: lab_variants' choices in roles/lab/meta/argument_specs.yml (labagent/variants.py) and the knob
defaults in roles/lab/defaults/main.yml (labagent/knobs.py).

    python3 scripts/sync-roles.py           # rewrite the lines that differ
    python3 scripts/sync-roles.py --check   # exit 1 and name the stale lines, change nothing (tests run this)
"""
import argparse
import pathlib
import re
import sys
from typing import Callable, Dict, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's labagent, also in a copy of the repo

from labagent import knobs, variants  # noqa: E402

SPECS = "roles/lab/meta/argument_specs.yml"
DEFAULTS = "roles/lab/defaults/main.yml"


def flow_list(items) -> str:
    return "[" + ", ".join(items) + "]"


def default_lines() -> Dict[str, str]:
    """Top-level `lab_<knob>: value` lines of the role's defaults."""
    lines = {knob.variable: f"{knob.variable}: {knob.role_default}" for knob in knobs.KNOBS}
    lines["lab_variants"] = f"lab_variants: {flow_list([variants.DEFAULT])}"
    return lines


def rewrite_defaults(text: str) -> str:
    wanted = default_lines()

    def line(match: "re.Match[str]") -> str:
        return wanted.get(match.group(1), match.group(0))

    return re.sub(r"^([a-z_]+): .*$", line, text, flags=re.M)


def rewrite_specs(text: str) -> str:
    """The `choices:` line inside the lab_variants option."""
    out: List[str] = []
    inside = None
    for raw in text.splitlines(keepends=True):
        indent = len(raw) - len(raw.lstrip(" "))
        if raw.strip() == "lab_variants:":
            inside = indent
        elif inside is not None and raw.strip() and indent <= inside:
            inside = None
        if inside is not None and raw.lstrip().startswith("choices:"):
            raw = " " * indent + "choices: " + flow_list(variants.NAMES) + "\n"
        out.append(raw)
    return "".join(out)


FILES: Tuple[Tuple[str, Callable[[str], str]], ...] = ((SPECS, rewrite_specs), (DEFAULTS, rewrite_defaults))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale lines; exit 1 if any")
    args = parser.parse_args()
    stale = 0
    for name, rewrite in FILES:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        wanted = rewrite(text)
        if wanted == text:
            continue
        old, new = text.splitlines(), wanted.splitlines()
        for number, (was, now) in enumerate(zip(old, new), 1):
            if was != now:
                stale += 1
                print(f"{name}:{number}: {was.strip()!r} should be {now.strip()!r}", file=sys.stderr)
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
    if stale and args.check:
        print("the role disagrees with the agent's declarations: run python3 scripts/sync-roles.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
