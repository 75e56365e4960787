"""Labeler-written markdown rendered safely: markdown-it-py, then nh3's allow-list sanitizer."""

from urllib.parse import urlsplit

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Raw HTML in the source is shown as text, never passed through; nh3 then drops anything
# unsafe that markdown itself could produce (javascript: links, event attributes).
_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False})
    .enable("table")
    .enable("strikethrough")
)


def _is_same_origin(url: str) -> bool:
    # A scheme or a host (`https://…`, `//…`) points elsewhere; markdown-it has already
    # percent-encoded backslashes, so `/\\host` cannot pass for a path here.
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def _image(renderer, tokens, idx, options, env) -> str:
    """Images from other origins become links: loading one would tell that server who
    opened the page and when (a reviewer's browser must call no foreign server)."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    if _is_same_origin(src):
        return renderer.image(tokens, idx, options, env)
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    return (
        f'<a href="{escape(src)}" title="Image from another site, not loaded">'
        f"Image: {escape(alt or src)}</a>"
    )


_markdown.add_render_rule("image", _image)

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
}


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text or "")
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above
