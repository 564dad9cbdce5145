"""Tracking links in the database: made with a mailing, looked up by a click, clicks written.

track_editions  a mailing's editions with their links made tracking links, the links
                stored (in the transaction that stores the mailing)
link_target     the link a signed id names: one lookup by primary key
write_clicks    clicks and opens, many rows in one transaction
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlmodel import Session

from newsletter.config import Config
from newsletter.db import converter, insert_many, patiently
from newsletter.deliver.models import DELIVERY, MailingEdition
from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.engagement.models import (
    EDITION_OPEN,
    HONEYPOT,
    LINK_CLICK,
    TRACKED_LINK,
    TrackedLink,
)
from newsletter.engagement.tracking import EditionLinks, edition_links, tracked
from newsletter.render.merge import placeholder
from newsletter.render.story_links import StoryLinks
from newsletter.render.urls import home_url


def tracking_url(base_url: str, kind: str, signed: str, individual: bool) -> str:
    """The URL of a tracking link (`kind` "l") or open pixel ("o"); with `individual`, a
    placeholder for the reader's signed delivery follows (filled by the merge)."""
    url = f"{base_url}/{kind}/{signed}"
    return f"{url}/{placeholder('click')}" if individual else url


def track_editions(
    session: Session,
    mailing_id: int,
    editions: Sequence[MailingEdition],
    stories: Mapping[str, Sequence[StoryLinks]],
    config: Config,
    signer: LinkSigner,
) -> None:
    """Make the links of each edition tracking links (in place) and store them, and put the
    open pixel in, as `config` says (`tracking`, `open_tracking`)."""
    individual = config.tracking == "individual"
    base = config.base_url
    for edition in editions:
        found = EditionLinks((), ())
        if config.tracking != "off":
            found = edition_links(edition.html, stories.get(edition.locale, ()), base)
        rows = [
            TrackedLink(
                mailing_id=mailing_id,
                locale=edition.locale,
                position=HONEYPOT,
                url=home_url(base, edition.locale),
                label="(hidden link for scanners)",
            ),
            *(
                TrackedLink(
                    mailing_id=mailing_id,
                    locale=edition.locale,
                    position=link.position,
                    url=link.url,
                    story=link.story[:200],
                    story_title=link.story_title[:500],
                    label=link.label,
                )
                for link in found.links
            ),
        ]
        if config.tracking == "off":
            rows = []
        session.add_all(rows)
        session.flush()
        urls = {
            row.position: tracking_url(base, "l", signer.link(row.id or 0), individual)
            for row in rows
        }
        pixel = ""
        if config.open_tracking:
            pixel = tracking_url(base, "o", signer.edition(mailing_id, edition.locale), individual)
        edition.html, edition.text = tracked(
            edition.html, edition.text, found, urls, open_pixel=pixel
        )


@dataclass(frozen=True)
class LinkTarget:
    """What a tracking link's id stands for."""

    id: int
    mailing_id: int
    locale: str
    url: str
    honeypot: bool


def link_target(engine: Engine, link_id: int) -> LinkTarget | None:
    """The tracked link `link_id`, or None when there is none (a database that was reset)."""
    columns = TRACKED_LINK.c
    query = select(columns.mailing_id, columns.locale, columns.url, columns.position)
    with engine.connect() as connection:
        row = connection.execute(query.where(columns.id == link_id)).first()
    if row is None:
        return None
    return LinkTarget(link_id, row.mailing_id, row.locale, row.url, row.position == HONEYPOT)


@dataclass(frozen=True)
class Click:
    """One request of a tracking link (link_id) or of an open pixel (mailing_id, locale)."""

    at: datetime
    agent: str
    client: str
    link_id: int = 0
    mailing_id: int = 0
    locale: str = ""
    delivery_id: int | None = None


CLICK_COLUMNS = ("link_id", "at", "agent", "client", "delivery_id")
OPEN_COLUMNS = ("mailing_id", "locale", "at", "agent", "client", "delivery_id")


def write_clicks(engine: Engine, clicks: Sequence[Click]) -> None:
    """Store clicks and opens in one transaction (retried while the database is busy)."""
    if not clicks:
        return
    when = converter(LINK_CLICK.c.at.type, engine.dialect)
    links = [(c.link_id, when(c.at), c.agent, c.client, c.delivery_id) for c in clicks if c.link_id]
    opens = [
        (c.mailing_id, c.locale, when(c.at), c.agent, c.client, c.delivery_id)
        for c in clicks
        if not c.link_id
    ]

    def attempt() -> None:
        with engine.begin() as connection:
            people = _deliveries_of_people(connection, [c.delivery_id for c in clicks])
            insert_many(connection, LINK_CLICK, CLICK_COLUMNS, _untied(links, 4, people))
            insert_many(connection, EDITION_OPEN, OPEN_COLUMNS, _untied(opens, 5, people))

    patiently(attempt, patience=60.0, pause=0.2, what="writing clicks")


def _deliveries_of_people(connection: Connection, ids: Sequence[int | None]) -> set[int]:
    """Those of the deliveries `ids` that still belong to a subscriber: a forgotten reader's
    old email still carries their delivery's id, and a click on it must not tie to it again."""
    wanted = sorted({delivery for delivery in ids if delivery is not None})
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        query = select(DELIVERY.c.id).where(
            DELIVERY.c.id.in_(wanted[start : start + 500]), DELIVERY.c.subscriber_id.is_not(None)
        )
        found.update(connection.execute(query).scalars())
    return found


def _untied(rows: list[tuple[Any, ...]], at: int, people: set[int]) -> list[tuple[Any, ...]]:
    """`rows` with the delivery (column `at`) left out where it names no subscriber."""
    return [
        row if row[at] is None or row[at] in people else (*row[:at], None, *row[at + 1 :])
        for row in rows
    ]
