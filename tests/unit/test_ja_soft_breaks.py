"""labagent.report.render.join_ja_soft_breaks: a soft line break inside a Japanese paragraph shows
as a space in a browser; the writeup's ja text joins those lines, and only those."""
from __future__ import annotations

from labagent.report.render import join_ja_soft_breaks


def test_joins_after_japanese_punctuation_and_between_japanese_characters():
    assert join_ja_soft_breaks("アドレスではない。\nマシン全体の値") == "アドレスではない。マシン全体の値"
    assert join_ja_soft_breaks("範囲は\n先頭から") == "範囲は先頭から"
    assert join_ja_soft_breaks("値 (推定）\nである") == "値 (推定）である"
    # a continuation line of a list item loses its indent with the break
    assert join_ja_soft_breaks("- 増えた。\n  <sub>出典: x</sub>") == "- 増えた。<sub>出典: x</sub>"


def test_keeps_breaks_next_to_latin_text_and_between_blocks():
    # Japanese next to code or digits keeps its space, as the writeup spells it ("は `0x…`")
    assert join_ja_soft_breaks("範囲は\n`0x7f` から") == "範囲は\n`0x7f` から"
    assert join_ja_soft_breaks("malloc\nで") == "malloc\nで"
    for text in ("段落。\n\n次の段落", "増えた。\n- 次の項目", "見出しの前。\n## 見出し", "表の前。\n| a | b |",
                 "引用の前。\n> 引用", "改行  \nそのまま", "行末\\\nそのまま"):
        assert join_ja_soft_breaks(text) == text, text


def test_leaves_fenced_code_and_tables_alone():
    text = "前。\n```sh\nあ。\nい\n```\n| 列。 |\n| 値 |\n後"
    assert join_ja_soft_breaks(text) == text
    assert join_ja_soft_breaks("~~~\nう。\nえ\n~~~\nお。\nか") == "~~~\nう。\nえ\n~~~\nお。か"
