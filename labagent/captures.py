"""The tools the agent runs beside the workload, each declared once: its command, when it runs, its raw
file, its parser, and the package that provides it on each OS family. The agent, its error hints,
`labagent check-tools` and the lab_prepare role (through check-tools) read this.

Adding a capture (say `vmstat 1`): one Capture here (with its Program), its parser in parsers.py with
tests. The phase script and the recorder run it from the declaration and list it in results.json
(tests/integration/test_one_declaration.py shows it).
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import parsers, procfs, vocab

# OS families as Ansible's ansible_facts['os_family'] names them; DEFAULT_FAMILY for any other.
REDHAT = "RedHat"
DEBIAN = "Debian"
DEFAULT_FAMILY = "default"

# When a capture runs.
CONTINUOUS = "continuous"  # started before the workload, stopped after it exits
EACH_PHASE = "each phase"  # at every phase boundary, while the workload waits
ONCE = "once"  # once per run


@dataclass(frozen=True)
class Program:
    """An executable the agent or the playbook needs on a host, and what provides it."""

    name: str  # as looked up on PATH
    package: str  # the package's common name, for messages
    packages: Mapping[str, Tuple[str, ...]]  # per OS family (and DEFAULT_FAMILY)
    needed_for: str  # why, in a few words
    # A command that must also succeed (fed probe_input on stdin): gcc is not enough without libc headers.
    probe: Tuple[str, ...] = ()
    probe_input: str = ""
    # The command whose first line says its version: results.json tools.versions.<package>.
    version: Tuple[str, ...] = ()

    def packages_for(self, os_family: Optional[str]) -> Tuple[str, ...]:
        return self.packages.get(os_family or DEFAULT_FAMILY, self.packages[DEFAULT_FAMILY])

    @property
    def hint(self) -> str:
        """How to get it, for a one-line error: install sysstat (dnf install sysstat / apt-get install sysstat)."""
        return (f"install {self.package} (dnf install {' '.join(self.packages[REDHAT])} / "
                f"apt-get install {' '.join(self.packages[DEBIAN])})")


def _same(*names: str) -> Dict[str, Tuple[str, ...]]:
    return {REDHAT: names, DEBIAN: names, DEFAULT_FAMILY: names}


GCC = Program("gcc", "gcc", {REDHAT: ("gcc", "glibc-devel"), DEBIAN: ("gcc", "libc6-dev"), DEFAULT_FAMILY: ("gcc",)},
              "building allocate.c", probe=("gcc", "-E", "-x", "c", "-"), probe_input="#include <stdio.h>\n",
              version=("gcc", "--version"))
SAR = Program("sar", "sysstat", _same("sysstat"), "sar -r 1", version=("sar", "-V"))
PS = Program("ps", "procps", {REDHAT: ("procps-ng",), DEBIAN: ("procps",), DEFAULT_FAMILY: ("procps",)},
             "the capture.sh ps loop and ps u", version=("ps", "--version"))
FREE = Program("free", "procps", {REDHAT: ("procps-ng",), DEBIAN: ("procps",), DEFAULT_FAMILY: ("procps",)},
               "free -h and free -b at every phase")
UNAME = Program("uname", "coreutils", _same("coreutils"), "uname -a")
CAT = Program("cat", "coreutils", _same("coreutils"), "cat /etc/os-release")
TAR = Program("tar", "tar", _same("tar"), "the playbook packs a run's directory with tar to fetch it")


@dataclass(frozen=True)
class Capture:
    """One tool's output kept verbatim in raw/ and parsed for the numbers. The phase script and the
    recorder (run_record.Run) run every capture from its declaration, by its schedule:

    - CONTINUOUS: started before the workload (at baseline when its command names "{pid}"), stopped
      after it exits. A process (sar -r 1) writes its stdout to the raw file and is stopped with SIGINT
      like ^C in a terminal; a `polled` one (capture.sh's ps line) is run once a second by the agent.
      Listed in results.json's tools.<name>; its parsed rows (to_rows) go to tools.<name>.rows, or to
      results.json's top-level `rows_field` (sar, from before captures were generic).
    - EACH_PHASE: at every phase boundary; the snapshot lists its raw file under captures.<name>
      (`inline`: its text also in the snapshot under its name; `parsed_as`: the snapshot field its
      parsed record goes to).
    - ONCE: once per run, before the workload starts (at baseline when its command names "{pid}");
      listed in tools.<name>. `automatic` False: run by its own code (gcc: workload.build_workload).
    """

    name: str  # its key in results.json (tools, snapshots)
    command: Tuple[str, ...]  # as typed; "{pid}" is the workload's PID
    schedule: str  # CONTINUOUS, EACH_PHASE or ONCE
    raw: Callable[[str], str]  # the raw/ file name, given the phase ("" when not per phase)
    parser: Optional[Callable[[str], Any]]  # text -> typed record (parsers.py)
    program: Optional[Program]  # what provides it; None: the agent reads /proc itself
    read: Optional[Callable[[int, str], str]] = None  # (pid, proc root) -> text, read by the agent itself
    polled: bool = False
    to_rows: Optional[Callable[[Any], List[Dict[str, Any]]]] = None  # parsed -> JSON rows (as_rows)
    rows_field: Optional[str] = None
    inline: bool = False
    parsed_as: Optional[str] = None
    automatic: bool = True

    def argv(self, pid: Optional[int] = None) -> List[str]:
        return [part.replace("{pid}", str(pid)) for part in self.command]

    def raw_name(self, phase: str = "") -> str:
        return self.raw(phase)

    @property
    def needs_pid(self) -> bool:
        """Whether it captures the workload (or recorded process) itself: it waits for its PID."""
        return any("{pid}" in part for part in self.command)

    @property
    def text(self) -> str:
        """The command as results.json and the writeup name it: sar -r 1."""
        return " ".join(self.command)


def _fixed(name: str) -> Callable[[str], str]:
    return lambda _phase: name


def as_rows(parsed: Any) -> List[Dict[str, Any]]:
    """A parser's rows (frozen dataclasses) as JSON objects, one per row."""
    return [dataclasses.asdict(row) for row in parsed]


def _sar_rows(report: parsers.SarMemReport) -> List[Dict[str, Any]]:
    return [{"time": r.time, "seconds": r.seconds, **r.values} for r in report.rows]


# capture.sh's ps line: `date` output, then ps with its own column widths.
PS_FIELDS = "pid=,comm=,vsz=,rss=,maj_flt=,min_flt="

GCC_BUILD = Capture("gcc", ("gcc", vocab.WORKLOAD_SOURCE, "-o", vocab.WORKLOAD_BINARY), ONCE, _fixed(vocab.GCC_LOG),
                    None, GCC, automatic=False)
SAR_R = Capture("sar", ("sar", "-r", "1"), CONTINUOUS, _fixed(vocab.SAR_R), parsers.parse_sar_r, SAR,
                to_rows=_sar_rows, rows_field="sar")
PS_LOOP = Capture("ps_loop", ("ps", "-o", PS_FIELDS, "-p", "{pid}"), CONTINUOUS, _fixed(vocab.CAPTURE_LOG),
                  parsers.parse_capture, PS, polled=True)
MAPS = Capture("maps", ("cat", "/proc/{pid}/maps"), EACH_PHASE, vocab.maps_file, parsers.parse_maps, None,
               read=procfs.read_maps, inline=True)
FREE_H = Capture("free_h", ("free", "-h"), EACH_PHASE, vocab.free_h_file, parsers.parse_free, FREE, inline=True)
FREE_B = Capture("free_b", ("free", "-b"), EACH_PHASE, vocab.free_b_file, parsers.parse_free, FREE, inline=True,
                 parsed_as="free")
UNAME_A = Capture("uname", ("uname", "-a"), ONCE, _fixed(vocab.UNAME), parsers.parse_uname, UNAME)
OS_RELEASE = Capture("os_release", ("cat", "/etc/os-release"), ONCE, _fixed(vocab.OS_RELEASE),
                     parsers.parse_os_release, CAT)
PS_U = Capture("ps_aux", ("ps", "u", "-p", "{pid}"), ONCE, _fixed(vocab.PS_AUX), parsers.parse_ps_aux, PS)

# Every capture, in the order each schedule runs them (free -h before free -b at a phase boundary).
CAPTURES: Tuple[Capture, ...] = (GCC_BUILD, SAR_R, PS_LOOP, MAPS, FREE_H, FREE_B, UNAME_A, OS_RELEASE, PS_U)


def scheduled(schedule: str, needs_pid: Optional[bool] = None) -> Tuple[Capture, ...]:
    """The automatic captures of a schedule, in declaration order; with needs_pid, only those that
    do (True) or do not (False) wait for the process's PID."""
    return tuple(c for c in CAPTURES if c.schedule == schedule and c.automatic
                 and (needs_pid is None or c.needs_pid == needs_pid))


def _programs() -> Tuple[Program, ...]:
    out: List[Program] = []
    for program in [c.program for c in CAPTURES] + [TAR]:
        if program is not None and program.name not in [p.name for p in out]:
            out.append(program)
    return tuple(out)


# Every program a host needs: the captures' (in their order), then the playbook's own.
PROGRAMS: Tuple[Program, ...] = _programs()


def install_hints() -> Dict[str, str]:
    """Program name -> how to install it."""
    return {program.name: program.hint for program in PROGRAMS}


def _works(program: Program, which: Callable[[str], Optional[str]]) -> bool:
    if which(program.name) is None:
        return False
    if not program.probe:
        return True
    try:
        done = subprocess.run(list(program.probe), input=program.probe_input, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def missing_programs(os_family: Optional[str],
                     which: Callable[[str], Optional[str]] = shutil.which) -> Dict[str, object]:
    """What this host lacks and which packages of its OS family provide it (`labagent check-tools`)."""
    family = os_family if os_family in (REDHAT, DEBIAN) else DEFAULT_FAMILY
    missing = [p for p in PROGRAMS if not _works(p, which)]
    packages: List[str] = []
    for program in missing:
        packages.extend(name for name in program.packages_for(family) if name not in packages)
    return {
        "os_family": family,
        "missing": [{"program": p.name, "needed_for": p.needed_for, "packages": list(p.packages_for(family))}
                    for p in missing],
        "packages": packages,
    }
