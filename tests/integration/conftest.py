"""What the integration tests share: the agent built as one file (labagent.pyz), once per module."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    path = tmp_path_factory.mktemp("pyz") / "labagent.pyz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build-pyz.py"), str(path)], check=True,
                   capture_output=True)
    return path
