"""Localization with Babel: gettext catalogs, dates, reading time and text direction per locale.

Catalogs live in newsletter/translations/LOCALE/LC_MESSAGES/messages.po (docs/translating.md).
A compiled .mo file is used when it is newer than its .po; otherwise the .po is compiled in
memory, so a checkout works before `make catalogs` has run.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.core import get_global
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from newsletter.content.language import TextLength
from newsletter.locales import is_rtl, match_locale, parse_locale

CATALOGS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
# Reading speed of an adult reader of the web, in words (spaced scripts) or characters (CJK).
WORDS_PER_MINUTE = 230
CHARACTERS_PER_MINUTE = 450


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return message


class Localizer:
    """Everything locale-dependent a template needs, for one locale."""

    def __init__(self, locale: str, catalogs: Path = CATALOGS) -> None:
        self.locale = locale
        self.babel: Locale = parse_locale(locale)
        self.translations = load_translations(locale, catalogs)

    @property
    def lang(self) -> str:
        """The BCP 47 tag for `lang` attributes: `zh-Hans`, `pt-BR`, `en`."""
        return locale_tag(self.locale)

    @property
    def direction(self) -> str:
        """`rtl` or `ltr`, for `dir` attributes."""
        return text_direction(self.locale)

    @property
    def layout(self) -> dict[str, str]:
        """The locale's codes and the words templates need to lay text out in its direction."""
        rtl = self.direction == "rtl"
        return {
            "code": self.locale,
            "lang": self.lang,
            "dir": self.direction,
            "align": "right" if rtl else "left",
            "start": "right" if rtl else "left",
            "end": "left" if rtl else "right",
            "arrow": "←" if rtl else "→",
            "back": "→" if rtl else "←",
        }

    def gettext(self, message: str) -> str:
        """`message` translated into this locale."""
        return str(self.translations.ugettext(message))

    def ngettext(self, singular: str, plural: str, number: int) -> str:
        """The plural form of a message that fits `number` in this locale."""
        return str(self.translations.ungettext(singular, plural, number))

    def date(self, moment: datetime | None, format: str = "long") -> str:
        """A date as people of this locale write it (`March 10, 2024`, `2024年3月10日`)."""
        return format_date(moment, format=format, locale=self.babel) if moment else ""

    def datetime(self, moment: datetime, format: str = "medium") -> str:
        """A date and time in this locale, in the moment's own time zone."""
        return format_datetime(moment, format=format, tzinfo=moment.tzinfo, locale=self.babel)

    @staticmethod
    def reading_minutes(length: TextLength) -> int:
        """Minutes to read a text: words for spaced scripts, characters for CJK; at least one."""
        minutes = length.words / WORDS_PER_MINUTE + length.characters / CHARACTERS_PER_MINUTE
        return max(1, round(minutes))


def locale_tag(code: str) -> str:
    """The BCP 47 tag of a locale, for `lang` and `hreflang`: `zh-Hans`, `pt-BR`, `en`."""
    return str(parse_locale(code)).replace("_", "-")


def text_direction(code: str) -> str:
    """`rtl` or `ltr`, for `dir` attributes."""
    return "rtl" if is_rtl(code) else "ltr"


@functools.lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """A language's name in that language (`Deutsch`, `中文`), for language switchers."""
    locale = parse_locale(code)
    name = locale.get_display_name(locale) or code
    return name[:1].upper() + name[1:]


def language(code: str) -> dict[str, str]:
    """A language as switchers and forms show it: its code, its BCP 47 tag, its own name."""
    return {"code": code, "lang": locale_tag(code), "label": language_name(code)}


def negotiate(accept_language: str, available: Sequence[str]) -> str | None:
    """The configured locale a browser's Accept-Language header prefers, if any."""
    weighted = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and tag != "*":
            weighted.append((-weight, position, tag))
    for _, _, tag in sorted(weighted):
        try:
            matched = match_locale(tag, available)
        except ValueError:
            continue
        if matched in available:
            return matched
        language = parse_locale(tag).language
        same = [code for code in available if parse_locale(code).language == language]
        if same:
            return same[0]
    return None


def load_translations(locale: str, catalogs: Path = CATALOGS) -> NullTranslations:
    """The catalog for `locale` (or its closest relative: zh -> zh_Hans); empty when none exists."""
    for name in catalog_names(locale):
        po = catalogs / name / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.is_file():
            return _compiled(po, po.stat().st_mtime_ns)
    return NullTranslations()


def catalog_names(locale: str) -> list[str]:
    """Catalog folder names to try for `locale`, most specific first."""
    wanted = parse_locale(locale)
    likely = str(get_global("likely_subtags").get(wanted.language, "")).split("_")
    names = [str(wanted)]
    if wanted.script and wanted.territory:
        names.append(f"{wanted.language}_{wanted.script}")
    if not wanted.script and len(likely) == 3:
        names.append(f"{wanted.language}_{likely[1]}")
    names.append(wanted.language)
    if wanted.language == "pt" and not wanted.territory:
        names.append("pt_BR")
    return list(dict.fromkeys(names))


@functools.lru_cache(maxsize=64)
def _compiled(po: Path, modified: int) -> Translations:
    """Translations from the .mo beside `po` when up to date, else compiled from the .po."""
    mo = po.with_suffix(".mo")
    if mo.is_file() and mo.stat().st_mtime_ns >= modified:
        with mo.open("rb") as stream:
            return Translations(stream, domain=DOMAIN)
    with po.open("rb") as stream:
        catalog = read_po(stream)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)
