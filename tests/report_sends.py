"""The sends `newsletter report` is tested on: two issues really sent (to an eml: folder) in
two languages, one reader bounced and one complaining, and clicks written as the web app writes
them (tests/test_report.py, tests/test_report_browser.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.deliver.return_path import ReturnPaths
from newsletter.engagement.models import TRACKED_LINK
from newsletter.engagement.store import Click, write_clicks
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import InboundSettings, process
from newsletter.subscribers.models import SUBSCRIBER

from .test_delivery import SECRET, add_reader, migrated, newsletter

CHIPS = "2026-05-04-chips"  # Editions en and de; stories chips and robots.
ARMS = "2026-05-11-arms"  # English only; story arms.
UNSENT = "2026-05-18-unsent"
BOUNCES = "bounces@bounces.news.example.org"
READERS = [
    ("ann@example.org", "en"),
    ("bob@example.org", "en"),
    ("cem@example.org", "en"),  # Bounces (hard).
    ("dora@example.de", "de"),
    ("emil@example.de", "de"),  # Complains.
]
ISSUES = {
    f"{CHIPS}/issue.md": "---\ntitle: Chips and robots\ndate: 2026-05-04\nstatus: ready\n---\n\nThe week.\n",
    f"{CHIPS}/issue.de.md": "---\ntitle: Chips und Roboter\n---\n\nDie Woche.\n",
    f"{CHIPS}/stories/01-chips.md": (
        "---\ntitle: New chips\nurl: https://example.com/chips\n---\n\n"
        "Read [the paper](https://example.com/paper) and [the code](https://example.com/code).\n"
    ),
    f"{CHIPS}/stories/01-chips.de.md": (
        "---\ntitle: Neue Chips\nurl: https://example.com/chips\n---\n\n"
        "Lies [das Papier](https://example.com/paper).\n"
    ),
    f"{CHIPS}/stories/02-robots.md": "---\ntitle: Robots walk\n---\n\nSee [the video](https://example.com/video).\n",
    f"{CHIPS}/stories/02-robots.de.md": "---\ntitle: Roboter gehen\n---\n\nSiehe [das Video](https://example.com/video).\n",
    f"{ARMS}/issue.md": "---\ntitle: Arms\ndate: 2026-05-11\nstatus: ready\n---\n\nArms.\n",
    f"{ARMS}/stories/01-arms.md": "---\ntitle: Robot arms\nurl: https://example.com/arms\n---\n\nArms.\n",
    f"{UNSENT}/issue.md": "---\ntitle: Later\ndate: 2026-05-18\nstatus: ready\n---\n\nLater.\n",
}


@dataclass(frozen=True)
class Sent:
    """The project after both sends, and when the first one started."""

    project: Project
    started: datetime

    def report(self, *args: str) -> dict[str, Any]:
        code, output = newsletter(self.project, "report", *args, "--json")
        assert code == 0, output
        document: dict[str, Any] = json.loads(output)
        return document


def make_project(root: Path, settings: str = "", locales: str = '["en", "de"]') -> Project:
    """Three issues (one never sent) and five readers, two of them German; `settings` are
    more lines of the configuration."""
    (root / "config").mkdir()
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\npostal_address = "1 Main St"\n'
        f'locales = {locales}\ndatabase_url = "sqlite:///news.db"\n'
        f'transport_url = "eml:outbox"\nbounce_address = "{BOUNCES}"\n{settings}',
        encoding="utf-8",
    )
    for name, text in ISSUES.items():
        (root / "issues" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "issues" / name).write_text(text, encoding="utf-8")
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    migrated(database_url(project))
    for email, locale in READERS:
        add_reader(project, email, "", locale)
    return project


def came_back(project: Project, issue: str, email: str, kind: Kind) -> None:
    """A bounce or complaint about `email`'s delivery of `issue`, tied by its return path."""
    engine = create_db_engine(database_url(project))
    query = (
        select(DELIVERY.c.id)
        .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
        .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id)
        .where(MAILING.c.issue == issue, SUBSCRIBER.c.email == email)
    )
    with Session(engine) as session:
        delivery = session.execute(query).scalar_one()
    verp = ReturnPaths(SECRET, BOUNCES).for_delivery(delivery)
    status = "5.1.1" if kind is Kind.HARD else ""
    notice = Notice(kind, recipient=email, status=status, verp=verp)
    reading = Reading(digest_of(repr(notice).encode()), (notice,), source="test:inbox")
    process(engine, reading, settings=InboundSettings.of(project), now=utcnow())
    engine.dispose()


def links_of(project: Project, issue: str) -> dict[tuple[str, int], int]:
    """The tracked links of a send: (locale, position) -> id."""
    engine = create_db_engine(database_url(project))
    query = (
        select(TRACKED_LINK.c.locale, TRACKED_LINK.c.position, TRACKED_LINK.c.id)
        .join(MAILING, MAILING.c.id == TRACKED_LINK.c.mailing_id)
        .where(MAILING.c.issue == issue)
    )
    with engine.connect() as connection:
        found = {(locale, position): id_ for locale, position, id_ in connection.execute(query)}
    engine.dispose()
    return found


def mailing_of(project: Project, issue: str) -> tuple[int, datetime]:
    """The id of the send of `issue` and when it started."""
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        query = select(MAILING.c.id, MAILING.c.created_at).where(MAILING.c.issue == issue)
        id_, started = connection.execute(query).one()
    engine.dispose()
    return id_, started


def click_story(project: Project) -> None:
    """The clicks of both sends: people, a robot, a HEAD request, a client that followed the
    honeypot, a client that followed three links in three seconds, one that took six."""
    chips, arms = links_of(project, CHIPS), links_of(project, ARMS)
    start = mailing_of(project, CHIPS)[1]
    arms_id, later = mailing_of(project, ARMS)

    def on(link: tuple[str, int], seconds: float, client: str, agent: str = "browser") -> Click:
        return Click(start + timedelta(seconds=seconds), agent, client, chips[link])

    en_hidden, en_chips, en_paper, en_code, en_video = (("en", n) for n in (0, 2, 3, 4, 5))
    de_chips, de_video = ("de", 2), ("de", 4)
    minute, hour = 60, 3600
    clicks = [
        on(en_chips, 10 * minute, "h1"), on(en_paper, 2 * hour, "h1"),
        on(en_chips, 30 * minute, "h2"), on(en_video, 30 * minute + 10, "h2"),
        on(en_video, 3 * hour, ""),
        on(de_chips, hour, "h3"), on(de_chips, hour + 2, "h3"),
        on(en_chips, minute, "r1", "robot"),
        on(en_paper, minute, "", "head"),
        on(en_hidden, 2 * minute, "hp"), on(en_chips, 2 * minute + 1, "hp"),
        on(en_code, 50 * hour, "hp"),
        on(en_chips, 5 * minute, "bu"), on(en_paper, 5 * minute + 1, "bu"),
        on(en_code, 5 * minute + 3, "bu"), on(en_video, 6 * hour, "bu"),
        on(en_chips, 20 * minute, "nb"), on(en_paper, 20 * minute + 3, "nb"),
        on(en_code, 20 * minute + 6, "nb"),
        on(de_video, 90 * minute, "", "robot"),
        Click(later + timedelta(minutes=5), "browser", "a1", arms[("en", 2)]),
        Click(later + timedelta(minutes=9), "browser", "a2", arms[("en", 2)]),
        Click(later + timedelta(minutes=1), "browser", "o1", mailing_id=arms_id, locale="en"),
        Click(later + timedelta(minutes=2), "robot", "o2", mailing_id=arms_id, locale="en"),
    ]  # fmt: skip
    engine = create_db_engine(database_url(project))
    write_clicks(engine, clicks)
    engine.dispose()


def send_both(root: Path, locales: str = '["en", "de"]') -> Sent:
    """Chips sent to all five readers; Cem's bounced and Emil complained; then Arms sent to
    the three left; then the clicks. `locales`: the configuration's."""
    project = make_project(root, locales=locales)
    code, output = newsletter(project, "send", CHIPS)
    assert code == 0, output
    came_back(project, CHIPS, "cem@example.org", Kind.HARD)
    came_back(project, CHIPS, "emil@example.de", Kind.COMPLAINT)
    code, output = newsletter(project, "send", ARMS)
    assert code == 0, output
    click_story(project)
    return Sent(project, mailing_of(project, CHIPS)[1])


def counts(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["human"], row["scanner"], row["all"]
