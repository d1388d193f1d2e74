"""The experiment's knobs, each stated once with its default as a user types it. The CLI's options,
Params' defaults, allocate.c's arguments (the agent always passes them) and the lab role's defaults
(scripts/sync-roles.py, checked by a test) read this."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

from .units import parse_duration, parse_size

SIZE = "size"
DURATION = "duration"


@dataclass(frozen=True)
class Knob:
    """One knob of the experiment: the agent's option, Params' field, the default as typed."""

    option: str  # the agent's option: --step-interval
    field: str  # Params' field: step_interval_s
    default: str  # as a user types it: 100MiB, 1
    kind: str  # SIZE (bytes, binary units) or DURATION (seconds)
    help: str

    @property
    def variable(self) -> str:
        """The Ansible variable: --step-interval -> lab_step_interval."""
        return "lab_" + self.option.lstrip("-").replace("-", "_")

    @property
    def dest(self) -> str:
        """argparse's attribute: --step-interval -> step_interval."""
        return self.option.lstrip("-").replace("-", "_")

    def parse(self, text: str) -> Union[int, float]:
        """Bytes for a size, seconds for a duration; ValueError names what was wrong."""
        return parse_size(text) if self.kind == SIZE else parse_duration(text)

    @property
    def value(self) -> Union[int, float]:
        return self.parse(self.default)

    @property
    def role_default(self) -> str:
        """The default as the role's defaults/main.yml states it: 100MiB, 1.0."""
        return self.default if self.kind == SIZE else repr(float(self.value))


SIZE_KNOB = Knob("--size", "size_bytes", "100MiB", SIZE, "bytes to allocate")
STEP_KNOB = Knob("--step", "step_bytes", "10MiB", SIZE, "bytes written per step")
STEP_INTERVAL_KNOB = Knob("--step-interval", "step_interval_s", "1", DURATION, "seconds between steps")
SAMPLE_INTERVAL_KNOB = Knob("--sample-interval", "sample_interval_s", "1", DURATION,
                            "seconds between /proc samples, 10ms to 60s")
PAUSE_KNOB = Knob("--pause", "pause_s", "3", DURATION, "seconds to wait at baseline, after malloc and after touching")
TAIL_KNOB = Knob("--tail", "tail_s", "2", DURATION, "seconds to keep sampling after exit")

KNOBS: Tuple[Knob, ...] = (SIZE_KNOB, STEP_KNOB, STEP_INTERVAL_KNOB, SAMPLE_INTERVAL_KNOB, PAUSE_KNOB, TAIL_KNOB)
