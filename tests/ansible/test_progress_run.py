"""`ansible-playbook run.yml` shows the experiment's progress, one line per host per change, and
never says FAILED while it waits (the lab_progress callback reading the agent's progress.json)."""
import json
import re
import shutil
import uuid

import pytest

from .playbook import SMALL, ansible_playbook, extra_vars

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")]

# Slow enough for the poll (every second, plus the time a poll takes on a loaded machine) to see
# several of the 4 steps of 5 MiB, two seconds apart.
KNOBS = dict(SMALL, lab_size="20MiB", lab_step="5MiB", lab_step_interval="2.0", lab_pause="1.0",
             lab_report_render="false")
LINE = re.compile(r"^PROGRESS: \[localhost\] malloc: (?P<phase>[a-z]+) (?P<touched>\S+) of 20MiB "
                  r"\((?P<step>\d)/4\), RSS (?P<rss>[0-9,]+|\?) KiB, min_flt (?P<flt>[0-9,]+|\?), [0-9.]+ s$", re.M)


def test_a_run_prints_progress_lines_instead_of_failed_retrying(tmp_path):
    run_id = f"progress-{uuid.uuid4().hex[:8]}"
    done = ansible_playbook(extra_vars(dict(KNOBS, lab_runs_dir=str(tmp_path), lab_run_id=run_id)))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "FAILED" not in done.stdout, [line for line in done.stdout.splitlines() if "FAILED" in line]
    lines = [m.groupdict() for m in LINE.finditer(done.stdout)]
    assert lines, done.stdout[-3000:]
    touching = [line for line in lines if line["phase"] == "touching"]
    assert len(touching) >= 2  # a step every 2 s, a poll every 1-2 s
    steps = [int(line["step"]) for line in touching]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one line per change, in order
    assert all(line["rss"] != "?" for line in touching)
    # the file the poll read came home with the results: the run's last position
    final = json.loads((tmp_path / run_id / "localhost" / "progress.json").read_text())
    assert (final["phase"], final["step"], final["touched_bytes"]) == ("exited", 4, 20 * 1024 * 1024)
    # no writeups (lab_report_render=false), but the run's table all the same
    table = (tmp_path / run_id / "summary.csv").read_text().splitlines()
    assert len(table) == 2 and table[1].startswith(f"{run_id},localhost,localhost,malloc,1,ok,")
