"""Exact golden files for every report test (tests/report/golden/); regenerate after a deliberate
change with MALLOC_LAB_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report, and review the diff."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
UPDATE = os.environ.get("MALLOC_LAB_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        return
    with open(path, encoding="utf-8") as handle:
        expected = handle.read()
    assert text == expected, f"{name} differs from the golden file; see tests/report/goldens.py to regenerate it"


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def agent(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    """`python -m labagent ARGS` from the checkout, as the lab_report role runs it."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "labagent", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)
