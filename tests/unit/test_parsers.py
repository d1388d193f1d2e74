"""labagent.parsers against real captures: the seed's RHEL 9.4 outputs and a Debian 12 run."""
from __future__ import annotations

import datetime
import hashlib
import subprocess
from pathlib import Path

import pytest

from labagent import parsers as p

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED = FIXTURES / "seed-rhel94"
LOCAL = FIXTURES / "debian12-local"
MIB = 1024 * 1024
GIB = 1024 * MIB


def seed(name: str) -> str:
    return (SEED / name).read_text()


def local(name: str) -> str:
    return (LOCAL / name).read_text()


def by_range(maps, start: int, end: int) -> p.Mapping:
    [found] = [m for m in maps if (m.start, m.end) == (start, end)]
    return found


def containing(maps, address: int) -> p.Mapping:
    [found] = [m for m in maps if m.start <= address < m.end]
    return found


# --------------------------------------------------------------------------- the seed's fixtures are its bytes

_SEED_NOTE = "000_6c79973223f1d4fe.txt"
_SEED_SHA256 = "22355109de17e1456c927cd37ff710d83737d50170004460d66e2b843fa5b4e0"
_SEED_CUTS = {  # fixture -> (first, last) line of the seed, as NOTE.md says
    "uname-a.txt": (19, 19), "os-release.txt": (21, 37), "ps-aux-grep.txt": (47, 48),
    "maps-baseline.txt": (56, 78), "free-h-baseline.txt": (80, 82), "sar-r-baseline.txt": (84, 92),
    "maps-allocated.txt": (105, 128), "free-h-allocated.txt": (130, 132), "sar-r-allocated.txt": (134, 142),
    "sar-r-touching.txt": (149, 165), "program.log": (173, 197), "capture.log": (213, 262),
}


def _seed_note() -> Path:
    repo = Path(__file__).resolve().parents[2]
    for candidate in (repo.parent / "shared" / "seed" / _SEED_NOTE, repo / "shared" / "seed" / _SEED_NOTE):
        if candidate.is_file():
            return candidate
    pytest.skip("shared/seed is not beside this checkout")


def test_seed_fixtures_are_byte_exact_cuts_of_the_note():
    data = _seed_note().read_bytes()
    assert hashlib.sha256(data).hexdigest() == _SEED_SHA256
    lines = data.splitlines(keepends=True)
    for name, (first, last) in _SEED_CUTS.items():
        assert (SEED / name).read_bytes() == b"".join(lines[first - 1:last]), name
    assert sorted(f.name for f in SEED.iterdir() if f.name != "NOTE.md") == sorted(_SEED_CUTS)


def test_seed_fixtures_keep_tabs_and_ctrl_c():
    assert "\t12/09/2024 \t_x86_64_\t(16 CPU)" in seed("sar-r-baseline.txt")
    assert seed("sar-r-touching.txt").splitlines()[-2] == "^C"
    assert "ec2-user@" not in "".join(seed(name) for name in _SEED_CUTS)  # no shell prompts


# --------------------------------------------------------------------------- seed: maps

def test_seed_maps_baseline():
    maps = p.parse_maps(seed("maps-baseline.txt"))
    assert len(maps) == 23
    heap = by_range(maps, 0x02283000, 0x022A4000)
    assert (heap.perms, heap.offset, heap.dev, heap.inode, heap.pathname) == ("rw-p", 0, "00:00", 0, "[heap]")
    assert heap.size_bytes == 0x21000
    stack = by_range(maps, 0x7FFC1713C000, 0x7FFC1715D000)
    assert stack.pathname == "[stack]"
    libc_text = by_range(maps, 0x7FDAF4628000, 0x7FDAF479D000)
    assert (libc_text.perms, libc_text.offset, libc_text.dev, libc_text.inode, libc_text.pathname) == (
        "r-xp", 0x28000, "103:04", 25175605, "/usr/lib64/libc.so.6")
    assert [m.pathname for m in maps if m.inode == 0 and not m.pathname] == ["", "", ""]
    assert maps[-1] == p.Mapping(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, "00:00", 0, "[vsyscall]")
    assert not any(m.start <= 0x7FDAEE1FF010 < m.end for m in maps)


def test_seed_maps_allocated_adds_one_100mib_anonymous_region():
    before = p.parse_maps(seed("maps-baseline.txt"))
    after = p.parse_maps(seed("maps-allocated.txt"))
    assert len(after) == 24
    new = sorted(set(after) - set(before), key=lambda m: m.start)
    assert new == [p.Mapping(0x7FDAEE1FF000, 0x7FDAF4600000, "rw-p", 0, "00:00", 0, "")]
    assert new[0].size_bytes == 104_861_696 == 100 * MIB + 4096
    assert set(before) - set(after) == set()
    assert by_range(after, 0x02283000, 0x022A4000).pathname == "[heap]"  # the heap did not move
    # ps's VSZ is the sum of the VMAs (vsyscall is not one): 2632 KiB before, +102404 KiB after.
    vsz_before = sum(m.size_bytes for m in before if m.pathname != "[vsyscall]") // 1024
    vsz_after = sum(m.size_bytes for m in after if m.pathname != "[vsyscall]") // 1024
    capture = p.parse_capture(seed("capture.log"))
    assert (vsz_before, vsz_after) == (capture[0].vsz_kib, capture[-2].vsz_kib) == (2632, 105036)


# --------------------------------------------------------------------------- seed: free -h

def test_seed_free_h():
    base = p.parse_free(seed("free-h-baseline.txt"))
    assert base == p.FreeMem(
        total_bytes=30 * GIB, used_bytes=675 * MIB, free_bytes=29 * GIB, shared_bytes=8 * MIB,
        buff_cache_bytes=539 * MIB, available_bytes=29 * GIB, swap_total_bytes=0, swap_used_bytes=0,
        swap_free_bytes=0, exact=False)
    allocated = p.parse_free(seed("free-h-allocated.txt"))
    assert allocated.used_bytes == 677 * MIB
    assert allocated.buff_cache_bytes == base.buff_cache_bytes


# --------------------------------------------------------------------------- seed: sar -r 1

SAR_COLUMNS = ["kbmemfree", "kbavail", "kbmemused", "%memused", "kbbuffers", "kbcached", "kbcommit",
               "%commit", "kbactive", "kbinact", "kbdirty"]


def test_seed_sar_baseline():
    report = p.parse_sar_r(seed("sar-r-baseline.txt"))
    assert report.header == p.SarHeader(kernel="5.14.0-427.20.1.el9_4.x86_64",
                                        hostname="ip-192-168-0-178.ec2.internal", date="12/09/2024",
                                        arch="_x86_64_", cpus=16)
    assert [r.time for r in report.rows] == [f"03:19:5{s} AM" for s in range(2, 7)]
    first = report.rows[0]
    assert list(first.values) == SAR_COLUMNS
    assert first.seconds == 3 * 3600 + 19 * 60 + 52
    assert first.kbcommit == 279148
    assert (first.kbmemfree, first.kbavail, first.kbmemused, first.kbdirty) == (31040884, 31183588, 216152, 0)
    assert first.memused_pct == 0.68 and first.commit_pct == 0.88
    assert [r.kbcommit for r in report.rows[1:]] == [276652] * 4
    avg = report.average
    assert avg is not None and avg.time == "Average:" and avg.seconds is None
    assert (avg.kbmemused, avg.kbcommit, avg.kbcached, avg.kbdirty) == (218722, 277151, 466626, 3)


def test_seed_sar_allocated_commits_100mib_without_using_it():
    base = p.parse_sar_r(seed("sar-r-baseline.txt"))
    allocated = p.parse_sar_r(seed("sar-r-allocated.txt"))
    assert [r.seconds for r in allocated.rows] == list(range(12012, 12017))
    assert {r.kbcommit for r in allocated.rows} == {378672}
    assert allocated.average.kbcommit == 378672 and allocated.average.kbmemused == 215606
    # The note's point: +~100 MiB committed, but no more memory used.
    assert abs(allocated.rows[0].kbcommit - base.rows[-1].kbcommit - 100 * 1024) < 1024
    assert allocated.average.kbmemused < base.average.kbmemused


def test_seed_sar_touching():
    report = p.parse_sar_r(seed("sar-r-touching.txt"))
    rows = report.rows
    assert len(rows) == 13
    assert (rows[0].time, rows[0].kbmemused) == ("03:20:22 AM", 213852)
    assert [r.seconds for r in rows] == list(range(12022, 12035))
    used = [r.kbmemused for r in rows]
    assert used[:3] == [213852] * 3
    assert all(a < b for a, b in zip(used[2:11], used[3:12]))  # rising while touching
    assert (rows[11].time, rows[11].kbmemused) == ("03:20:33 AM", 309232)
    assert (rows[12].time, rows[12].kbmemused, rows[12].kbcommit) == ("03:20:34 AM", 219624, 275884)
    assert report.average.kbmemused == 252962 and report.average.values["%memused"] == 0.79


# --------------------------------------------------------------------------- seed: capture.sh

def test_seed_capture():
    rows = p.parse_capture(seed("capture.log"))
    assert len(rows) == 50
    first = rows[0]
    assert first == p.CaptureRow(when="Mon Dec  9 03:19:44 AM UTC 2024", pid=5034, comm="allocate",
                                 vsz_kib=2632, rss_kib=1280, maj_flt=0, min_flt=82, finished=False)
    assert first.at == datetime.datetime(2024, 12, 9, 3, 19, 44) and first.zone == "UTC"
    running = rows[:-1]
    assert {r.pid for r in running} == {5034} and {r.maj_flt for r in running} == {0}
    jump = next(r for r in running if r.vsz_kib != 2632)
    assert (jump.when, jump.vsz_kib, jump.rss_kib, jump.min_flt) == (
        "Mon Dec  9 03:20:01 AM UTC 2024", 105036, 1280, 83)
    touched = next(r for r in running if r.rss_kib != 1280)
    assert (touched.at.time(), touched.rss_kib, touched.min_flt) == (datetime.time(3, 20, 25), 11880, 93)
    assert (rows[-2].rss_kib, rows[-2].min_flt) == (93804, 133)
    assert [r.finished for r in rows].count(True) == 1
    assert rows[-1] == p.CaptureRow(when="Mon Dec  9 03:20:34 AM UTC 2024", pid=None, comm="",
                                    vsz_kib=None, rss_kib=None, maj_flt=None, min_flt=None, finished=True)
    # One tick is missing: 03:20:11 is followed by 03:20:13.
    times = [r.at for r in rows]
    gaps = [(a.time(), b.time()) for a, b in zip(times, times[1:]) if (b - a).total_seconds() != 1]
    assert gaps == [(datetime.time(3, 20, 11), datetime.time(3, 20, 13))]


def test_capture_time_forms():
    assert p.parse_capture_time("Mon Dec  9 03:19:44 AM UTC 2024") == datetime.datetime(2024, 12, 9, 3, 19, 44)
    assert p.parse_capture_time("Mon Dec  9 03:19:44 UTC 2024") == datetime.datetime(2024, 12, 9, 3, 19, 44)
    assert p.parse_capture_time("Mon Dec  9 12:05:00 AM UTC 2024") == datetime.datetime(2024, 12, 9, 0, 5)
    assert p.parse_capture_time("Mon Dec  9 12:05:00 PM JST 2024") == datetime.datetime(2024, 12, 9, 12, 5)
    assert p.parse_capture_time("Mon Dec  9 01:05:00 PM UTC 2024").hour == 13
    assert p.parse_capture_time("Wed Nov 25 21:59:04 2026") == datetime.datetime(2026, 11, 25, 21, 59, 4)
    for bad in ("Tue Dec  9 03:19:44 AM UTC 2024",  # 2024-12-09 was a Monday
                "Mon Foo  9 03:19:44 UTC 2024", "Mon Dec  9 13:19:44 PM UTC 2024", "2024-12-09 03:19:44"):
        with pytest.raises(ValueError, match="^date: "):
            p.parse_capture_time(bad)


def test_capture_comm_with_spaces_and_errors():
    [row] = p.parse_capture("Mon Dec  9 03:19:44 PM UTC 2024:     77 tmux: server      2632  1280      1     82\n")
    assert (row.pid, row.comm, row.vsz_kib, row.rss_kib, row.maj_flt, row.min_flt) == (
        77, "tmux: server", 2632, 1280, 1, 82)
    assert row.at.hour == 15
    assert p.parse_capture("") == ()
    with pytest.raises(ValueError, match=r"^capture: line 2: .*'Mon Dec  9 03:19:45 AM UTC 2024:    5034 allocate'"):
        p.parse_capture("Mon Dec  9 03:19:44 AM UTC 2024:    5034 allocate    2632  1280  0  82\n"
                        "Mon Dec  9 03:19:45 AM UTC 2024:    5034 allocate\n")
    with pytest.raises(ValueError, match="^capture: line 1: .*weekday"):
        p.parse_capture("Sun Dec  9 03:19:44 AM UTC 2024:    5034 allocate    2632  1280  0  82\n")
    with pytest.raises(ValueError, match="^capture: line 1: "):
        p.parse_capture("ps: error\n")


# --------------------------------------------------------------------------- seed: program log

def test_seed_program_log():
    log = p.parse_program_log(seed("program.log"))
    assert log.pointer == 0x7FDAEE1FF010
    assert log.size_bytes == 0x6400000 == 104_857_600
    assert log.stack == tuple((0x7FFC1715B170 + 4 * i, i) for i in range(10))
    assert log.touches[0] == ("Mon Dec  9 03:20:24 2024", 10)
    assert [mb for _, mb in log.touches] == list(range(10, 100, 10))
    assert log.touches[-1][0] == "Mon Dec  9 03:20:32 2024"
    assert len(log.lines) == 25 and log.lines[13] == "Will allocate memory"
    # Cross-check with the maps: the stack slots are in [stack], the pointer in the new region,
    # 16 bytes past its start (glibc's chunk header).
    after = p.parse_maps(seed("maps-allocated.txt"))
    assert {containing(after, address).pathname for address, _ in log.stack} == {"[stack]"}
    region = containing(after, log.pointer)
    assert (region.start, log.pointer - region.start) == (0x7FDAEE1FF000, 16)
    assert region.size_bytes - log.size_bytes == 4096


def test_program_log_ignores_prompt_and_command_lines():
    text = seed("program.log")
    wrapped = "[ec2-user@ip-192-168-0-178 work]$ ./allocate\n" + text + "[ec2-user@ip-192-168-0-178 work]$\n"
    assert p.parse_program_log(wrapped) == p.parse_program_log(text)
    assert p.parse_program_log("./allocate\n" + text) == p.parse_program_log(text)


def test_program_log_errors():
    assert p.parse_program_log("") == p.ProgramLog(stack=(), pointer=None, size_bytes=None, touches=(), lines=())
    with pytest.raises(ValueError, match=r"^program log: line 2: .*'stack: 0xzz: 1'"):
        p.parse_program_log("stack: 0x10: 0\nstack: 0xzz: 1\n")
    with pytest.raises(ValueError, match="^program log: line 1: "):
        p.parse_program_log("Succeeded to allocate memory: address = (nil); size = 0x6400000 ***\n")
    alloc = "Succeeded to allocate memory: address = 0x10; size = 0x20 ***\n"
    with pytest.raises(ValueError, match="^program log: line 2: second allocation"):
        p.parse_program_log(alloc * 2)
    with pytest.raises(ValueError, match="^program log: line 1: "):
        p.parse_program_log("Mon Dec  9 03:20:24 2024: touched ten MB\n")


# --------------------------------------------------------------------------- seed: ps aux | grep, uname, os-release

def test_seed_ps_aux_grep():
    rows = p.parse_ps_aux(seed("ps-aux-grep.txt"))
    assert rows[0] == p.PsAuxRow(user="ec2-user", pid=5034, cpu_pct=0.0, mem_pct=0.0, vsz_kib=2632,
                                 rss_kib=1280, tty="pts/0", stat="S+", start="03:18", time="0:00",
                                 command="./allocate")
    assert (rows[1].pid, rows[1].vsz_kib, rows[1].rss_kib, rows[1].command) == (
        5040, 6408, 2176, "grep --color=auto allocate")
    assert len(rows) == 2


def test_ps_aux_errors():
    assert p.parse_ps_aux("USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n") == ()
    with pytest.raises(ValueError, match=r"^ps aux: line 1: .*'ec2-user 5034 0.0'"):
        p.parse_ps_aux("ec2-user 5034 0.0\n")
    with pytest.raises(ValueError, match="^ps aux: line 1: .*not a number"):
        p.parse_ps_aux("ec2-user 5034 0.0 0.0 2.6M 1280 pts/0 S+ 03:18 0:00 ./allocate\n")


def test_seed_uname_and_os_release():
    uname = p.parse_uname(seed("uname-a.txt"))
    assert uname == p.UnameInfo(kernel_name="Linux", hostname="ip-192-168-0-178.ec2.internal",
                                kernel_release="5.14.0-427.20.1.el9_4.x86_64",
                                kernel_version="#1 SMP PREEMPT_DYNAMIC Thu May 23 16:37:13 EDT 2024",
                                machine="x86_64", operating_system="GNU/Linux")
    header = p.parse_sar_r(seed("sar-r-baseline.txt")).header
    assert (header.kernel, header.hostname) == (uname.kernel_release, uname.hostname)
    release = p.parse_os_release(seed("os-release.txt"))
    assert len(release) == 17
    assert release["NAME"] == "Red Hat Enterprise Linux"
    assert (release["ID"], release["VERSION_ID"], release["PLATFORM_ID"]) == ("rhel", "9.4", "platform:el9")
    assert release["REDHAT_BUGZILLA_PRODUCT_VERSION"] == "9.4"  # unquoted in the file
    assert release["PRETTY_NAME"] == "Red Hat Enterprise Linux 9.4 (Plow)"


# --------------------------------------------------------------------------- local Debian 12: the process

def test_local_maps_malloc_grows_the_anonymous_region_below_libc():
    before = p.parse_maps(local("maps-before-malloc.txt"))
    after = p.parse_maps(local("maps-after-malloc.txt"))
    touched = p.parse_maps(local("maps-touched.txt"))
    assert touched == after  # touching changes no mapping
    assert len(before) == len(after) == 24
    # The kernel printed a trailing space after inode 0; the pathname is still empty.
    assert "7ff08471b000-7ff08471e000 rw-p 00000000 00:00 0 \n" in local("maps-before-malloc.txt")
    old = by_range(before, 0x7FF08471B000, 0x7FF08471E000)
    new = by_range(after, 0x7FF083F1A000, 0x7FF08471E000)
    assert old.pathname == new.pathname == "" and old.perms == new.perms == "rw-p"
    assert new.size_bytes - old.size_bytes == 8 * MIB + 4096
    assert [m for m in after if m != new] == [m for m in before if m != old]
    assert {m.pathname for m in after if m.pathname.startswith("[")} == {
        "[heap]", "[vvar]", "[vvar_vclock]", "[vdso]", "[stack]", "[vsyscall]"}
    log = p.parse_program_log(local("program.log"))
    assert (log.pointer, log.size_bytes) == (0x7FF083F1A010, 8 * MIB)
    assert containing(after, log.pointer) == new
    assert not any(m.start <= log.pointer < m.end for m in before)
    assert {containing(after, address).pathname for address, _ in log.stack} == {"[stack]"}
    assert log.touches == tuple(("Wed Nov 25 21:59:04 2026", mb) for mb in range(1, 9))


def test_local_process_files_agree():
    stat = p.parse_proc_stat(local("proc-stat.txt"))
    status = p.parse_proc_status(local("proc-status.txt"))
    rollup = p.parse_smaps_rollup(local("smaps-rollup.txt"))
    [ps] = p.parse_ps_aux(local("ps-u.txt"))
    assert (stat.pid, stat.comm, stat.state, stat.ppid, stat.num_threads) == (4968, "hold8m", "S", 4959, 1)
    assert (stat.min_flt, stat.maj_flt, stat.vsize_bytes, stat.rss_pages) == (2158, 0, 10928128, 2359)
    assert stat.start_time_ticks == 112188
    assert stat.min_flt >= 8 * MIB // 4096  # every touched page faulted once
    assert (status.vm_size_kib, status.vm_rss_kib, status.rss_anon_kib, status.rss_file_kib) == (
        10672, 9676, 8304, 1372)
    assert (status.rss_shmem_kib, status.vm_peak_kib, status.vm_hwm_kib) == (0, 10672, 9676)
    assert "Name" not in status.fields and "Threads" not in status.fields and status.fields["VmSwap"] == 0
    assert status.rss_anon_kib + status.rss_file_kib + status.rss_shmem_kib == status.vm_rss_kib
    assert status.rss_anon_kib >= 8 * 1024
    assert (ps.pid, ps.vsz_kib, ps.rss_kib, ps.command) == (4968, 10672, 9676, "/tmp/tmp.cHofe6KwSU/hold8m")
    assert ps.vsz_kib == status.vm_size_kib == stat.vsize_bytes // 1024
    assert abs(rollup.rss_kib - status.vm_rss_kib) <= 2 * 4  # within two pages
    assert ps.rss_kib == status.vm_rss_kib
    assert rollup.anonymous_kib == status.rss_anon_kib == rollup.fields["Pss_Anon"]
    assert rollup.pss_kib == 8497 and rollup.anon_huge_pages_kib == 0
    # stat's rss reads the per-CPU counters without summing them: off by at most a batch
    # (32 pages) per CPU on this 2-CPU machine.
    assert stat.rss_kib == 9436
    assert abs(stat.rss_kib - status.vm_rss_kib) <= 2 * 32 * 4


def test_local_memory_tools_agree():
    info = p.parse_meminfo(local("meminfo.txt"))
    exact = p.parse_free(local("free-b.txt"))
    human = p.parse_free(local("free-h.txt"))
    kib = 1024
    assert info.mem_total_kib == 24684096 and info.fields["HugePages_Total"] == 0
    assert info.fields["Hugepagesize"] == 2048 and info.fields["Active(anon)"] == 1536
    assert (info.mem_free_kib, info.mem_available_kib, info.buffers_kib, info.cached_kib) == (
        24010620, 24335924, 6976, 491808)
    assert (info.active_kib, info.inactive_kib, info.dirty_kib, info.committed_as_kib) == (
        122144, 382864, 53640, 66656)
    assert info.anon_huge_pages_kib == 0
    assert info.used_kib == 24684096 - 24010620 - 6976 - 491808 - 84860 == 89832
    assert exact.exact and not human.exact
    assert exact == p.FreeMem(
        total_bytes=info.mem_total_kib * kib, used_bytes=info.used_procps4_kib * kib,
        free_bytes=info.mem_free_kib * kib, shared_bytes=info.fields["Shmem"] * kib,
        buff_cache_bytes=(info.buffers_kib + info.cached_kib + info.fields["SReclaimable"]) * kib,
        available_bytes=info.mem_available_kib * kib, swap_total_bytes=0, swap_used_bytes=0,
        swap_free_bytes=0, exact=True)
    for name in ("total_bytes", "used_bytes", "free_bytes", "shared_bytes", "buff_cache_bytes", "available_bytes"):
        rounded, true = getattr(human, name), getattr(exact, name)
        assert abs(rounded - true) <= 0.05 * true, name  # -h keeps two or three digits
    assert (human.total_bytes, human.shared_bytes) == (23 * GIB, int(round(8.6 * MIB)))


def test_local_sar_24h_and_all_columns():
    report = p.parse_sar_r(local("sar-r-1-3.txt"))
    assert report.header == p.SarHeader(kernel="6.18.44-fc-v595", hostname="vm", date="11/25/26",
                                        arch="_x86_64_", cpus=2)
    assert [(r.time, r.seconds) for r in report.rows] == [
        ("21:59:06", 79146), ("21:59:07", 79147), ("21:59:08", 79148)]
    assert list(report.rows[0].values) == SAR_COLUMNS
    assert report.rows[2].kbmemused == 70132 and report.average.kbcommit == 67072
    full = p.parse_sar_r(local("sar-r-ALL-1-3.txt"))
    assert list(full.rows[0].values) == SAR_COLUMNS + ["kbanonpg", "kbslab", "kbkstack", "kbpgtbl", "kbvmused"]
    assert full.rows[0].values["kbvmused"] == 14220 and full.average.values["kbpgtbl"] == 1209
    assert full.rows[2].kbdirty == 53260


def test_local_host_facts():
    uname = p.parse_uname(local("uname-a.txt"))
    assert uname == p.UnameInfo(kernel_name="Linux", hostname="vm", kernel_release="6.18.44-fc-v595",
                                kernel_version="#1 SMP PREEMPT_DYNAMIC @0", machine="x86_64",
                                operating_system="GNU/Linux")
    assert p.parse_sar_r(local("sar-r-1-3.txt")).header.kernel == uname.kernel_release
    release = p.parse_os_release(local("os-release.txt"))
    assert (release["ID"], release["VERSION_ID"], release["VERSION_CODENAME"]) == ("debian", "12", "bookworm")
    assert release["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert p.parse_thp_mode(local("thp-enabled.txt")) == "madvise"


# --------------------------------------------------------------------------- maps: other shapes

def test_maps_pathnames_with_spaces_and_deleted():
    text = ("7f0000000000-7f0000001000 rw-s 00000000 00:01 1027                       /dev/shm/a b (deleted)\n"
            "7f0000001000-7f0000002000 r--p 00001000 fd:01 42                         /opt/my app/lib.so\n"
            "7f0000002000-7f0000003000 ---p 00000000 00:00 0 \n")
    shm, lib, guard = p.parse_maps(text)
    assert (shm.pathname, shm.deleted, shm.perms, shm.inode) == ("/dev/shm/a b (deleted)", True, "rw-s", 1027)
    assert (lib.pathname, lib.deleted, lib.offset, lib.dev) == ("/opt/my app/lib.so", False, 0x1000, "fd:01")
    assert (guard.pathname, guard.size_bytes) == ("", 4096)
    assert p.parse_maps("") == ()


@pytest.mark.parametrize("line", [
    "00400000-00401000 r--p 00000000 103:04",  # cut short
    "00400000 r--p 00000000 103:04 870381 /x",  # no range
    "00401000-00400000 r--p 00000000 103:04 870381 /x",  # end before start
    "00400000-00401000 rwxz 00000000 103:04 870381 /x",  # bad perms
])
def test_maps_errors(line):
    good = seed("maps-baseline.txt").splitlines()[0]
    with pytest.raises(ValueError, match=r"^maps: line 2: .*" + line[:8]):
        p.parse_maps(good + "\n" + line + "\n")


# --------------------------------------------------------------------------- free: other layouts

def test_free_old_procps_layout():
    # procps 3.3.9 and older, `free` (KiB), numbers from a public Q&A ("Meaning of the buffers/cache line").
    text = ("             total       used       free     shared    buffers     cached\n"
            "Mem:      12286456   11715372     571084          0      81912    6545228\n"
            "-/+ buffers/cache:    5088232    7198224\n"
            "Swap:     24571408      54528   24516880\n")
    mem = p.parse_free(text, plain_unit_bytes=1024)
    assert mem == p.FreeMem(total_bytes=12286456 * 1024, used_bytes=11715372 * 1024, free_bytes=571084 * 1024,
                            shared_bytes=0, buff_cache_bytes=(81912 + 6545228) * 1024, available_bytes=None,
                            swap_total_bytes=24571408 * 1024, swap_used_bytes=54528 * 1024,
                            swap_free_bytes=24516880 * 1024, exact=True)


def test_free_wide_and_low_high_rows():
    # procps-ng 4.0.2 on the Debian 12 machine: `free -w -b`, then `free -b -l -t -v`.
    wide = p.parse_free(
        "               total        used        free      shared     buffers       cache   available\n"
        "Mem:     25276514304   534151168 24536403968     8998912    11313152   459022336 24742363136\n"
        "Swap:              0           0           0\n")
    assert wide.buff_cache_bytes == 11313152 + 459022336 and wide.available_bytes == 24742363136
    extra = p.parse_free(
        "               total        used        free      shared  buff/cache   available\n"
        "Mem:     25276514304   534925312 24535629824     8998912   470335488 24741588992\n"
        "Low:     25276514304   740884480 24535629824\n"
        "High:              0           0           0\n"
        "Swap:              0           0           0\n"
        "Total:   25276514304   534925312 24535629824\n"
        "Comm:    12638257152   226447360 12411809792\n")
    assert (extra.used_bytes, extra.buff_cache_bytes, extra.swap_total_bytes) == (534925312, 470335488, 0)


def test_free_suffixes():
    # `free --si -h` on the Debian 12 machine: bare suffixes in powers of 1000.
    si_text = ("               total        used        free      shared  buff/cache   available\n"
               "Mem:             25G        534M         24G        9.0M        470M         24G\n"
               "Swap:             0B          0B          0B\n")
    si = p.parse_free(si_text, si=True)
    assert (si.total_bytes, si.used_bytes, si.shared_bytes, si.swap_free_bytes) == (25 * 10**9, 534 * 10**6, 9 * 10**6, 0)
    assert abs(si.total_bytes - 25276514304) < 0.02 * 25276514304
    legacy = p.parse_free(si_text.replace("25G", "1.5G"))  # procps before "Gi": bare G is GiB
    assert legacy.total_bytes == int(1.5 * GIB) and legacy.used_bytes == 534 * MIB
    assert p.parse_free(si_text.replace("470M", "512B")).buff_cache_bytes == 512


@pytest.mark.parametrize("text, where", [
    ("", "no Mem: row"),
    ("Mem: 1 2 3 4 5 6\n", "line 1: expected the header"),
    ("  total used free shared buff/cache available\nMem: 1 2 3 4 5\nSwap: 0 0 0\n", "line 2: expected 6 numbers"),
    ("  total used free shared buff/cache available\nMem: 1 2 3 4 5 6\n", "no Swap: row"),
    ("  total used free shared buff/cache available\nMem: 1 2 3 4 5 6Xi\nSwap: 0 0 0\n", "line 2: '6Xi' is not a size"),
    ("  total used free shared buff/cache available\nMem: 1 2 3 4 5 6.5\nSwap: 0 0 0\n", "line 2: '6.5' is not a size"),
    ("  total used free shared buff/cache available\nMem: 1 2 3 4 5 6\nCache: 0 0 0\n", "line 3: unexpected row"),
    ("  total used free\nMem: 1 2 3\nSwap: 0 0 0\n", "no buff/cache"),
])
def test_free_errors(text, where):
    with pytest.raises(ValueError, match="^free: .*" + where):
        p.parse_free(text)


# --------------------------------------------------------------------------- sar -r: other shapes

def test_sar_restart_repeated_header_midnight_and_column_order():
    # sysstat 10 (RHEL 7) has no kbavail; a LINUX RESTART and a repeated header change the layout.
    text = ("Linux 3.10.0-1160.el7.x86_64 (db1) \t06/01/2024 \t_x86_64_\t(4 CPU)\n"
            "\n"
            "11:59:58 PM kbmemfree kbmemused  %memused kbbuffers  kbcached  kbcommit   %commit  kbactive   kbinact   kbdirty\n"
            "11:59:59 PM    100        200     66.67         1         2         3      0.10         4         5         6\n"
            "12:00:00 AM    101        199     66.33         1         2         3      0.10         4         5         7\n"
            "\n"
            "12:00:05 AM       LINUX RESTART\t(4 CPU)\n"
            "\n"
            "12:00:06 AM kbavail kbmemfree kbmemused  %memused kbbuffers  kbcached  kbcommit   %commit  kbactive   kbinact   kbdirty\n"
            "12:00:07 AM     90       110      190     63.33         1         2         3      0.10         4         5         8\n"
            "12:59:59 PM     91       111      189     63.00         1         2         3      0.10         4         5         9\n"
            "^C\n"
            "Average:        91       111      189     63.00         1         2         3      0.10         4         5         9\n")
    report = p.parse_sar_r(text)
    assert report.header.kernel == "3.10.0-1160.el7.x86_64" and report.header.cpus == 4
    assert [r.seconds for r in report.rows] == [86399, 0, 7, 12 * 3600 + 3599]
    assert report.rows[0].kbavail is None and report.rows[0].kbmemfree == 100
    assert (report.rows[2].kbavail, report.rows[2].kbmemfree, report.rows[2].kbdirty) == (90, 110, 8)
    assert report.average.kbavail == 91


@pytest.mark.parametrize("text, where", [
    ("", "no header and no rows"),
    ("03:19:52 AM  31040884  31183588\n", "line 1: row before any column header"),
    ("03:19:51 AM kbmemfree kbavail\n03:19:52 AM 1 2 3\n", "line 2: expected 2 values"),
    ("03:19:51 AM kbmemfree kbavail\n03:19:52 AM 1 x\n", "line 2: a value is not a number"),
    ("03:19:51 AM CPU %user %nice\n", "line 1: not a memory"),
    ("03:19:51 AM kbmemfree kbavail\nAverage: 1 2\nAverage: 1 2\n", "line 3: second Average"),
    ("Linux is great\n", "line 1: neither a sar header nor a timed row"),
    ("25:19:51 kbmemfree kbavail\n", "line 1: neither"),
])
def test_sar_errors(text, where):
    with pytest.raises(ValueError, match="^sar -r: " + where):
        p.parse_sar_r(text)


# --------------------------------------------------------------------------- /proc files: other shapes

def test_proc_stat_comm_with_spaces_and_parentheses():
    stat = p.parse_proc_stat(
        "77 (my (odd)) prog) R 1 77 77 0 -1 4194304 10 0 2 0 5 6 0 0 20 0 3 0 999 2695168 320 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n")
    assert (stat.pid, stat.comm, stat.state, stat.min_flt, stat.maj_flt) == (77, "my (odd)) prog", "R", 10, 2)
    assert (stat.utime_ticks, stat.stime_ticks, stat.num_threads, stat.vsize_bytes, stat.rss_pages) == (
        5, 6, 3, 2695168, 320)
    assert stat.rss_kib == 1280
    for bad in ("", "77 hold8m S 1", "77 (hold8m) S 1 77 77 0", "x (hold8m) " + "0 " * 40):
        with pytest.raises(ValueError, match="^proc stat: line 1: "):
            p.parse_proc_stat(bad)


def test_proc_status_old_kernel_and_errors():
    # RHEL 7-era status: no RssAnon/RssFile/RssShmem.
    old = p.parse_proc_status("Name:\tcat\nVmPeak:\t  107952 kB\nVmSize:\t  107952 kB\nVmHWM:\t     596 kB\n"
                              "VmRSS:\t     596 kB\nThreads:\t1\n")
    assert (old.vm_size_kib, old.vm_rss_kib, old.vm_peak_kib, old.vm_hwm_kib) == (107952, 596, 107952, 596)
    assert old.rss_anon_kib is None and old.rss_file_kib is None and old.rss_shmem_kib is None
    # Exiting: the memory is released before the process becomes a zombie; no Vm* lines remain.
    exiting = p.parse_proc_status("Name:\tallocate\nState:\tR (running)\nPid:\t7496\nThreads:\t1\n")
    assert exiting.vm_size_kib is None and exiting.vm_rss_kib is None
    with pytest.raises(ValueError, match="^proc status: no 'Key: N kB' fields"):
        p.parse_proc_status("State:\tR (running)\n")
    with pytest.raises(ValueError, match=r"^proc status: line 2: .*'VmRSS:\\t  lots kB'"):
        p.parse_proc_status("Name:\tcat\nVmRSS:\t  lots kB\n")


def test_smaps_rollup_and_meminfo_errors():
    header = "558988157000-7ffc76b70000 ---p 00000000 00:00 0                          [rollup]\n"
    assert p.parse_smaps_rollup(header + "Rss:  12 kB\n").rss_kib == 12
    assert p.parse_smaps_rollup("Rss:  12 kB\n").pss_kib is None
    with pytest.raises(ValueError, match="^smaps_rollup: line 2: "):
        p.parse_smaps_rollup(header + "Rss: twelve kB\n")
    with pytest.raises(ValueError, match="^smaps_rollup: line 2: "):
        p.parse_smaps_rollup("Rss:  12 kB\n" + header)  # the maps-like line only as the first line
    with pytest.raises(ValueError, match="^meminfo: line 2: .*'MemFree 100 kB'"):
        p.parse_meminfo("MemTotal: 1000 kB\nMemFree 100 kB\n")
    with pytest.raises(ValueError, match="^meminfo: no "):
        p.parse_meminfo("")


def test_meminfo_without_newer_fields():
    # Before 2.6.19 there is no SReclaimable, before 3.14 no MemAvailable.
    info = p.parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n")
    assert info.used_kib == 690 and info.mem_available_kib is None and info.used_procps4_kib is None
    assert p.parse_meminfo("MemTotal: 1000 kB\n").used_kib is None


# --------------------------------------------------------------------------- host facts: other shapes

def test_os_release_quoting():
    text = ("# comment\n\nNAME='Single Quoted'\nPRETTY_NAME=\"Say \\\"hi\\\" \\$HOME\"\nID=plain\nEMPTY=\n")
    assert p.parse_os_release(text) == {
        "NAME": "Single Quoted", "PRETTY_NAME": 'Say "hi" $HOME', "ID": "plain", "EMPTY": ""}
    assert p.parse_os_release("") == {}
    with pytest.raises(ValueError, match="^os-release: line 1: .*unterminated"):
        p.parse_os_release('NAME="Red Hat\n')
    with pytest.raises(ValueError, match="^os-release: line 2: expected KEY=value"):
        p.parse_os_release("ID=rhel\nthis is not os-release\n")


def test_thp_mode():
    assert p.parse_thp_mode("[always] madvise never\n") == "always"
    assert p.parse_thp_mode("always defer defer+madvise [madvise] never\n") == "madvise"  # defrag
    for bad in ("always madvise never\n", "[always] [never]\n", ""):
        with pytest.raises(ValueError, match="^thp mode: "):
            p.parse_thp_mode(bad)


def test_uname_other_shapes():
    debian = p.parse_uname("Linux bookworm 6.1.0-23-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.99-1 "
                           "(2024-07-15) x86_64 GNU/Linux\n")
    assert debian.kernel_version == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.99-1 (2024-07-15)"
    assert (debian.machine, debian.operating_system) == ("x86_64", "GNU/Linux")
    old32 = p.parse_uname("Linux box 2.6.32-754.el6.i686 #1 SMP Tue Jun 19 21:26:04 UTC  2018 i686 i686 i386 GNU/Linux")
    assert (old32.machine, old32.kernel_version) == ("i686", "#1 SMP Tue Jun 19 21:26:04 UTC  2018")
    for bad in ("", "Linux host", "Linux host 6.1.0 #1 SMP GNU/Linux"):
        with pytest.raises(ValueError, match="^uname -a: line 1: "):
            p.parse_uname(bad)


# --------------------------------------------------------------------------- vmstat 1 (procps)
# Verbatim lines of two `vmstat 1 2` runs on the lab's Debian 12 container (procps-ng 4.0.2), joined
# with the header repeated, as vmstat repeats it on a terminal.
VMSTAT_3 = """\
procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----
 r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st
 3  0      0 22305328 135020 1697124    0    0   356  1109  978 2088 65 16 19  0  0
 2  0      0 22305328 135020 1697124    0    0    12    12 1932 3360 49 15 35  0  0
procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----
 r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st
 8  0      0 22183164  99564 1563668    0    0   359  1093  973 2075 64 16 19  0  0
"""


def test_vmstat_rows_by_column_name():
    rows = p.parse_vmstat(VMSTAT_3)
    assert len(rows) == 3
    assert rows[0].values["free"] == 22305328 and rows[0].values["cs"] == 2088
    assert rows[2].values["buff"] == 99564 and list(rows[2].values)[-1] == "st"


@pytest.mark.skipif(not Path("/usr/bin/vmstat").exists(), reason="vmstat (procps) is not installed")
def test_vmstat_reads_the_real_tool_and_agrees_with_meminfo():
    text = subprocess.run(["vmstat", "1", "1"], capture_output=True, text=True, check=True,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    [row] = p.parse_vmstat(text)
    meminfo = p.parse_meminfo(Path("/proc/meminfo").read_text())
    assert 0 < row.values["free"] <= meminfo.mem_total_kib  # KiB, like /proc/meminfo


@pytest.mark.parametrize("text,message", [
    ("", "no header line"),
    (" 3  0      0 22305328\n", "a row before the"),
    (VMSTAT_3.replace(" 978 2088", " 978"), "expected 17 whole numbers"),
    (VMSTAT_3.replace("22305328", "22,305,328", 1), "expected 17 whole numbers"),
])
def test_vmstat_that_is_not_vmstat_says_where(text, message):
    with pytest.raises(ValueError, match=message):
        p.parse_vmstat(text)
