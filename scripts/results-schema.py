"""Writes docs/results.schema.json, the JSON Schema of results.json, from the agent's typed run record
(labagent/record.py). `--check`: exit 1 if the file is stale, change nothing (a test runs this).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's labagent

from labagent import record  # noqa: E402

PATH = ROOT / "docs" / "results.schema.json"


def main() -> int:
    text = json.dumps(record.json_schema(), indent=2) + "\n"
    if "--check" in sys.argv[1:]:
        if not PATH.exists() or PATH.read_text(encoding="utf-8") != text:
            print(f"{PATH.relative_to(ROOT)} is stale: run python3 scripts/results-schema.py", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(PATH.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
