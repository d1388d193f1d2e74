"""labagent/workload.py on its own: a real gcc build of allocate.c, and its control protocol (alloc,
touch, free, exit, answered on the control pipe) against the real binary, checked in /proc."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from labagent import parsers, procfs, tools, vocab, workload
from labagent.errors import LabError
from labagent.workload import ControlChannel, WorkloadDied

MIB = 1024 * 1024
SIZE = 4 * MIB
STEP = 1 * MIB

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """allocate.c built once for the module, as the agent builds it: (run directory, binary)."""
    out = tmp_path_factory.mktemp("workload")
    raw = out / vocab.RAW_DIR
    raw.mkdir()
    return out, workload.build_workload(str(out), str(raw))


def _start(binary, variant="malloc", size=SIZE, step=STEP, timeout_s=30.0):
    return workload.start(binary, size, step, variant, timeout_s=timeout_s, stdout=subprocess.DEVNULL,
                          env=tools.capture_env())


def _region(pid, pointer_hex):
    """The mapping of /proc/PID/maps that holds the pointer, or None."""
    pointer = int(pointer_hex, 16)
    maps = parsers.parse_maps(procfs.read_maps(pid))
    return next((m for m in maps if m.start <= pointer < m.end), None)


def test_build_writes_the_source_the_binary_and_gccs_words(built):
    out, binary = built
    assert binary == str(out / vocab.WORKLOAD_BINARY) and os.access(binary, os.X_OK)
    with open(out / vocab.WORKLOAD_SOURCE, "rb") as handle:
        assert b"int main" in handle.read()  # the exact source that ran, beside the run
    log = (out / vocab.RAW_DIR / vocab.GCC_LOG).read_text()
    assert log.splitlines()[0] == f"$ gcc {vocab.WORKLOAD_SOURCE} -o {vocab.WORKLOAD_BINARY}"


def test_build_without_gcc_is_one_line_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(tools, "which", lambda _name: None)
    with pytest.raises(LabError, match=r"^gcc not found: install gcc \(dnf install gcc glibc-devel"):
        workload.build_workload(str(tmp_path), str(tmp_path))


def test_the_command_line_carries_size_step_and_the_variants_flag():
    assert workload.workload_argv("./allocate", SIZE, STEP, "mmap") == \
        ["./allocate", "-s", str(SIZE), "-t", str(STEP), "-v", "mmap"]


def test_malloc_alloc_touch_exit_against_the_real_binary(built):
    _out, binary = built
    with _start(binary) as client:
        assert client.steps == SIZE // STEP and client.command[0] == binary
        client.wait_baseline()
        before = procfs.read_process(client.pid)
        pointer = client.alloc()
        region = _region(client.pid, pointer)
        assert region is not None and region.size_bytes >= SIZE  # malloc mapped the block: VSZ grew
        after_alloc = procfs.read_process(client.pid)
        assert after_alloc["vsz_kib"] - before["vsz_kib"] >= SIZE // 1024
        answers = [client.touch() for _ in range(client.steps)]
        assert answers == [(k, k * STEP) for k in range(1, client.steps + 1)]  # index, bytes so far
        assert client.finish_touching() is None  # malloc is paced: no timing line
        touched = procfs.read_process(client.pid)
        assert touched["rss_kib"] - after_alloc["rss_kib"] >= 0.9 * SIZE // 1024  # the writes made it resident
        assert client.exit() == 0
    assert client.proc.returncode == 0 and client.channel.fd == -1


def test_free_gives_the_block_back(built):
    _out, binary = built
    with _start(binary, "free") as client:
        client.wait_baseline()
        pointer = client.alloc()
        assert client.touch_all() is None
        assert _region(client.pid, pointer) is not None
        client.free()
        assert _region(client.pid, pointer) is None  # glibc unmapped the mmapped chunk
        assert client.exit() == 0


def test_fullspeed_is_one_timed_step(built):
    _out, binary = built
    with _start(binary, "fullspeed", step=SIZE) as client:
        assert client.steps == 1
        client.wait_baseline()
        client.alloc()
        assert client.touch() == (1, SIZE)
        first_ns, second_ns = client.finish_touching()
        assert first_ns > 0 and second_ns > 0
        assert client.exit() == 0


def test_a_workload_killed_mid_run_is_workload_died_with_its_status(built):
    _out, binary = built
    with _start(binary) as client:
        client.wait_baseline()
        os.kill(client.pid, signal.SIGKILL)
        with pytest.raises(WorkloadDied, match="exited with status -9 before"):
            client.alloc()


def test_a_silent_workload_is_workload_died_after_the_timeout(built):
    _out, binary = built
    with _start(binary, timeout_s=0.2) as client:
        client.wait_baseline()
        with pytest.raises(WorkloadDied, match="said nothing for 0s"):
            client.expect("allocated")  # nothing was asked: it waits for a command


def test_leaving_the_context_kills_a_running_workload(built):
    _out, binary = built
    with _start(binary) as client:
        client.wait_baseline()
        pid = client.pid
    assert client.proc.returncode == -signal.SIGKILL
    assert not os.path.exists(f"/proc/{pid}/status") or procfs.read_process(pid) is None


def test_the_control_channel_reads_whole_lines_then_eof():
    read_fd, write_fd = os.pipe()
    channel = ControlChannel(read_fd)
    try:
        os.write(write_fd, b"step 1 1048576\nstep 2")
        assert channel.read_line(1.0) == "step 1 1048576"
        with pytest.raises(WorkloadDied):
            channel.read_line(0.05)  # half a line is not an answer
        os.write(write_fd, b" 2097152\n")
        assert channel.read_line(1.0) == "step 2 2097152"
        os.close(write_fd)
        write_fd = -1
        assert channel.read_line(1.0) is None  # the workload is gone
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        channel.close()
    assert channel.fd == -1
