"""The lab's vocabulary, declared once: phase names and variant names. The agent and the report both
import it; the report never imports the agent's orchestration module (experiment.py) for words."""
from __future__ import annotations

# The phases of a run, in order. `freed` exists only for variants that free their block (see
# labagent/variants.py once it exists); a report lists the phases a run actually recorded.
PHASES = ("baseline", "allocated", "touching", "touched", "freed", "exited")

# Variant names, in the order the report lists them. The full declaration of a variant (its flag for
# allocate.c, its phases, its figures) is to live in labagent/variants.py; its explanation in the
# writeup is one prose partial per language: labagent/report/templates/<lang>/variants/<name>.md.j2.
VARIANTS = ("malloc", "calloc", "mmap", "mmap-populate", "madv-hugepage", "madv-nohugepage",
            "small-mallocs", "free", "fullspeed")

# A recording of any process (`labagent record`): results.json's "kind", and the names of the snapshots
# at its two ends (the user's marks name the phases between them).
RECORDING_KIND = "recording"
RECORDING_START = "start"
RECORDING_END = "end"
