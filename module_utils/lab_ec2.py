# malloc-lab: what the lab's EC2 modules (roles/ec2_provision/library, roles/ec2_teardown/library) share.
# ansible.cfg's `module_utils` puts this directory on Ansible's module_utils path, so a module imports it
# as ansible.module_utils.lab_ec2 and AnsiballZ packs it with the module; the unit tests that import the
# modules as plain Python add it the same way (tests/cloud/conftest.py).
"""The lab's EC2 modules' retry setting, botocore's ClientError (or a stand-in) and two readers of
EC2's answers."""
from __future__ import annotations

try:
    from botocore.exceptions import ClientError
except ImportError:  # AnsibleAWSModule names the missing botocore before a module's work can run
    class ClientError(Exception):  # type: ignore[no-redef]
        """Stands in for botocore's, which is missing."""

# Throttling (RequestLimitExceeded) and transient errors: botocore's standard retry mode, 10 tries with
# backoff, for every client (`module.client(..., config=RETRIES)`, `botocore.config.Config(**RETRIES)`).
# AWSRetry's wrapper would retry only calls made with aws_retry=True.
RETRIES = {"retries": {"mode": "standard", "max_attempts": 10}}


def error_code(exc: Exception) -> str:
    """EC2's error code of a ClientError ('' for anything else)."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def tags_of(resource: dict) -> dict:
    """An EC2 resource's tags as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
