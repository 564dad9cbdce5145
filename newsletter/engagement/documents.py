"""The reports as JSON documents: `newsletter report ISSUE --json` and `--last N --json`.

    document          one send's report (engagement/report.py)
    recent_document   the stories and totals of the last sends (engagement/recent.py)

The keys are a promise to the programs that read them: docs/cli.md lists them, and a key is
added, never renamed or dropped. Counts are integers, rates per 100 are numbers rounded to two
decimals, times ISO 8601 in UTC.
"""

from __future__ import annotations

from typing import Any

from newsletter.engagement.recent import RecentReport
from newsletter.engagement.report import (
    UNRELIABLE_OPENS,
    Clicks,
    LocaleReport,
    MailingReport,
    per_100,
)


def _clicks(clicks: Clicks) -> dict[str, int]:
    return {"human": clicks.human, "scanner": clicks.scanner, "all": clicks.all}


def _locale(report: LocaleReport, opens: bool) -> dict[str, Any]:
    came = report.outcomes
    return {
        "locale": report.locale, "sent": came.sent, "delivered": came.delivered,
        "bounced": came.bounced, "complained": came.complained,
        "unsubscribed": came.unsubscribed, **_clicks(report.clicks),
        "human_per_100_delivered": per_100(report.clicks.human, came.delivered),
        "bounced_per_100_sent": per_100(came.bounced, came.sent),
        "complained_per_100_delivered": per_100(came.complained, came.delivered),
        "opens": report.opens if opens else None,
    }  # fmt: skip


def document(report: MailingReport) -> dict[str, Any]:
    """The report as one JSON-ready document; its keys are documented in docs/cli.md."""
    return {
        "issue": report.issue,
        "started": report.started.isoformat(),
        "tracking": {
            "mode": report.tracking,
            "links_tracked": report.links_tracked,
            "open_tracking": report.open_tracking,
        },
        "total": _locale(report.total, report.opens),
        "locales": [_locale(locale, report.opens) for locale in report.locales],
        "scanner_reasons": report.reasons,
        "stories": [
            {"slug": story.slug, "title": story.title, **_clicks(story.clicks),
             "delivered": story.delivered,
             "human_per_100_delivered": story.human_per_100_delivered,
             "locales": [
                 {"locale": e.locale, "title": e.title, **_clicks(e.clicks),
                  "delivered": e.delivered}
                 for e in story.locales
             ]}
            for story in report.stories
        ],
        "links": [
            {"locale": link.locale, "position": link.position, "url": link.url,
             "story": link.story, "story_title": link.story_title, "label": link.label,
             "honeypot": link.honeypot, **_clicks(link.clicks)}
            for link in report.links
        ],
        "hours": [{"hour": h.hour, "human": h.human, "all": h.all} for h in report.hours],
        "delivery_curve": [{"seconds": p.seconds, "sent": p.sent} for p in report.curve],
        "opens": {"all": report.total.opens, "unreliable": True, "note": UNRELIABLE_OPENS}
        if report.opens
        else None,
    }  # fmt: skip


def recent_document(report: RecentReport) -> dict[str, Any]:
    """The report as one JSON-ready document; its keys are documented in docs/cli.md."""
    return {
        "last": report.last,
        "issues": [
            {"issue": line.issue, "started": line.started.isoformat(), "sent": line.sent,
             "delivered": line.delivered, "human": line.clicks.human,
             "scanner": line.clicks.scanner, "all": line.clicks.all,
             "human_per_100_delivered": line.human_per_100_delivered}
            for line in report.issues
        ],
        "stories": [
            {"issue": line.issue, "slug": line.slug, "title": line.title, "human": line.human,
             "delivered": line.delivered,
             "human_per_100_delivered": line.human_per_100_delivered}
            for line in report.stories
        ],
    }  # fmt: skip
