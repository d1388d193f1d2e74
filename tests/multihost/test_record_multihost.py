"""`ansible-playbook run.yml -e lab_command=...`: the same command recorded on every SSH host at once
(labagent record instead of the experiment), followed, fetched, written up per host with an index; a host
where the command cannot start is that host's failure, and the others go on."""
import json
import re

import pytest

from tests.ansible.playbook import ROOT
from tests.hosts.procs import ansible_bin

pytestmark = [pytest.mark.multihost, pytest.mark.needs_package("gcc", "gcc")]

# A program that allocates in steps: STEPS zero-filled blocks of MIB MiB (every page written), one every
# 0.5 s, then holds them for 1.5 s (so the sampler's last maps, kept once a second, see them all), and
# ends with os._exit, as a C program ends: an interpreter's teardown frees the blocks before the process
# is gone, and maps kept at a tick in between would not hold them. Its interpreter is named directly:
# through `/usr/bin/env` the process would exec a second time, and the recording would compare from a
# snapshot after that exec (tested in tests/integration), which can fall after the first block.
STEPS_PY = '''#!/usr/bin/python3
import os
import sys
import time

steps, mib = int(sys.argv[1]), int(sys.argv[2])
blocks = []
for k in range(steps):
    blocks.append(bytearray(mib * 1024 * 1024))
    print(f"step {k + 1}: {len(blocks) * mib} MiB", flush=True)
    time.sleep(0.5)
time.sleep(1.5)
os._exit(0)
'''
PROGRAM = "/opt/lab-steps"  # on h1 and h2 only: on h3 it cannot start
STEPS, MIB = 6, 4


def anonymous_bytes(maps_text):
    """Bytes of the anonymous mappings (no pathname) in a /proc/PID/maps capture, read here on its own."""
    total = 0
    for line in maps_text.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 5 or (len(fields) == 6 and not fields[5].strip()):
            start, end = fields[0].split("-")
            total += int(end, 16) - int(start, 16)
    return total


def test_a_command_recorded_on_every_host_with_one_that_cannot_start(ssh_hosts, tmp_path):
    for name in ("h1", "h2"):  # each host's /opt is its own directory (tests/hosts/netns.py)
        program = ssh_hosts.host(name).dir / "opt" / "lab-steps"
        program.write_text(STEPS_PY)
        program.chmod(0o755)
    (ssh_hosts.host("h3").dir / "opt" / "lab-steps").unlink(missing_ok=True)
    runs, run_id = tmp_path / "runs", "rec-fleet"
    extra = {"lab_command": f"{PROGRAM} {STEPS} {MIB}", "lab_sample_interval": 0.1, "lab_lang": ["en", "ja"],
             "lab_runs_dir": str(runs), "lab_run_id": run_id,
             "lab_force": True}  # the agent's --force goes before the command's words, never among them
    args = [str(ansible_bin("ansible-playbook")), "run.yml", "-i", str(ssh_hosts.inventory()), "-e", json.dumps(extra)]
    done = ssh_hosts.run_ansible(args, cwd=ROOT, timeout=600)
    out = done.stdout + done.stderr
    run = runs / run_id

    # h3 fails, named with the agent's one-line reason; the run says so and exits non-zero.
    assert done.returncode != 0, out[-4000:]
    assert re.search(r"1 of 3 runs did not complete: h3 \(failed: labagent: cannot start /opt/lab-steps: "
                     r"No such file or directory\)", " ".join(out.split())), out[-4000:]
    record = json.loads((run / "run.json").read_text())
    assert record["kind"] == "recording"
    assert record["record"]["command"] == [PROGRAM, str(STEPS), str(MIB)]
    assert record["hosts"]["h1"] == record["hosts"]["h2"] == {"status": "ok", "reason": None}
    assert record["hosts"]["h3"] == {"status": "failed",
                                     "reason": "labagent: cannot start /opt/lab-steps: No such file or directory"}
    assert not (run / "h3").exists()

    # Progress while recording: phase, VSZ, RSS and seconds, never FAILED for waiting (only h3's real failure).
    for name in ("h1", "h2"):
        assert re.search(rf"^PROGRESS: \[{name}\] recording: phase start, VSZ [\d,]+ KiB, RSS [\d,]+ KiB, "
                         r"min_flt [\d,]+, \d+\.\d s$", out, flags=re.M), out[-4000:]
    assert "RETRYING" not in out
    # FAILED only for h3's refusal and for the run's verdict (delegated to localhost), never for waiting
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert failed and all(re.match(r"fatal: \[(h3|h\d -> localhost)\]: FAILED!", line) for line in failed), failed

    index = (run / "README.md").read_text()
    assert (run / "README.ja.md").is_file() and (run / "plots" / "rss.svg").is_file()
    assert f"`{PROGRAM} {STEPS} {MIB}` recorded on 3 hosts: 2 complete, 1 failed or incomplete." in index
    assert "| h3 | failed | labagent: cannot start /opt/lab-steps: No such file or directory |" in index
    for name in ("h1", "h2"):
        host = run / name
        data = json.loads((host / "results.json").read_text())
        assert data["kind"] == "recording" and data["complete"] is True
        assert data["host"]["hostname"] == name  # recorded on that host, not here
        assert data["recording"]["command"] == [PROGRAM, str(STEPS), str(MIB)]
        assert data["recording"]["exit_status"] == 0 and data["recording"]["stop"]["by"] == "exit"
        assert (host / "raw" / "program.log").read_text().splitlines()[-1] == f"step {STEPS}: {STEPS * MIB} MiB"
        writeup = (host / "README.md").read_text()
        assert (host / "README.ja.md").is_file() and (host / "plots" / "process.svg").is_file()
        # The peak RSS is the largest reading of the samples and snapshots the host sent back, and the
        # writeup and the index say that number.
        samples = [json.loads(line) for line in (host / "samples.jsonl").read_text().splitlines()]
        readings = [s["rss_kib"] for s in samples if s.get("rss_kib") is not None]
        readings += [snap["reading"]["rss_kib"] for snap in data["snapshots"].values()
                     if snap["reading"].get("rss_kib") is not None]
        peak = data["summary"]["rss_kib_peak"]
        assert peak == max(readings)
        start_rss = data["snapshots"]["start"]["reading"]["rss_kib"]
        assert peak - start_rss >= STEPS * MIB * 1024 * 0.9  # the blocks' pages, all written
        assert f"RSS {peak:,} KiB" in writeup
        assert re.search(rf"^\| \[{name}\]\({name}/README.md\) \|.*\| {peak:,} \|", index, flags=re.M), index
        # The anonymous mappings, added up here from the raw maps the host captured, are the writeup's.
        assert not data.get("execs") and data["summary"]["compared_from"] == "start"
        before = anonymous_bytes((host / "raw" / "maps-start.txt").read_text())
        after = anonymous_bytes((host / "raw" / "maps-end.txt").read_text())
        assert after - before >= STEPS * MIB * 1024 * 1024
        assert f"| anonymous (mmap) | {before:,} | {after:,} |" in writeup

    # fetch.yml (what a Ctrl-C leaves to do) collects the same recordings from the hosts again: each
    # host's results.json says it ended, so it is packed, fetched and written up as run.yml did.
    (run / "h1" / "README.md").unlink()
    args = [str(ansible_bin("ansible-playbook")), "playbooks/fetch.yml", "-i", str(ssh_hosts.inventory()),
            "-e", json.dumps({"lab_run_id": run_id, "lab_runs_dir": str(runs)})]
    fetched = ssh_hosts.run_ansible(args, cwd=ROOT, timeout=600)
    again = " ".join((fetched.stdout + fetched.stderr).split())
    # h3's recorder left its one line (labagent record --refused-file): fetch.yml says what happened there,
    # as run.yml did, not that the run was interrupted before it started.
    assert fetched.returncode != 0, again[-3000:]
    assert "h3 (failed: labagent: cannot start /opt/lab-steps: No such file or directory)" in again, again[-3000:]
    assert "interrupted before its agent started" not in again
    record = json.loads((run / "run.json").read_text())
    assert record["hosts"]["h1"] == record["hosts"]["h2"] == {"status": "ok", "reason": None}
    assert record["hosts"]["h3"] == {"status": "failed",
                                     "reason": "labagent: cannot start /opt/lab-steps: No such file or directory"}
    assert f"RSS {json.loads((run / 'h1' / 'results.json').read_text())['summary']['rss_kib_peak']:,} KiB" \
        in (run / "h1" / "README.md").read_text()
