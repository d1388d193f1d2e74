# malloc-lab: run one of the agent's controller-side subcommands in the controller's own worker.
"""lab_agent: `labagent <argv>` on the controller, in the Ansible worker that runs the task.

The lab's controller steps (check the knobs, plan the run, record it) are the agent's own Python,
tested on its own. ansible.builtin.command would start a module (AnsiballZ) that starts Python that
starts the agent: about 0.3 s a step on this kind of machine. This action imports the agent from the
checkout and calls its command line in the worker Ansible already forked for the task: the same
command, the same exit status and output, a tenth of the time.

Arguments:
  argv:  the agent's arguments, as for `python -m labagent` (a list)
  stdin: text the command reads on its standard input (default: none)
  repo:  the checkout that holds labagent/ (the playbook's repo)

Returns rc, stdout, stderr, stdout_lines, stderr_lines like ansible.builtin.command, and like it fails
on a non-zero rc (with the agent's last stderr line as msg) unless the task says otherwise (failed_when).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("argv", "stdin", "repo"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        argv = args.get("argv")
        repo = args.get("repo")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise AnsibleActionFail("lab_agent: argv must be a list of strings")
        if not isinstance(repo, str) or not os.path.isfile(os.path.join(repo, "labagent", "cli.py")):
            raise AnsibleActionFail(f"lab_agent: repo must be the checkout that holds labagent/ ({repo!r})")
        # The worker is a fork of ansible-playbook for this one task: what it changes here ends with it.
        # The checkout comes first, so the agent that runs is the one next to the playbook.
        sys.path.insert(0, repo)
        try:
            cli = importlib.import_module("labagent.cli")
        except ImportError as exc:
            raise AnsibleActionFail(f"lab_agent: cannot import the agent from {repo}: {exc}") from None
        out, err = io.StringIO(), io.StringIO()
        saved_stdin = sys.stdin
        sys.stdin = io.StringIO(args.get("stdin") or "")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = cli.main(list(argv))
                except SystemExit as exc:  # argparse's usage errors exit 2 after printing to stderr
                    rc = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdin = saved_stdin
        stdout, stderr = out.getvalue().rstrip("\n"), err.getvalue().rstrip("\n")
        result.update(rc=rc, stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                      stderr_lines=stderr.splitlines(), cmd=["labagent"] + list(argv), changed=False)
        if rc != 0:
            result.update(failed=True, msg=(stderr.splitlines() or [f"labagent exited with {rc}"])[-1])
        return result
