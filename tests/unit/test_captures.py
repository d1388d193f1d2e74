"""The capture tools' declarations (labagent/captures.py) against a real agent run's raw/ directory,
and `what does this host lack` with an injected PATH lookup."""
import json
from pathlib import Path

import pytest

from labagent import captures, tools, vocab

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
