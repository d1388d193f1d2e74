"""SSH test hosts in network namespaces on this machine, and a safe way to run ansible against them.

See tests/hosts/netns.py (the hosts), tests/hosts/procs.py (stoppable ansible runs) and
/work/shared/TEST-HOSTS.md (the rules both follow).
"""

from tests.hosts.netns import (
    DEFAULT_GROUP,
    DEFAULT_PREFIX,
    DEFAULT_SUBNET,
    HOST_PYTHON,
    Host,
    HostsError,
    HostsInUse,
    NetnsHosts,
    missing_requirements,
    up_first_free,
    wait_ssh,
)
from tests.hosts.procs import ProcessGroups, ansible_bin, run_ansible

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_PREFIX",
    "DEFAULT_SUBNET",
    "HOST_PYTHON",
    "Host",
    "HostsError",
    "HostsInUse",
    "NetnsHosts",
    "ProcessGroups",
    "ansible_bin",
    "missing_requirements",
    "run_ansible",
    "up_first_free",
    "wait_ssh",
]
