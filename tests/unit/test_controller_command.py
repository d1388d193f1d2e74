"""plugins/lookup/lab_controller_command.py: the command line the writeup's Reproduce section shows."""
import importlib.util
import pathlib
import shlex

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "lab_controller_command", ROOT / "plugins" / "lookup" / "lab_controller_command.py")
lookup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lookup)


def nowhere(name):
    return None


def test_every_word_comes_back_whole_from_a_shell():
    argv = [".venv/bin/ansible-playbook", "run.yml", "-i", "hosts.yml", "-e", '{"lab_lang": ["en", "ja"]}',
            "-e", "lab_command='/opt/steps 3'", "-e", "lab_variants=malloc,calloc", "--limit", "h1:h2"]
    line = lookup.controller_command(argv, nowhere)
    assert shlex.split(line) == argv
    assert line.startswith(".venv/bin/ansible-playbook run.yml -i hosts.yml -e ")


def test_the_script_by_its_name_only_when_path_finds_that_same_file(tmp_path):
    script = tmp_path / "bin" / "ansible-playbook"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    other = tmp_path / "other-ansible-playbook"
    other.write_text("#!/bin/sh\n")
    assert lookup.controller_command([str(script), "run.yml"], lambda name: str(script)) == "ansible-playbook run.yml"
    # Another ansible-playbook first on PATH, or none: the path as it was run.
    assert lookup.controller_command([str(script), "run.yml"], lambda name: str(other)) == f"{script} run.yml"
    assert lookup.controller_command([str(script), "run.yml"], nowhere) == f"{script} run.yml"
    assert lookup.controller_command([], nowhere) == ""


def test_a_secrets_value_is_redacted_and_nothing_else():
    argv = ["ansible-playbook", "run.yml",
            "-e", "aws_secret_key=abc123 lab_size=8MiB",
            "-e", "ansible_become_pass=hunter2",
            "-e", '{"aws_session_token": "tok en", "lab_pause": 0.5, "api_password": 42}',
            "-e", "lab_ec2_key_name=my-key", "-e", "lab_pause=0.5"]
    words = shlex.split(lookup.controller_command(argv, nowhere))
    assert words == ["ansible-playbook", "run.yml",
                     "-e", "aws_secret_key=<redacted> lab_size=8MiB",
                     "-e", "ansible_become_pass=<redacted>",
                     "-e", '{"aws_session_token": "<redacted>", "lab_pause": 0.5, "api_password": <redacted>}',
                     "-e", "lab_ec2_key_name=my-key", "-e", "lab_pause=0.5"]
    assert not any(secret in " ".join(words) for secret in ("abc123", "hunter2", "tok en", "42"))
