"""labagent report on a recording (`labagent record`): the writeup checked against golden Markdown,
exactly (en and ja), over the committed recording tests/fixtures/recordings/steps (see its NOTE.md).
Regenerate after a deliberate change with MALLOC_LAB_UPDATE_GOLDEN=1 (see test_report_render.py)."""
import dataclasses
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from labagent.report import recording, render
from test_report_render import check_golden, read

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "recordings", "steps")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def steps_dir(tmp_path):
    return shutil.copytree(FIXTURE, str(tmp_path / "steps"))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_recording_writeup_is_golden(steps_dir, lang):
    written = render.render_run(steps_dir, lang=lang)
    page = render.READMES[lang]  # README.md in English, README.ja.md in Japanese
    assert [os.path.relpath(p, steps_dir) for p in written] == [page, "plots/process.svg", "plots/system.svg"]
    check_golden(f"recording-steps.{lang}.md", read(os.path.join(steps_dir, page)))
    for path in written[1:]:
        ET.parse(path)  # well-formed SVG


def test_recording_writeup_shows_marks_and_maps_growth(steps_dir):
    render.render_run(steps_dir, lang="en")
    text = read(os.path.join(steps_dir, "README.md"))
    assert "| 2 | `heap-grown` | `labagent mark` |" in text and "| 3 | `mark2` | SIGUSR1 |" in text
    assert "| `[heap]` (brk) | 0 | 4,263,936 | +4,263,936 | 0 → 1 |" in text
    assert "anonymous (mmap) grew by 24.0 MiB" in text
    assert "<sub>from `raw/maps-start.txt`, `raw/maps-end.txt`</sub>" in text
    # One baseline for the faults, the table's start and end rows: 7,228 - 57.
    assert "- **Faults.** 7,171 minor and 0 major page faults from start to end\n  (min_flt 57 → 7,228, maj_flt 0 → 0" in text
    assert "| 1 | `start` | start | 0.28 | 1.21 | 05:17:12 | 2,344 | 1,432 | 96 | 1,336 | 57 |" in text
    # The program had exited at the end (2.17 s): the end row is the last sample's, at its own time.
    assert "|  | `end` | end: the last sample | 2 |  |  | 31,088 | 30,176 | 28,776 | 1,400 | 7,228 |" in text
    assert ("- **The end is the last sample.** The process had exited when the recording ended at 2.17 s: its last "
            "reading\n  is the last sample, at 2 s,") in text
    assert "Only 10 samples" not in text and "were taken**" not in text  # 10 samples: no warning
    # No malloc-specific reasoning: the experiment's writeup words are not here.
    assert "allocate.c" not in text and "mmap threshold" not in text


def test_recording_series_has_the_marks_as_phases(steps_dir):
    data = render.read_host(steps_dir, "steps").data
    phases = recording.series(data)["phases"]
    assert [p[0] for p in phases] == ["start", "heap-grown", "mark2"]
    assert all(lo <= hi for _name, lo, hi in phases)


def test_excerpt_keeps_head_and_tail():
    text = "".join(f"{i}\n" for i in range(20))
    assert recording.excerpt(text, 2, 2) == "0\n1\n... (16 lines)\n18\n19\n"
    assert recording.excerpt("a\nb\n", 2, 2) == "a\nb\n"


@pytest.mark.slow
def test_cli_report_of_a_recording(steps_dir):
    done = subprocess.run([sys.executable, "-m", "labagent", "report", steps_dir, "--lang", "ja"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == os.path.join(steps_dir, "README.ja.md")
    assert "の記録" in read(os.path.join(steps_dir, "README.ja.md"))


@pytest.mark.parametrize("lang,words", [
    ("en", "> **Only 3 samples were taken** (one every 0.2 s over 2.17 s): a peak between two samples or after the last "
           "is not in these figures.\n> Record again with a smaller `--sample-interval` (for example 0.1)."),
    ("ja", "> **サンプルは 3 個しか取れていない**")])
def test_few_samples_are_warned_of(steps_dir, lang, words, tmp_path):
    inp = render.read_host(steps_dir, "steps")
    few = dataclasses.replace(inp, data=dataclasses.replace(inp.data, samples_count=3))
    [page] = recording.render_recording({lang: render.environment(lang)}, None, few, str(tmp_path))
    assert words in read(page)


def test_a_long_command_is_short_in_the_title_and_whole_in_the_text(steps_dir, tmp_path):
    inp = render.read_host(steps_dir, "steps")
    command = ["/home/user/.pyenv/shims/python3", "-c", "import time; a = bytearray(8 << 20); time.sleep(30)"]
    long = dataclasses.replace(inp, data=dataclasses.replace(
        inp.data, recording=dict(inp.data.recording, command=command)))
    for lang, title in (("en", "# Recording of `python3 …` on vm\n"), ("ja", "# vm での `python3 …` の記録\n")):
        [page] = recording.render_recording({lang: render.environment(lang)}, None, long, str(tmp_path))
        text = read(page)
        assert text.startswith(title), text[:300]
        assert "`/home/user/.pyenv/shims/python3 -c 'import time; a = bytearray(8 << 20); time.sleep(30)'` as PID" in text \
            or "`/home/user/.pyenv/shims/python3 -c 'import time; a = bytearray(8 << 20); time.sleep(30)'` を PID" in text


def test_the_exit_status_is_said_once(steps_dir):
    render.render_run(steps_dir, lang="en,ja")
    en, ja = read(os.path.join(steps_dir, "README.md")), read(os.path.join(steps_dir, "README.ja.md"))
    assert en.count("status 0") == 1 and "the recording ended because the command exited with status 0." in en
    assert "The command's exit status" not in en and "コマンドの終了ステータス" not in ja
    assert ja.count("ステータス 0") == 1
