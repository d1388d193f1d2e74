"""The one list of system packages (tests/system-packages.txt) and what uses it."""
import os
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import missing_package_outcome

ROOT = Path(__file__).resolve().parents[2]
LIST = ROOT / "tests" / "system-packages.txt"


def listed() -> list:
    lines = (line.split("#", 1)[0].strip() for line in LIST.read_text().splitlines())
    return [line for line in lines if line]


def test_the_list_names_what_the_tests_use():
    # The tools of the agent, the SSH test hosts and the locale tests: a fresh Debian 12 has none of these.
    assert {"gcc", "libc6-dev", "sysstat", "procps", "openssh-server", "iproute2", "locales"} <= set(listed())


def test_make_test_and_ci_share_the_list():
    make = (ROOT / "Makefile").read_text()
    assert "scripts/install-test-deps.sh" in make and "test: test-deps" in make
    assert "scripts/install-test-deps.sh" in (ROOT / ".ci" / "run").read_text()
    script = (ROOT / "scripts" / "install-test-deps.sh").read_text()
    assert "tests/system-packages.txt" in script
    assert "apt-get install" not in (ROOT / ".ci" / "run").read_text()  # no second list


def test_not_root_names_what_to_install():
    # A copy of the repo's script with a list naming a package nobody has: run as nobody, it names it.
    # (pytest's tmp_path is root's alone: nobody could not read the script there.)
    with tempfile.TemporaryDirectory(prefix="malloc-lab-deps-") as tmp:
        check_not_root_names_what_to_install(Path(tmp))


def check_not_root_names_what_to_install(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "tests").mkdir()
    script = tmp_path / "scripts" / "install-test-deps.sh"
    script.write_text((ROOT / "scripts" / "install-test-deps.sh").read_text())
    script.chmod(0o755)
    (tmp_path / "tests" / "system-packages.txt").write_text("# a comment\nbash\nmalloc-lab-no-such-package\n")
    tmp_path.chmod(0o755)
    for sub in ("scripts", "tests"):
        (tmp_path / sub).chmod(0o755)
    argv = [str(script)] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                     str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "missing system packages: malloc-lab-no-such-package" in done.stderr
    assert "apt-get install -y malloc-lab-no-such-package" in done.stderr
    assert "bash" not in done.stderr.split("missing system packages:")[1].splitlines()[0]


def test_a_missing_tool_skips_only_when_not_root():
    assert missing_package_outcome("sh", "dash", is_root=True) is None
    kind, message = missing_package_outcome("malloc-lab-no-such-tool", "malloc-lab-pkg", is_root=False)
    assert kind == "skip" and "malloc-lab-pkg" in message
    kind, message = missing_package_outcome("malloc-lab-no-such-tool", "malloc-lab-pkg", is_root=True)
    assert kind == "fail" and "malloc-lab-pkg" in message
