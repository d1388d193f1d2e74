"""A live agent run writes results.json through the typed record, valid against docs/results.schema.json,
also when the workload is killed mid-run."""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from labagent import captures, record, results

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text())
FAST = ["--size", "4MiB", "--step", "2MiB", "--step-interval", "0.05", "--sample-interval", "0.05",
        "--pause", "0", "--tail", "0", "--no-imds", "--quiet"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")]


@pytest.mark.parametrize("variant", ["malloc", "free", "fullspeed"])
def test_a_live_run_is_a_valid_record(tmp_path, variant):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "labagent", "run", "--out", str(out), "--variant", variant, *FAST],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    rec = record.read(str(out))
    assert rec.complete and [p.name for p in rec.phases] == list(record.variants.get(variant).phases)
    # The samples are in samples.jsonl only: results.json does not grow with the run.
    assert rec.samples is None and rec.samples_file == results.SAMPLES_JSONL
    assert rec.samples_count == len(results.read_samples(str(out / rec.samples_file))) > 0
    assert (rec.timing is not None) == (variant == "fullspeed")
    # every per-phase capture of captures.py, listed by name with its raw file, which is there
    for name, snap in rec.snapshots.items():
        expected = {c.name: f"raw/{c.raw_name(name)}" for c in captures.scheduled(captures.EACH_PHASE)
                    if name != "exited" or not c.needs_pid}
        assert snap.captures == expected
        assert all((out / raw).is_file() for raw in snap.captures.values())
    assert data["tools"]["uname"]["raw"] == "raw/uname-a.txt"
    assert data["tools"]["ps_aux"]["command"].startswith("ps u -p ")
    freed = rec.summary["vsz_freed_delta_kib"]
    if variant == "free":
        assert freed is not None and freed < 0  # free() unmapped the block
    else:
        assert freed is None


def _in_baseline(path):
    try:
        return bool(json.loads(path.read_text())["phases"])
    except (OSError, ValueError):
        return False


def test_an_interrupted_run_is_a_valid_record(tmp_path):
    out = tmp_path / "out"
    args = [a if a != "0" else "30" for a in FAST]  # a long pause at baseline: stopped while waiting
    agent = subprocess.Popen([sys.executable, "-m", "labagent", "run", "--out", str(out), *args], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _in_baseline(out / "results.json"):
            time.sleep(0.1)
    finally:
        agent.send_signal(signal.SIGTERM)  # the agent we started, by its PID
        agent.communicate(timeout=60)
    data = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    rec = record.RunRecord.from_json(data)
    assert not rec.complete and rec.outcome.status == "interrupted" and rec.outcome.phase == "baseline"
