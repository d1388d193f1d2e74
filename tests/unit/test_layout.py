"""The run-directory layout (labagent/vocab.py). No role builds it any more: the agent (labagent/batch.py)
and record-run (labagent/runrecord.py) do, tested in tests/unit/test_batch.py."""
from pathlib import Path

import pytest

from labagent import vocab

ROOT = Path(__file__).resolve().parents[2]


def test_entry_names_parse_back():
    assert vocab.parse_entry_name(vocab.entry_name("web__1", "mmap-populate", 12)) == ("web__1", "mmap-populate", 12)
    assert vocab.parse_entry_name("h1") is None
    assert vocab.parse_entry_name("h1__jemalloc__r1") is None  # not a declared variant
    assert vocab.parse_entry_name("h1__malloc__r0") is None
    assert vocab.entry_name("h1", "malloc", 1, single=True) == "h1"


def test_raw_names():
    assert vocab.raw_path(vocab.SAR_R) == "raw/sar-r.txt"
    assert [vocab.maps_file("freed"), vocab.free_h_file("baseline"), vocab.free_b_file("exited")] == \
        ["maps-freed.txt", "free-h-baseline.txt", "free-b-exited.txt"]


# Where Ansible states the plain-name rule for run ids and host names (it cannot import labagent).
NAME_RULE_COPIES = ["roles/lab/tasks/validate.yml", "roles/ec2_provision/library/lab_ec2_plan.py",
                    "roles/ec2_teardown/vars/main.yml"]


@pytest.mark.parametrize("path", NAME_RULE_COPIES)
def test_every_copy_of_the_plain_name_rule_is_the_vocabs(path):
    import re
    copies = re.findall(r"\[A-Za-z0-9\]\[[^\]]*\]\{[^}]*\}", (ROOT / path).read_text())
    assert copies, f"{path} no longer states the rule: drop it from NAME_RULE_COPIES"
    assert set(copies) == {vocab.PLAIN_NAME}


@pytest.mark.parametrize("name,plain", [("h1", True), ("t3-medium", True), ("run.2026_1", True), ("-x", False),
                                        ("a/b", False), ("x" * 129, False), ("", False)])
def test_plain_names(name, plain):
    assert bool(vocab.PLAIN_NAME_RE.match(name)) == plain
