"""Builds build/labagent.pyz: the agent as one file, allocate.c included, for hosts with only python3.

Deterministic: files in sorted order with a fixed timestamp, so the same sources give the same bytes
(and Ansible copies it only when the agent changed).
"""
import pathlib
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAIN = b"import sys\nfrom labagent.cli import main\nsys.exit(main())\n"
STAMP = (2020, 1, 1, 0, 0, 0)


def add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "labagent.pyz")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this build's own: concurrent runs in one checkout (parallel tests) each
    # write their own file, and the rename leaves a whole zipapp at `out` whichever finishes last.
    fd, name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    tmp = pathlib.Path(name)
    try:
        with open(fd, "wb") as raw:
            raw.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(raw, "w") as zf:
                add(zf, "__main__.py", MAIN)
                pkg = ROOT / "labagent"
                # The report renderer needs the controller's packages; hosts never run it.
                files = sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                               and "report" not in p.relative_to(pkg).parts)
                for path in files:
                    add(zf, path.relative_to(ROOT).as_posix(), path.read_bytes())
        tmp.chmod(0o755)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left only by a failed build
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
