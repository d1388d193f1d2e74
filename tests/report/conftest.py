"""Fixtures: the report tests' run directories (see report_runs.py), each in its own tmp dir."""
from __future__ import annotations

import pytest

from report_runs import compare_run, copy_run, repeats_run, seedrun, variant_run


@pytest.fixture
def seed_dir(tmp_path):
    return seedrun.build(str(tmp_path / "seed-rhel94"))


@pytest.fixture
def debian_dir(tmp_path):
    return copy_run("debian12-madvise", str(tmp_path / "debian12-madvise"))


@pytest.fixture
def hugepage_dir(tmp_path):
    return copy_run("debian12-madv-hugepage", str(tmp_path / "debian12-madv-hugepage"))


@pytest.fixture
def killed_dir(tmp_path):
    return copy_run("debian12-killed", str(tmp_path / "debian12-killed"))


@pytest.fixture
def compare_dir(tmp_path):
    return compare_run(str(tmp_path / "20261125T2210-compare"))


@pytest.fixture
def variant_dir(tmp_path):
    """A factory: variant_dir("calloc") is a copy of tests/fixtures/runs/variants/calloc/."""
    return lambda variant: variant_run(variant, str(tmp_path / f"v-{variant}"))


@pytest.fixture
def repeats_dir(tmp_path):
    return repeats_run(str(tmp_path / "20261125T2325-repeats"))


@pytest.fixture
def thp_always_dir(tmp_path):
    return copy_run("debian12-thp-always", str(tmp_path / "debian12-thp-always"))
