"""The writeup's shape, for every golden host writeup: the original note's order with the plots near
the top, a body of at most 300 lines before the appendix, only the allocate.c lines the variant runs,
nothing printed twice, no "not captured" and no range whose two ends are equal. And the THP `always`
fixture's fault split, recomputed here from its raw maps and results."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest

from test_report_render import GOLDEN, read
from labagent.report import render

# Host writeups only: run indexes, comparisons (compare-*) and recordings (recording-*) have shapes of their own.
HOSTS = sorted(p for p in glob.glob(os.path.join(GOLDEN, "*.md"))
               if ".index." not in p and not os.path.basename(p).startswith(("compare-", "recording-")))
APPENDIX = re.compile(r"^# (Appendix|付録)$", re.M)
EQUAL_ENDS = (re.compile(r"(?<![\w.,])([0-9][0-9,.]*(?: ?[KMG]iB)?) → \1(?![\w,.])"),
              re.compile(r"\bfrom ([0-9][0-9,.]*) to \1\b"),
              re.compile(r"(?<![\w.,])([0-9][0-9,.]*)–\1(?![\w,.])"))


def body(text: str) -> str:
    match = APPENDIX.search(text)
    assert match, "no appendix heading"
    return text[:match.start()]


def test_every_host_golden_is_checked():
    assert len(HOSTS) >= 15


@pytest.mark.parametrize("path", HOSTS, ids=os.path.basename)
def test_body_is_short_with_the_plots_first_and_no_artifacts(path):
    text = read(path)
    lines = body(text).splitlines()
    assert len(lines) <= 300, f"body is {len(lines)} lines"
    first_plot = next(i for i, line in enumerate(lines) if "](plots/" in line)
    assert first_plot < 80
    notes = re.search(r"^\*\*(Notes on this run|この実行についての注記)\*\*\n\n(.*?)\n\n", body(text), re.M | re.S)
    noted = set(notes.group(2).splitlines()) if notes else set()  # the run's own notes, quoted as recorded
    for line in lines:
        if line in noted:
            continue
        assert "not captured" not in line and "記録なし" not in line, line
        assert not re.search(r"\bNone\b|\bunknown\b|不明", line), line  # a value that was not recorded
        for pattern in EQUAL_ENDS:
            assert not pattern.search(line), line
    # nothing printed twice: a long line (a capture line, a sentence) appears once in the body
    seen = {}
    for line in lines:
        key = line.strip().lstrip("+- ")
        if len(key) >= 40 and not key.startswith(("|", "<sub>", "/*")):
            assert key not in seen, f"printed twice: {key}"
            seen[key] = True
    # only the lines of allocate.c this variant runs, at most 60
    code = re.findall(r"^```c\n(.*?)^```$", body(text), re.M | re.S)
    assert len(code) <= 1
    if code:
        assert code[0].count("\n") <= 60
        assert "int main(" not in code[0] and "usage(" not in code[0]


JA_CALQUES = ("約束している", "止まり", "の働き", "返された", "RSS の増え", "KiB から", "システム値", ": コミット量")


@pytest.mark.parametrize("path", [p for p in HOSTS if p.endswith(".ja.md")], ids=os.path.basename)
def test_japanese_keeps_the_originals_headings_and_drops_the_calques(path):
    text = read(path)
    for heading in ("# 検証\n", "## 検証準備\n", "## 検証実行\n", "## プログラム実行ログ\n"):
        assert heading in text
    for calque in JA_CALQUES:
        assert calque not in text, calque
    # no English colon joining two Japanese clauses ("…している: …")
    assert not re.search(r"[ぁ-んァ-ン一-龥]: [ぁ-んァ-ン一-龥]", body(text))


def test_the_appendix_holds_the_whole_program_and_the_captures():
    text = read(os.path.join(GOLDEN, "debian12-madvise.en.md"))
    appendix = text[APPENDIX.search(text).start():]
    for needle in ("int main(int argc, char **argv)", "$ cat /proc/", "$ sar -r 1", "$ free -h", "$ . capture.sh"):
        assert needle in appendix


def _pages(lo: int, hi: int, page: int) -> int:
    return 0 if hi <= lo else (-(-hi // page) - lo // page)


def test_thp_always_split_recomputed_from_the_raw_maps(thp_always_dir):
    """Independently of the report's model: the region from raw/maps-allocated.txt (the line holding
    the pointer the program printed), the huge pages from the steps' AnonHugePages, the head and
    tail from the 2 MiB boundaries; the writeup states each, and they add up to min_flt's count."""
    data = json.loads(read(os.path.join(thp_always_dir, "results.json")))
    pointer = int(data["workload"]["pointer"], 16)
    line = next(ln for ln in read(os.path.join(thp_always_dir, "raw", "maps-allocated.txt")).splitlines()
                if int(ln.split("-")[0], 16) <= pointer < int(ln.split()[0].split("-")[1], 16))
    start, end = (int(x, 16) for x in line.split()[0].split("-"))
    page, pmd = data["host"]["page_size"], data["host"]["thp_pmd_size"]
    size = data["params"]["size_bytes"]
    first, last = -(-start // pmd) * pmd, end // pmd * pmd
    huge = max(s["anon_huge_kib"] for s in data["steps"]) * 1024 // pmd
    head = _pages(pointer, first, page) - 1  # the chunk header's page was written by malloc
    tail = _pages(last, pointer + size, page)
    snaps = data["snapshots"]
    measured = snaps["touched"]["reading"]["min_flt"] - snaps["allocated"]["reading"]["min_flt"]
    other = measured - huge - head - tail
    assert (huge, head, tail, measured) == (49, 184, 328, 565)  # the fixture's NOTE.md
    render.render_run(thp_always_dir, draw=False)
    text = read(os.path.join(thp_always_dir, "README.md"))
    for needle in (f"| {huge} | one per huge page", f"| {head} | one per 4 KiB page of the head",
                   f"| {tail} | one per 4 KiB page of the tail", f"| +{other} | other faults",
                   f"| **{measured}** | measured", f"`{first:#x}` to `{last:#x}`",
                   f"{(start % pmd) // 1024:,} KiB past a 2 MiB boundary",
                   f"**{huge} huge-page faults**", f"**{head + tail} faults of one 4 KiB page**"):
        assert needle in text, needle


def test_thp_always_index_says_huge_pages_in_the_aligned_part(thp_always_dir, tmp_path):
    """The run index's fault-mode cell for a THP `always` run says what its writeup says (not `mixed`):
    huge pages in the aligned part, base pages at the unaligned head and tail, with the same counts."""
    run = tmp_path / "run"
    run.mkdir()
    os.rename(thp_always_dir, run / "thp")
    render.render_run(str(run), lang="en,ja", draw=False)
    data = json.loads(read(str(run / "thp" / "results.json")))
    huge = max(s["anon_huge_kib"] for s in data["steps"]) * 1024 // data["host"]["thp_pmd_size"]
    en, ja = read(str(run / "README.md")), read(str(run / "README.ja.md"))
    base = 184 + 328  # head and tail, recomputed from the raw maps by the test above
    assert f"huge pages in the aligned part ({huge} faults), base pages at the unaligned head and tail ({base})" in en
    assert f"境界にそろった部分は huge page ({huge} 回)、そろわない先頭と末尾は通常のページ ({base} 回)" in ja
    assert "| mixed |" not in en and "| mixed |" not in ja
