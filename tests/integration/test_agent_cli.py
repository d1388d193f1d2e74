"""Bad input: one clear line, a non-zero exit, never a traceback, nothing clobbered. And the zipapp."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--size", "4MiB", "--step", "2MiB", "--step-interval", "0.05", "--sample-interval", "0.05",
        "--pause", "0", "--tail", "0", "--no-imds"]


def agent(*args, env=None, python=sys.executable):
    return subprocess.run([python, "-m", "labagent", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,message", [
    (["--size", "0"], "--size must be positive"),
    (["--size=-5MiB"], "is not a size"),
    (["--size", "lots"], "is not a size"),
    (["--size", "2TiB"], "absurd"),
    (["--size", "100GiB"], "does not fit in MemAvailable"),
    (["--step", "0"], "--step must be positive"),
    (["--step", "200MiB"], "is larger than --size"),
    (["--size", "100MiB", "--step", "1B"], "too small"),
    (["--step-interval", "0"], "--step-interval must be positive"),
    (["--sample-interval", "5ms"], "below the 10ms minimum"),
    (["--sample-interval=-1"], "is not a duration"),
    (["--variant", "jemalloc"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "out"
    done = agent("run", "--out", str(out), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (out / "results.json").exists()


@pytest.mark.slow
# What run.yml shows for a bad knob: the agent's own line, options named as the Ansible variables.
@pytest.mark.parametrize("args,message", [
    (["--size=0"], "lab_size must be positive"),
    (["--size=lots"], "lab_size: 'lots' is not a size"),
    (["--step=200MiB"], "lab_step 200MiB is larger than lab_size"),
    (["--sample-interval=0.001"], "lab_sample_interval 0.001s is below the 10ms minimum"),
])
def test_check_names_the_options_as_the_playbooks_variables(args, message):
    done = agent("run", "--check", "--out=.", "--name-options-as=lab_", *FAST[:8], *args)
    assert done.returncode == 2
    assert message in done.stderr and "--" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_existing_run_is_never_clobbered(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"mine": true}')
    done = agent("run", "--out", str(out), *FAST)
    assert done.returncode == 2 and "already holds a run" in done.stderr and "--force" in done.stderr
    assert json.loads((out / "results.json").read_text()) == {"mine": True}
    forced = agent("run", "--out", str(out), *FAST, "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "results.json").read_text())["complete"] is True


def test_unwritable_out_dir(tmp_path):
    done = agent("run", "--out", "/proc/malloc-lab", *FAST)
    assert done.returncode == 2 and "cannot write to --out" in done.stderr
    assert "Traceback" not in done.stderr


def _path_with(tmp_path, tools):
    """A PATH holding only the named tools (symlinks to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        real = shutil.which(tool)
        if real:
            (bin_dir / tool).symlink_to(real)
    return dict(os.environ, PATH=str(bin_dir))


def test_missing_gcc_names_the_packages(tmp_path):
    env = _path_with(tmp_path, ["ps", "free", "sar", "uname", "cat"])
    done = agent("run", "--out", str(tmp_path / "out"), *FAST, env=env)
    assert done.returncode == 2
    assert "gcc not found" in done.stderr and "dnf install gcc" in done.stderr and "apt-get install gcc" in done.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.slow
def test_missing_sar_is_recorded_and_the_run_goes_on(tmp_path):
    env = _path_with(tmp_path, ["gcc", "cc", "as", "ld", "ps", "free", "uname", "cat", "python3"])
    out = tmp_path / "out"
    done = agent("run", "--out", str(out), *FAST, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["tools"]["sar"]["available"] is False
    assert "install sysstat" in data["tools"]["sar"]["reason"]
    assert not (out / "raw" / "sar-r.txt").exists()


def test_zipapp_is_one_self_contained_deterministic_file(pyz, tmp_path):
    again = tmp_path / "again.pyz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build-pyz.py"), str(again)], check=True,
                   capture_output=True)
    assert pyz.read_bytes() == again.read_bytes()
    import zipfile
    names = zipfile.ZipFile(pyz).namelist()
    assert "labagent/allocate.c" in names and "__main__.py" in names
    assert not any("/report/" in n for n in names)


def _python39():
    """A real Python 3.9 (RHEL 9's python3), not a pyenv shim."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    candidates += ["/usr/bin/python3.9", "/usr/local/bin/python3.9"]
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("python", ["3.9", "/usr/bin/python3"])
@pytest.mark.slow
def test_zipapp_runs_on_the_hosts_python(pyz, tmp_path, python):
    """RHEL 9's python3 is 3.9: the agent must run there, from the one file, outside the checkout."""
    exe = _python39() if python == "3.9" else shutil.which(python)
    if exe is None:
        pytest.skip(f"no Python {python} here (the vermin check still holds the agent to 3.9)")
    out = tmp_path / "out"
    done = subprocess.run([exe, str(pyz), "run", "--out", str(out), *FAST], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True and data["agent"]["python"].startswith(
        subprocess.run([exe, "-c", "import platform;print(platform.python_version())"],
                       capture_output=True, text=True).stdout.strip())


@pytest.mark.slow
def test_agent_source_needs_no_newer_python_than_rhel9():
    vermin = Path(sys.executable).with_name("vermin")
    if not vermin.exists():
        pytest.skip("vermin is not installed (make venv)")
    done = subprocess.run([str(vermin), "-q", "--no-tips", "--violations", "-t=3.9-", "--eval-annotations",
                           "--backport", "dataclasses", "--exclude-regex", "labagent/report/", str(ROOT / "labagent")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_of_a_corrupt_results_json_is_one_line(tmp_path):
    (tmp_path / "results.json").write_text("{bad")
    done = agent("report", str(tmp_path))
    assert done.returncode == 2 and "is not valid JSON" in done.stderr and "Traceback" not in done.stderr


def test_report_of_a_missing_directory_is_one_line(tmp_path):
    done = agent("report", str(tmp_path / "nope"))
    assert done.returncode == 2 and "is not a directory" in done.stderr and "Traceback" not in done.stderr


def test_the_zipapp_runs_from_its_package_unpacked_once_beside_it_and_from_itself_where_it_cannot(pyz, tmp_path):
    copy = tmp_path / "labagent.pyz"
    shutil.copy(pyz, copy)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # set on some machines
    first = subprocess.run([sys.executable, str(copy), "check-tools"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    [unpacked] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert unpacked.name.startswith(".labagent-") and not list(tmp_path.glob("*.tmp"))
    # The next start imports the agent's bytecode from there (python -v names where each module came from).
    again = subprocess.run([sys.executable, "-v", str(copy), "check-tools"], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"code object from '{unpacked}/labagent/__pycache__/cli." in again.stderr
    # Where it cannot unpack (here the name is taken by a file), it runs from the zipapp and leaves nothing.
    with zipfile.ZipFile(pyz) as archive:
        digest = re.search(r'PACKAGE_DIGEST = "(\w+)"', archive.read("__main__.py").decode()).group(1)
    assert unpacked.name == f".labagent-{digest}"
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    shutil.copy(pyz, blocked / "labagent.pyz")
    (blocked / f".labagent-{digest}").write_text("not a directory")
    done = subprocess.run([sys.executable, "-v", str(blocked / "labagent.pyz"), "check-tools"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["os_family"]
    assert f"import 'labagent.cli' # <zipimporter object \"{blocked / 'labagent.pyz'}/" in done.stderr
    assert sorted(p.name for p in blocked.iterdir()) == [f".labagent-{digest}", "labagent.pyz"]
