"""The agent's command line: `run` an experiment, `record` any process, `mark` a phase of a recording,
`report` a fetched run, a recording (or `--compare` runs), list the `runs`. Errors are one line, never a
traceback."""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from typing import List, Optional

# Only what the parser needs: each command imports its own modules, so that the playbook's frequent,
# small commands (progress, check-tools) start in a fraction of the experiment's import time.
from . import __version__, knobs, variants
from .errors import LabError
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
    for knob in knobs.KNOBS:
        run.add_argument(knob.option, type=_size if knob.kind == knobs.SIZE else _duration, default=knob.default,
                         help=f"{knob.help} (default {knob.default})")
    run.add_argument("--variant", default=variants.DEFAULT, choices=variants.NAMES,
                     help=f"how memory is obtained (default {variants.DEFAULT}; see labagent/variants.py)")
    run.add_argument("--variants", metavar="A,B",
                     help="run each of these variants (comma-separated), --repeats times each, one after the other, "
                          "each in DIR/<variant>__r<k>/ with DIR/batch.json (instead of --variant)")
    run.add_argument("--repeats", type=int, default=1, help="with --variants: runs of each variant (default 1)")
    run.add_argument("--archive", metavar="FILE.tar.gz",
                     help="with --variants: pack DIR into this one file when the runs have ended, however they ended")
    run.add_argument("--out", required=True, help="directory for results.json, samples and raw captures")
    run.add_argument("--force", action="store_true",
                     help="overwrite a run in --out, and run even if --size exceeds MemAvailable")
    run.add_argument("--no-imds", action="store_true", help="never ask the EC2 metadata service")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--check", action="store_true", help="only validate the options, run nothing")
    run.add_argument("--name-options-as", metavar="PREFIX",  # read early by main(): --name-options-as=lab_
                     help="name options in errors as PREFIX + name (Ansible: lab_ -> lab_step_interval)")
    run.option_prefix = option_prefix
    check = sub.add_parser("check-tools", help="print JSON: the tools this host lacks and the packages that provide them")
    check.add_argument("--os-family", help="RedHat, Debian or another (default: from /etc/os-release)")
    check.add_argument("then", metavar="-- background ...", nargs=argparse.REMAINDER,
                       help="when no package is missing, also start this `background` command and print its job "
                            "as \"started\" (null when it was not started): the playbook's check and start in one step")
    record = sub.add_parser("record", help="record any process with the lab's instruments (see README: Recording any process)")
    record.add_argument("--out", required=True, help="directory for results.json, samples and raw captures")
    record.add_argument("--pid", type=int, help="attach to this running process instead of starting a command")
    record.add_argument("--sample-interval", type=_duration, default=knobs.SAMPLE_INTERVAL_KNOB.default,
                        help=f"{knobs.SAMPLE_INTERVAL_KNOB.help} (default {knobs.SAMPLE_INTERVAL_KNOB.default})")
    record.add_argument("--duration", type=_duration, help="stop after this long (default: when the process exits)")
    record.add_argument("--force", action="store_true", help="overwrite a run or recording in --out")
    record.add_argument("--no-imds", action="store_true", help="never ask the EC2 metadata service")
    record.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    record.add_argument("--command-line", metavar="TEXT",
                        help="the command as one string, split into words as a shell would (no shell runs it), "
                             "instead of -- CMD [ARGS...]")
    record.add_argument("--refused-file", metavar="FILE",
                        help="when the recording cannot start, also write the one-line reason to FILE "
                             "(for a later collector, such as playbooks/fetch.yml)")
    record.add_argument("--check", action="store_true",
                        help="only validate the options and print them as JSON (the command's words), record nothing")
    record.add_argument("cmd", metavar="CMD", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]: the command to start and record")
    mark = sub.add_parser("mark", help="mark a new phase in a recording that is running in DIR")
    mark.add_argument("dir", help="the --out directory of the running `labagent record`")
    mark.add_argument("name", help="the phase's name: letters, digits, '.', '_', '-' (at most 40)")
    report = sub.add_parser("report", help="render the writeup of a fetched run (controller only)")
    report.add_argument("run_dir", nargs="+", help="runs/<run_id> (with one directory per host) or one host's "
                        "directory; with --compare, two or more of them")
    report.add_argument("--lang", default="en",
                        help="en, ja, or both as en,ja (README.md and README.ja.md side by side; "
                             "--compare takes one)")
    report.add_argument("--templates", help="a directory of templates overriding the built-in ones")
    report.add_argument("--compare", action="store_true",
                        help="compare the runs: write runs/compare-<A>-vs-<B>/ beside the first")
    report.add_argument("--out", help="with --compare: the comparison's directory instead")
    report.add_argument("--summary-only", action="store_true",
                        help="write only the run's summary.csv and summary.json, no writeup")
    follow = sub.add_parser("progress", help="where a running experiment in DIR is, as one JSON line (for the playbook)")
    follow.add_argument("out", metavar="DIR", help="the run's --out directory")
    follow.add_argument("--job-file", help="Ansible's async results file: also say whether the job has finished "
                        "and, once it has, its exit status and last stderr line")
    follow.add_argument("--wait", type=_duration, default=0.0,
                        help="with --job-file: first wait up to this long for the job to finish (a long poll)")
    follow.add_argument("--archive", metavar="FILE",
                        help="with --job-file: once the job has ended, pack DIR into FILE (tar.gz) unless its agent "
                             "did (killed at its timeout, or a recording), and say so as \"packed\"")
    follow.add_argument("--recording", action="store_true",
                        help="DIR is a `labagent record --out DIR`: say its phase, VSZ, RSS and min_flt from its samples")
    background = sub.add_parser("background", help="start `run` or `record` detached (-- then its arguments) and "
                                "keep a job file saying how it ended, as Ansible's async does; print the job as JSON")
    background.add_argument("--job-file", required=True, help="the job file (read by `progress --job-file`)")
    background.add_argument("--timeout", type=_duration, required=True,
                            help="kill the command's process group (SIGKILL) after this long, as Ansible's async does")
    background.add_argument("cmd", metavar="COMMAND", nargs=argparse.REMAINDER, help="-- run|record [ARGS...]")
    plan_run = sub.add_parser("plan-run", help="create runs/<run_id> and write its plan.json (controller; the "
                              "run settled by the playbook as JSON on stdin); refuse a run id that is taken")
    plan_run.add_argument("run_dir", help="runs/<run_id>")
    record_run = sub.add_parser("record-run", help="unpack the hosts' archives in runs/<run_id> and write run.json "
                                "(controller; the hosts' outcomes as JSON on stdin); print the verdict as JSON")
    record_run.add_argument("run_dir", help="runs/<run_id>, holding plan.json and <host>.tar.gz per host")
    record_run.add_argument("--summary", action="store_true", help="also write summary.csv and summary.json")
    runs = sub.add_parser("runs", help="list the runs in DIR (default runs), newest first")
    runs.add_argument("dir", nargs="?", default="runs", help="the runs directory (default runs)")
    runs.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    prefix = next((a.split("=", 1)[1] for a in arguments if a.startswith("--name-options-as=")), None)
    args = build_parser(prefix).parse_args(arguments)
    try:
        if args.command == "run":
            return _run(args, sys.argv if argv is None else ["labagent"] + list(argv))
        if args.command == "check-tools":
            return _check_tools(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "record-run":
            return _record_run(args)
        if args.command == "plan-run":
            from . import runrecord
            print(runrecord.plan_run(os.path.abspath(args.run_dir), sys.stdin.read()))
            return 0
        if args.command == "progress":
            from .progress import poll_record
            print(json.dumps(poll_record(args.out, args.job_file, args.wait, recording=args.recording,
                                         archive=args.archive), sort_keys=True))
            return 0
        if args.command == "background":
            from . import background
            command = _after_dashes(args.cmd)
            print(json.dumps(background.start(main, command, args.job_file, args.timeout)), flush=True)
            return 0
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


def _check_tools(args: argparse.Namespace) -> int:
    """What this host lacks; with `-- background ...`, and when no package is missing (nothing for the
    playbook to install first), that job started too, in the same process: one SSH command per host."""
    from . import captures, hostfacts
    then = _after_dashes(args.then)
    if then and then[0] != "background":
        raise LabError(f"check-tools starts only a `background` command after --, not {then[0]}")
    lacks = captures.missing_programs(args.os_family or hostfacts.os_family())
    started = None
    if then and not lacks["packages"]:
        job = build_parser().parse_args(then)
        from . import background
        started = background.start(main, _after_dashes(job.cmd), job.job_file, job.timeout)
    print(json.dumps(dict(lacks, started=started), indent=1), flush=True)
    return 0


def _after_dashes(words: List[str]) -> List[str]:
    """A REMAINDER argument's words without the `--` that ended the agent's own options."""
    return list(words[1:] if words[:1] == ["--"] else words)


def _run(args: argparse.Namespace, argv: List[str]) -> int:
    from dataclasses import replace

    from . import batch
    from .experiment import run_experiment
    from .params import Params, validate
    values = {knob.field: getattr(args, knob.dest) for knob in knobs.KNOBS}
    params = Params(**values, variant=args.variant, force=args.force, ask_imds=not args.no_imds)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"labagent: {message}", file=sys.stderr, flush=True)

    if args.variants is None and (args.repeats != 1 or args.archive):
        raise LabError("--repeats and --archive go with --variants")
    entries = batch.plan(batch.parse_variants(args.variants), args.repeats) if args.variants is not None else None
    for variant in sorted({e.variant for e in entries or ()} or {params.variant}):
        validate(replace(params, variant=variant))
    if args.check:
        # What a caller (the playbook) needs to size its wait: the runs' own length, without builds.
        runs = [replace(params, variant=e.variant) for e in entries] if entries else [params]
        expected = sum(3 * p.pause_s + p.tail_s + p.steps * p.step_interval_s for p in runs)
        # With --variants, the runs in the order the agent makes them (the playbook's run fact lists them).
        listed = [{"variant": e.variant, "repeat": e.repeat} for e in entries or ()]
        print(json.dumps({"steps": params.steps, "expected_s": round(expected, 3), "runs": len(runs),
                          "entries": listed}))
        return 0
    if entries is not None:
        state = batch.run_batch(params, entries, os.path.abspath(args.out), run_one=run_experiment,
                                progress=progress, argv=argv,
                                archive=os.path.abspath(args.archive) if args.archive else None)
        failed = [r for r in state["entries"] if r["status"] != "complete"]
        if not failed:
            progress(f"complete: {len(entries)} runs in {args.out}")
            return 0
        first = failed[0]
        print(f"labagent: {len(failed)} of {len(entries)} runs did not complete, first {first['dir']}: "
              f"{first['status']}: {first['reason']} (results in {args.out})", file=sys.stderr)
        return 1
    data = run_experiment(params, os.path.abspath(args.out), progress=progress, argv=argv)
    outcome = data["outcome"]
    if data["complete"]:
        progress(f"complete: {os.path.join(args.out, 'results.json')}")
        return 0
    print(f"labagent: run {outcome['status']}: {outcome['reason']} (partial results in {args.out})", file=sys.stderr)  # type: ignore[index]
    return 1


def _record_run(args: argparse.Namespace) -> int:
    from . import runrecord
    verdict = runrecord.record_run(os.path.abspath(args.run_dir), runrecord.read_outcomes(sys.stdin.read()))
    if args.summary:
        try:
            from .report import summary
        except ImportError as exc:
            raise LabError(f"--summary needs the controller's packages ({exc.name}); run it from the venv: make venv") from None
        summary.write_summary(summary.read_run(args.run_dir))
    print(json.dumps(verdict, sort_keys=True))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from . import runlist
    listings = runlist.list_runs(args.dir)
    print(runlist.to_json_lines(listings) if args.json else runlist.table(listings), end="")
    return 0


def _record(args: argparse.Namespace, argv: List[str]) -> int:
    from .recorder import RecordParams, forget_refusal, note_refusal, record, validate
    command = _after_dashes(args.cmd)
    if args.command_line is not None:
        if command:
            raise LabError("record takes the command after -- or as --command-line, not both")
        try:
            command = shlex.split(args.command_line)
        except ValueError as exc:
            raise LabError(f"--command-line {args.command_line!r} cannot be split into words ({exc})") from None
        if not command:
            raise LabError("--command-line names no command")
    params = RecordParams(command=tuple(command), pid=args.pid, sample_interval_s=args.sample_interval,
                          duration_s=args.duration, force=args.force, ask_imds=not args.no_imds)
    if args.check:
        # What a caller (the playbook) records on every host: checked once, before any host is touched.
        validate(params)
        print(json.dumps({"command": list(params.command), "pid": params.pid, "duration_s": params.duration_s,
                          "sample_interval_s": params.sample_interval_s}))
        return 0

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"labagent: {message}", file=sys.stderr, flush=True)

    if args.refused_file:
        forget_refusal(args.refused_file)
    try:
        record(params, os.path.abspath(args.out), progress=progress, argv=argv)
    except LabError as exc:  # record refuses only before it records anything
        if args.refused_file:
            note_refusal(args.refused_file, f"labagent: {exc}")
        raise
    progress(f"recorded: {os.path.join(args.out, 'results.json')}")
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        from .report import compare, render, summary  # controller-only dependencies (Jinja2, matplotlib)
    except ImportError as exc:
        raise LabError(f"report needs the controller's packages ({exc.name}); run it from the venv: make venv") from None
    if args.compare:
        if "," in args.lang:
            raise LabError(f"--compare writes one language at a time: --lang en or --lang ja, not {args.lang}")
        for path in compare.compare_runs(args.run_dir, lang=args.lang, out=args.out, templates=args.templates):
            print(path)
        return 0
    if len(args.run_dir) != 1 or args.out:
        raise LabError("report takes one run directory; to compare runs, add --compare (--out goes with it)")
    run_dir = args.run_dir[0]
    run = summary.read_run(run_dir)
    # A run's table, written before the writeups so that a writeup that fails leaves it; one agent
    # directory on its own is not a run and gets none.
    tables = [] if run.single else summary.write_summary(run)
    if args.summary_only:
        if run.single:
            raise LabError(f"{run_dir} is one agent directory: summary.csv is written for runs/<run_id>")
        print("\n".join(tables))
        return 0
    try:
        written = render.render_run(run_dir, lang=args.lang, templates=args.templates) + tables
    except json.JSONDecodeError as exc:
        raise LabError(f"a results.json under {run_dir} is not valid JSON ({exc.msg}, line {exc.lineno}): "
                       "re-fetch it, or move that host's directory aside") from None
    for path in written:
        print(path)
    return 0
