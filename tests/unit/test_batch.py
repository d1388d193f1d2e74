"""One agent invocation per host (labagent/batch.py) and the controller's one step after the hosts ran
(labagent/runrecord.py): the layout both sides agree on, what each run's status is judged from, and that
nothing of it is built in Jinja any more."""
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from labagent import batch, progress, runrecord, vocab
from labagent.errors import LabError

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeParams:
    variant: str = "malloc"
    force: bool = False


# A real agent's results.json (a typed run record), which the fake run below rewrites as its own.
RECORD = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "repeats" / "vm-a__malloc__r3"
                     / vocab.RESULTS).read_text())


def fake_run(outcomes):
    """A run_one that writes a results.json (a valid run record, and a workload binary) and ends as
    `outcomes[variant]`."""
    calls = []

    def run_one(params, out_dir, *, progress, argv):
        calls.append((params.variant, os.path.basename(out_dir)))
        os.makedirs(out_dir, exist_ok=True)
        status = outcomes.get(params.variant, "complete")
        if status == "refused":
            raise LabError("--size does not fit in MemAvailable")
        data = dict(RECORD, complete=status == "complete", params=dict(RECORD["params"], variant=params.variant),
                    outcome=dict(RECORD["outcome"], status=status,
                                 reason=None if status == "complete" else f"{params.variant} {status}"))
        Path(out_dir, vocab.RESULTS).write_text(json.dumps(data))
        Path(out_dir, vocab.WORKLOAD_BINARY).write_bytes(b"\x7fELF")
        return data
    return run_one, calls


def test_plan_is_variant_by_variant_repeats_in_order():
    entries = batch.plan(["calloc", "mmap-populate"], 2)
    assert [e.dir_name for e in entries] == ["calloc__r1", "calloc__r2", "mmap-populate__r1", "mmap-populate__r2"]
    assert vocab.entry_name("h1", "calloc", 2) == "h1__" + entries[1].dir_name


@pytest.mark.parametrize("names,repeats,message", [([], 1, "no variant"), (["malloc", "malloc"], 1, "twice"),
                                                   (["jemalloc"], 1, "jemalloc"), (["malloc"], 0, "1 to 100"),
                                                   (["malloc"], 101, "1 to 100")])
def test_plan_refuses_bad_input(names, repeats, message):
    with pytest.raises(LabError, match=message):
        batch.plan(names, repeats)


def test_a_batch_runs_every_entry_records_each_and_packs_one_archive(tmp_path):
    run_one, calls = fake_run({"calloc": "failed"})
    out, archive = tmp_path / "out", tmp_path / "out.tar.gz"
    state = batch.run_batch(FakeParams(), batch.plan(["calloc", "mmap"], 2), str(out), run_one=run_one,
                            archive=str(archive))
    # A failed run does not stop the next one; each runs with its own variant in its own directory.
    assert calls == [("calloc", "calloc__r1"), ("calloc", "calloc__r2"), ("mmap", "mmap__r1"), ("mmap", "mmap__r2")]
    assert [r["status"] for r in state["entries"]] == ["failed", "failed", "complete", "complete"]
    assert not batch.complete(state)
    assert json.loads((out / vocab.BATCH_JSON).read_text()) == state and state["status"] == batch.DONE
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "./mmap__r2/results.json" in names and "./batch.json" in names
    assert not any(n.endswith("/" + vocab.WORKLOAD_BINARY) for n in names)  # rebuilt from allocate.c
    assert not (tmp_path / "out.tar.gz.tmp").exists()


def test_an_interrupted_run_ends_the_batch(tmp_path):
    run_one, calls = fake_run({"calloc": "interrupted"})
    state = batch.run_batch(FakeParams(), batch.plan(["calloc", "mmap"], 1), str(tmp_path), run_one=run_one)
    assert calls == [("calloc", "calloc__r1")]
    assert [(r["status"], r["reason"]) for r in state["entries"]] == [("interrupted", "calloc interrupted")] * 2


def test_a_run_the_host_refuses_is_recorded_and_the_others_run(tmp_path):
    run_one, calls = fake_run({"calloc": "refused"})
    state = batch.run_batch(FakeParams(), batch.plan(["calloc", "mmap"], 1), str(tmp_path), run_one=run_one)
    assert len(calls) == 2
    assert state["entries"][0]["status"] == "failed" and "MemAvailable" in state["entries"][0]["reason"]


def test_a_batch_never_overwrites_an_earlier_run(tmp_path):
    run_one, calls = fake_run({})
    batch.run_batch(FakeParams(), batch.plan(["malloc"], 1), str(tmp_path), run_one=run_one)
    with pytest.raises(LabError, match="already holds a run"):
        batch.run_batch(FakeParams(), batch.plan(["malloc"], 1), str(tmp_path), run_one=run_one)
    batch.run_batch(FakeParams(force=True), batch.plan(["malloc"], 1), str(tmp_path), run_one=run_one)
    assert len(calls) == 2


def test_progress_follows_the_run_that_is_running(tmp_path):
    (tmp_path / "calloc__r1").mkdir()
    (tmp_path / "calloc__r2").mkdir()
    initial = progress.Progress("calloc", "touching", 100, 30, 3, 10, 31012, 7771, 4.2)
    progress.ProgressFile(str(tmp_path / "calloc__r2"), initial)
    entries = [{"dir": "calloc__r1", "status": "complete"}, {"dir": "calloc__r2", "status": "running"},
               {"dir": "calloc__r3", "status": "pending"}]
    (tmp_path / vocab.BATCH_JSON).write_text(json.dumps({"status": "running", "entries": entries}))
    record = progress.poll_record(str(tmp_path), None)
    assert record["run"] == "calloc__r2" and record["lab_progress"]["touched_bytes"] == 30
    # One run of one variant: the record names the whole directory, as before --variants.
    (tmp_path / vocab.BATCH_JSON).write_text(json.dumps({"status": "running", "entries": entries[1:2]}))
    assert progress.poll_record(str(tmp_path), None)["run"] == tmp_path.name


def _host_archive(run_dir, host, variants, repeats, outcomes):
    run_one, _ = fake_run(outcomes)
    out = run_dir.parent / f"remote-{host}"
    batch.run_batch(FakeParams(), batch.plan(variants, repeats), str(out), run_one=run_one,
                    archive=runrecord.archive_path(str(run_dir), host))


def _plan(run_dir, variants, repeats):
    run_dir.mkdir(parents=True)
    plan = {"id": run_dir.name, "command": "ansible-playbook run.yml", "lab_version": "0.1.0", "lab_commit": "abc",
            "params": {"variants": variants, "repeats": repeats}, "targets": ["h1", "h2", "h3", "h4"]}
    (run_dir / runrecord.PLAN_JSON).write_text(json.dumps(plan))


def test_record_run_unpacks_every_host_and_judges_every_run(tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    _plan(run_dir, ["malloc", "calloc"], 1)
    _host_archive(run_dir, "h1", ["malloc", "calloc"], 1, {"calloc": "failed"})
    _host_archive(run_dir, "h2", ["malloc", "calloc"], 1, {})
    outcomes = {"h1": {"status": "failed", "reason": "1 of 2 runs did not complete"}, "h2": {"status": "ok", "reason": None},
                "h3": {"status": "unreachable", "reason": "no route"}, "h4": None}
    verdict = runrecord.record_run(str(run_dir), outcomes)
    record = json.loads((run_dir / vocab.RUN_JSON).read_text())
    hosts = record["hosts"]
    assert hosts["h1__malloc__r1"] == {"status": "ok", "reason": None}
    assert hosts["h1__calloc__r1"] == {"status": "failed", "reason": "calloc failed"}  # the agent's own reason
    assert hosts["h2__calloc__r1"]["status"] == "ok"
    assert hosts["h3__malloc__r1"] == {"status": "unreachable", "reason": "no route"}
    assert hosts["h4__calloc__r1"] == runrecord.VANISHED
    assert record["entries"]["h2__calloc__r1"] == {"host": "h2", "variant": "calloc", "repeat": 1}
    assert record["run_id"] == "r1" and record["params"]["variants"] == ["malloc", "calloc"]
    assert json.loads((run_dir / "h2__malloc__r1" / vocab.RESULTS).read_text())["complete"] is True
    assert not list(run_dir.glob("*.tar.gz")) and not list(run_dir.glob(".*.unpack"))
    assert os.readlink(tmp_path / "runs" / "latest") == "r1"
    assert verdict["total"] == 8 and verdict["ok"] == 3 and set(verdict["failed"]) == {
        "h1__calloc__r1", "h3__malloc__r1", "h3__calloc__r1", "h4__malloc__r1", "h4__calloc__r1"}


def test_one_variant_one_repeat_keeps_the_host_directory(tmp_path):
    run_dir = tmp_path / "r2"
    _plan(run_dir, ["malloc"], 1)
    _host_archive(run_dir, "h1", ["malloc"], 1, {})
    verdict = runrecord.record_run(str(run_dir), {"h1": {"status": "ok", "reason": None}})
    assert (run_dir / "h1" / vocab.RESULTS).exists() and verdict["failed"] == {}


def test_a_run_killed_before_it_could_say_keeps_the_hosts_reason(tmp_path):
    run_dir = tmp_path / "r3"
    _plan(run_dir, ["malloc"], 1)
    _host_archive(run_dir, "h1", ["malloc"], 1, {"malloc": "running"})
    runrecord.record_run(str(run_dir), {"h1": {"status": "failed", "reason": "Timeout exceeded"}})
    assert json.loads((run_dir / vocab.RUN_JSON).read_text())["hosts"]["h1"] == {
        "status": "failed", "reason": "Timeout exceeded"}


def test_a_results_json_that_is_no_run_record_is_a_failed_run_naming_the_field(tmp_path):
    run = tmp_path / "h1"
    run.mkdir()
    (run / vocab.RESULTS).write_text(json.dumps(dict(RECORD, complete="yes")))
    judged = runrecord.judge_dir(str(run), {"status": "ok", "reason": None})
    assert judged["status"] == "failed" and "complete" in judged["reason"], judged


def test_outcomes_on_stdin_a_hosts_failure_wins():
    text = json.dumps({"hosts": {"h1": {"status": "ok", "reason": None}, "h2": {}, "h3": {}},
                       "failures": {"h1": {}, "h2": {"status": "failed", "reason": "no python"}, "h3": {}}})
    assert runrecord.read_outcomes(text) == {"h1": {"status": "ok", "reason": None},
                                             "h2": {"status": "failed", "reason": "no python"}, "h3": None}
    for bad in ("[]", "{}", '{"hosts": {"h1": {"reason": "x"}}}', "not json"):
        with pytest.raises(LabError, match="record-run reads"):
            runrecord.read_outcomes(bad)


def test_record_run_refuses_a_directory_without_a_plan(tmp_path):
    with pytest.raises(LabError, match="plan.json"):
        runrecord.record_run(str(tmp_path), {})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "labagent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_check_lists_the_runs_and_their_whole_length():
    one = json.loads(_cli("run", "--check", "--out=.", "--pause=1", "--tail=1", "--variant=malloc").stdout)
    done = _cli("run", "--check", "--out=.", "--pause=1", "--tail=1", "--variants=malloc,calloc", "--repeats=2")
    listed = json.loads(done.stdout)
    assert [(e["variant"], e["repeat"]) for e in listed["entries"]] == [
        ("malloc", 1), ("malloc", 2), ("calloc", 1), ("calloc", 2)]
    assert listed["expected_s"] == pytest.approx(4 * one["expected_s"])


def test_repeats_without_variants_is_a_mistake():
    done = _cli("run", "--check", "--out=.", "--repeats=2")
    assert done.returncode == 2 and "--variants" in done.stderr and "Traceback" not in done.stderr


def test_no_role_builds_the_run_layout_in_jinja():
    """The <variant>__r<k> layout and run.json are Python's (batch, runrecord): no role or play names it,
    and no Jinja builds data with `set _ = ...update/append`."""
    for path in list((ROOT / "roles").glob("lab*/**/*.yml")) + list((ROOT / "playbooks").glob("*.yml")):
        text = "\n".join(line.split(" # ")[0] for line in path.read_text().splitlines()
                          if not line.lstrip().startswith("#"))
        assert "__r" not in text, path
        assert "set _ =" not in text, path


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_long_poll_waits_for_the_job_and_brings_its_result(tmp_path):
    job = tmp_path / "job"
    job.write_text(json.dumps({"started": True, "finished": False, "ansible_job_id": "1"}))
    clock = FakeClock()
    record = progress.poll_record(str(tmp_path), str(job), 1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert record["finished"] is False and record["job"] is None
    assert sum(clock.slept) == pytest.approx(1.0) and max(clock.slept) <= progress.POLL_S
    job.write_text(json.dumps({"rc": 1, "stderr": "labagent: 1 of 2 runs did not complete\n\n", "msg": "non-zero return code"}))
    clock = FakeClock()
    record = progress.poll_record(str(tmp_path), str(job), 5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert clock.slept == [] and record["finished"] is True  # no wait once the job has ended
    assert record["job"] == {"rc": 1, "msg": "non-zero return code", "stderr": "labagent: 1 of 2 runs did not complete"}
    # The async timeout's own result: no rc, Ansible's message.
    job.write_text(json.dumps({"msg": "Timeout exceeded", "failed": True, "child_pid": 4242}))
    assert progress.poll_record(str(tmp_path), str(job))["job"] == {"rc": None, "msg": "Timeout exceeded", "stderr": ""}


def test_plan_run_writes_the_plan_and_never_overwrites_a_run(tmp_path):
    run_dir = tmp_path / "runs" / "r9"
    path = runrecord.plan_run(str(run_dir), json.dumps({"id": "r9", "params": {"variants": ["malloc"], "repeats": 1}}))
    assert json.loads(Path(path).read_text())["id"] == "r9"
    (run_dir / vocab.RUN_JSON).write_text("{}")
    with pytest.raises(LabError, match="runs/r9 already holds a run; choose another lab_run_id"):
        runrecord.plan_run(str(run_dir), json.dumps({"id": "r9"}))
    assert (run_dir / vocab.RUN_JSON).read_text() == "{}"
    with pytest.raises(LabError, match="lab_run fact"):
        runrecord.plan_run(str(run_dir), "[]")
