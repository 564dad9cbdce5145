"""Checks of the configuration values that are more than a type: the logo, its alt texts, the
names of topics. Each returns the value as the schema keeps it, or raises ValueError with a
message that names what is wrong and what is allowed (the loader adds the file and line)."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from newsletter.characters import forbidden_character
from newsletter.locales import match_locale, normalize_locale

LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
NAME_LENGTH = 100
"""The longest tag or topic name."""


def logo(value: str, base_url: str | None) -> str:
    """The logo: a URL on `base_url` (another host would be asked at each opening of an email)
    or an image path inside the project folder."""
    value = value.strip()
    if not value:
        return value
    if urlsplit(value).scheme or value.startswith("//"):
        if base_url is not None and not value.startswith(f"{base_url}/"):
            raise ValueError(
                f"{value!r} is on another host than base_url ({base_url}): each email opened "
                "would ask it for the logo; give a file in the project folder, or a URL "
                "on base_url"
            )
        return value
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ValueError("must be a path inside the project folder, such as assets/logo.png")
    if path.suffix.lower() not in LOGO_SUFFIXES:
        raise ValueError("must be an image: " + ", ".join(LOGO_SUFFIXES))
    return path.as_posix()


def logo_alt(value: str | dict[str, str], locales: list[str]) -> str | dict[str, str]:
    """One alt text, or alt texts by locale (each one of `locales`)."""
    if isinstance(value, str):
        return value.strip()
    texts = {}
    for code, text in value.items():
        locale = normalize_locale(code)
        if locales and locale not in locales:
            raise ValueError(f"{code!r} is not one of locales {locales}")
        texts[locale] = text.strip()
    return texts


def topics(value: Any, locales: list[str]) -> dict[str, dict[str, str]]:
    """Tag -> {locale: name}, from `[topics.TAG]` tables (or their JSON, from the environment)."""
    if isinstance(value, str):  # NEWSLETTER_TOPICS: the same tables as JSON.
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(
                f'must be JSON such as {{"research": {{"en": "Research"}}}}: {error}'
            ) from error
    if not isinstance(value, dict):
        raise ValueError('must be tables such as [topics.research] with en = "Research"')
    return {_tag(tag): _topic_names(_where(tag), names, locales) for tag, names in value.items()}


def _where(tag: str) -> str:
    """How the error names a topic's table: `[topics.research]`, `[topics."week ly"]`."""
    bare = re.fullmatch(r"[A-Za-z0-9_-]+", tag)
    return f"[topics.{tag}]" if bare else f"[topics.{json.dumps(tag, ensure_ascii=False)}]"


def _tag(tag: str) -> str:
    if not _is_name(tag):
        raise ValueError(
            f"{_where(tag)}: a tag name is 1 to {NAME_LENGTH} characters, without control characters"
        )
    return tag


def _topic_names(where: str, names: Any, locales: list[str]) -> dict[str, str]:
    if not isinstance(names, dict):
        raise ValueError(f'{where}: must be a table of LOCALE = "Name", such as en = "Research"')
    checked: dict[str, str] = {}
    for locale, name in names.items():
        try:
            matched = match_locale(locale, locales)
        except ValueError as error:
            raise ValueError(f"{where} {locale}: {error}") from error
        if matched not in locales:
            raise ValueError(f"{where} {locale}: not one of locales {locales}")
        if not isinstance(name, str) or not _is_name(name):
            raise ValueError(
                f"{where} {locale}: the name must be text of 1 to {NAME_LENGTH} characters, "
                "without control characters"
            )
        checked[matched] = name.strip()
    return checked


def _is_name(text: str) -> bool:
    return bool(text.strip()) and len(text) <= NAME_LENGTH and not forbidden_character(text)
