"""labagent.progress (progress.json, the poll's record) and the lab_progress callback's lines."""
import importlib.util
import json
import os
import tarfile
from pathlib import Path

import pytest

from labagent.errors import LabError
from labagent.progress import (Progress, ProgressFile, job_finished, pack_left, poll_record, progress_line,
                               read_progress)

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "callback" / "lab_progress.py"
MIB = 1024 * 1024


def _plugin():
    spec = importlib.util.spec_from_file_location("lab_progress", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start() -> Progress:
    return Progress("malloc", "starting", 100 * MIB, 0, 0, 10, None, None, 0.0)


def test_progress_file_is_replaced_as_the_run_moves(tmp_path):
    assert read_progress(str(tmp_path)) is None
    live = ProgressFile(str(tmp_path), start())
    assert read_progress(str(tmp_path)) == start()
    live.update(phase="touching", touched_bytes=30 * MIB, step=3, rss_kib=31012, min_flt=7771, t=4.25)
    got = read_progress(str(tmp_path))
    assert got == Progress("malloc", "touching", 100 * MIB, 30 * MIB, 3, 10, 31012, 7771, 4.25)
    assert progress_line(got) == "touching 30MiB of 100MiB (3/10), RSS 31,012 KiB, min_flt 7,771, 4.2 s"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_file_that_is_not_progress_reads_as_none(tmp_path):
    (tmp_path / "progress.json").write_text('{"phase": "touching"}')
    assert read_progress(str(tmp_path)) is None
    assert progress_line(None) == "starting"


@pytest.mark.parametrize(("content", "finished"), [
    ('{"started": 1, "finished": 0, "ansible_job_id": "j1"}', False),  # async_wrapper's marker: running
    ('{"rc": 0, "stdout": "", "changed": true}', True),  # the module's result: done
    ('{"failed": 1, "msg": "Timeout exceeded"}', True),  # killed at the async timeout
    ('{"started": 1, "finish', False),  # being written
    (None, True),  # gone: async_status reports it
])
def test_job_finished_reads_the_async_results_file_like_async_status(tmp_path, content, finished):
    job = tmp_path / "j1"
    if content is not None:
        job.write_text(content)
    assert job_finished(str(job)) is finished


def test_poll_record_names_the_run_directory(tmp_path):
    out = tmp_path / "r1__madv-hugepage__r2"
    out.mkdir()
    ProgressFile(str(out), start())
    record = poll_record(str(out), None)
    assert record["run"] == "r1__madv-hugepage__r2" and record["finished"] is None
    assert record["lab_progress"]["phase"] == "starting"


def test_callback_lines_name_host_variant_and_repeat_and_change_only_with_the_position():
    plugin = _plugin()
    record = {"lab_progress": dict(start().__dict__, phase="touching", step=3), "line": "touching 30MiB of 100MiB (3/10)",
              "run": "20261130T0500Z__madv-hugepage__r2", "finished": False}
    assert plugin.progress_record(json.dumps(record)) == record
    assert plugin.progress_record("not json") is None and plugin.progress_record('{"rc": 0}') is None
    assert plugin.progress_message("vm-a", record) == \
        "PROGRESS: [vm-a] madv-hugepage r2: touching 30MiB of 100MiB (3/10)"
    assert plugin.progress_message("h1", dict(record, run="20261130T0500Z")).startswith("PROGRESS: [h1] malloc: ")
    later = dict(record, lab_progress=dict(record["lab_progress"], t=9.5))
    assert plugin.progress_key("vm-a", record) == plugin.progress_key("vm-a", later)  # only the clock moved
    moved = dict(record, lab_progress=dict(record["lab_progress"], step=4))
    assert plugin.progress_key("vm-a", record) != plugin.progress_key("vm-a", moved)


def _finished_job(tmp_path, rc):
    job = tmp_path / "r.job"
    job.write_text(json.dumps({"started": 1, "finished": 1, "rc": rc, "stderr": "", "msg": ""}))
    return str(job)


def test_the_last_poll_packs_what_a_killed_agent_left_and_leaves_its_binary_and_fifo(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    ProgressFile(str(out), start())
    (out / "allocate").write_bytes(b"\x7fELF")
    os.mkfifo(out / "marks.fifo")
    (out / "raw").mkdir()
    (out / "raw" / "sar-r.txt").write_text("Linux 6.1\n")
    archive = tmp_path / "r.tar.gz"
    running = tmp_path / "running.job"
    running.write_text('{"started": 1, "finished": 0}')
    assert poll_record(str(out), str(running), archive=str(archive))["packed"] is False  # not yet ended
    assert not archive.exists()
    record = poll_record(str(out), _finished_job(tmp_path, None), archive=str(archive))
    assert record["packed"] is True and record["job"]["rc"] is None
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [".", "./progress.json", "./raw", "./raw/sar-r.txt"]
    assert not list(tmp_path.glob("*.tmp"))
    # Packed once: the next poll (or an agent that packed its own) leaves the archive as it is.
    before = archive.stat().st_mtime_ns
    assert poll_record(str(out), _finished_job(tmp_path, None), archive=str(archive))["packed"] is False
    assert archive.stat().st_mtime_ns == before


def test_a_poll_packs_nothing_when_the_agent_wrote_nothing(tmp_path):
    archive = tmp_path / "r.tar.gz"
    record = poll_record(str(tmp_path / "never"), _finished_job(tmp_path, 2), archive=str(archive))
    assert record["packed"] is False and not archive.exists()
    assert "packed" not in poll_record(str(tmp_path / "never"), _finished_job(tmp_path, 2))


def test_a_pack_that_cannot_be_written_is_the_agents_refusal(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    with pytest.raises(LabError, match=r"cannot pack .*/r into /proc/self/nonexistent/r.tar.gz: No such file"):
        pack_left(str(out), "/proc/self/nonexistent/r.tar.gz")


def test_an_agent_that_refused_to_run_leaves_nothing_to_pack_or_fetch(tmp_path):
    out = tmp_path / "r"
    out.mkdir()  # e.g. a recorder that made its directory, then could not start the command
    archive = tmp_path / "r.tar.gz"
    record = poll_record(str(out), _finished_job(tmp_path, 2), archive=str(archive))
    assert record["packed"] is False and record["archived"] is False and not archive.exists()
    # The agent's own archive, or one a poll packed, is there to fetch.
    record = poll_record(str(out), _finished_job(tmp_path, 1), archive=str(archive))
    assert record["packed"] is True and record["archived"] is True
