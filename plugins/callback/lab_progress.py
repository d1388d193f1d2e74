"""malloc-lab's screen output: Ansible's default, except that waiting is not failing. While an
experiment runs, one line per host per change (phase, step) instead of "FAILED - RETRYING"."""
from __future__ import annotations

import json
import re

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DOCUMENTATION = """
    name: lab_progress
    type: stdout
    short_description: the default output, with experiment progress instead of "FAILED - RETRYING"
    description:
      - Prints what the default callback prints, except for a task being retried (an `until` loop).
      - When the retried task printed a `labagent progress` record, prints one PROGRESS line per host
        when its phase or step changed; any other retry is one WAITING line.
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout_callback in ansible.cfg (malloc-lab's does)
"""

# <variant>__r<k> (a run of `labagent run --variants`; runs/<id>__<variant>__r<k> before): the agent's
# directory names its variant and repeat
_ENTRY = re.compile(r"(?:^|__)(?P<variant>[a-z][a-z-]*)__r(?P<repeat>[0-9]+)$")


def progress_record(stdout):
    """The `labagent progress` record in a task's stdout, or None when it is not one."""
    try:
        record = json.loads(stdout or "")
    except ValueError:
        return None
    return record if isinstance(record, dict) and "lab_progress" in record and "line" in record else None


def progress_message(host, record):
    """`PROGRESS: [host] malloc r2: touching 30MiB of 100MiB (3/10), RSS 31,012 KiB, min_flt 7,771, 4.2 s`."""
    match = _ENTRY.search(record.get("run") or "")
    state = record.get("lab_progress") or {}
    # a recording of lab_command (labagent record) has a kind and no variant
    where = (f"{match.group('variant')} r{match.group('repeat')}" if match
             else (state.get("variant") or state.get("kind") or "experiment"))
    return f"PROGRESS: [{host}] {where}: {record['line']}"


def progress_key(host, record):
    """What must change for a new line: the run and its position, not the clock."""
    state = dict(record.get("lab_progress") or {})
    state.pop("t", None)
    return host, record.get("run"), json.dumps(state, sort_keys=True)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "lab_progress"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shown = {}  # (host, run) -> the last position printed

    def v2_runner_retry(self, result):
        host = self.host_label(result)
        record = progress_record(result.result.get("stdout"))
        if record is None:
            left = result.result["retries"] - result.result["attempts"]
            self._display.display(f"WAITING: [{host}]: {result.task_name or result.task} ({left} tries left)",
                                  color=C.COLOR_DEBUG)
            return
        key = progress_key(host, record)
        if self._shown.get(key[:2]) == key[2]:
            return
        self._shown[key[:2]] = key[2]
        self._display.display(progress_message(host, record), color=C.COLOR_DEBUG)
