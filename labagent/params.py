"""The knobs of one run (Params) and the check that refuses what cannot make a meaningful run.
Defaults come from the knobs' declarations (labagent/knobs.py, labagent/variants.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import knobs, variants
from .errors import LabError
from .units import format_size

MAX_SIZE = 1024 ** 4  # 1 TiB: above this a size is a typo, --force or not
MIN_INTERVAL = 0.01


@dataclass(frozen=True)
class Params:
    # Defaults from the knobs' declarations (labagent/knobs.py, labagent/variants.py).
    size_bytes: int = int(knobs.SIZE_KNOB.value)
    step_bytes: int = int(knobs.STEP_KNOB.value)
    step_interval_s: float = knobs.STEP_INTERVAL_KNOB.value
    sample_interval_s: float = knobs.SAMPLE_INTERVAL_KNOB.value
    pause_s: float = knobs.PAUSE_KNOB.value
    tail_s: float = knobs.TAIL_KNOB.value
    variant: str = variants.DEFAULT
    force: bool = False
    ask_imds: bool = True
    timeout_s: float = 60.0

    @property
    def declared_variant(self) -> variants.Variant:
        """The declared variant; LabError for an undeclared one."""
        return variants.get(self.variant)

    @property
    def steps(self) -> int:
        return self.declared_variant.steps(self.size_bytes, self.step_bytes)


def validate(params: Params) -> None:
    """Refuses what cannot make a meaningful run, naming the option."""
    variants.get(params.variant)  # refuses an undeclared --variant before anything reads its steps
    if params.size_bytes <= 0:
        raise LabError("--size must be positive")
    if params.size_bytes > MAX_SIZE:
        raise LabError(f"--size {format_size(params.size_bytes)} is absurd for this lab (at most 1TiB)")
    if params.step_bytes <= 0:
        raise LabError("--step must be positive")
    if params.step_bytes > params.size_bytes:
        raise LabError(f"--step {format_size(params.step_bytes)} is larger than --size {format_size(params.size_bytes)}")
    if params.steps > 100_000:
        raise LabError(f"--step is too small: {params.steps} steps (at most 100000)")
    for name, value in (("--step-interval", params.step_interval_s), ("--sample-interval", params.sample_interval_s)):
        if not value > 0:
            raise LabError(f"{name} must be positive")
        if value < MIN_INTERVAL:
            raise LabError(f"{name} {value}s is below the 10ms minimum")
    if params.sample_interval_s > 60:
        raise LabError("--sample-interval must be at most 60s")
    for name, value in (("--pause", params.pause_s), ("--tail", params.tail_s)):
        if value < 0:
            raise LabError(f"{name} must not be negative")


def check_memory(params: Params, mem_available_kib: Optional[int]) -> None:
    """Refuses a block larger than MemAvailable unless --force."""
    if mem_available_kib is not None and params.size_bytes > mem_available_kib * 1024 and not params.force:
        raise LabError(
            f"--size {format_size(params.size_bytes)} does not fit in MemAvailable "
            f"({mem_available_kib // 1024} MiB); pass --force to run it anyway (the OOM killer may end it)")
