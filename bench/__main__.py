"""`python -m bench [--only NAMES] [--quick] [--write]`: run the benchmarks, print the table, write the docs."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

from . import (agent_memory, fanout, fidelity, machine, observer, orchestration, output, rendering, sampler_cost,
               stats, suite)
from .core import REPO, BenchError, Context, Result, Row

# In the order: the table follows it.
BENCHMARKS: Dict[str, Callable[[Context], Result]] = {
    "sampler": sampler_cost.run,
    "fidelity": fidelity.run,
    "observer": observer.run,
    "orchestration": orchestration.run,
    "fanout": fanout.run,
    "render": rendering.run,
    "memory": agent_memory.run,
    "suite": suite.run,
}
TITLES = {"sampler": "1 sampler cost", "fidelity": "2 fidelity", "observer": "3 observer effect",
          "orchestration": "4 orchestration", "fanout": "4b fan-out", "render": "5 report rendering", "memory": "6 agent memory",
          "suite": "7 test suite"}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", metavar="NAMES",
                        help=f"comma-separated subset of: {','.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="shorter runs for development (fidelity 20 s instead of 120 s, fewer repeats)")
    parser.add_argument("--write", action="store_true",
                        help=f"write {output.DOC} and {output.RAW} even for --only/--quick (a full run always does)")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")
    args.names = [n for n in BENCHMARKS if n in names]
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    facts = machine.describe()
    tmp = tempfile.mkdtemp(prefix="malloc-lab-bench-")
    ctx = Context(quick=args.quick, tmp=tmp, log=log)
    results: List[Result] = []
    try:
        for name in args.names:
            log(f"{name}: start")
            started = time.monotonic()
            try:
                result = BENCHMARKS[name](ctx)
            except BenchError as exc:
                result = Result(name, TITLES[name], rows=[Row(TITLES[name], "benchmark", "failed", "", stats.NOT_AVAILABLE)],
                                raw={"error": str(exc)}, notes=[f"The benchmark could not run: {exc}"])
                log(f"{name}: failed: {exc}")
            result.seconds = time.monotonic() - started
            results.append(result)
            log(f"{name}: done in {result.seconds:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - began
    print(output.text_table([row for result in results for row in result.rows]))
    for result in results:
        for note in result.notes:
            print(f"- {result.key}: {note}")
    shown = ["python -m bench"] + (argv if argv is not None else sys.argv[1:])
    if args.write or (not args.only and not args.quick):
        for path in output.write(REPO, facts, results, shown, wall):
            print(f"wrote {os.path.relpath(path, REPO)}")
    print(f"{wall / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
