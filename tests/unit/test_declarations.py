"""Each concept is declared once in the agent, and the lab role agrees with it: variants
(labagent/variants.py) and knob defaults (labagent/knobs.py)."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labagent import analysis, knobs, variants, vocab
from labagent.errors import LabError
from labagent.experiment import Params, validate
from labagent.units import parse_duration, parse_size

ROOT = Path(__file__).resolve().parents[2]


def _role(name):
    return yaml.safe_load((ROOT / "roles" / "lab" / name).read_text())


def test_vocab_names_the_declared_variants_in_order():
    assert vocab.VARIANTS == tuple(v.name for v in variants.VARIANTS)
    assert len(set(vocab.VARIANTS)) == len(vocab.VARIANTS)
    assert variants.DEFAULT in vocab.VARIANTS


def test_only_a_freeing_variant_has_the_freed_phase():
    assert variants.get("free").phases == vocab.PHASES
    for variant in variants.VARIANTS:
        assert (vocab.FREED in variant.phases) == variant.frees
        assert variant.phases[0] == "baseline" and variant.phases[-1] == "exited"


def test_fullspeed_is_one_timed_step_and_the_others_pace_their_steps():
    assert Params(variant="fullspeed").steps == 1
    assert Params(variant="malloc", size_bytes=100, step_bytes=30).steps == 4
    assert [v.name for v in variants.VARIANTS if v.one_timed_step] == ["fullspeed"]


def test_every_declared_figure_is_a_summary_field():
    keys = set(analysis.summarize(snapshots={}, maps_before=(), maps_after=(), pointer=None, size_bytes=0,
                                  touched_bytes=0, thp_enabled=None, page_size=4096))
    for variant in variants.VARIANTS:
        assert set(variant.all_figures) <= keys, variant.name
        assert variant.call in ("malloc", "calloc", "mmap")
        assert variant.workload_flag == ("-v", variant.name)


def test_an_undeclared_variant_is_one_line_naming_the_choices():
    with pytest.raises(LabError, match=r"^--variant 'jemalloc' is unknown \(one of: malloc, calloc, "):
        validate(Params(variant="jemalloc"))


def test_argument_specs_choices_are_the_declared_variants():
    option = _role("meta/argument_specs.yml")["argument_specs"]["main"]["options"]["lab_variants"]
    assert tuple(option["choices"]) == variants.NAMES
    assert _role("defaults/main.yml")["lab_variants"] == [variants.DEFAULT]


def test_role_defaults_equal_the_agents_defaults():
    defaults = _role("defaults/main.yml")
    params = Params()
    for knob in knobs.KNOBS:
        parse = parse_size if knob.kind == knobs.SIZE else parse_duration
        assert parse(str(defaults[knob.variable])) == getattr(params, knob.field) == knob.value, knob.variable


def test_role_types_the_knobs_as_the_agent_parses_them():
    options = _role("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for knob in knobs.KNOBS:
        assert options[knob.variable]["type"] == ("str" if knob.kind == knobs.SIZE else "float"), knob.variable


def test_cli_defaults_are_the_declared_ones():
    from labagent.cli import build_parser
    args = build_parser().parse_args(["run", "--out", "x"])
    assert {k.field: getattr(args, k.dest) for k in knobs.KNOBS} == {k.field: k.value for k in knobs.KNOBS}
    assert args.variant == variants.DEFAULT


def test_sync_roles_finds_the_role_current():
    done = subprocess.run([sys.executable, "scripts/sync-roles.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
