"""The capture tools' declarations (labagent/captures.py) against a real agent run's raw/ directory,
and `what does this host lack` with an injected PATH lookup."""
import dataclasses
import json
import signal
import time
from pathlib import Path

import pytest

from labagent import captures, record, tools, vocab

RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "debian12-madvise"  # see its NOTE.md


@pytest.mark.parametrize("capture", [c for c in captures.CAPTURES if c.parser is not None], ids=lambda c: c.name)
def test_each_parsed_capture_reads_its_raw_file_from_a_real_run(capture):
    phase = "baseline" if capture.schedule == captures.EACH_PHASE else ""
    path = RUN / vocab.RAW_DIR / capture.raw_name(phase)
    parsed = capture.parser(path.read_text())
    assert parsed  # a parser raises on text it cannot read; an empty record would be a wrong file


def test_every_raw_file_of_a_real_run_is_declared():
    declared = {vocab.PROGRAM_LOG, vocab.PROGRAM_STDERR}
    phases = [p for p in vocab.PHASES]
    for capture in captures.CAPTURES:
        names = [capture.raw_name(p) for p in phases] if capture.schedule == captures.EACH_PHASE else [capture.raw_name()]
        declared.update(names)
    on_disk = {p.name for p in (RUN / vocab.RAW_DIR).iterdir()}
    assert on_disk <= declared, on_disk - declared


def test_results_json_names_the_raw_files_as_declared():
    data = json.loads((RUN / vocab.RESULTS).read_text())
    assert data["tools"]["sar"]["raw"] == vocab.raw_path(captures.SAR_R.raw_name())
    assert data["tools"]["sar"]["command"] == " ".join(captures.SAR_R.command)
    assert data["tools"]["ps_loop"]["raw"] == vocab.raw_path(captures.PS_LOOP.raw_name())
    assert captures.PS_U.argv(data["workload"]["pid"])[:3] == ["ps", "u", "-p"]


def test_commands_substitute_the_workload_pid():
    assert captures.PS_LOOP.argv(42) == ["ps", "-o", "pid=,comm=,vsz=,rss=,maj_flt=,min_flt=", "-p", "42"]
    assert captures.MAPS.argv(42) == ["cat", "/proc/42/maps"]
    assert captures.FREE_B.raw_name("touched") == "free-b-touched.txt"


def test_install_hints_come_from_the_declarations():
    assert tools.INSTALL_HINTS["sar"] == "install sysstat (dnf install sysstat / apt-get install sysstat)"
    assert tools.INSTALL_HINTS["gcc"] == "install gcc (dnf install gcc glibc-devel / apt-get install gcc libc6-dev)"
    assert tools.INSTALL_HINTS["free"] == "install procps (dnf install procps-ng / apt-get install procps)"
    assert set(tools.INSTALL_HINTS) == {p.name for p in captures.PROGRAMS}


def _which_without(*absent):
    return lambda name: None if name in absent else f"/usr/bin/{name}"


@pytest.mark.parametrize("family,packages", [
    ("RedHat", ["gcc", "glibc-devel", "sysstat", "procps-ng"]),
    ("Debian", ["gcc", "libc6-dev", "sysstat", "procps"]),
    ("Suse", ["gcc", "sysstat", "procps"]),
    (None, ["gcc", "sysstat", "procps"]),
])
def test_missing_programs_name_the_packages_of_the_os_family(family, packages):
    report = captures.missing_programs(family, which=_which_without("gcc", "sar", "ps", "free"))
    assert report["packages"] == packages  # each package once, in declaration order
    assert [m["program"] for m in report["missing"]] == ["gcc", "sar", "ps", "free"]
    assert report["os_family"] == (family if family in ("RedHat", "Debian") else "default")


def test_a_host_with_everything_lacks_nothing():
    assert captures.missing_programs("Debian", which=_which_without()) == \
        {"os_family": "Debian", "missing": [], "packages": []}


def test_a_program_whose_probe_fails_is_missing():
    # the probe runs a real command: `false` stands in for gcc without <stdio.h>
    def program(probe):
        return captures.Program("gcc", "gcc", captures.GCC.packages, "building", probe=probe)
    assert not captures._works(program(("false",)), _which_without())
    assert captures._works(program(("true",)), _which_without())
    assert not captures._works(program(("true",)), _which_without("gcc"))


def test_each_schedule_runs_its_declared_captures_in_order():
    assert [c.name for c in captures.scheduled(captures.CONTINUOUS)] == ["sar", "ps_loop"]
    assert [c.name for c in captures.scheduled(captures.CONTINUOUS, needs_pid=False)] == ["sar"]
    assert [c.name for c in captures.scheduled(captures.EACH_PHASE)] == ["maps", "free_h", "free_b"]
    # gcc is run by workload.build_workload, not by a schedule
    assert [c.name for c in captures.scheduled(captures.ONCE, needs_pid=False)] == ["uname", "os_release"]
    assert [c.name for c in captures.scheduled(captures.ONCE, needs_pid=True)] == ["ps_aux"]


def test_the_programs_a_host_needs_are_the_captures_and_the_playbooks():
    assert [p.name for p in captures.PROGRAMS] == ["gcc", "sar", "ps", "free", "uname", "cat", "tar"]


def test_a_continuous_process_capture_runs_its_declared_command_and_stops_on_sigint(tmp_path):
    # a stand-in for sar: a real command that prints and waits until ^C
    ticker = captures.Capture("ticker", ("sh", "-c", "echo started {pid}; exec sleep 30"), captures.CONTINUOUS,
                              lambda _p: "ticker.txt", None, None)
    assert ticker.needs_pid and ticker.text == "sh -c echo started {pid}; exec sleep 30"
    process = tools.ProcessCapture(ticker, str(tmp_path / "ticker.txt"), pid=7)
    # As when the agent is a script's background job (`labagent run ... &`): SIGINT ignored, which a child
    # would inherit through exec; the capture's command still gets it at its default, as ^C needs.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, before)
    # Until sleep runs: dash catches SIGINT while it runs `sh -c` and acts on it only at its next check,
    # so a ^C between its echo and its exec would be lost with the exec (the test saw -9 once, under load).
    comm = Path(f"/proc/{process.proc.pid}/comm")
    deadline = time.monotonic() + 60
    while not ((tmp_path / "ticker.txt").read_text() and comm.read_text() == "sleep\n") and time.monotonic() < deadline:
        time.sleep(0.01)
    status = Path(f"/proc/{process.proc.pid}/status").read_text()
    assert comm.read_text() == "sleep\n", status  # the shell has exec'd sleep (else the wait above timed out)
    began = time.monotonic()
    assert process.stop() == -2, (round(time.monotonic() - began, 2),  # SIGINT, as ^C
                                  [line for line in status.splitlines() if line.startswith("Sig")])
    assert (tmp_path / "ticker.txt").read_text() == "started 7\n"


def test_what_a_per_phase_capture_keeps_in_the_snapshot_is_a_field_of_the_record():
    # `inline` and `parsed_as` name fields of record.Snapshot; any other per-phase capture is listed
    # in Snapshot.captures only, so a new one needs no new field
    fields = {f.name for f in dataclasses.fields(record.Snapshot)}
    for capture in captures.scheduled(captures.EACH_PHASE):
        if capture.inline:
            assert capture.name in fields, capture.name
        if capture.parsed_as is not None:
            assert capture.parsed_as in fields and capture.parser is not None, capture.name
    assert "captures" in fields
    # the continuous captures whose rows go to a field of their own: only sar, from before
    rows_fields = {c.rows_field for c in captures.CAPTURES if c.rows_field}
    assert rows_fields == {"sar"} <= {f.name for f in dataclasses.fields(record.RunRecord)}


def test_tool_versions_come_from_the_declared_programs():
    versions = tools.tool_versions()
    assert list(versions) == ["gcc", "sysstat", "procps", "python"]  # results.json's keys, as before
    for package, word in (("gcc", "gcc"), ("sysstat", "sysstat"), ("procps", "procps")):
        program = next(p for p in captures.PROGRAMS if p.package == package)
        if tools.which(program.name):
            assert word in versions[package], versions[package]
        else:
            assert versions[package] is None
    assert versions["python"].startswith("Python 3.")
