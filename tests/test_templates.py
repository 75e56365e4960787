"""What Django's template engine lets through silently in the templates' source."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_comment_spans_lines():
    """A `{# #}` comment ends with its line: one spanning lines is shown as page text
    (a longer comment is a `{% comment %}` block)."""
    unclosed = re.compile(r"\{#(?:(?!#\}).)*$", re.MULTILINE)
    found = [
        f"{path.relative_to(TEMPLATES)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for text in [path.read_text(encoding="utf-8")]
        for match in unclosed.finditer(text)
    ]
    assert not found, "comments shown as text: " + ", ".join(found)
