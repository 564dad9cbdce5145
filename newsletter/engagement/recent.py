"""What readers cared about across the last sends: `newsletter report --last N`.

    recent_report   the stories of the last N mailings (newest first by when their send
                    started), each with its human clicks and human clicks per 100 messages
                    delivered of the editions it is in, the most read first; and each issue's
                    totals

Clicks are classified as in every report (engagement/scanners.py); only human clicks rank a
story, and per 100 delivered, so a story of a larger send does not win by its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.deliver.models import STEP_MAILINGS, Mailing
from newsletter.engagement.report import (
    Clicks,
    per_100,
    story_reports,
    tally_clicks,
    tracked_links,
)
from newsletter.inbound.report import Outcomes, outcomes


@dataclass(frozen=True)
class IssueLine:
    """One send's totals."""

    issue: str
    started: datetime
    sent: int
    delivered: int
    clicks: Clicks

    @property
    def human_per_100_delivered(self) -> float:
        return per_100(self.clicks.human, self.delivered)


@dataclass(frozen=True)
class StoryLine:
    """One story of one send."""

    issue: str
    slug: str
    title: str
    human: int
    delivered: int

    @property
    def human_per_100_delivered(self) -> float:
        return per_100(self.human, self.delivered)


@dataclass(frozen=True)
class RecentReport:
    """The last sends' stories, most read first, and the sends, newest first."""

    last: int
    issues: list[IssueLine]
    stories: list[StoryLine]


def recent_report(engine: Engine, last: int) -> RecentReport:
    """The stories and totals of the last `last` mailings."""
    with Session(engine) as session:
        query = (
            select(Mailing)
            .where(~col(Mailing.issue).startswith(STEP_MAILINGS))  # Issues, not sequence steps.
            .order_by(col(Mailing.created_at).desc(), col(Mailing.id).desc())
            .limit(last)
        )
        mailings = list(session.exec(query))
    issues: list[IssueLine] = []
    stories: list[StoryLine] = []
    for mailing in mailings:
        assert mailing.id is not None
        tally = tally_clicks(engine, mailing.id, mailing.created_at)
        links = tracked_links(engine, mailing.id, tally)
        came_back = outcomes(engine, mailing.id)
        total, clicks = Outcomes(), Clicks()
        for found in came_back.values():
            total.add(found)
        for link in links:
            clicks.add(link.clicks)
        issues.append(
            IssueLine(mailing.issue, mailing.created_at, total.sent, total.delivered, clicks)
        )
        stories.extend(
            StoryLine(mailing.issue, story.slug, story.title, story.clicks.human, story.delivered)
            for story in story_reports(links, came_back)
        )
    newest = {line.issue: number for number, line in enumerate(issues)}
    stories.sort(key=lambda s: (-s.human_per_100_delivered, -s.human, newest[s.issue], s.slug))
    return RecentReport(last, issues, stories)
