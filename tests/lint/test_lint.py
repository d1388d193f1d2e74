"""The playbooks and roles parse (ansible-lint's syntax check), ansible-lint (production profile) and
yamllint are clean, and no play reads vars_files."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*argv, timeout=600):
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_yamllint_is_clean():
    done = run(BIN / "yamllint", "-s", ".")
    assert done.returncode == 0, done.stdout + done.stderr


# ansible-lint also runs `ansible-playbook --syntax-check` on every playbook and, through a playbook of its
# own, every role (its syntax-check rule, part of every profile): no separate syntax test runs them again.
@pytest.mark.slow
def test_ansible_lint_production_profile_is_clean():
    done = run(BIN / "ansible-lint", "--profile", "production", "--nocolor", "-q", "--offline")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]


def test_no_play_reads_vars_files():
    """ansible-core 2.19 reads and parses a play's vars_files again for every host at every task, in the
    one process that schedules every host (py-spy, 8 hosts: most of get_vars' time). Play vars instead."""
    playbooks = [ROOT / "run.yml", *sorted((ROOT / "playbooks").glob("*.yml"))]
    assert len(playbooks) > 5
    offenders = []
    for path in playbooks:
        for play in yaml.safe_load(path.read_text()) or []:
            if isinstance(play, dict) and "vars_files" in play:
                offenders.append(f"{path.relative_to(ROOT)}: {play.get('name', '?')}")
    assert not offenders, offenders
