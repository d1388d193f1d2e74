"""labagent report on a run that recorded lab_command on every host (run.json kind `recording`, written by
record-run): each host's recording writeup, as `labagent report` writes it for that recording alone, and
the run's index, checked against golden Markdown exactly (en and ja). The host is the committed recording
tests/fixtures/recordings/steps (see its NOTE.md); a second host could not start the command."""
import json
import os
import shutil

import pytest

from labagent.report import render
from goldens import check_golden, read

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "recordings", "steps")
REFUSED = "labagent: cannot start /opt/steps: No such file or directory"


@pytest.fixture
def recording_run(tmp_path):
    run = tmp_path / "rec-fleet"
    shutil.copytree(FIXTURE, str(run / "h1"))
    (run / "run.json").write_text(json.dumps({
        "run_id": "rec-fleet", "kind": "recording",
        "command": "ansible-playbook run.yml -i hosts.yml -e 'lab_command=/opt/steps 3'",
        "lab_version": "0.1.0", "lab_commit": "abc1234",
        "params": {"command": "/opt/steps 3", "duration": "until the command exits", "sample_interval": "0.1",
                   "lang": ["en", "ja"], "provider": "inventory"},
        "record": {"command": ["/opt/steps", "3"], "duration_s": None, "sample_interval_s": 0.1},
        "hosts": {"h1": {"status": "ok", "reason": None}, "h2": {"status": "failed", "reason": REFUSED}},
        "entries": {"h1": {"host": "h1", "variant": "recording", "repeat": 1},
                    "h2": {"host": "h2", "variant": "recording", "repeat": 1}}}))
    return run


def test_a_recording_run_has_each_hosts_writeup_and_a_golden_index(recording_run, tmp_path):
    written = render.render_run(str(recording_run), lang="en,ja", draw=False)
    assert sorted(os.path.relpath(p, recording_run) for p in written) == \
        ["README.ja.md", "README.md", "h1/README.ja.md", "h1/README.md"]
    check_golden("recording-run-index.en.md", read(os.path.join(recording_run, "README.md")))
    check_golden("recording-run-index.ja.md", read(os.path.join(recording_run, "README.ja.md")))
    # The host's writeup is the recording's own, as `labagent report` writes it for that directory alone.
    alone = shutil.copytree(FIXTURE, str(tmp_path / "alone"))
    render.render_run(alone, lang="en,ja", draw=False)
    for page in ("README.md", "README.ja.md"):
        assert read(os.path.join(recording_run, "h1", page)) == read(os.path.join(alone, page))


def test_the_index_row_is_the_hosts_recording(recording_run):
    render.render_run(str(recording_run), lang="en", draw=False)
    index = read(os.path.join(recording_run, "README.md"))
    data = json.loads((recording_run / "h1" / "results.json").read_text())
    summary = data["summary"]
    row = next(line for line in index.splitlines() if line.startswith("| [h1](h1/README.md) |"))
    assert f"| {summary['vsz_kib_peak']:,} | {summary['rss_kib_peak']:,} |" in row
    assert f"| {summary['min_flt_recorded']:,} |" in row
    assert f"| {len(data['recording']['marks'])} |" in row
    assert f"| h2 | failed | {REFUSED} |" in index


@pytest.mark.slow  # draws SVGs
def test_the_index_overlays_the_hosts_rss(recording_run):
    written = render.render_run(str(recording_run), lang="en", draw=True)
    assert os.path.join(str(recording_run), "plots", "rss.svg") in written
    svg = read(os.path.join(recording_run, "plots", "rss.svg"))
    assert ">h1</text>" in svg and ">h2</text>" not in svg  # h2 brought no recording back
    assert "![Each host's RSS over time](plots/rss.svg)" in read(os.path.join(recording_run, "README.md"))
    assert os.path.isfile(os.path.join(recording_run, "h1", "plots", "process.svg"))


def test_a_recording_runs_summary_has_the_recordings_figures(recording_run):
    from labagent.report import summary
    written = summary.write_summary(summary.read_run(str(recording_run)))
    check_golden("recording-run.summary.csv", read(written[0]))
    doc = json.loads(read(written[1]))
    assert doc["columns"] == list(summary.RECORDING_COLUMNS)
    # the experiment's knobs and malloc figures are not a recording's (sample_interval_s and the THP peak are)
    assert set(summary.KNOB_COLUMNS + summary.FIGURE_COLUMNS) & set(doc["columns"]) == \
        {"sample_interval_s", "anon_huge_kib_peak"}
    h1, h2 = doc["rows"]
    data = json.loads((recording_run / "h1" / "results.json").read_text())
    figures = data["summary"]
    # each figure is results.json's own, under the name it has there
    assert (h1["status"], h1["variant"], h1["mode"], h1["command"], h1["exit_status"], h1["stop_by"]) == \
        ("ok", "recording", "command", "./steps ctl", 0, "exit")
    assert [h1[k] for k in ("vsz_kib_peak", "rss_kib_peak", "min_flt_recorded", "maj_flt_recorded")] == \
        [figures[k] for k in ("vsz_kib_peak", "rss_kib_peak", "min_flt_recorded", "maj_flt_recorded")]
    assert h1["maps_heap_change_bytes"] == figures["maps_growth"]["heap"]["change_bytes"] == 4263936
    assert h1["maps_anonymous_after_bytes"] == figures["maps_growth"]["anonymous"]["after_bytes"]
    assert h1["rss_kib_start"] == data["snapshots"]["start"]["reading"]["rss_kib"]
    assert h1["rss_kib_end"] == data["snapshots"]["end"]["reading"]["rss_kib"]
    assert h1["marks"] == 2 and h1["samples"] == data["samples_count"]
    assert h1["thp_enabled"] == data["host"]["thp_enabled"]
    assert h1["length_s"] > data["recording"]["marks"][-1]["t"]
    assert (h2["status"], h2["reason"]) == ("failed", REFUSED)
    assert all(h2[c] is None for c in summary.RECORDING_COLUMNS[len(summary.ID_COLUMNS):])


def test_an_experiment_runs_summary_keeps_the_experiments_columns(repeats_dir):
    from labagent.report import summary
    run = summary.read_run(repeats_dir)
    assert not summary.is_recording(run) and summary.columns_of(run) == summary.COLUMNS
