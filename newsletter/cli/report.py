"""`newsletter report`: what readers did with a sent issue, or with the last few."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from newsletter.cli.context import console, database, project_of, reports_errors
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newsletter.config import Project
    from newsletter.deliver.models import Mailing
    from newsletter.engagement.recent import RecentReport
    from newsletter.engagement.report import LinkReport, MailingReport

BLOCKS = " ▏▎▍▌▋▊▉█"
BAR_WIDTH = 20


def register(app: typer.Typer) -> None:
    """Add `report` to `app`."""
    app.command("report")(reports_errors(report))


def report(
    ctx: typer.Context,
    issue: str | None = typer.Argument(
        None, help="The sent issue (slug, folder or file).", show_default=False
    ),
    last: int | None = typer.Option(
        None,
        "--last",
        help="Instead of one issue: the stories of the last N sends, most read first.",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON document (its keys: docs/cli.md)."
    ),
    html: Path | None = typer.Option(
        None,
        "--html",
        help="Write the report to this HTML file: tables and charts, no script.",
        show_default=False,
    ),
) -> None:
    """Show what readers did with a sent issue: per edition what was delivered, bounced,
    complained and unsubscribed, then human, scanner and all clicks per story and per link,
    clicks per hour over the first 48 hours, the delivery curve and opens. Clicks by mail
    scanners, link checkers and robots are counted apart (docs/cli.md says how).

    With --last N, the stories of the last N sends instead, ranked by human clicks per 100
    messages delivered, and each send's totals.

    Example: newsletter report 2024-03-27-ai-deca-show --html report.html

    Example: newsletter report --last 8
    """
    if last is not None:
        if issue is not None:
            raise NewsletterError(
                "give an ISSUE or --last N, not both", hint="newsletter report --last 8"
            )
        if last < 1:
            raise NewsletterError(
                f"--last {last}: the number of sends must be 1 or more",
                hint="give how many of the latest sends to compare, such as --last 8",
            )
        if html is not None:
            raise NewsletterError(
                "--html goes with an ISSUE", hint="newsletter report ISSUE --html report.html"
            )
        _recent(database(ctx), last, as_json)
        return
    if issue is None:
        raise NewsletterError(
            "give the ISSUE to report on, or --last N",
            hint="newsletter report ISSUE, or newsletter report --last 8",
        )
    _one(ctx, issue, as_json, html)


def _one(ctx: typer.Context, issue: str, as_json: bool, html: Path | None) -> None:
    from newsletter.engagement.documents import document
    from newsletter.engagement.page import report_page, write_report_page
    from newsletter.engagement.report import mailing_report

    project = project_of(ctx)
    engine = database(ctx)
    found = mailing_report(engine, _mailing(project, engine, issue))
    if html is not None:
        zone = ZoneInfo(project.config.timezone)
        write_report_page(html, report_page(found, name=project.config.name, zone=zone))
    if as_json:
        typer.echo(json.dumps(document(found), ensure_ascii=False, indent=2))
    elif html is not None:
        console().print(f"wrote the report of {found.issue} to {html}", markup=False)
    else:
        _print_report(project, found)


def _mailing(project: Project, engine: Engine, name: str) -> Mailing:
    """The send of the issue called `name` (a slug, or an issue's folder or file); a send
    outlives its files, so the slug is looked up first."""
    from newsletter.deliver.models import STEP_MAILINGS
    from newsletter.deliver.report import find_mailing, sent_issues
    from newsletter.errors import NotFoundError
    from newsletter.sends import load_issue

    mailing = find_mailing(engine, name)
    if mailing is not None:
        return mailing
    if name.startswith(STEP_MAILINGS):  # A sequence step's latest version.
        from newsletter.sequences.status import step_mailing_named

        return step_mailing_named(engine, name)
    try:  # An issue's files that are there but do not load: their error says why.
        slug: str | None = load_issue(project, name).slug
    except NotFoundError:
        slug = None
    if slug is not None:
        mailing = find_mailing(engine, slug)
        if mailing is not None:
            return mailing
        raise NewsletterError(
            f"issue {slug} has not been sent yet: there is nothing to report",
            hint=f"send it with `newsletter send {slug}`, then report on it",
        )
    sent = sorted(sent_issues(engine).items(), key=lambda item: item[1], reverse=True)
    hint = "nothing has been sent yet: send an issue with `newsletter send ISSUE`"
    if sent:
        hint = "give a sent issue's slug, such as " + ", ".join(slug for slug, _ in sent[:3])
    raise NewsletterError(f"no issue {name!r} and no send of it in the database", hint=hint)


def bar(value: float, largest: float, width: int = BAR_WIDTH) -> str:
    """`value` as a bar of block characters, `width` long for `largest`, in eighths."""
    if value <= 0 or largest <= 0:
        return ""
    eighths = max(round(value / largest * width * 8), 1)
    full, rest = divmod(eighths, 8)
    return "█" * full + (BLOCKS[rest] if rest else "")


def _print_report(project: Project, found: MailingReport) -> None:
    from newsletter.engagement.report import UNRELIABLE_OPENS, per_100

    out = console()
    zone = ZoneInfo(project.config.timezone)
    tracked = "" if found.links_tracked else " (this send's links were not tracked)"
    out.print(
        f"report of {found.issue}: send started {found.started.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        f"; click tracking {found.tracking}{tracked}",
        markup=False,
    )
    opens = ("opens (unreliable)",) if found.opens else ()
    table = Table(
        "edition", "sent", "delivered", "bounced", "complained", "unsubscribed", "human clicks",
        "scanner clicks", "all clicks", "human per 100 delivered", *opens, title="after the send",
    )  # fmt: skip
    for locale in [*found.locales, found.total]:
        came = locale.outcomes
        shown = (f"{locale.opens:,}",) if found.opens else ()
        table.add_row(
            locale.locale, f"{came.sent:,}", f"{came.delivered:,}", f"{came.bounced:,}",
            f"{came.complained:,}", f"{came.unsubscribed:,}", f"{locale.clicks.human:,}",
            f"{locale.clicks.scanner:,}", f"{locale.clicks.all:,}",
            f"{per_100(locale.clicks.human, came.delivered):g}", *shown,
        )  # fmt: skip
    out.print(table)
    for locale in found.locales:
        _print_stories(found, locale.locale)
        _print_links([link for link in found.links if link.locale == locale.locale])
    reasons = ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in found.reasons.items())
    out.print(f"scanner clicks by rule: {reasons}", markup=False)
    if found.opens:
        out.print(f"opens: {found.total.opens:,}. {UNRELIABLE_OPENS}", markup=False)


def _print_stories(found: MailingReport, locale: str) -> None:
    rows = [
        (story, edition)
        for story in found.stories
        for edition in story.locales
        if edition.locale == locale
    ]
    if not rows:
        return
    largest = max(edition.clicks.human for _, edition in rows)
    table = Table(
        "story", "human clicks", "", "scanner clicks", "all clicks", title=f"stories ({locale})"
    )
    for story, edition in rows:
        clicks = edition.clicks
        table.add_row(
            Text(edition.title or story.slug), f"{clicks.human:,}", bar(clicks.human, largest),
            f"{clicks.scanner:,}", f"{clicks.all:,}",
        )  # fmt: skip
    console().print(table)


def _print_links(links: list[LinkReport]) -> None:
    if not links:
        return
    largest = max(link.clicks.human for link in links)
    table = Table(
        "#", "link", "story", "goes to", "human clicks", "", "scanner clicks", "all clicks",
        title=f"links ({links[0].locale})",
    )  # fmt: skip
    for link in links:
        clicks = link.clicks
        table.add_row(
            str(link.position), Text(link.label), Text(link.story_title or link.story),
            Text(link.url), f"{clicks.human:,}", bar(clicks.human, largest),
            f"{clicks.scanner:,}", f"{clicks.all:,}",
        )  # fmt: skip
    console().print(table)


def _recent(engine: Engine, last: int, as_json: bool) -> None:
    from newsletter.engagement.documents import recent_document
    from newsletter.engagement.recent import recent_report

    found = recent_report(engine, last)
    if as_json:
        typer.echo(json.dumps(recent_document(found), ensure_ascii=False, indent=2))
        return
    if not found.issues:
        console().print("nothing has been sent yet", markup=False)
        return
    _print_recent(found)


def _print_recent(found: RecentReport) -> None:
    out = console()
    largest = max((s.human_per_100_delivered for s in found.stories), default=0.0)
    stories = Table(
        "issue", "story", "human clicks", "per 100 delivered", "",
        title=f"stories of the last {len(found.issues)} sends, most read first",
    )  # fmt: skip
    for line in found.stories:
        per_100 = line.human_per_100_delivered
        stories.add_row(
            Text(line.issue), Text(line.title or line.slug), f"{line.human:,}", f"{per_100:g}",
            bar(per_100, largest),
        )  # fmt: skip
    out.print(stories)
    sends = Table(
        "issue", "started (UTC)", "sent", "delivered", "human clicks", "scanner clicks",
        "all clicks", "human per 100 delivered", title="the sends, newest first",
    )  # fmt: skip
    for send in found.issues:
        clicks = send.clicks
        sends.add_row(
            Text(send.issue), f"{send.started:%Y-%m-%d %H:%M}", f"{send.sent:,}", f"{send.delivered:,}",
            f"{clicks.human:,}", f"{clicks.scanner:,}", f"{clicks.all:,}",
            f"{send.human_per_100_delivered:g}",
        )  # fmt: skip
    out.print(sends)
