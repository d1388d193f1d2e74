"""The lab's vocabulary, declared once: phase and variant names, the file names of a run directory and
the layout of a whole run. The agent and the report both import it; the report never imports the agent's orchestration module (experiment.py) for words."""
from __future__ import annotations

import re
from typing import Optional, Tuple

from . import variants

# The phases of a run, in order. `freed` exists only for variants that free their block
# (labagent/variants.py: Variant.frees); a report lists the phases a run actually recorded.
PHASES = ("baseline", "allocated", "touching", "touched", "freed", "exited")
FREED = "freed"

# Variant names, in the order the report lists them. Each variant is declared once, in
# labagent/variants.py (its flag for allocate.c, its phases, its figures); its explanation in the
# writeup is one prose partial per language: labagent/report/templates/<lang>/variants/<name>.md.j2.
VARIANTS = variants.NAMES

# -- One agent run's directory (`labagent run --out DIR`): what the agent writes there.
RESULTS = "results.json"  # everything, parsed; rewritten atomically at every phase boundary
SAMPLES_JSONL = "samples.jsonl"  # one line per tick, appended as the run goes
SAMPLES_CSV = "samples.csv"  # the same, appended with it
WORKLOAD_SOURCE = "allocate.c"  # the exact source that ran
WORKLOAD_BINARY = "allocate"  # built on the host; never fetched
RAW_DIR = "raw"  # verbatim captures, under these names:
PROGRAM_LOG = "program.log"  # the workload's stdout
PROGRAM_STDERR = "program.stderr"
GCC_LOG = "gcc.txt"  # `gcc allocate.c -o allocate` and what it said
CAPTURE_LOG = "capture.log"  # the original's capture.sh: a ps line per second
SAR_R = "sar-r.txt"  # `sar -r 1` for the whole run
PS_AUX = "ps-aux.txt"  # `ps u` of the workload at baseline
UNAME = "uname-a.txt"
OS_RELEASE = "os-release.txt"


def maps_file(phase: str) -> str:
    """/proc/PID/maps at the start of a phase."""
    return f"maps-{phase}.txt"


def free_h_file(phase: str) -> str:
    """`free -h` at the start of a phase (free_b_file: `free -b`)."""
    return f"free-h-{phase}.txt"


def free_b_file(phase: str) -> str:
    return f"free-b-{phase}.txt"


def raw_path(name: str) -> str:
    """A raw file as results.json and the writeup name it, relative to the run directory: raw/sar-r.txt."""
    return f"{RAW_DIR}/{name}"


# -- A whole run on the controller: runs/<run_id>/ holds run.json and one directory per agent run.
RUN_JSON = "run.json"
# A run id and an inventory host name become directory names: plain names only, never `..`. The lab
# role, the EC2 plan module and the EC2 teardown carry copies of this pattern (Ansible cannot import
# it); tests/unit/test_layout.py checks every copy equals it.
PLAIN_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
PLAIN_NAME_RE = re.compile(f"^{PLAIN_NAME}$")
# With one variant and one repeat an agent run's directory is the host's inventory name; otherwise
# <host>__<variant>__r<k> (k from 1). Host names are plain names ([A-Za-z0-9][A-Za-z0-9._-]*).
ENTRY_SEPARATOR = "__"
ENTRY_NAME_RE = re.compile(r"^(?P<host>.+?)__(?P<variant>[a-z][a-z-]*)__r(?P<repeat>[1-9][0-9]*)$")


def entry_name(host: str, variant: str, repeat: int, single: bool = False) -> str:
    """The directory of one agent run in runs/<run_id>/: the host alone when the run is `single`
    (one variant, one repeat), else <host>__<variant>__r<k>."""
    return host if single else f"{host}{ENTRY_SEPARATOR}{batch_dir_name(variant, repeat)}"


def batch_dir_name(variant: str, repeat: int) -> str:
    """One run's directory under a host's `labagent run --variants ... --out DIR`: <variant>__r<k>."""
    return f"{variant}{ENTRY_SEPARATOR}r{repeat}"


BATCH_JSON = "batch.json"  # `labagent run --variants`: its runs and how each ended, rewritten as they go


def parse_entry_name(name: str) -> Optional[Tuple[str, str, int]]:
    """(host, variant, repeat) of a <host>__<variant>__r<k> directory, or None for any other name."""
    match = ENTRY_NAME_RE.match(name)
    if match is None or match.group("variant") not in VARIANTS:
        return None
    return match.group("host"), match.group("variant"), int(match.group("repeat"))


# A recording of any process (`labagent record`): results.json's "kind", and the names of the snapshots
# at its two ends (the user's marks name the phases between them).
RECORDING_KIND = "recording"
RECORDING_START = "start"
RECORDING_END = "end"
