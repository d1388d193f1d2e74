"""The agent run for real on this machine (gcc, ps, free, sar, /proc), cross-checked against the tools."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labagent import parsers, results

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--size", "20MiB", "--step", "5MiB", "--step-interval", "0.2", "--sample-interval", "0.1",
         "--pause", "0.4", "--tail", "0.3", "--no-imds"]
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not any(os.access(os.path.join(p, "gcc"), os.X_OK)
                                         for p in os.environ.get("PATH", "").split(os.pathsep)),
                                 reason="gcc is not installed")]


def agent(*args, env=None, python=sys.executable, entry=("-m", "labagent")):
    return subprocess.run([python, *entry, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live") / "run"
    done = agent("run", *SMALL, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, results.load_run(str(out)), done


def test_live_run_is_complete_with_every_capture(live_run):
    out, data, done = live_run
    assert data["complete"] is True and data["outcome"]["status"] == "complete"
    assert [p["name"] for p in data["phases"]] == ["baseline", "allocated", "touching", "touched", "exited"]
    for phase in data["phases"]:
        assert phase["end"] >= phase["start"]
    for name in ("program.log", "capture.log", "ps-aux.txt", "uname-a.txt", "os-release.txt",
                 "maps-baseline.txt", "maps-allocated.txt", "maps-touched.txt", "free-h-baseline.txt",
                 "free-b-exited.txt", "gcc.txt", "sar-r.txt"):
        assert (out / "raw" / name).stat().st_size > 0, name
    assert (out / "allocate.c").exists()
    log = parsers.parse_program_log((out / "raw" / "program.log").read_text())
    assert len(log.stack) == 10 and [t[1] for t in log.touches] == [5, 10, 15, 20]
    assert log.size_bytes == 20 * 1024 * 1024
    assert "touched 20MiB (4/4)" in done.stderr  # progress for people watching


def test_live_numbers_match_the_physics(live_run):
    _, data, _ = live_run
    s = data["summary"]
    mib20 = 20 * 1024
    # malloc(20 MiB) is one mmap of 20 MiB + one page: VSZ grows by that, RSS by almost nothing.
    assert abs(s["vsz_delta_kib"] - (mib20 + 4)) <= 8
    assert s["rss_alloc_delta_kib"] < 256
    assert s["region"]["in_heap"] is False and s["region"]["pointer_offset"] == 16
    assert s["region"]["added_bytes"] == 20 * 1024 * 1024 + 4096
    assert s["heap"]["changed"] is False
    # Writing 20 MiB makes 20 MiB resident (within 5 %).
    assert abs(s["rss_touch_delta_kib"] - mib20) < mib20 * 0.05
    assert s["maj_flt_touch"] == 0
    assert s["committed_as_delta_kib"] is not None
    if "[madvise]" in THP.read_text() or "[never]" in THP.read_text():
        assert s["fault_mode"] == "base" and s["fault_granularity_kib"] == pytest.approx(4.0, rel=0.05)
        assert s["faults_per_mib"] == pytest.approx(256, rel=0.05)
        assert s["huge_pages_used"] is False


def test_live_numbers_agree_with_ps_and_free(live_run):
    out, data, _ = live_run
    base = data["snapshots"]["baseline"]["reading"]
    # `ps u -p PID` was taken right after the baseline snapshot, while the workload waited.
    ps_row = parsers.parse_ps_aux((out / "raw" / "ps-aux.txt").read_text())[0]
    assert ps_row.pid == data["workload"]["pid"]
    assert ps_row.vsz_kib == base["vsz_kib"]
    assert abs(ps_row.rss_kib - base["rss_kib"]) <= 64
    # capture.sh's ps rows agree with the /proc samples taken within the same second.
    rows = [r for r in parsers.parse_capture((out / "raw" / "capture.log").read_text()) if not r.finished]
    assert rows and all(r.pid == data["workload"]["pid"] for r in rows)
    vsz_seen = {s["vsz_kib"] for s in data["samples"] if s["vsz_kib"] is not None}
    # A row taken while the workload had exited but was not yet reaped (a zombie) reads VSZ 0, as ps
    # prints it; the sampler stops at the exit, so it has no such sample.
    assert {r.vsz_kib for r in rows if r.vsz_kib} <= vsz_seen
    # free -b and /proc/meminfo describe the same machine at the same moment (within 64 MiB of noise).
    for phase in ("baseline", "touched"):
        snap = data["snapshots"][phase]
        free = parsers.parse_free(snap["free_b"])
        assert free.exact and free.total_bytes // 1024 == snap["reading"]["mem_total_kib"]
        assert abs(free.available_bytes // 1024 - snap["reading"]["mem_available_kib"]) < 64 * 1024


def test_live_samples_are_on_schedule_and_consistent(live_run):
    out, data, _ = live_run
    samples = data["samples"]
    ticks = data["ticks"]
    assert ticks["ticks"] == len(samples) > 5
    # Each tick is on the grid origin + k * interval: k never repeats and never goes back.
    ks = [s["tick"] for s in samples]
    assert ks == sorted(set(ks))
    assert sum(s["missed_before"] for s in samples) == ticks["missed"]
    faults = [s["min_flt"] for s in samples if s["min_flt"] is not None]
    assert faults == sorted(faults)
    csv_rows = (out / "samples.csv").read_text().splitlines()
    assert len(csv_rows) == len(samples) + 1 and csv_rows[0].startswith("tick,t,wall,late_ms")
    assert {s["phase"] for s in samples} <= {"baseline", "allocated", "touching", "touched", "exited"}


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _touching_pid(out):
    path = out / "results.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if any(p["name"] == "allocated" for p in data["phases"]) and results.read_samples(str(out / "samples.jsonl")):
        lines = (out / "raw" / "program.log").read_text()
        if "touched" in lines:
            return data["workload"]["pid"]
    return None


SLOW = ["--size", "40MiB", "--step", "2MiB", "--step-interval", "0.2", "--sample-interval", "0.05",
        "--pause", "0.2", "--tail", "0.2", "--no-imds"]


def test_workload_killed_mid_touch_keeps_what_was_captured(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "labagent", "run", *SLOW, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pid = _wait_for(lambda: _touching_pid(out))
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert "Traceback" not in err and "killed by SIGKILL" in err
    data = results.load_run(str(out))
    assert data["complete"] is False
    assert data["outcome"] == {"status": "failed", "signal": "SIGKILL", "phase": "touching",
                               "reason": "the workload was killed by SIGKILL during touching"}
    assert data["samples"] and data["steps"]
    assert data["summary"]["vsz_after_alloc_kib"] is not None
    assert (out / "samples.csv").exists()


@pytest.mark.parametrize("sig,status", [(signal.SIGKILL, None), (signal.SIGTERM, "interrupted")])
def test_agent_killed_mid_touch_leaves_readable_partial_results(tmp_path, sig, status):
    out = tmp_path / "agent-killed"
    proc = subprocess.Popen([sys.executable, "-m", "labagent", "run", *SLOW, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        workload = _wait_for(lambda: _touching_pid(out))
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    data = results.load_run(str(out))
    assert data["complete"] is False
    assert len(data["samples"]) > 3
    assert data["snapshots"]["allocated"]["reading"]["vsz_kib"] > 40 * 1024
    if status:
        assert proc.returncode == 1
        assert data["outcome"]["status"] == status
    # The workload does not outlive the agent: its control channel closed.
    _wait_for(lambda: not os.path.exists(f"/proc/{workload}") or
              "Z" in Path(f"/proc/{workload}/stat").read_text().rsplit(")", 1)[1].split()[0:1], timeout=10)


def test_results_json_does_not_grow_with_the_samples(tmp_path):
    """results.json is rewritten at every phase boundary: it holds no samples (samples.jsonl does),
    so ten times the ticks leave it about the same size."""
    sizes = {}
    for interval in ("0.01", "0.1"):
        out = tmp_path / interval
        done = agent("run", *SMALL[:6], "--sample-interval", interval, *SMALL[8:], "--out", str(out))
        assert done.returncode == 0, done.stderr
        raw = json.loads((out / "results.json").read_text())
        assert "samples" not in raw and raw["samples_file"] == "samples.jsonl"
        assert raw["samples_count"] == len(results.read_samples(str(out / "samples.jsonl"))) == raw["ticks"]["ticks"]
        sizes[interval] = ((out / "results.json").stat().st_size, raw["samples_count"])
    (fast_size, fast_n), (slow_size, slow_n) = sizes["0.01"], sizes["0.1"]
    assert fast_n > 5 * slow_n
    assert abs(fast_size - slow_size) < 0.1 * slow_size, sizes
