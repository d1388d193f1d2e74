"""The playbooks parse, and ansible-lint (production profile) and yamllint are clean."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*argv, timeout=600):
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("playbook", ["run.yml", "destroy.yml", "playbooks/provision.yml", "playbooks/teardown.yml"])
@pytest.mark.slow
def test_syntax_check(playbook):
    if not (ROOT / playbook).exists():
        pytest.skip(f"{playbook} is not there")
    done = run(BIN / "ansible-playbook", "--syntax-check", playbook)
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_is_clean():
    done = run(BIN / "yamllint", "-s", ".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile_is_clean():
    done = run(BIN / "ansible-lint", "--profile", "production", "--nocolor", "-q", "--offline")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
