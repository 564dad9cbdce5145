"""Which editions of an issue are offered to readers: the translation policy.

An edition is offered when its own issue file is translated (its title, subject and lead are
in its language) and at least `min_translated_share` of its stories are, so nobody gets an
"English" edition whose stories are nearly all in Chinese. The issue's original language is
always offered. Readers of a locale whose edition is not offered get the edition closest to
their locale among those offered, else the `default_locale` one if it is offered, else the
original: the same rule as for readers of a language the issue was never translated into.

Sends, test sends, dry runs, the archive, `list` and `build` all ask this module; the loader
notes each edition held back for `check` (note_held_back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.config import Config
from newsletter.content.documents import status_said
from newsletter.content.source import ISSUE_FILE, STORIES_DIR
from newsletter.locales import match_locale
from newsletter.model import Edition, Issue, Note

LISTED = 3


@dataclass(frozen=True)
class Offer:
    """One edition of an issue, and whether readers of its locale get it."""

    locale: str
    offered: bool
    translated: int
    """Stories in the edition's own language."""
    stories: int
    own_title: bool
    """Whether the edition has its own issue file (title, subject and lead translated)."""
    original: bool
    """Whether this is the issue's original language (always offered)."""
    minimum: float
    instead: str
    """The edition readers of this locale get: this one when it is offered."""
    draft: str = ""
    """What a translation's file says that holds it back as a draft (`status: draft`), or ""."""

    @property
    def share(self) -> float:
        """The translated share of the stories (1.0 when there are none)."""
        return self.translated / self.stories if self.stories else 1.0

    def reason(self) -> str:
        """Why the edition is (not) offered, in a few words."""
        if self.original:
            return "the original language"
        if self.draft:
            return f"a draft ({self.draft})"
        stories = (
            f"{self.translated} of {self.stories} stories translated "
            f"({_percent(self.share)}, minimum {_percent(self.minimum)})"
        )
        if not self.own_title:
            return f"no issue file of its own (title and lead untranslated), {stories}"
        return stories

    def describe(self) -> str:
        """One line: `en: not offered, 1 of 30 stories translated (3%, minimum 100%): en readers get zh`."""
        if self.offered:
            return f"{self.locale}: offered, {self.reason()}"
        return (
            f"{self.locale}: not offered, {self.reason()}: {self.locale} readers get {self.instead}"
        )


def edition_offers(issue: Issue, config: Config) -> dict[str, Offer]:
    """Every edition of `issue` by locale (in the issue's order), offered or not."""
    minimum = config.min_translated_share
    made = {locale: _measure(issue, edition, minimum) for locale, edition in issue.editions.items()}
    drafts = {
        locale: f"{edition.source.name}: {status_said(edition)}"
        for locale, edition in issue.editions.items()
        if edition.own_status == "draft" and locale != issue.default_locale
    }
    offered = [locale for locale, (yes, *_) in made.items() if yes]
    fallback = fallback_locale(issue, offered, config.default_locale)
    return {
        locale: Offer(
            locale=locale,
            offered=yes,
            translated=translated,
            stories=stories,
            own_title=own_title,
            original=locale == issue.default_locale,
            minimum=minimum,
            instead=locale if yes else readers_edition(locale, offered, fallback),
            draft=drafts.get(locale, ""),
        )
        for locale, (yes, translated, stories, own_title) in made.items()
    }


def offered_locales(issue: Issue, config: Config) -> list[str]:
    """The locales of the editions readers get, the original first."""
    return [offer.locale for offer in edition_offers(issue, config).values() if offer.offered]


def fallback_locale(issue: Issue, offered: Sequence[str], default_locale: str) -> str:
    """The edition for readers whose language has no offered edition: the configured default
    locale's when it is offered, else the original."""
    return default_locale if default_locale in offered else issue.default_locale


def readers_edition(locale: str, offered: Sequence[str], fallback: str) -> str:
    """The offered edition readers of `locale` get: theirs or the closest, else `fallback`.

    The same choice as the audience of a send makes (deliver/audience.py).
    """
    try:
        found = match_locale(locale, list(offered))
    except ValueError:
        return fallback
    return found if found in offered else fallback


def note_held_back(issue: Issue, config: Config) -> None:
    """Add to each edition held back a warning naming its missing translations, in place of
    the note that its stories fall back to the original (they do not: it is not sent)."""
    for locale, offer in edition_offers(issue, config).items():
        if offer.offered:
            continue
        edition = issue.editions[locale]
        missing = [
            f"{STORIES_DIR}/{story.source.stem}.{locale}.md"
            for story in edition.stories
            if story.fallback
        ]
        if not offer.own_title:
            missing.insert(0, f"{ISSUE_FILE}.{locale}.md")
        listed = ", ".join(missing[:LISTED])
        if len(missing) > LISTED:
            listed += f" and {len(missing) - LISTED} more"
        fix = f"add {listed}, or lower min_translated_share in the configuration"
        if offer.draft:
            fix = f"set `status: ready` in {edition.source.name} when the translation is ready"
        edition.notes = [note for note in edition.notes if note.code != "untranslated"]
        edition.notes.append(
            Note(
                "warning",
                f"the {locale} edition is not sent or published: {offer.reason()}; "
                f"{locale} readers get the {offer.instead} edition",
                edition.source,
                None,
                fix,
                code="not-offered",
            )
        )


def _measure(issue: Issue, edition: Edition, minimum: float) -> tuple[bool, int, int, bool]:
    """(offered, stories translated, stories, own issue file) of one edition."""
    stories = len(edition.stories)
    translated = sum(1 for story in edition.stories if not story.fallback)
    if edition.locale == issue.default_locale:
        return True, translated, stories, True
    own_title = edition.source != issue.main.source
    share = translated / stories if stories else 1.0
    ready = edition.own_status != "draft"  # A translation its translator holds back.
    return ready and own_title and share >= minimum, translated, stories, own_title


def _percent(share: float) -> str:
    """A share as a whole percentage, never rounded up to 100% (nor down to 0%) by mistake."""
    percent = round(share * 100)
    if percent == 100 and share < 1:
        percent = 99
    elif percent == 0 and share > 0:
        percent = 1
    return f"{percent}%"
