"""The agent's command line: `run` an experiment, `record` any process, `mark` a phase of a recording,
`report` a fetched run or a recording. Errors are one line, never a traceback."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import List, Optional

from . import __version__
from .experiment import VARIANTS, LabError, Params, run_experiment, validate
from .units import parse_duration, parse_size


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit status 2 (argparse prints usage too; keep it short)."""

    option_prefix: Optional[str] = None

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {rename_options(message, self.option_prefix)}\n")


def rename_options(message: str, prefix: Optional[str]) -> str:
    """`--step-interval` -> `lab_step_interval` when the caller (Ansible) names options as variables."""
    if not prefix:
        return message
    return re.sub(r"--([a-z][a-z-]*)", lambda m: prefix + m.group(1).replace("-", "_"), message)


def build_parser(option_prefix: Optional[str] = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="labagent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"labagent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    run = sub.add_parser("run", help="run the malloc/touch experiment here and write DIR")
    run.add_argument("--size", type=_size, default="100MiB", help="bytes to allocate (default 100MiB)")
    run.add_argument("--step", type=_size, default="10MiB", help="bytes written per step (default 10MiB)")
    run.add_argument("--step-interval", type=_duration, default="1", help="seconds between steps (default 1)")
    run.add_argument("--sample-interval", type=_duration, default="1",
                     help="seconds between /proc samples, 10ms to 60s (default 1)")
    run.add_argument("--pause", type=_duration, default="3",
                     help="seconds to wait at baseline, after malloc and after touching (default 3)")
    run.add_argument("--tail", type=_duration, default="2", help="seconds to keep sampling after exit (default 2)")
    run.add_argument("--variant", default="malloc", choices=VARIANTS, help="how memory is obtained (default malloc)")
    run.add_argument("--out", required=True, help="directory for results.json, samples and raw captures")
    run.add_argument("--force", action="store_true",
                     help="overwrite a run in --out, and run even if --size exceeds MemAvailable")
    run.add_argument("--no-imds", action="store_true", help="never ask the EC2 metadata service")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--check", action="store_true", help="only validate the options, run nothing")
    run.add_argument("--name-options-as", metavar="PREFIX",  # read early by main(): --name-options-as=lab_
                     help="name options in errors as PREFIX + name (Ansible: lab_ -> lab_step_interval)")
    run.option_prefix = option_prefix
    record = sub.add_parser("record", help="record any process with the lab's instruments (see README: Recording any process)")
    record.add_argument("--out", required=True, help="directory for results.json, samples and raw captures")
    record.add_argument("--pid", type=int, help="attach to this running process instead of starting a command")
    record.add_argument("--sample-interval", type=_duration, default="1",
                        help="seconds between /proc samples, 10ms to 60s (default 1)")
    record.add_argument("--duration", type=_duration, help="stop after this long (default: when the process exits)")
    record.add_argument("--force", action="store_true", help="overwrite a run or recording in --out")
    record.add_argument("--no-imds", action="store_true", help="never ask the EC2 metadata service")
    record.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    record.add_argument("cmd", metavar="CMD", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]: the command to start and record")
    mark = sub.add_parser("mark", help="mark a new phase in a recording that is running in DIR")
    mark.add_argument("dir", help="the --out directory of the running `labagent record`")
    mark.add_argument("name", help="the phase's name: letters, digits, '.', '_', '-' (at most 40)")
    report = sub.add_parser("report", help="render the writeup of a fetched run (controller only)")
    report.add_argument("run_dir", help="runs/<run_id> (with one directory per host) or one host's directory")
    report.add_argument("--lang", choices=("en", "ja"), default="en")
    report.add_argument("--templates", help="a directory of templates overriding the built-in ones")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    prefix = next((a.split("=", 1)[1] for a in arguments if a.startswith("--name-options-as=")), None)
    args = build_parser(prefix).parse_args(arguments)
    try:
        if args.command == "run":
            return _run(args, sys.argv if argv is None else ["labagent"] + list(argv))
        if args.command == "record":
            return _record(args, sys.argv if argv is None else ["labagent"] + list(argv))
        if args.command == "mark":
            from .recorder import send_mark
            send_mark(args.dir, args.name)
            return 0
        return _report(args)
    except LabError as exc:
        print(f"labagent: {rename_options(str(exc), prefix)}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, argv: List[str]) -> int:
    params = Params(size_bytes=args.size, step_bytes=args.step, step_interval_s=args.step_interval,
                    sample_interval_s=args.sample_interval, pause_s=args.pause, tail_s=args.tail,
                    variant=args.variant, force=args.force, ask_imds=not args.no_imds)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"labagent: {message}", file=sys.stderr, flush=True)

    if args.check:
        validate(params)
        # What a caller (the playbook) needs to size its wait: the run's own length, without builds.
        expected = 3 * params.pause_s + params.tail_s + params.steps * params.step_interval_s
        print(json.dumps({"steps": params.steps, "expected_s": round(expected, 3)}))
        return 0
    data = run_experiment(params, os.path.abspath(args.out), progress=progress, argv=argv)
    outcome = data["outcome"]
    if data["complete"]:
        progress(f"complete: {os.path.join(args.out, 'results.json')}")
        return 0
    print(f"labagent: run {outcome['status']}: {outcome['reason']} (partial results in {args.out})", file=sys.stderr)  # type: ignore[index]
    return 1


def _record(args: argparse.Namespace, argv: List[str]) -> int:
    from .recorder import RecordParams, record
    command = list(args.cmd)
    if command[:1] == ["--"]:
        command = command[1:]
    params = RecordParams(command=tuple(command), pid=args.pid, sample_interval_s=args.sample_interval,
                          duration_s=args.duration, force=args.force, ask_imds=not args.no_imds)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"labagent: {message}", file=sys.stderr, flush=True)

    record(params, os.path.abspath(args.out), progress=progress, argv=argv)
    progress(f"recorded: {os.path.join(args.out, 'results.json')}")
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        from .report import render  # controller-only dependencies (Jinja2, matplotlib)
    except ImportError as exc:
        raise LabError(f"report needs the controller's packages ({exc.name}); run it from the venv: make venv") from None
    try:
        written = render.render_run(args.run_dir, lang=args.lang, templates=args.templates)
    except json.JSONDecodeError as exc:
        raise LabError(f"a results.json under {args.run_dir} is not valid JSON ({exc.msg}, line {exc.lineno}): "
                       "re-fetch it, or move that host's directory aside") from None
    for path in written:
        print(path)
    return 0
