# malloc-lab: run the agent on a host (putting it there first), without a module.
"""lab_run_agent: run `PYTHON PATH ARGV` on the host; with src, first make sure PATH is that file.

How the experiment talks to a host's agent: it puts it there and asks what the host lacks (lab_prepare),
then starts it in the background (lab_experiment; `labagent background` keeps the job file that
Ansible's async would). ansible.builtin.file + copy + command, and command with async, would run a
module for each (a Python that imports Ansible's module_utils, about 0.12 s of CPU on the host, and for
async two more around it) before the agent's own Python does the work. This action does it the way
ansible.builtin.script does, with shell commands over the connection and no module at all:

  1. with src, one command: create PATH's directory (mode 0700, the user's own; an existing one is
     made 0700 too), and when the agent is already there (it is content-named, labagent-<digest>.pyz,
     so same name means same bytes) run it at once;
  2. only when it is not, a second command receives it on its stdin (no SFTP session; a connection
     without stdin, paramiko, transfers it with its own put_file first), writes it beside
     its final name, renames it into place (never a half-written agent under the final name) and runs
     it;
  3. the agent runs with the task's environment (a play's `environment:`, e.g. its PATH, applies as it
     does to a module); its rc, stdout and stderr are returned like ansible.builtin.command's. Without
     become there is no terminal (stdout and stderr stay apart, as a module's do). Without src, only
     the run.

When the agent ran and Ansible has not yet found the host's Python (no ansible_python_interpreter set,
nothing discovered), the interpreter that ran it, as the host's shell resolved it, is returned as the
fact discovered_interpreter_python: a later module on this host (installing missing packages) then
skips Ansible's interpreter discovery, a probe of its own on the first module.

An unreachable host is UNREACHABLE, as with any module; a host where the agent cannot start (no such
Python, or one too old) is a non-zero rc with the shell's or the agent's own line.

Arguments:
  path:   the agent on the host (absolute)
  src:    the agent on the controller (a .pyz named as path is): put it at path unless it is there
  python: the interpreter that runs it on the host (default python3)
  argv:   the agent's arguments (a list)

Returns changed (the agent was transferred; a task that starts something says changed_when), path, rc, stdout, stderr,
stdout_lines, stderr_lines; fails on a non-zero rc with the last stderr line as msg unless the task says
otherwise (failed_when).
"""
from __future__ import annotations

import os
import shlex
from typing import Optional

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# What the first command prints before the agent's own output: the Python the shell resolved, and
# whether the agent is already on the host.
PYTHON_IS, PRESENT, ABSENT = "lab-python=", "lab-agent-present", "lab-agent-absent"


def last_line(text: str, otherwise: str) -> str:
    """The last line of text that is not blank (the line a command ends on), else otherwise."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else otherwise


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("path", "src", "python", "argv"))

    def _shell(self, command: str, in_data: Optional[bytes] = None) -> dict:
        """One command over the connection, as the task's user. With become it is sudoable (and SSH
        then gives it a terminal, as for a module's become); without, no terminal."""
        become = bool(getattr(self._play_context, "become", False))
        return self._low_level_execute_command(self._connection._shell.wrap_for_exec(command), sudoable=become,
                                               in_data=in_data)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no remote temporary directory: the agent goes straight to its path
        args = self._task.args
        path, src = args.get("path"), args.get("src")
        python = args.get("python") or "python3"
        argv = args.get("argv")
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise AnsibleActionFail(f"lab_run_agent: path must be the agent's absolute path on the host ({path!r})")
        if src is not None and (not isinstance(src, str) or not os.path.isfile(src)):
            raise AnsibleActionFail(f"lab_run_agent: src must be the agent on the controller, a file ({src!r})")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise AnsibleActionFail("lab_run_agent: argv must be a list of strings")
        q_path = shlex.quote(path)
        agent = " ".join([self._compute_environment_string(), shlex.quote(python), q_path] + [shlex.quote(a) for a in argv])
        copied, resolved = False, ""
        if src is None:
            done = self._shell(agent)
        else:
            # One command: the directory, the Python the shell finds, and the agent's run when it is there.
            dest = os.path.dirname(path)
            q_dest = shlex.quote(dest)
            done = self._shell(f"umask 077 && mkdir -p {q_dest} && chmod 0700 {q_dest} && "
                               f"printf '{PYTHON_IS}%s\\n' \"$(command -v {shlex.quote(python)})\" && "
                               f"if [ -f {q_path} ]; then echo {PRESENT} && {agent}; else echo {ABSENT}; fi")
            head, _, rest = (done.get("stdout") or "").partition("\n")
            marker, _, agent_out = rest.partition("\n")
            if not head.startswith(PYTHON_IS) or marker.strip() not in (PRESENT, ABSENT):
                why = last_line(done.get("stderr") or done.get("stdout") or "", f"exit status {done.get('rc')}")
                return dict(result, failed=True, rc=done.get("rc"), stdout=done.get("stdout", ""),
                            stderr=done.get("stderr", ""), msg=f"cannot create {dest} on the host: {why}")
            resolved = head[len(PYTHON_IS):].strip()
            done = dict(done, stdout=agent_out)
            if marker.strip() == ABSENT:
                # Over the same connection, on the command's stdin: no SFTP session, and never a
                # half-written agent under its final name.
                partial = f"{dest}/.{os.path.basename(path)}.part"
                place = f"chmod 0755 {shlex.quote(partial)} && mv -f {shlex.quote(partial)} {q_path} && {agent}"
                if getattr(self._connection, "has_pipelining", False):
                    with open(src, "rb") as handle:
                        done = self._shell(f"cat > {shlex.quote(partial)} && {place}", in_data=handle.read())
                else:  # a connection that takes no stdin (paramiko): its own file transfer
                    self._transfer_file(src, partial)
                    done = self._shell(place)
                copied = True
        stdout, stderr = done.get("stdout", ""), done.get("stderr", "")
        result.update(changed=copied, path=path, rc=done.get("rc"), stdout=stdout, stderr=stderr,
                      stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines(),
                      cmd=[python, path] + list(argv))
        if done.get("rc") != 0:
            result.update(failed=True, msg=last_line(stderr, f"non-zero return code {done.get('rc')}"))
            return result
        undiscovered = (task_vars or {}).get("ansible_python_interpreter") is None and \
            "discovered_interpreter_python" not in ((task_vars or {}).get("ansible_facts") or {})
        if resolved.startswith("/") and undiscovered:
            result["ansible_facts"] = {"discovered_interpreter_python": resolved}
        return result
