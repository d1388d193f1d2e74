"""Run directories for the report tests, built in tmp from tests/fixtures (never rendered in place)."""
from __future__ import annotations

import importlib.util
import os
import shutil

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
RUNS = os.path.join(FIXTURES, "runs")


def _seedrun():
    spec = importlib.util.spec_from_file_location("seedrun", os.path.join(FIXTURES, "seedrun.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


seedrun = _seedrun()


def copy_run(name: str, dest: str) -> str:
    """A fixture run copied to dest, minus its NOTE.md (the writeup is the directory's only README)."""
    shutil.copytree(os.path.join(RUNS, name), dest, ignore=shutil.ignore_patterns("NOTE.md"))
    return dest


def variant_run(variant: str, dest: str) -> str:
    """One of tests/fixtures/runs/variants/: a real 20 MiB run of `variant` on this machine."""
    shutil.copytree(os.path.join(RUNS, "variants", variant), dest, ignore=shutil.ignore_patterns("NOTE.md"))
    return dest


def repeats_run(dest: str) -> str:
    """runs/<run_id>/ of a run with several variants and repeats (tests/fixtures/runs/repeats/NOTE.md):
    each entry gets back the allocate.c the fixture leaves out (the same source ran for all of them)."""
    shutil.copytree(os.path.join(RUNS, "repeats"), dest, ignore=shutil.ignore_patterns("NOTE.md"))
    source = os.path.join(RUNS, "variants", "malloc", "allocate.c")
    for entry in sorted(os.listdir(dest)):
        if os.path.isdir(os.path.join(dest, entry)):
            shutil.copy(source, os.path.join(dest, entry, "allocate.c"))
    return dest


def compare_run(dest: str) -> str:
    """runs/<run_id>/ with h1 (this machine), h2 (the seed), h3 (failed, no results), h4 (no directory)."""
    shutil.copytree(os.path.join(RUNS, "compare"), dest, ignore=shutil.ignore_patterns("NOTE.md"))
    os.makedirs(os.path.join(dest, "h3"), exist_ok=True)
    copy_run("debian12-madvise", os.path.join(dest, "h1"))
    seedrun.build(os.path.join(dest, "h2"))
    return dest
