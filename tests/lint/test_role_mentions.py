"""Comments and docs name only roles that exist: every `roles/<name>` written in the repo's own text
files (comments, docstrings, the README) is a directory under roles/."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "collections", "runs", "build", "fixtures", "__pycache__", ".pytest_cache"}
SUFFIXES = {".yml", ".yaml", ".py", ".j2", ".md", ".cfg", ".sh", ".txt", ".toml", ""}
MENTION = re.compile(r"(?<![\w/.-])roles/([A-Za-z0-9_]+)")


def text_files(root):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP for part in rel.parts) or not path.is_file() or path.suffix not in SUFFIXES:
            continue
        try:
            yield rel, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def unknown_role_mentions(root):
    """(file:line, name) for each roles/<name> that names no directory under root/roles."""
    roles = {p.name for p in (root / "roles").iterdir() if p.is_dir()} if (root / "roles").is_dir() else set()
    found = []
    for rel, text in text_files(root):
        for number, line in enumerate(text.splitlines(), 1):
            for match in MENTION.finditer(line):
                if match.group(1) not in roles:
                    found.append((f"{rel}:{number}", match.group(1)))
    return found


def test_every_role_mentioned_exists():
    assert unknown_role_mentions(ROOT) == []


def test_a_comment_naming_a_missing_role_is_caught(tmp_path):
    (tmp_path / "roles" / "lab").mkdir(parents=True)
    (tmp_path / "play.yml").write_text("---\n# see roles/lab/defaults/main.yml\n# and roles/" + "lab_gone/tasks\n")
    (tmp_path / "tool.py").write_text('"""Reads roles/lab."""\n# roles/' + 'old_name is gone\n')
    assert unknown_role_mentions(tmp_path) == [("play.yml:3", "lab_gone"), ("tool.py:2", "old_name")]
