"""The connections the SSH tests run over: OpenSSH always; paramiko while ansible-core still has it
(deprecated in 2.19, removed in 2.21) and the test-only package is installed."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from typing import Optional, Tuple

import pytest

PARAMIKO_REMOVED_IN = (2, 21)


def _major_minor(version: str) -> Tuple[int, int]:
    """(2, 21) from "2.21.0", "2.21.0rc1" or "2.21"."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def paramiko_skip_reason(ansible_core: str, paramiko_installed: bool) -> Optional[str]:
    """Why the paramiko tests cannot run, or None when they can."""
    if _major_minor(ansible_core) >= PARAMIKO_REMOVED_IN:
        return (f"ansible-core {ansible_core} has no paramiko connection plugin (removed in 2.21); "
                "the lab runs over OpenSSH")
    if not paramiko_installed:
        return "paramiko is not installed (a test-only package: requirements-dev.txt, or pip install '.[paramiko]')"
    return None


def connections() -> list:
    """pytest parameters: "ssh", and "paramiko" skipped with the reason when it cannot run."""
    reason = paramiko_skip_reason(importlib.metadata.version("ansible-core"),
                                  importlib.util.find_spec("paramiko") is not None)
    return ["ssh", pytest.param("paramiko", marks=pytest.mark.skipif(reason is not None, reason=reason or ""))]
