"""What readers did with one sent issue, in numbers: `newsletter report ISSUE`.

    mailing_report   per locale what came back (inbound/report.py's outcomes) and the clicks;
                     per link and per story human, scanner and all clicks; the scanner clicks
                     by reason; clicks per hour over the first 48 hours; the delivery curve;
                     opens, when they are tracked or were
    tracked_links    the links of a mailing, each with its clicks counted
    story_reports    the links' clicks added up per story, per locale and in all

Which clicks are human and which are scanners' is engagement/scanners.py's rule. The clicks are
streamed once in client and time order; what is kept is one counter per link and per hour, and
the clicks of one client at a time. Rates per 100 are rounded to two decimals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select

from newsletter.deliver.models import MAILING_EDITION, Mailing
from newsletter.engagement.models import EDITION_OPEN, HONEYPOT, TRACKED_LINK
from newsletter.engagement.scanners import REASONS, ClickRow, classify, clicks_query
from newsletter.engagement.timeline import (
    CurvePoint,
    Hour,
    delivery_curve,
    empty_hours,
    hour_of,
)
from newsletter.inbound.report import Outcomes, outcomes
from newsletter.render.merge import placeholder

UNRELIABLE_OPENS = (
    "Opens are unreliable: privacy proxies (Apple Mail Privacy Protection, Gmail's image proxy) "
    "load every image of every message, and many mail programs load none."
)


def per_100(count: int, of: int) -> float:
    """`count` per 100 of `of`, to two decimals (0.0 when `of` is 0)."""
    return round(100 * count / of, 2) if of else 0.0


@dataclass
class Clicks:
    """Clicks counted human or scanner."""

    human: int = 0
    scanner: int = 0

    @property
    def all(self) -> int:
        return self.human + self.scanner

    def count(self, reason: str) -> None:
        """Count one click: a scanner's when it has a reason, else a person's."""
        if reason:
            self.scanner += 1
        else:
            self.human += 1

    def add(self, other: Clicks) -> None:
        self.human += other.human
        self.scanner += other.scanner


@dataclass
class LinkReport:
    """One tracked link of an edition and its clicks."""

    id: int
    locale: str
    position: int
    url: str
    story: str
    story_title: str
    label: str
    clicks: Clicks = field(default_factory=Clicks)

    @property
    def honeypot(self) -> bool:
        return self.position == HONEYPOT


@dataclass
class StoryLocale:
    """A story in one edition: its title there, its clicks, the edition's delivered messages."""

    locale: str
    title: str
    delivered: int
    clicks: Clicks = field(default_factory=Clicks)


@dataclass
class StoryReport:
    """A story's clicks in every edition it is in."""

    slug: str
    title: str
    """Its title in the edition the most readers were sent."""
    locales: list[StoryLocale]
    clicks: Clicks
    delivered: int
    """Messages delivered of the editions the story is in."""

    @property
    def human_per_100_delivered(self) -> float:
        return per_100(self.clicks.human, self.delivered)


@dataclass
class LocaleReport:
    """One edition (or all, `locale` "all"): what came back, its clicks and opens."""

    locale: str
    outcomes: Outcomes
    clicks: Clicks
    opens: int = 0


@dataclass
class MailingReport:
    """Everything `newsletter report ISSUE` shows about one send."""

    issue: str
    started: datetime
    tracking: str
    """How the send tracked clicks when it started: aggregate, individual or off."""
    open_tracking: bool
    """Whether the send's emails carry the open pixel."""
    locales: list[LocaleReport]
    total: LocaleReport
    links: list[LinkReport]
    stories: list[StoryReport]
    reasons: dict[str, int]
    """Scanner clicks by the first rule that made them so (engagement/scanners.py)."""
    hours: list[Hour]
    curve: list[CurvePoint]
    opens: bool
    """Whether opens are reported: open tracking is on, or opens were recorded."""

    @property
    def links_tracked(self) -> bool:
        """Whether the send's links were made tracking links when it started."""
        return self.tracking != "off"


@dataclass
class Tally:
    """A mailing's clicks, classified and counted: per link, per reason, per hour."""

    links: dict[int, Clicks]
    reasons: Counter[str]
    hours: list[Hour]


def tally_clicks(engine: Engine, mailing_id: int, started: datetime) -> Tally:
    """Every click of the mailing classified (engagement/scanners.py) and counted, streamed."""
    tally = Tally({}, Counter(), empty_hours())
    with engine.connect() as connection:
        rows = connection.execute(clicks_query(mailing_id).execution_options(yield_per=1000))
        for row, reason in classify(ClickRow(*found) for found in rows):
            tally.links.setdefault(row.link_id, Clicks()).count(reason)
            if reason:
                tally.reasons[reason] += 1
            hour = hour_of(row.at, started)
            if hour is not None:
                tally.hours[hour].all += 1
                tally.hours[hour].human += not reason
    return tally


def tracked_links(engine: Engine, mailing_id: int, tally: Tally) -> list[LinkReport]:
    """The mailing's tracked links by locale and position, with their clicks from `tally`."""
    columns = TRACKED_LINK.c
    names = ("id", "locale", "position", "url", "story", "story_title", "label")
    query = (
        select(*(columns[name] for name in names))
        .where(columns.mailing_id == mailing_id)
        .order_by(columns.locale, columns.position)
    )
    with engine.connect() as connection:
        return [
            LinkReport(**row._mapping, clicks=tally.links.get(row.id, Clicks()))
            for row in connection.execute(query)
        ]


def story_reports(links: list[LinkReport], came_back: dict[str, Outcomes]) -> list[StoryReport]:
    """The clicks of the links in stories, per story (links outside stories left out), most
    human clicks first (then most clicks, then reading order); `came_back` per locale gives
    the messages sent and delivered."""
    found: dict[str, dict[str, StoryLocale]] = {}
    first: dict[str, int] = {}
    for link in links:
        if not link.story:
            continue
        editions = found.setdefault(link.story, {})
        edition = editions.get(link.locale)
        if edition is None:
            found_back = came_back.get(link.locale, Outcomes())
            edition = StoryLocale(link.locale, link.story_title, found_back.delivered)
            editions[link.locale] = edition
        edition.clicks.add(link.clicks)
        first[link.story] = min(first.get(link.story, link.position), link.position)
    stories = []
    for slug, editions in found.items():
        clicks = Clicks()
        for edition in editions.values():
            clicks.add(edition.clicks)
        sent = {locale: came_back.get(locale, Outcomes()).sent for locale in editions}
        most_read = min(editions.values(), key=lambda e: (-sent[e.locale], e.locale))
        stories.append(
            StoryReport(
                slug=slug,
                title=most_read.title,
                locales=sorted(editions.values(), key=lambda e: e.locale),
                clicks=clicks,
                delivered=sum(e.delivered for e in editions.values()),
            )
        )
    return sorted(stories, key=lambda s: (-s.clicks.human, -s.clicks.all, first[s.slug], s.slug))


def mailing_report(engine: Engine, mailing: Mailing) -> MailingReport:
    """The report of one send (see the module's docstring)."""
    assert mailing.id is not None
    started = mailing.created_at
    tally = tally_clicks(engine, mailing.id, started)
    links = tracked_links(engine, mailing.id, tally)
    came_back = outcomes(engine, mailing.id)
    opened = _opens(engine, mailing.id)
    names = sorted({*came_back, *(link.locale for link in links), *opened})
    locales = [LocaleReport(name, came_back.get(name, Outcomes()), Clicks()) for name in names]
    by_name = {locale.locale: locale for locale in locales}
    for link in links:
        by_name[link.locale].clicks.add(link.clicks)
    total = LocaleReport("all", Outcomes(), Clicks())
    for locale in locales:
        locale.opens = opened.get(locale.locale, 0)
        total.outcomes.add(locale.outcomes)
        total.clicks.add(locale.clicks)
        total.opens += locale.opens
    tracking, pixel = tracking_used(engine, mailing.id, bool(links))
    return MailingReport(
        issue=mailing.issue,
        started=started,
        tracking=tracking,
        open_tracking=pixel,
        locales=locales,
        total=total,
        links=links,
        stories=story_reports(links, came_back),
        reasons={reason: tally.reasons[reason] for reason in REASONS},
        hours=tally.hours,
        curve=delivery_curve(engine, mailing.id, started),
        opens=pixel or bool(opened),
    )


def tracking_used(engine: Engine, mailing_id: int, links: bool) -> tuple[str, bool]:
    """How the send tracked clicks (aggregate, individual or off) and whether its emails carry
    the open pixel: what its stored editions say, whatever the settings are now."""
    query = select(MAILING_EDITION.c.html).where(MAILING_EDITION.c.mailing_id == mailing_id)
    with engine.connect() as connection:
        editions = list(connection.execute(query).scalars())
    individual = any(placeholder("click") in html for html in editions)
    pixel = any(f"/o/{mailing_id}-" in html for html in editions)
    return ("individual" if individual else "aggregate") if links else "off", pixel


def _opens(engine: Engine, mailing_id: int) -> dict[str, int]:
    """Loads of the open pixel per locale."""
    query = (
        select(EDITION_OPEN.c.locale, func.count())
        .where(EDITION_OPEN.c.mailing_id == mailing_id)
        .group_by(EDITION_OPEN.c.locale)
    )
    with engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(query)}
