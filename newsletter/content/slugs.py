"""Slugs for issues, stories and sections, from titles in any script."""

from __future__ import annotations

from slugify import slugify


def make_slug(text: str, max_length: int = 0) -> str:
    """A lowercase ASCII slug (CJK transliterated), cut at a word boundary to `max_length`."""
    slug = slugify(text)
    if max_length and len(slug) > max_length:
        cut = slug[: max_length + 1].rsplit("-", 1)[0]
        slug = cut if cut else slug[:max_length]
    return slug.strip("-")
