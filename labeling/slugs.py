"""URL names derived from names people type, cut to fit their column."""

from django.utils.text import slugify


def slug_that_fits(text: str, limit: int) -> str:
    """`slugify(text)`, at most `limit` characters: a long name is cut between words when
    a word boundary lies in the second half, else at the limit."""
    slug = slugify(text)
    if len(slug) > limit:
        # One character more: a dash right at the limit means the cut falls between words.
        boundary = slug[: limit + 1].rfind("-")
        slug = slug[:boundary] if boundary > limit // 2 else slug[:limit]
    return slug.strip("-")
