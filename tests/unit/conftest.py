"""Fixtures shared by the unit tests."""
import shutil
from pathlib import Path

import pytest

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "debian12-local"


@pytest.fixture()
def proc_root(tmp_path):
    """The Debian 12 captures (tests/fixtures/debian12-local/NOTE.md) laid out as /proc, PID 4242."""
    pid_dir = tmp_path / "4242"
    pid_dir.mkdir()
    shutil.copy(LOCAL / "proc-stat.txt", pid_dir / "stat")
    shutil.copy(LOCAL / "proc-status.txt", pid_dir / "status")
    shutil.copy(LOCAL / "smaps-rollup.txt", pid_dir / "smaps_rollup")
    shutil.copy(LOCAL / "maps-touched.txt", pid_dir / "maps")
    shutil.copy(LOCAL / "meminfo.txt", tmp_path / "meminfo")
    return tmp_path
