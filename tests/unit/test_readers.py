"""Readers pointed at a directory tree of real captures (Debian 12 fixture) instead of /proc and /."""
import shutil
import subprocess
import time
import sys
from pathlib import Path

import pytest

from labagent import hostfacts, procfs

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "debian12-local"


def test_read_process_from_a_tree(proc_root):
    record = procfs.read_process(4242, str(proc_root))
    status = (LOCAL / "proc-status.txt").read_text()
    vm_rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    assert record["rss_kib"] == vm_rss
    assert record["vsz_kib"] > record["rss_kib"] > 8 * 1024  # 8 MiB were touched
    assert record["min_flt"] >= 2048  # one fault per 4 KiB page of 8 MiB (THP madvise)
    assert record["anon_huge_kib"] == 0
    assert set(record) == set(procfs.PROCESS_FIELDS)


def test_read_process_gone_is_none(proc_root):
    assert procfs.read_process(999999, str(proc_root)) is None


def test_read_system_from_a_tree(proc_root):
    system = procfs.read_system(str(proc_root))
    assert system["mem_total_kib"] == 24684096
    assert 0 < system["mem_used_kib"] < system["mem_total_kib"]
    assert set(system) == set(procfs.SYSTEM_FIELDS)


def test_read_maps_is_verbatim(proc_root):
    assert procfs.read_maps(4242, str(proc_root)) == (LOCAL / "maps-touched.txt").read_text()


def test_host_facts_from_a_tree(tmp_path):
    (tmp_path / "etc").mkdir()
    shutil.copy(LOCAL.parent / "seed-rhel94" / "os-release.txt", tmp_path / "etc" / "os-release")
    thp = tmp_path / "sys" / "kernel" / "mm" / "transparent_hugepage"
    thp.mkdir(parents=True)
    (thp / "enabled").write_text("[always] madvise never\n")
    (thp / "defrag").write_text("always defer defer+madvise [madvise] never\n")
    (tmp_path / "proc" / "sys" / "kernel").mkdir(parents=True)
    (tmp_path / "proc" / "sys" / "vm").mkdir(parents=True)
    (tmp_path / "proc" / "sys" / "kernel" / "osrelease").write_text("5.14.0-427.20.1.el9_4.x86_64\n")
    (tmp_path / "proc" / "sys" / "kernel" / "hostname").write_text("ip-192-168-0-178.ec2.internal\n")
    (tmp_path / "proc" / "sys" / "vm" / "overcommit_memory").write_text("0\n")
    shutil.copy(LOCAL / "meminfo.txt", tmp_path / "proc" / "meminfo")
    dmi = tmp_path / "sys" / "devices" / "virtual" / "dmi" / "id"
    dmi.mkdir(parents=True)
    (dmi / "sys_vendor").write_text("Amazon EC2\n")
    facts = hostfacts.read_host_facts(str(tmp_path), ask_imds=False)
    assert facts["distro"] == "Red Hat Enterprise Linux 9.4 (Plow)"
    assert facts["os_family"] == "RedHat"
    assert facts["kernel"] == "5.14.0-427.20.1.el9_4.x86_64"
    assert facts["thp_enabled"] == "always" and facts["thp_defrag"] == "madvise"
    assert facts["overcommit_memory"] == 0
    assert facts["on_ec2"] is True and facts["ec2_instance_type"] is None  # IMDS not asked


def test_not_ec2_here_so_imds_is_never_asked():
    # This machine is not EC2: the agent must not send anything to 169.254.169.254.
    assert hostfacts.looks_like_ec2("/") is False


@pytest.mark.parametrize("name,parse,keys", [
    ("meminfo.txt", "parse_meminfo", procfs.MEMINFO_KEYS),
    ("proc-status.txt", "parse_proc_status", procfs.STATUS_KEYS),
    ("smaps-rollup.txt", "parse_smaps_rollup", procfs.ROLLUP_KEYS),
])
def test_the_samplers_fields_equal_the_full_parse(name, parse, keys):
    from labagent import parsers
    text = (LOCAL / name).read_text()
    full = getattr(parsers, parse)(text).fields
    picked = getattr(parsers, parse)(text, keys).fields
    assert dict(picked) == {k: v for k, v in full.items() if k in keys}
    assert set(picked) == set(keys) - ({"RssAnon", "RssFile"} - set(full))


def test_read_process_without_rollup(proc_root):
    assert procfs.read_process(4242, str(proc_root), with_rollup=False)["anon_huge_kib"] is None


# --------------------------------------------------------------------------- the sampler's tick reader

def _without_rollup(record):
    return {k: v for k, v in record.items() if k != "anon_huge_kib"}


def test_tick_reader_agrees_with_the_readers_on_a_tree(proc_root):
    reader = procfs.TickReader(4242, str(proc_root))
    try:
        assert reader.process() == _without_rollup(procfs.read_process(4242, str(proc_root)))
        assert reader.system() == procfs.read_system(str(proc_root))
        # Read again through the same fds: the same values (a /proc file is generated per read).
        assert reader.system() == procfs.read_system(str(proc_root))
    finally:
        reader.close()


def test_tick_reader_agrees_with_the_readers_on_a_live_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        # Until sleep has exec'd and settled in nanosleep, its faults and RSS still move between two reads.
        settled = None
        for _ in range(200):
            first = procfs.read_process(sleeper.pid, with_rollup=False)
            if first == procfs.read_process(sleeper.pid, with_rollup=False) and \
                    open(f"/proc/{sleeper.pid}/stat").read().split(") ")[1][0] == "S":
                settled = first
                break
            time.sleep(0.01)
        assert settled is not None, "sleep 30 never settled"
        reader = procfs.TickReader(sleeper.pid)
        assert reader.process() == _without_rollup(procfs.read_process(sleeper.pid, with_rollup=False))
        sleeper.kill()
        sleeper.wait()  # reaped: its files answer ESRCH through the kept fds
        assert reader.process() is None
        assert reader.process() is None
        assert set(reader.system()) == set(procfs.SYSTEM_FIELDS)
        reader.close()
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_tick_reader_of_a_process_already_gone(proc_root):
    reader = procfs.TickReader(999999, str(proc_root))
    assert reader.process() is None
    assert reader.system()["mem_total_kib"] == 24684096
    reader.close()


def test_tick_stat_of_an_exiting_process_is_none():
    line = (LOCAL / "proc-stat.txt").read_bytes()
    stat = procfs.parsers.parse_proc_stat(line.decode())
    assert procfs.parse_tick_stat(line) == (stat.min_flt, stat.maj_flt, stat.vsize_bytes, stat.rss_pages)
    head, _, tail = line.rpartition(b")")
    assert procfs.parse_tick_stat(head + b") Z" + tail[2:]) is None


def test_tick_status_without_an_address_space_is_none():
    status = (LOCAL / "proc-status.txt").read_bytes()
    kept = b"".join(line for line in status.splitlines(keepends=True) if not line.startswith((b"Vm", b"Rss")))
    assert procfs.parse_tick_status(kept) is None


def test_anon_huge_of_a_tree_and_of_a_gone_process(proc_root):
    assert procfs.read_anon_huge_kib(4242, str(proc_root)) == 0
    assert procfs.read_anon_huge_kib(999999, str(proc_root)) is None


def test_tick_reader_rereads_status_only_when_stat_says_memory_moved(proc_root):
    reader = procfs.TickReader(4242, str(proc_root))
    first = reader.process()
    status = proc_root / "4242" / "status"
    text = status.read_text()
    rss = next(line for line in text.splitlines() if line.startswith("VmRSS:"))
    status.write_text(text.replace(rss, "VmRSS:\t       1 kB"))
    assert reader.process() == first  # stat unchanged: status not read again
    stat = proc_root / "4242" / "stat"
    head, _, tail = stat.read_text().rpartition(")")
    fields = tail.split()
    fields[7] = str(int(fields[7]) + 1)  # one more minor fault
    stat.write_text(head + ") " + " ".join(fields) + "\n")
    moved = reader.process()
    assert moved["rss_kib"] == 1 and moved["min_flt"] == first["min_flt"] + 1
    reader.close()


def test_tick_reader_parses_nothing_while_stat_is_unchanged(proc_root, monkeypatch):
    parsed = []
    parse = procfs.parse_tick_stat
    monkeypatch.setattr(procfs, "parse_tick_stat", lambda data: parsed.append(data) or parse(data))
    reader = procfs.TickReader(4242, str(proc_root))
    first = reader.process()
    assert reader.process() is first and reader.process() is first  # the same bytes: the same record
    assert len(parsed) == 1
    stat = proc_root / "4242" / "stat"
    head, _, tail = stat.read_text().rpartition(")")
    fields = tail.split()
    fields[11] = str(int(fields[11]) + 1)  # utime moved, nothing the tick records did
    stat.write_text(head + ") " + " ".join(fields) + "\n")
    again = reader.process()
    assert len(parsed) == 2 and again == first
    fields[7] = str(int(fields[7]) + 1)  # one more minor fault
    stat.write_text(head + ") " + " ".join(fields) + "\n")
    assert reader.process()["min_flt"] == first["min_flt"] + 1 and len(parsed) == 3
    stat.write_text(head + ") Z" + " ".join(fields)[1:] + "\n")  # exiting: the state is in the bytes too
    assert reader.process() is None
    reader.close()


def test_tick_reader_reads_a_file_longer_than_its_first_read_whole(proc_root):
    meminfo = proc_root / "meminfo"
    text = meminfo.read_text()
    # A kernel with many more lines (padding at the end, where no recorded field is): still read whole.
    meminfo.write_text(text + "".join(f"Extra{i}:      {i} kB\n" for i in range(3 * procfs._READ_SIZE // 20)))
    assert len(meminfo.read_bytes()) > 2 * procfs._READ_SIZE
    reader = procfs.TickReader(4242, str(proc_root))
    assert reader.system_bytes() == meminfo.read_bytes()
    assert reader.system() == procfs.read_system(str(proc_root))
    reader.close()


GROWER = """
import sys
keep = []
print("ready", flush=True)
for line in sys.stdin:
    keep.append(bytearray(b"x" * (8 << 20)))  # 8 MiB, written: VSZ, RSS and faults move
    print("grown", flush=True)
"""


def test_tick_reader_follows_a_growing_process():
    grower = subprocess.Popen([sys.executable, "-c", GROWER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # Python's start-up moves RSS and faults between two reads: begin once it waits on stdin.
    assert grower.stdout.readline() == "ready\n"
    reader = procfs.TickReader(grower.pid)
    try:
        seen = []
        for _ in range(3):
            for _ in range(2):  # a second tick with nothing changed gives the same
                record = reader.process()
                assert record == _without_rollup(procfs.read_process(grower.pid, with_rollup=False))
            seen.append(record["rss_anon_kib"])
            grower.stdin.write("more\n")
            grower.stdin.flush()
            assert grower.stdout.readline() == "grown\n"
        assert seen[2] - seen[0] >= 16 * 1024 - 1024
    finally:
        reader.close()
        grower.kill()
        grower.wait()
