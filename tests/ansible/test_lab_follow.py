"""plugins/action/lab_follow.py: a poll that says the job has not finished fetches nothing; the one that
says it has brings the archive home, checked, in the same task; a fetch that fails (the archive gone, or
changed after the host's checksum so the copy's SHA-1 differs) fails the poll's task with lab_fetch's own
line and leaves nothing at dest. One real ansible-playbook on this machine."""
import hashlib
import json
import os
import shutil

import pytest

from .playbook import BIN, ansible_playbook

pytestmark = pytest.mark.slow

PLAY = """---
- name: Follow with lab_follow
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A poll of a job that runs
      lab_follow:
        argv: [sh, -c, 'echo "{{\\"finished\\": false, \\"line\\": \\"touching\\"}}"']
        fetch: {{src: "{archive}", dest: "{home}/running.tar.gz"}}
      register: running

    - name: The poll of a job that has ended
      lab_follow:
        argv: [sh, -c, 'echo "{{\\"finished\\": true, \\"archived\\": true}}"']
        fetch: {{src: "{archive}", dest: "{home}/ended.tar.gz"}}
      register: ended

    - name: The poll of a job whose archive is gone before it is fetched
      lab_follow:
        argv: [sh, -c, 'echo "{{\\"finished\\": true, \\"archived\\": true}}"']
        fetch: {{src: "{archive}.gone", dest: "{home}/gone.tar.gz"}}
      register: gone
      ignore_errors: true

    - name: The poll of a job whose archive changes after the host's checksum (still being written)
      lab_follow:
        argv: [sh, -c, 'echo "{{\\"finished\\": true, \\"archived\\": true}}"']
        fetch: {{src: "{racing}", dest: "{home}/racing.tar.gz"}}
      register: racing
      ignore_errors: true

    - name: The poll of a job that left no archive (an agent that refused to run)
      lab_follow:
        argv: [sh, -c, 'echo "{{\\"finished\\": true, \\"archived\\": false}}"']
        fetch: {{src: "{archive}", dest: "{home}/none.tar.gz"}}
      register: none_left

    - name: A poll that fails
      lab_follow:
        argv: [sh, -c, 'echo "labagent: no such run" >&2; exit 2']
        fetch: {{src: "{archive}", dest: "{home}/refused.tar.gz"}}
      register: refused
      failed_when: false

    - name: Keep what each returned
      ansible.builtin.copy:
        content: "{{{{ {{'running': running, 'ended': ended, 'gone': gone, 'racing': racing, 'none': none_left, 'refused': refused}} | to_json }}}}"
        dest: "{home}/results.json"
        mode: "0600"
"""


def test_the_last_poll_brings_the_archive_home_and_a_failed_fetch_fails_it(tmp_path):
    archive = tmp_path / "host" / "r.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    home = tmp_path / "home"
    home.mkdir()
    playbook = tmp_path / "follow.yml"
    racing = archive.with_name("racing.tar.gz")
    racing.write_bytes(archive.read_bytes())
    # The host's sha1sum, then the file grows before the copy is made (an archive still being written):
    # the copy's SHA-1 cannot match. The wrapper answers as coreutils does, then appends.
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "sha1sum").write_text(f'#!/bin/sh\n{shutil.which("sha1sum")} "$@" || exit $?\n'
                                  'case "$1" in *racing*) printf more >> "$1";; esac\n')
    (fake / "sha1sum").chmod(0o755)
    playbook.write_text(PLAY.format(archive=archive, racing=racing, home=home))
    done = ansible_playbook([], playbook=str(playbook), timeout=300,
                            env={"PATH": f"{fake}:{BIN}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stdout[-3000:]
    got = json.loads((home / "results.json").read_text())

    assert json.loads(got["running"]["stdout"])["line"] == "touching" and got["running"]["rc"] == 0
    assert "fetched" not in got["running"] and not got["running"]["changed"]
    assert not (home / "running.tar.gz").exists()

    ended = got["ended"]
    assert ended["changed"] and not ended.get("failed")
    assert (home / "ended.tar.gz").read_bytes() == archive.read_bytes()
    assert ended["fetched"]["checksum"] == hashlib.sha1(archive.read_bytes()).hexdigest()
    assert ended["fetched"]["size"] == archive.stat().st_size

    gone = got["gone"]
    assert gone["failed"] and gone["fetched"]["failed"]
    assert gone["msg"].startswith(f"cannot read {archive}.gone on the host: ") and "No such file" in gone["msg"]
    racing_result = got["racing"]
    assert racing_result["failed"] and racing_result["fetched"]["failed"]
    assert racing_result["msg"].startswith(f"the copy of {racing} is corrupt: SHA-1 ")
    assert racing_result["msg"].endswith(f", on the host {hashlib.sha1(archive.read_bytes()).hexdigest()}")
    # Neither failed fetch left a file at dest, nor a partial one beside it.
    assert sorted(p.name for p in home.iterdir()) == ["ended.tar.gz", "results.json"]

    none = got["none"]
    assert "fetched" not in none and not none.get("failed") and not none["changed"]
    assert none["msg"] == f"the agent left no archive on the host ({archive})"

    refused = got["refused"]
    assert refused["rc"] == 2 and refused["stderr_lines"] == ["labagent: no such run"]
    assert "fetched" not in refused
