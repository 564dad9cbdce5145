"""Locale identifiers: parse, normalize and match them against the configured locales."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from babel import Locale, UnknownLocaleError

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "sd", "ug", "yi", "dv", "ckb"})


# Babel parses the same few tags again at every page (its locale data is loaded once): the
# archive asked this about twenty times per issue page.
@functools.lru_cache(maxsize=256)
def parse_locale(tag: str) -> Locale:
    """The Babel locale for `tag` (`zh`, `zh-Hans`, `pt_BR`, `de-DE`); ValueError if unknown."""
    cleaned = tag.strip().replace("-", "_")
    if not cleaned:
        raise ValueError("an empty locale")
    try:
        return Locale.parse(cleaned)
    except (UnknownLocaleError, ValueError) as error:
        raise ValueError(f"{tag!r} is not a known locale (use e.g. en, zh, pt_BR, ar)") from error


def normalize_locale(tag: str) -> str:
    """The canonical spelling of a locale identifier: `zh-hans` -> `zh_Hans`, `PT-br` -> `pt_BR`."""
    return str(parse_locale(tag))


def is_locale(tag: str) -> bool:
    """Whether `tag` names a locale Babel knows."""
    try:
        parse_locale(tag)
    except ValueError:
        return False
    return True


def match_locale(tag: str, configured: Sequence[str]) -> str:
    """The configured locale that `tag` means, else `tag` normalized.

    An exact match wins; otherwise a configured locale of the same language whose script
    agrees (`zh` and `zh_Hans` match; `zh_Hant` and `zh_Hans` do not).
    """
    wanted = parse_locale(tag)
    name = str(wanted)
    if name in configured:
        return name
    for candidate in configured:
        have = parse_locale(candidate)
        if have.language != wanted.language:
            continue
        if _script(have) == _script(wanted):
            return candidate
    return name


def is_rtl(locale: str) -> bool:
    """Whether text in this locale runs right to left."""
    return parse_locale(locale).language in RTL_LANGUAGES


def _script(locale: Locale) -> str:
    """The script of a locale, filling in the likely one (`zh` -> Hans) when it is not written."""
    if locale.script:
        return locale.script
    from babel.core import get_global

    full = str(get_global("likely_subtags").get(locale.language, ""))
    parts = full.split("_")
    return parts[1] if len(parts) > 2 else ""
