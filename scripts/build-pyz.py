"""Builds build/labagent.pyz: the agent as one file, allocate.c included, for hosts with only python3.
`--json` writes it as labagent-<digest>.pyz beside the path given instead (only when that file is new)
and prints {"path", "sha256"} (what the playbook reads).

Deterministic: files in sorted order with a fixed timestamp, so the same sources give the same bytes
(and Ansible copies it only when the agent changed).
"""
import hashlib
import io
import json
import pathlib
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The zipapp's entry point. zipimport keeps no bytecode: every start of a zipapp compiles every module it
# imports (a full run's imports cost 0.17 s of CPU from the zipapp, 0.11 s from a directory with its
# __pycache__; a fleet's hosts start the agent a few times a second while they are followed). So the
# first start unpacks the package once, beside the zipapp, into a directory named by the package's
# digest (.labagent-<digest>/: a changed agent gets a new one), renamed into place whole, so a start
# never imports from a half-written one; every start imports from there and Python keeps the bytecode.
# Where that cannot be written, the agent runs from the zipapp as before.
MAIN = """\
import os
import sys

PACKAGE_DIGEST = "%s"


def _unpacked(pyz):
    target = os.path.join(os.path.dirname(os.path.abspath(pyz)), ".labagent-" + PACKAGE_DIGEST)
    if not os.path.isdir(os.path.join(target, "labagent")):
        import shutil
        import zipfile
        partial = "%%s.%%d.tmp" %% (target, os.getpid())
        try:
            with zipfile.ZipFile(pyz) as archive:
                archive.extractall(partial, [n for n in archive.namelist() if n.startswith("labagent/")])
            os.rename(partial, target)
        except OSError:  # a read-only directory, or another start renamed its copy first
            shutil.rmtree(partial, ignore_errors=True)
    return target if os.path.isdir(os.path.join(target, "labagent")) else None


if os.path.isfile(sys.path[0]):
    sys.path[0] = _unpacked(sys.path[0]) or sys.path[0]
from labagent.cli import main  # noqa: E402

sys.exit(main())
"""
STAMP = (2020, 1, 1, 0, 0, 0)


def add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def zipapp_bytes() -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    pkg = ROOT / "labagent"
    # The report renderer needs the controller's packages; hosts never run it.
    files = sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and "report" not in p.relative_to(pkg).parts)
    package = [(path.relative_to(ROOT).as_posix(), path.read_bytes()) for path in files]
    digest = hashlib.sha256()
    for name, data in package:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    with zipfile.ZipFile(buffer, "w") as zf:
        add(zf, "__main__.py", (MAIN % digest.hexdigest()[:16]).encode())
        for name, data in package:
            add(zf, name, data)
    return buffer.getvalue()


def write(out: pathlib.Path, data: bytes) -> None:
    """Writes `out` whole: under a temporary name of this build's own, then renamed, so concurrent runs
    in one checkout (parallel tests) never see a partial zipapp, whichever finishes last."""
    fd, name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    tmp = pathlib.Path(name)
    try:
        with open(fd, "wb") as raw:
            raw.write(data)
        tmp.chmod(0o755)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left only by a failed build


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--json"]
    out = pathlib.Path(args[0] if args else ROOT / "build" / "labagent.pyz")
    out.parent.mkdir(parents=True, exist_ok=True)
    data = zipapp_bytes()
    if "--json" not in sys.argv[1:]:
        write(out, data)
        print(out)
        return 0
    # For the playbook: the agent named by its content (labagent-<digest>.pyz, beside `out`), the name
    # it gets on the hosts, so two checkouts (two agent versions) running on one host at once never
    # replace each other's agent mid-run, and the same agent is copied once; written only when new.
    digest = hashlib.sha256(data).hexdigest()
    named = out.with_name(f"{out.stem}-{digest[:16]}{out.suffix}")
    if not named.exists():
        write(named, data)
    print(json.dumps({"path": str(named), "sha256": digest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
