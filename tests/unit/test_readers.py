"""Readers pointed at a directory tree of real captures (Debian 12 fixture) instead of /proc and /."""
import shutil
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
