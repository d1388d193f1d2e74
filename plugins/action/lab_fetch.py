# malloc-lab: bring one file home from a host, checked, without a module.
"""lab_fetch: copy the host's src to the controller's dest, verified by its SHA-1, with no module.

ansible.builtin.fetch runs the stat module on the host first (a Python that imports Ansible's
module_utils, about 0.12 s of CPU per host) to learn the file's checksum. This action asks the host's
`sha1sum` instead (coreutils), transfers the file with the connection (the same SFTP/SCP transfer fetch
uses), checks the copy's SHA-1 against the host's, and only then renames it to dest (a failed or
corrupt transfer never leaves a file at dest). As the connecting user, never with become: the lab's
archives are the user's own.

Arguments:
  src:  the file on the host (absolute)
  dest: where it goes on the controller (its directory must exist)

Returns changed, dest, checksum (SHA-1) and size; fails with the host's own line when src cannot be read.
"""
from __future__ import annotations

import os
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.hashing import checksum  # the file's SHA-1, as ansible.builtin.fetch checks it


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("src", "dest"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is staged on the host
        src, dest = self._task.args.get("src"), self._task.args.get("dest")
        if not isinstance(src, str) or not src.startswith("/"):
            raise AnsibleActionFail(f"lab_fetch: src must be an absolute path on the host ({src!r})")
        if not isinstance(dest, str) or not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
            raise AnsibleActionFail(f"lab_fetch: dest must be a path in an existing directory ({dest!r})")
        found = self._low_level_execute_command(f"sha1sum {shlex.quote(src)}", sudoable=False)
        words = (found.get("stdout") or "").split()
        if found.get("rc") != 0 or not words or len(words[0]) != 40:
            lines = [line for line in (found.get("stderr") or found.get("stdout") or "").splitlines() if line.strip()]
            return dict(result, failed=True, rc=found.get("rc"),
                        msg=f"cannot read {src} on the host: {lines[-1] if lines else 'exit status %s' % found.get('rc')}")
        remote = words[0]
        partial = f"{dest}.part"
        try:
            self._connection.fetch_file(src, partial)
            local = checksum(partial)
            if local != remote:
                return dict(result, failed=True, msg=f"the copy of {src} is corrupt: SHA-1 {local}, on the host {remote}")
            os.replace(partial, dest)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return dict(result, changed=True, dest=dest, checksum=remote, size=os.path.getsize(dest))
