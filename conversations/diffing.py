"""Word-level diffs for the history and review screens, HTML-escaped before marking up."""

import re
from difflib import SequenceMatcher

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from sftpipeline.preference import word_change_ratio

# Words and the whitespace after them stay together, so the diff reads naturally.
_TOKEN = re.compile(r"\S+\s*|\s+")


def word_diff(old: str, new: str) -> SafeString:
    """`new` with deletions in <del> and insertions in <ins>; every piece of text is escaped."""
    old_words, new_words = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    parts: list[str] = []
    matcher = SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    for op, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape("".join(new_words[b_start:b_end])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(old_words[a_start:a_end]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(new_words[b_start:b_end]))}</ins>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece escaped above


def edit_ratio(original: str, edited: str) -> float:
    """Share of the words a human changed, 0.0 (untouched) to 1.0 (rewritten): the same
    measure the export's preference threshold compares against."""
    return round(word_change_ratio(original or "", edited or ""), 4)
