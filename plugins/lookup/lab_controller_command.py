# malloc-lab: the controller's ansible-playbook command line, as a shell would take it back.
"""lab_controller_command: the command that started this ansible-playbook, one line a reader can paste.

The writeup's Reproduce section shows how the run was started. The worker that runs a lookup is a fork of
ansible-playbook, so its sys.argv is the playbook command's argv as Python received it: the script as the
shell found it, then its words. From that argv the lookup gives:
  - each word quoted for a POSIX shell (shlex.join), so a word with spaces or quotes in it
    (`-e '{"lab_lang": ["en", "ja"]}'`) pastes back as one word;
  - the script's bare name when PATH finds that same file under it (`ansible-playbook`, not
    `/home/you/lab/.venv/bin/ansible-playbook`), else the path as it was given (`.venv/bin/ansible-playbook`
    from `make run`);
  - the value of a key=value pair, or of a JSON/YAML "key": value, whose key names a secret (secret,
    password, passwd, pass, token, credential: `aws_secret_key`, `ansible_become_pass`) as <redacted>: a
    writeup is written to be shared, and a credential given on the command line would be in it.

Returns one string (an empty one when there is no argv).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from typing import Callable, Optional, Sequence

from ansible.plugins.lookup import LookupBase

REDACTED = "<redacted>"
_SECRET = r"[A-Za-z0-9_]*(?:secret|passw(?:or)?d|pass|token|credential)[A-Za-z0-9_]*"
# key=value (as -e takes several in one word, each), and "key": "value" / key: value of a JSON or YAML -e.
_KEY_VALUE = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_SECRET}=)(\S+)")
_MAPPING = re.compile(rf"""(?i)(["']?{_SECRET}["']?\s*:\s*)("[^"]*"|'[^']*'|[^,}}\s]+)""")


def redact(word: str) -> str:
    """word with the value of every secret-named key replaced by REDACTED."""
    word = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, word)
    return _MAPPING.sub(lambda m: m.group(1) + (f'"{REDACTED}"' if m.group(2)[:1] in "\"'" else REDACTED), word)


def controller_command(argv: Sequence[str], which: Callable[[str], Optional[str]]) -> str:
    """argv as one shell line: argv[0] by its bare name when which(name) is that same file, every word
    quoted, secrets redacted."""
    if not argv:
        return ""
    script, name = argv[0], os.path.basename(argv[0])
    found = which(name)
    if found and os.path.exists(script) and os.path.samefile(found, script):
        script = name
    return shlex.join([script] + [redact(word) for word in argv[1:]])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [controller_command(sys.argv, shutil.which)]
