"""The playbook's frequent, small agent commands import only what they need: a progress poll runs a
second apart on every host, and the experiment's modules (parsers, captures, the record) are most of the
agent's import time (bench: sampler and fan-out)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"labagent.experiment", "labagent.parsers", "labagent.captures", "labagent.run_record", "labagent.results"}
PROBE = ("import json, sys\nfrom labagent import cli\ncode = cli.main(sys.argv[1:])\n"
         "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('labagent', 'urllib')))), file=sys.stderr)\n")


def _imported(*argv: str) -> set:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_a_progress_poll_imports_none_of_the_experiment(tmp_path):
    imported = _imported("progress", str(tmp_path), "--job-file", str(tmp_path / "job"))
    assert "labagent.progress" in imported
    assert not imported & HEAVY, sorted(imported & HEAVY)


@pytest.mark.parametrize("module", ["labagent.captures", "labagent.hostfacts"])
def test_check_tools_imports_what_it_reads_and_not_the_experiment(module):
    imported = _imported("check-tools", "--os-family", "Debian")
    assert module in imported
    assert "labagent.experiment" not in imported and "urllib.request" not in imported
