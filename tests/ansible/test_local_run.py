"""`ansible-playbook run.yml` on the embedded default inventory (this machine)."""
import json
import os
import shlex
import shutil
import uuid

import pytest

from .playbook import SMALL, ansible_playbook, extra_vars, task_results

pytestmark = [pytest.mark.slow, pytest.mark.needs_package("gcc", "gcc"), pytest.mark.needs_package("sar", "sysstat")]


# This machine keeps each run's results in /tmp/malloc-lab/runs/<run_id> too (the agent never
# overwrites one): every test session needs run ids of its own.
SESSION = uuid.uuid4().hex[:8]
FIRST, SECOND = f"first-{SESSION}", f"second-{SESSION}"
# This session's own lab_remote_dir: other checkouts testing on this machine copy their own agent
# into the default /tmp/malloc-lab, which would make the second run put the agent again.
REMOTE = f"/tmp/malloc-lab-test-{SESSION}"
# The first run's command line also carries a word with spaces and quotes in it, and a secret, for the
# writeup's Reproduce line (plugins/lookup/lab_controller_command.py).
WORDS = '{"malloc_lab_test_words": "two words, \'quoted\'"}'
SECRET = "hunter2-" + SESSION


def first_args(runs):
    return extra_vars(dict(SMALL, lab_runs_dir=str(runs), lab_run_id=FIRST, lab_remote_dir=REMOTE)) + [
        "-e", WORDS, "-e", f"malloc_lab_test_token={SECRET}"]


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    try:
        first = ansible_playbook(first_args(runs))
        second = ansible_playbook(extra_vars(dict(SMALL, lab_runs_dir=str(runs), lab_run_id=SECOND,
                                                  lab_remote_dir=REMOTE)))
        yield runs, first, second
    finally:
        shutil.rmtree(REMOTE, ignore_errors=True)


def test_local_run_leaves_complete_results(local_runs):
    runs, first, _ = local_runs
    assert first.returncode == 0, first.stdout[-3000:]
    host = runs / FIRST / "localhost"
    data = json.loads((host / "results.json").read_text())
    assert data["complete"] is True
    assert data["params"]["size_bytes"] == 8 * 1024 * 1024
    assert (host / "raw" / "program.log").exists() and (host / "samples.csv").exists()
    # The writeups: this host's and the run's index, with the plots they link.
    writeup = (host / "README.md").read_text()
    assert "localhost" in writeup and "0x10" in writeup
    assert (runs / FIRST / "README.md").exists()
    assert list((host / "plots").glob("*.svg"))
    assert not (host / "allocate").exists()  # the binary stays on the host
    record = json.loads((runs / FIRST / "run.json").read_text())
    assert record["hosts"] == {"localhost": {"status": "ok", "reason": None}}
    assert record["run_id"] == FIRST
    # The command as a shell takes it back: the script by its name (PATH finds it: the test puts the venv
    # first), every word whole, the secret's value redacted, here and in every file the run wrote.
    expected = ["ansible-playbook", "run.yml"] + first_args(runs)
    expected[-1] = "malloc_lab_test_token=<redacted>"
    assert shlex.split(record["command"]) == expected
    assert f"`{FIRST}`" in writeup and shlex.join(expected) in writeup
    # ... and what it does not set: this machine's THP mode, as the host recorded it.
    thp = data["host"].get("thp_enabled")
    assert thp and f"The command does not set the host's memory settings: transparent huge pages were `{thp}`" in writeup
    leaked = [str(p) for p in (runs / FIRST).rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaked
    assert record["params"]["size"] == "8MiB"


def test_latest_points_at_the_newest_run(local_runs):
    runs, _, second = local_runs
    assert second.returncode == 0, second.stdout[-3000:]
    assert os.readlink(runs / "latest") == SECOND


def test_second_run_changes_nothing_it_need_not(local_runs):
    _, first, second = local_runs
    # Whatever this machine lacked before (a fresh one lacks sysstat), the first run installed it or
    # found it; the second, right after it in this fixture, finds every tool: no install, no become.
    # Nothing here depends on what an earlier test (or the machine's history) installed.
    assert task_results(first.stdout, "Install the missing tools") in ({"localhost": "skipping"},
                                                                      {"localhost": "changed"})
    assert task_results(second.stdout, "Install the missing tools") == {"localhost": "skipping"}
    # A host that lacks nothing starts its agent in the check's own command; one that had to install
    # first starts it in the next task.
    installed = task_results(first.stdout, "Install the missing tools") == {"localhost": "changed"}
    assert task_results(first.stdout, "Start the experiment") == {"localhost": "changed" if installed else "skipping"}
    assert task_results(second.stdout, "Start the experiment") == {"localhost": "skipping"}
    # The agent file is byte-identical (content-named), the directory already there.
    # One step puts the agent (already there: not transferred again) and asks it what the host lacks.
    assert task_results(second.stdout, "Put the agent on the host and ask it what the host lacks") == {"localhost": "ok"}


# The sizes and intervals are the agent's rules, which the playbook asks it about (`run --check
# --name-options-as=lab_`): tested in Python (tests/integration/test_agent_cli.py); one case here shows
# its line reaches the user. The other rules live in the playbook.
@pytest.mark.parametrize("knob,value,message", [
    ("lab_size", "lots", "lab_size: 'lots' is not a size"),
    ("lab_variants", "malloc,jemalloc", "lab_variants"),
    ("lab_variants", "calloc,calloc", "lab_variants must name each variant once"),
    ("lab_repeats", "0", "lab_repeats must be 1 to 100"),
    ("lab_lang", "fr", "lab_lang"),
    ("lab_run_id", "../escape", "lab_run_id"),
    ("lab_run_id", "a/b", "lab_run_id"),
])
def test_bad_knobs_fail_before_any_host_is_touched(tmp_path, knob, value, message):
    done = ansible_playbook(extra_vars({knob: value, "lab_runs_dir": str(tmp_path)}))
    assert done.returncode != 0
    assert message in done.stdout, done.stdout[-3000:]
    assert "Run the experiment on every host" not in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("lang", ["[en,ja]", "en,ja"])
def test_both_languages_as_typed_on_the_command_line_pass_the_language_check(tmp_path, lang):
    # -e lab_lang=[en,ja] reaches the playbook as the string "[en,ja]". The run id check comes after the
    # language check: failing on the run id shows the languages passed.
    done = ansible_playbook(["-e", f"lab_lang={lang}", "-e", "lab_run_id=../x", "-e", f"lab_runs_dir={tmp_path}"])
    assert done.returncode != 0
    assert "lab_lang must" not in done.stdout, done.stdout[-3000:]
    assert "lab_run_id" in done.stdout, done.stdout[-3000:]


# -e lab_command=...: the recorder's rules, asked once (`record --check`), named as the user's variables.
@pytest.mark.parametrize("args,message", [
    (["-e", json.dumps({"lab_command": "python3 -c 'print(1)"})],  # JSON: the quotes as typed
     "lab_command \"python3 -c 'print(1)\" cannot be split into words"),
    (["-e", json.dumps({"lab_command": "sleep 5", "lab_command_duration": "soon"})],
     "lab_command_duration: 'soon' is not a duration"),
    (["-e", "lab_command=sleep 5"],  # Ansible keeps `sleep` and puts `5` aside: never record a wrong command
     "an -e value with spaces kept only its first word (5 were left over)"),
])
def test_bad_recording_knobs_fail_before_any_host_is_touched(tmp_path, args, message):
    done = ansible_playbook([*args, "-e", f"lab_runs_dir={tmp_path}"])
    assert done.returncode != 0
    assert message in " ".join(done.stdout.split()), done.stdout[-3000:]
    assert "Run the experiment on every host" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_host_names_that_escape_runs_are_refused(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    '../evil':\n      ansible_connection: local\n")
    done = ansible_playbook(["-i", str(inventory), *extra_vars({"lab_runs_dir": str(tmp_path / "runs")})])
    assert done.returncode != 0
    assert "cannot name a directory under runs/" in done.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_taken_run_id_is_never_overwritten(local_runs):
    runs, _, _ = local_runs
    before = (runs / FIRST / "run.json").read_bytes()
    done = ansible_playbook(extra_vars(dict(SMALL, lab_runs_dir=str(runs), lab_run_id=FIRST)))
    assert done.returncode != 0 and "already holds a run" in done.stdout
    assert (runs / FIRST / "run.json").read_bytes() == before


def test_variants_and_repeats_each_get_a_run(tmp_path):
    run_id = f"variants-{SESSION}"
    done = ansible_playbook(extra_vars(dict(SMALL, lab_runs_dir=str(tmp_path), lab_run_id=run_id,
                                            lab_variants="malloc,mmap-populate", lab_repeats="2")))
    assert done.returncode == 0, done.stdout[-3000:]
    record = json.loads((tmp_path / run_id / "run.json").read_text())
    names = {f"localhost__{v}__r{k}" for v in ("malloc", "mmap-populate") for k in (1, 2)}
    assert set(record["hosts"]) == names == set(record["entries"])
    assert all(s["status"] == "ok" for s in record["hosts"].values())
    assert record["params"]["variants"] == ["malloc", "mmap-populate"] and record["params"]["repeats"] == 2
    for name, entry in record["entries"].items():
        data = json.loads((tmp_path / run_id / name / "results.json").read_text())
        assert data["params"]["variant"] == entry["variant"]
    populated = json.loads((tmp_path / run_id / "localhost__mmap-populate__r2" / "results.json").read_text())
    assert populated["summary"]["fault_mode"] == "prefaulted"
