"""The host plots shade, number and name every phase, also past the experiment's six: a recording with
many marks (labagent record, `labagent mark`). Drawn from the committed recording
tests/fixtures/recordings/steps (see its NOTE.md), its marks replaced by nine phases."""
import os
import re

import pytest

from labagent.report import plots, recording, render

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "recordings", "steps")
GREY = plots.PHASE_SHADE[0]
pytestmark = pytest.mark.slow  # draws SVGs


def _series(count):
    series = recording.series(render.read_host(FIXTURE, "steps").data)
    end = max(t for t in series["t"] if t is not None)
    width = end / count
    series["phases"] = [("start" if k == 0 else f"mark{k}", k * width, (k + 1) * width) for k in range(count)]
    return series


def _svg(plotter, series, out):
    return open(plotter.host("steps", series, str(out))[0], encoding="utf-8").read()


def _texts(svg):
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_nine_phases_are_all_shaded_numbered_and_named(tmp_path):
    svg = _svg(plots.Plotter(), _series(9), tmp_path / "nine")
    # Every other phase is grey, in both axes of the process figure, plus the key's grey swatch.
    assert svg.count(f"fill: {GREY}") == 5 * 2 + 1
    texts = _texts(svg)
    assert all(str(number) in texts for number in range(1, 10))
    # The key under the title names them all (wrapped onto a second line here).
    assert "1 start   2 mark1" in svg and "7 mark6" in svg and "9 mark8" in svg


def test_a_host_after_one_with_many_phases_draws_as_if_alone(tmp_path):
    plotter = plots.Plotter()
    _svg(plotter, _series(9), tmp_path / "many")
    after = _svg(plotter, _series(3), tmp_path / "after")
    alone = _svg(plots.Plotter(), _series(3), tmp_path / "alone")
    assert after == alone
    assert after.count(f"fill: {GREY}") == 2 * 2 + 1


def test_the_key_wraps_and_ends_in_an_ellipsis_when_it_cannot_hold_them_all():
    assert plots.phase_key(["baseline", "allocated", "touching"]) == "1 baseline   2 allocated   3 touching"
    names = [f"phase-with-a-long-name-{k}" for k in range(12)]
    key = plots.phase_key(names)
    assert len(key.splitlines()) == plots.KEY_LINES and key.endswith("   …")
    assert all(len(line) <= plots.KEY_LINE_CHARS + 4 for line in key.splitlines())
    assert key.splitlines()[1].startswith("4 phase-with-a-long-name-3")


def test_the_machine_plot_measures_change_from_the_last_sample_before_malloc():
    np = pytest.importorskip("numpy")
    t = np.array([0.1, 1.0, 2.0, 3.0, 4.0, 5.0])
    phases = [("baseline", 0.0, 3.05), ("allocated", 3.05, 6.0)]
    assert plots.reference_index(t, phases) == 3
    commit = np.array([210.0, 225.0, 225.5, 225.0, 325.0, 325.0])
    assert list(plots._since(commit, plots.reference_index(t, phases))) == [-15.0, 0.0, 0.5, 0.0, 100.0, 100.0]
    # A recording (its own phase names), or no sample before the second phase: from the first sample.
    assert plots.reference_index(t, [("start", 0.0, 2.0), ("mark-1", 2.0, 6.0)]) == 0
    assert plots.reference_index(t, [("baseline", 0.0, 0.05), ("allocated", 0.05, 6.0)]) == 0
    assert list(plots._since(np.array([np.nan, 1.0, 3.0]), 0)) [1:] == [0.0, 2.0]
