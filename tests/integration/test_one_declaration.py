"""One declaration is enough: a throwaway variant added to labagent/variants.py in a copy of the
repo is accepted by the CLI, the validation and the lab role's argument_specs (after
scripts/sync-roles.py, whose --check first names the stale line), with no other edit; a capture tool
(`vmstat 1`) added to labagent/captures.py is run, kept in raw/, parsed and listed in results.json by a
live run and a live recording, and a per-phase capture (/proc/PID/status) is listed in every snapshot
that had the process, with no new field in the record."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
THROWAWAY = ('    Variant("throwaway", "a variant that exists only in this test", "malloc", frees=True,\n'
             '            figures=("vsz_freed_delta_kib",)),\n')


def _copy(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "labagent", copy / "labagent", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "roles" / "lab", copy / "roles" / "lab")
    (copy / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "sync-roles.py", copy / "scripts")
    return copy


def _declare(copy):
    path = copy / "labagent" / "variants.py"
    text = path.read_text()
    end = "\n)\n\nNAMES"
    assert text.count(end) == 1
    path.write_text(text.replace(end, "\n" + THROWAWAY.rstrip("\n") + "\n)\n\nNAMES"))


def _run(copy, *argv):
    return subprocess.run([sys.executable, *argv], cwd=copy, capture_output=True, text=True, timeout=60)


def test_a_new_variant_needs_only_its_declaration(tmp_path):
    copy = _copy(tmp_path)
    # before: the real repo's declarations do not know it
    refused = _run(copy, "-m", "labagent", "run", "--check", "--out", ".", "--variant", "throwaway")
    assert refused.returncode == 2 and "invalid choice: 'throwaway'" in refused.stderr
    _declare(copy)

    help_text = _run(copy, "-m", "labagent", "run", "--help").stdout
    assert ",throwaway}" in help_text
    checked = _run(copy, "-m", "labagent", "run", "--check", "--out", ".", "--variant", "throwaway",
                   "--size", "10MiB", "--step", "4MiB")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["steps"] == 3
    words = _run(copy, "-c", "from labagent import vocab, variants, experiment as e; "
                             "print(vocab.VARIANTS[-1], variants.get('throwaway').phases[-2], "
                             "e.Params(variant='throwaway').steps)")
    assert words.stdout.split() == ["throwaway", "freed", "10"], words.stderr

    stale = _run(copy, "scripts/sync-roles.py", "--check")
    assert stale.returncode == 1
    assert "roles/lab/meta/argument_specs.yml:" in stale.stderr and "throwaway" in stale.stderr
    synced = _run(copy, "scripts/sync-roles.py")
    assert synced.returncode == 0, synced.stderr
    assert _run(copy, "scripts/sync-roles.py", "--check").returncode == 0
    specs = yaml.safe_load((copy / "roles/lab/meta/argument_specs.yml").read_text())
    assert specs["argument_specs"]["main"]["options"]["lab_variants"]["choices"][-1] == "throwaway"
    # only that line changed
    before = (ROOT / "roles/lab/meta/argument_specs.yml").read_text().splitlines()
    after = (copy / "roles/lab/meta/argument_specs.yml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert changed[0][1] == changed[0][0].replace("]", ", throwaway]")
    assert (copy / "roles/lab/defaults/main.yml").read_text() == (ROOT / "roles/lab/defaults/main.yml").read_text()


def test_a_changed_default_is_written_to_the_role(tmp_path):
    copy = _copy(tmp_path)
    path = copy / "labagent" / "knobs.py"
    path.write_text(path.read_text().replace('"--size", "size_bytes", "100MiB"', '"--size", "size_bytes", "64MiB"'))
    assert _run(copy, "scripts/sync-roles.py", "--check").returncode == 1
    assert _run(copy, "scripts/sync-roles.py").returncode == 0
    assert yaml.safe_load((copy / "roles/lab/defaults/main.yml").read_text())["lab_size"] == "64MiB"


# -- a capture tool: one declaration in labagent/captures.py (its parser, parsers.parse_vmstat, is
# tested in tests/unit/test_parsers.py); the phase script and the recorder run it from the declaration.
VMSTAT = ('    Capture("vmstat", ("vmstat", "1"), CONTINUOUS, _fixed("vmstat-1.txt"), parsers.parse_vmstat,\n'
          '            Program("vmstat", "procps", PS.packages, "vmstat 1"), to_rows=as_rows),\n')
RUN_FAST = ["--size", "4MiB", "--step", "2MiB", "--step-interval", "0.05", "--sample-interval", "0.05",
            "--pause", "0", "--tail", "1.5", "--no-imds", "--quiet"]


def _declare_vmstat(copy):
    path = copy / "labagent" / "captures.py"
    text = path.read_text()
    end = ", PS_U)\n"
    assert text.count(end) == 1
    path.write_text(text.replace(end, ", PS_U,\n" + VMSTAT.rstrip(",\n") + ")\n"))


def _check_vmstat_listed(out):
    data = json.loads((out / "results.json").read_text())
    tool = data["tools"]["vmstat"]
    assert tool["available"] and tool["raw"] == "raw/vmstat-1.txt" and tool["command"] == "vmstat 1"
    text = (out / "raw" / "vmstat-1.txt").read_text()
    assert text.splitlines()[1].split()[:4] == ["r", "b", "swpd", "free"]  # vmstat's own output, verbatim
    rows = tool["rows"]
    assert tool["parse"] == {"ok": True, "rows": len(rows), "error": None} and len(rows) >= 1
    assert rows[0]["values"]["free"] > 0  # KiB free, as vmstat printed it
    return data


@pytest.mark.skipif(shutil.which("vmstat") is None or shutil.which("gcc") is None, reason="needs vmstat and gcc")
def test_a_new_capture_tool_needs_only_its_declaration(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "labagent", copy / "labagent", ignore=shutil.ignore_patterns("__pycache__"))
    before = _run(copy, "-m", "labagent", "run", "--out", str(tmp_path / "before"), *RUN_FAST)
    assert before.returncode == 0, before.stderr
    assert "vmstat" not in json.loads((tmp_path / "before" / "results.json").read_text())["tools"]
    _declare_vmstat(copy)

    # a run: started before the workload, stopped after it, parsed, listed in tools.vmstat
    ran = _run(copy, "-m", "labagent", "run", "--out", str(tmp_path / "run"), *RUN_FAST)
    assert ran.returncode == 0, ran.stderr
    data = _check_vmstat_listed(tmp_path / "run")
    assert data["complete"] and data["tools"]["sar"]["available"] == (shutil.which("sar") is not None)
    # a recording of any command: the same declaration, the recorder's own schedule
    recorded = _run(copy, "-m", "labagent", "record", "--out", str(tmp_path / "rec"), "--sample-interval", "0.1",
                    "--no-imds", "--quiet", "--", "sleep", "1.5")
    assert recorded.returncode == 0, recorded.stderr
    _check_vmstat_listed(tmp_path / "rec")
    # check-tools knows the program it needs, and where it comes from
    words = _run(copy, "-c", "from labagent import captures, tools; "
                             "print(captures.PROGRAMS[-2].name, tools.INSTALL_HINTS['vmstat'])")
    assert words.stdout.split()[:3] == ["vmstat", "install", "procps"], words.stderr
    # and the recorded file validates against the published schema (tools are open-ended JSON)
    schema = json.loads((ROOT / "docs" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)


PROC_STATUS = ('    Capture("proc_status", ("cat", "/proc/{pid}/status"), EACH_PHASE,\n'
               '            lambda phase: f"status-{phase}.txt", parsers.parse_proc_status, CAT),\n')


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_new_per_phase_capture_needs_no_new_field_in_the_record(tmp_path):
    # /proc/PID/status at every phase boundary: one declaration; each snapshot lists its raw file under
    # `captures` (record.Snapshot has no field for it), and a phase without the process has none
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "labagent", copy / "labagent", ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "labagent" / "captures.py"
    text = path.read_text()
    assert text.count(", PS_U)\n") == 1
    path.write_text(text.replace(", PS_U)\n", ", PS_U,\n" + PROC_STATUS.rstrip(",\n") + ")\n"))
    ran = _run(copy, "-m", "labagent", "run", "--out", str(tmp_path / "run"), "--variant", "free", *RUN_FAST)
    assert ran.returncode == 0, ran.stderr
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    for phase, snap in data["snapshots"].items():
        if phase == "exited":
            assert "proc_status" not in snap["captures"]
            continue
        assert snap["captures"]["proc_status"] == f"raw/status-{phase}.txt"
        status = (tmp_path / "run" / "raw" / f"status-{phase}.txt").read_text()
        assert f"Pid:\t{data['workload']['pid']}" in status  # the workload's own, at that boundary
    assert set(data["snapshots"]) == {"baseline", "allocated", "touched", "freed", "exited"}
    schema = json.loads((ROOT / "docs" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
