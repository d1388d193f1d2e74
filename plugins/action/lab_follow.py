# malloc-lab: one long poll of the agent on a host, and its archive home once it has ended.
"""lab_follow: run the agent's progress poll on the host, as ansible.builtin.raw would, and once the
poll says the agent's job has finished and left its archive, bring it home in the same task (lab_fetch's transfer:
the host's sha1sum, the connection's own transfer, the copy checked before it is renamed into place).

The lab follows a host with a retried task (`until`): one poll per retry, each a long poll that returns
when the job ends. The archive used to be a task of its own after it, and every task costs every host
a worker fork on the controller and a round in which the play waits for its slowest host. Here the
last poll's task fetches it.

Arguments:
  argv:  the poll: the agent's `progress DIR --job-file F --wait S ...` command (a list). Run as one
         shell command with no module and no terminal, like raw, as the connecting user.
  fetch: {src, dest}: what lab_fetch brings home once the poll's JSON says "finished" and "archived"
         are true (`labagent progress --archive`).

Returns the poll's rc, stdout, stderr, stdout_lines and stderr_lines (as raw does) and, once it fetched,
`fetched` (lab_fetch's result: dest, checksum, size; or failed and msg) and changed; a finished job with
no archive (an agent that refused to run) fetches nothing and says so in msg. A failed fetch
also fails this result, with lab_fetch's msg; the task's failed_when (which judges the poll) must then
say so too: `... or result.fetched.failed | default(false)`.
"""
from __future__ import annotations

import json
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def poll_record(stdout: str) -> dict:
    """The poll's one JSON line ({} when it is not one)."""
    try:
        record = json.loads(stdout)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("argv", "fetch"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is staged on the host
        argv, fetch = self._task.args.get("argv"), self._task.args.get("fetch")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise AnsibleActionFail("lab_follow: argv must be the poll command, a list of strings")
        if not isinstance(fetch, dict) or set(fetch) != {"src", "dest"}:
            raise AnsibleActionFail(f"lab_follow: fetch must be lab_fetch's arguments, src and dest ({fetch!r})")
        done = self._low_level_execute_command(" ".join(shlex.quote(a) for a in argv), sudoable=False)
        stdout, stderr = done.get("stdout", ""), done.get("stderr", "")
        result.update(changed=False, rc=done.get("rc"), stdout=stdout, stderr=stderr,
                      stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines())
        record = poll_record(stdout) if done.get("rc") == 0 else {}
        if record.get("finished") is not True:
            return result
        # Finished: its archive, which the poll says is there (`archived`: `progress --archive` packed what
        # the agent did not; an agent that refused to run left none).
        if record.get("archived") is not True:
            result["msg"] = f"the agent left no archive on the host ({fetch['src']})"
            return result
        task = self._task.copy()
        task.args = dict(fetch)
        fetcher = self._shared_loader_obj.action_loader.get(
            "lab_fetch", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        fetched = fetcher.run(task_vars=task_vars)
        result["fetched"] = fetched
        if fetched.get("failed"):
            result.update(failed=True, msg=fetched.get("msg", "the fetch failed"))
        else:
            result["changed"] = True
        return result
