"""Shared pytest setup: the SSH namespace hosts harness is a plugin (tests/conftest_hosts.py)."""
pytest_plugins = ["tests.conftest_hosts"]
