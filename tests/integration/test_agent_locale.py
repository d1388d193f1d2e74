"""The agent's captures do not depend on the user's locale: a run under ja_JP.UTF-8 (the original note's
author's, and what an SSH session that forwards LANG brings) parses every sar row, free and ps line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labagent import parsers, tools

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--size", "8MiB", "--step", "4MiB", "--step-interval", "0.5", "--sample-interval", "0.25",
         "--pause", "1.2", "--tail", "1.2", "--no-imds"]
JA = "ja_JP.UTF-8"


def _has_locale(name: str) -> bool:
    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.split()
    wanted = name.lower().replace("utf-8", "utf8")
    return any(entry.lower().replace("utf-8", "utf8") == wanted for entry in listed)


@pytest.fixture(scope="module")
def ja_locale():
    """ja_JP.UTF-8 exists on this machine: generated here when root (localedef, from the `locales`
    package's sources), else the test is skipped with the reason."""
    if not _has_locale(JA):
        if os.geteuid() != 0:
            pytest.skip(f"locale {JA} is not installed and only root can generate it "
                        "(as root: apt-get install locales && localedef -i ja_JP -f UTF-8 ja_JP.UTF-8)")
        made = subprocess.run(["localedef", "-i", "ja_JP", "-f", "UTF-8", JA], capture_output=True, text=True,
                              check=False)
        assert made.returncode in (0, 1), made.stderr  # 1: warnings only, the locale is written
        assert _has_locale(JA), f"localedef did not make {JA}: {made.stderr}"
    return JA


def test_sar_prints_japanese_times_under_that_locale(ja_locale, tmp_path):
    """The premise: sysstat is localised, so an unpinned capture is not parseable English."""
    env = {**os.environ, "LC_ALL": ja_locale}
    env.pop("S_TIME_FORMAT", None)
    done = subprocess.run(["sar", "-r", "1", "1"], env=env, capture_output=True, text=True, timeout=10, check=False)
    assert "平均値" in done.stdout or "時" in done.stdout, done.stdout


@pytest.mark.slow
def test_run_under_japanese_locale_parses_every_capture(ja_locale, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "LC_ALL": ja_locale, "LANG": ja_locale, "LANGUAGE": "ja"}
    done = subprocess.run([sys.executable, "-m", "labagent", "run", *SMALL, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True
    # The locale every tool ran in is recorded, and it is the pinned one, not the user's.
    assert data["capture_locale"] == tools.CAPTURE_LOCALE
    sar = data["tools"]["sar"]
    assert sar["locale"] == tools.CAPTURE_LOCALE
    raw = (out / "raw" / "sar-r.txt").read_text()
    assert "時" not in raw and "平均値" not in raw
    report = parsers.parse_sar_r(raw)
    timed = [row for row in report.rows if row.seconds is not None]
    assert len(timed) >= 3
    assert sar["parse"] == {"ok": True, "rows": len(report.rows), "error": None}
    assert len(data["sar"]) == len(report.rows)
    # free and the capture.sh loop were pinned too: their text parses as it does in C.
    assert parsers.parse_free((out / "raw" / "free-b-baseline.txt").read_text()).total_bytes > 0
    assert parsers.parse_capture((out / "raw" / "capture.log").read_text())


@pytest.mark.slow
def test_unparseable_sar_is_recorded_not_silently_empty(ja_locale, tmp_path):
    """A sar that ignores the pinned locale (here: the real sar, re-localised by a wrapper first on PATH)
    writes text no parser reads: the run says so in tools.sar.parse and in a note for the writeup."""
    shim = tmp_path / "bin"
    shim.mkdir()
    real = subprocess.run(["sh", "-c", "command -v sar"], capture_output=True, text=True, check=True).stdout.strip()
    (shim / "sar").write_text(f"#!/bin/sh\nLC_ALL={ja_locale} S_TIME_FORMAT= exec {real} \"$@\"\n")
    (shim / "sar").chmod(0o755)
    out = tmp_path / "run"
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "labagent", "run", *SMALL, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert "平均値" in (out / "raw" / "sar-r.txt").read_text()
    parse = data["tools"]["sar"]["parse"]
    assert parse["ok"] is False and parse["rows"] == 0 and "sar" in parse["error"]
    assert data.get("sar", []) == []
    assert any("sar-r.txt could not be parsed" in note["en"] for note in data["notes"] if isinstance(note, dict))
