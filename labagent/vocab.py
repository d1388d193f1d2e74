"""The lab's vocabulary, declared once: phase names and variant names. The agent and the report both
import it; the report never imports the agent's orchestration module (experiment.py) for words."""
from __future__ import annotations

from . import variants

# The phases of a run, in order. `freed` exists only for variants that free their block
# (labagent/variants.py: Variant.frees); a report lists the phases a run actually recorded.
PHASES = ("baseline", "allocated", "touching", "touched", "freed", "exited")
FREED = "freed"

# Variant names, in the order the report lists them. Each variant is declared once, in
# labagent/variants.py (its flag for allocate.c, its phases, its figures); its explanation in the
# writeup is one prose partial per language: labagent/report/templates/<lang>/variants/<name>.md.j2.
VARIANTS = variants.NAMES
