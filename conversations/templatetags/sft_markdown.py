from django import template

from core.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Markdown rendered by markdown-it-py and sanitized by nh3 (core.markdown)."""
    return render_markdown(text)
