"""Live: steps.c recorded by command with two marks, then `labagent report` renders the recording's
writeup with the marks, the maps diff (the [heap] and the anonymous mapping that grew) and the plots."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "fixtures" / "recordings" / "record_steps.py"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed (steps.c is C)")]


def load_script():
    spec = importlib.util.spec_from_file_location("record_steps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("lang,words", [("en", "Recording of `./steps ctl`"), ("ja", "での `./steps ctl` の記録")])
def test_live_recording_renders_with_marks_and_maps_diff(tmp_path, lang, words):
    done = load_script().record_steps(tmp_path, interval="0.1")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "rec"
    report = subprocess.run([sys.executable, "-m", "labagent", "report", str(out), "--lang", lang], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    page = out / ("README.md" if lang == "en" else f"README.{lang}.md")
    assert report.stdout.split() == [str(page), str(out / "plots" / "process.svg"), str(out / "plots" / "system.svg")]
    text = page.read_text()
    assert words in text
    assert "| `heap-grown` | `labagent mark` |" in text and "| `mark2` | SIGUSR1 |" in text
    # The diff from start to end: [heap] is new (brk), the 24 MiB mmap made an anonymous mapping grow or appear.
    heap_row = next(line for line in text.splitlines() if line.startswith("| `[heap]` (brk) | 0 |"))
    assert "+4,2" in heap_row or "+4,3" in heap_row, heap_row
    assert "```diff\n" in text and "+" in text.split("```diff\n", 1)[1]
    assert "[heap]" in text.split("```diff\n", 1)[1].split("```", 1)[0]
    for svg in ("process.svg", "system.svg"):
        assert os.path.getsize(out / "plots" / svg) > 1000
