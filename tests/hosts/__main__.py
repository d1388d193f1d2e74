"""`python -m tests.hosts up|down`: SSH test hosts for benchmarks and people (root only)."""

from __future__ import annotations

import argparse
import sys
import time

from tests.hosts.netns import DEFAULT_GROUP, DEFAULT_PREFIX, DEFAULT_SUBNET, HostsError, NetnsHosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hosts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring hosts up; print the inventory path")
    up.add_argument("--count", type=int, default=3, help="number of hosts h1..hN (default 3)")
    up.add_argument("--state", required=True, help="directory for keys, per-host files and state.json")
    up.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"name prefix for links and netns (default {DEFAULT_PREFIX})")
    up.add_argument("--subnet", default=DEFAULT_SUBNET, help=f"private /24 only these hosts use (default {DEFAULT_SUBNET})")
    up.add_argument("--group", default=DEFAULT_GROUP, help=f"inventory group (default {DEFAULT_GROUP})")
    up.add_argument("--connection", choices=("ssh", "paramiko"), default="ssh", help="inventory connection (default ssh)")
    inv = sub.add_parser("inventory", help="write another inventory for hosts that are up; print its path")
    inv.add_argument("--state", required=True, help="the directory given to `up`")
    inv.add_argument("--group", default=DEFAULT_GROUP, help=f"inventory group (default {DEFAULT_GROUP})")
    inv.add_argument("--connection", choices=("ssh", "paramiko"), default="ssh", help="inventory connection (default ssh)")
    inv.add_argument("--output", help="inventory path (default <state>/inventory-<connection>.yml)")
    down = sub.add_parser("down", help="stop and remove the hosts recorded in --state")
    down.add_argument("--state", required=True, help="the directory given to `up`")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        if args.command == "up":
            lab = NetnsHosts(count=args.count, state_dir=args.state, prefix=args.prefix, subnet=args.subnet)
            lab.up()
            inventory = lab.write_inventory(connection=args.connection, group=args.group)
            for host in lab.hosts:
                print(f"{host.name} {host.address} netns {host.netns}", file=sys.stderr)
            print(f"up: {len(lab.hosts)} hosts in {time.monotonic() - started:.2f} s; "
                  f"down with: python -m tests.hosts down --state {lab.state_dir}", file=sys.stderr)
            for key, value in lab.ansible_env(args.connection).items():
                print(f"run ansible with {key}={value} (paramiko reads ~/.ssh/known_hosts only)", file=sys.stderr)
            print(inventory)
        elif args.command == "inventory":
            lab = NetnsHosts.from_state(args.state)
            print(lab.write_inventory(args.output, connection=args.connection, group=args.group))
        else:
            NetnsHosts.from_state(args.state).down()
            print(f"down: {args.state} in {time.monotonic() - started:.2f} s", file=sys.stderr)
    except HostsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
