"""`newsletter send` and `newsletter status`: deliver an issue, and see what became of it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from newsletter.cli.context import (
    console,
    database,
    project_of,
    reports_errors,
    warn_placeholders,
)
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine

    from newsletter.audience.targets import Target
    from newsletter.config import Project
    from newsletter.deliver.models import Mailing
    from newsletter.deliver.sending import Progress
    from newsletter.model import Issue
    from newsletter.sends import SendStarted

_REST = "the rest of the send's audience, whose queueing had been interrupted"
"""What `resume` and `send --resume` say of the readers they queued for an interrupted send."""


def register(app: typer.Typer) -> None:
    """Add the delivery commands to `app`."""
    app.command("send")(reports_errors(send))
    app.command("status")(reports_errors(status))
    app.command("pause")(reports_errors(pause))
    app.command("resume")(reports_errors(resume))


def send(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="The issue (slug, folder or file).", show_default=False),
    to: str | None = typer.Option(
        None,
        "--to",
        help="Send only to a segment: a name of the configuration's segments, or an expression such as '(ai or research) and not locale = \"ar\"' (docs/audience.md).",
        show_default=False,
    ),
    tag: str | None = typer.Option(
        None, "--tag", help="Send only to subscribers with this topic (tag).", show_default=False
    ),
    test: list[str] = typer.Option(
        [],
        "--test",
        help="Send a test to this address instead (repeat for several); no subscriber is mailed.",
    ),
    locales: list[str] = typer.Option(
        [], "--locale", help="With --test: this edition only (repeatable; default: every one)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Render and count who would get which edition; send nothing."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted send: what killed workers journaled is recorded, their "
        "claims queued again, the rest of an audience whose queueing was interrupted queued as "
        "it was started (nobody new is added).",
    ),
    only_failed: bool = typer.Option(
        False, "--only-failed", help="Send again to the recipients whose delivery failed."
    ),
) -> None:
    """Send an issue to every active subscriber, each in their own language.

    The audience is taken once into the outbox: sending the same issue again adds only
    subscribers who joined since, and nobody gets it twice. What was rendered is stored with
    the send, so --resume and --only-failed send exactly the same content. Ctrl-C stops after
    the messages in flight; --resume continues.

    Example: newsletter send 2024-03-10-ai-revolution-accelerates --test me@example.org --locale zh
    """
    from newsletter.sends import load_issue  # Here: `status` and the others need no content.

    project = project_of(ctx)
    if test or dry_run:
        warn_placeholders(project)  # A real send refuses placeholders (check_can_send).
    loaded = load_issue(project, issue)
    if test:
        _send_test(project, loaded, test, locales)
        return
    if locales:
        raise NewsletterError(
            "--locale goes with --test", hint="subscribers get their own language"
        )
    if sum((dry_run, resume, only_failed)) > 1:
        raise NewsletterError("choose one of --dry-run, --resume and --only-failed")
    target = _target(project, to, tag)
    if target is not None and (resume or only_failed):
        raise NewsletterError(
            "--to and --tag go with a new send", hint="--resume and --only-failed keep its audience"
        )
    engine = database(ctx)
    if dry_run:
        _dry_run(project, engine, loaded, target)
        return
    _send(project, engine, loaded, target, resume=resume, only_failed=only_failed)


def _target(project: Project, to: str | None, tag: str | None) -> Target | None:
    """The audience `--to` or `--tag` names (one of them at most); None: every subscriber."""
    from newsletter.audience.targets import target_of, topic_target

    if to is not None and tag is not None:
        raise NewsletterError(
            "choose one of --to and --tag", hint="--tag NAME is --to 'topic = \"NAME\"'"
        )
    if to is not None:
        return target_of(to, project.config)
    return topic_target(tag, project.config) if tag is not None else None


def status(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="The issue (slug, folder or file).", show_default=False),
    failures: int = typer.Option(20, "--failures", help="List at most this many failures."),
) -> None:
    """Show a send: deliveries per state and locale, the content's commit, and the failures.
    A sequence step's sends: `sequence:NAME/STEP` (its latest version) or the full name
    `sequence:NAME/STEP@VERSION` that `newsletter sequence status` shows.

    Example: newsletter status 2024-03-10-ai-revolution-accelerates
    """
    from newsletter.deliver.models import STEP_MAILINGS
    from newsletter.deliver.report import find_mailing

    project = project_of(ctx)
    engine = database(ctx)
    if issue.startswith(STEP_MAILINGS):  # A sequence step's mailing (`sequence status` names it).
        from newsletter.sequences.status import step_mailing_named

        _print_status(engine, step_mailing_named(engine, issue), failures)
        return
    # A send's own name (the issue's slug) first: no issue files read, no Markdown parsed.
    if (named := find_mailing(engine, issue)) is not None:
        _print_status(engine, named, failures)
        return
    loaded, slug, problem = _find(project, issue)
    mailing = find_mailing(engine, slug)
    if mailing is None:
        if problem is not None:
            raise problem
        assert loaded is not None
        raise NewsletterError(
            f"issue {loaded.slug} has not been sent yet",
            hint=f"see who would get which edition with `newsletter send {loaded.slug} --dry-run`, "
            "or mail yourself a copy with --test you@example.org",
        )
    _print_status(engine, mailing, failures)


def pause(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="The issue (slug, folder or file).", show_default=False),
) -> None:
    """Pause a send: no worker, in any process, sends more of it; the messages in flight finish.
    `newsletter resume ISSUE` lets it go on.

    Example: newsletter pause 2024-03-10-ai-revolution-accelerates
    """
    from newsletter.db import utcnow
    from newsletter.send_control import pause_send

    mailing = pause_send(project_of(ctx), database(ctx), issue, utcnow())
    console().print(f"paused the send of {mailing.issue}", markup=False)


def resume(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="The issue (slug, folder or file).", show_default=False),
) -> None:
    """Let a paused send go on: `newsletter run` delivers the rest (or `newsletter send ISSUE
    --resume`, which also resumes it, delivers it now). A send whose queueing of its audience
    was interrupted gets the rest of its audience first, as it was started.

    Example: newsletter resume 2024-03-10-ai-revolution-accelerates
    """
    from newsletter.db import utcnow
    from newsletter.send_control import resume_send

    mailing, added = resume_send(project_of(ctx), database(ctx), issue, utcnow())
    if added:
        console().print(f"{added:,} recipients added: {_REST}", markup=False)
    console().print(
        f"resumed the send of {mailing.issue}: `newsletter run` delivers the rest", markup=False
    )


# -- Steps --------------------------------------------------------------------------------------


def _find(project: Project, name: str) -> tuple[Issue | None, str, NewsletterError | None]:
    """The issue called `name`, its slug, and why it cannot be loaded: a send outlives its
    files, so an issue that is gone may still have a send under its name."""
    from pathlib import Path

    from newsletter.content.slugs import make_slug
    from newsletter.content.source import split_name
    from newsletter.errors import NotFoundError
    from newsletter.sends import load_issue

    try:
        issue = load_issue(project, name)
        return issue, issue.slug, None
    except NotFoundError:
        if not name.strip() or Path(name).exists():
            raise  # Something that is there but no issue: no send can be under its name.
        # Named by a path that is gone: its slug as the loader would have made it.
        given = Path(name.rstrip("/"))
        base = split_name(given, project.config.locales).base
        slug = make_slug(given.parent.name if base == "issue" and given.parent.name else base)
        problem = NotFoundError(
            f"no issue {name!r}: no such issue in {project.config.issues_dir}/, "
            "and no send of it in the database",
            hint="run `newsletter list` to see the issues",
        )
        return None, slug, problem
    except NewsletterError as error:  # The files are there but do not load.
        return None, make_slug(Path(name.rstrip("/")).name.removesuffix(".md")), error


def _send_test(project: Project, issue: Issue, addresses: list[str], locales: list[str]) -> None:
    from newsletter.deliver.models import DeliveryState
    from newsletter.sends import readers_editions, test_send

    chosen = readers_editions(project, issue, locales)
    _print_offers(project, issue, set(chosen) or None)
    results = test_send(project, issue, addresses, locales)
    out = console()
    for address, locale, outcome in results:
        mark = "sent" if outcome.state == DeliveryState.SENT else f"[red]{outcome.state}[/]"
        readers = [given for given, got in chosen.items() if got == locale and given != locale]
        which = f"{', '.join(readers)} readers get the {locale} edition" if readers else locale
        out.print(f"{mark} [TEST] {issue.slug} ({which}) to {address}: " + escape(outcome.reply))
    if any(outcome.state != DeliveryState.SENT for _, _, outcome in results):
        raise typer.Exit(1)


def _dry_run(project: Project, engine: Engine, issue: Issue, to: Target | None) -> None:
    from rich.table import Table

    from newsletter.sends import draft_refusal, reach
    from newsletter.sends import editions as render_editions

    _print_offers(project, issue)
    editions = render_editions(project, issue)
    reached = reach(project, engine, issue, to)
    table = Table("locale", "recipients", "email HTML", "subject", title=f"dry run: {issue.slug}")
    for edition in editions:
        size = f"{len(edition.html.encode()) / 1024:.0f} KB"
        table.add_row(edition.locale, f"{reached[edition.locale]:,}", size, edition.subject)
    out = console()
    out.print(table)
    segment = f" in the segment {to.text!r}" if to is not None else ""
    out.print(
        f"{sum(reached.values()):,} recipients{segment}; nothing was sent or written.", markup=False
    )
    refusal = draft_refusal(issue)
    if refusal is not None:
        out.print(f"{refusal.message}; {refusal.hint}", markup=False)


def _send(
    project: Project,
    engine: Engine,
    issue: Issue,
    to: Target | None,
    *,
    resume: bool,
    only_failed: bool,
) -> None:
    from newsletter.db import utcnow
    from newsletter.send_status import send_by_id
    from newsletter.sends import SendMode, send_issue

    mode = SendMode.ONLY_FAILED if only_failed else SendMode.RESUME if resume else SendMode.NEW
    with _progress_bar() as (show, stop):
        mailing, _ = send_issue(
            project, engine, issue, mode=mode, to=to, clock=utcnow, stop=stop,
            started=lambda started: _print_started(project, issue, started), progress=show,
        )  # fmt: skip
    _print_status(engine, send_by_id(engine, mailing.id or 0), 20)  # As it is now.


def _print_started(project: Project, issue: Issue, started: SendStarted) -> None:
    """What the send did before delivering: the editions chosen, who was added or queued
    again, the deliveries that wait for their readers' local time."""
    from newsletter.sends import SendMode

    out = console()
    for offer in started.offers:
        out.print(offer.describe(), markup=False)
    if started.mode is SendMode.ONLY_FAILED:
        out.print(f"{started.requeued:,} failed deliveries queued again")
    elif started.mode is SendMode.NEW:
        out.print(f"{started.added:,} recipients added to the send of {issue.slug}")
    if started.mode is not SendMode.NEW and started.added:
        out.print(f"{started.added:,} recipients added: {_REST}")
    _print_later(project, started.later)


def _print_later(project: Project, waiting: list[tuple[datetime, int]], shown: int = 10) -> None:
    """The deliveries that wait for their reader's local time, by when they are due (in the
    configured timezone): the send does not wait for them, `newsletter run` sends them."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(project.config.timezone)
    due: dict[str, int] = {}
    for when, count in waiting:
        key = f"{when.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
        due[key] = due.get(key, 0) + count
    if not due:
        return
    out = console()
    out.print(
        f"{sum(due.values()):,} deliveries wait for their readers' local time; "
        "`newsletter run` sends each when it is due:",
        markup=False,
    )
    for key, count in list(due.items())[:shown]:
        out.print(f"  {count:,} due {key}", markup=False)
    if len(due) > shown:
        rest = list(due.items())[shown:]
        out.print(f"  {sum(n for _, n in rest):,} more, due until {rest[-1][0]}", markup=False)
    out.print("sending those due now", markup=False)


def _print_offers(project: Project, issue: Issue, locales: set[str] | None = None) -> None:
    """One line per edition (of `locales` only, when given): offered or not, and why."""
    from newsletter.sends import offers

    out = console()
    for locale, offer in offers(project, issue).items():
        if locales is None or locale in locales:
            out.print(offer.describe(), markup=False)


@contextlib.contextmanager
def _progress_bar() -> Iterator[tuple[Callable[[Progress], None], Callable[[], bool]]]:
    """A progress bar (count, rate, time left) and the send's stop flag; Ctrl-C stops after
    the messages in flight, and the rest stays queued."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    stopping = False
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} msg/s"),
        TimeRemainingColumn(),
    )
    # Started by the first report of progress: what the send says before it delivers (and
    # any refusal) comes first, with no empty bar above it.
    bar = Bar(*columns, console=console(), transient=False)
    task = bar.add_task("sending", total=None, rate="-", start=False)
    started = time.monotonic()

    def show(now: Progress) -> None:
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)
        elapsed = max(time.monotonic() - started, 1e-6)
        waiting = (
            f"waiting for retries until {now.waiting_until:%H:%M:%S} UTC"
            if now.waiting_until
            else "paused"
            if now.paused
            else "sending"
        )
        bar.update(
            task,
            completed=now.done,
            total=now.total,
            description=waiting,
            rate=f"{now.done / elapsed:,.0f}",
        )

    try:
        yield show, lambda: stopping
    except KeyboardInterrupt:
        stopping = True
        console().print("stopping: the rest stays queued; continue with --resume")
        raise typer.Exit(130) from None
    finally:
        if bar.live.is_started:
            bar.stop()


def _print_outcomes(engine: Engine, mailing_id: int, sent: dict[str, int]) -> None:
    """What came back, per locale: bounces, complaints, unsubscribes, and the complaint rate
    against the mailbox providers' limit; `sent` are the sent deliveries per locale."""
    from rich.table import Table

    from newsletter.inbound.report import Outcomes, complaint_verdict, outcomes

    by_locale = outcomes(engine, mailing_id, sent)
    if not by_locale:
        return
    total = Outcomes()
    for found in by_locale.values():
        total.add(found)
    table = Table(
        "locale", "sent", "hard bounced", "soft bounced", "refused (policy)", "delivered",
        "complained", "complaint rate", "unsubscribed", title="after the send",
    )  # fmt: skip
    for locale, found in [*sorted(by_locale.items()), ("all", total)]:
        bounces = (found.hard, found.soft, found.policy)
        table.add_row(
            locale,
            f"{found.sent:,}",
            *(f"{n:,} ({found.of_sent(n):.1%})" for n in bounces),
            f"{found.delivered:,}",
            f"{found.complained:,}",
            f"{found.complaint_rate:.2%}",
            f"{found.unsubscribed:,} ({found.of_delivered(found.unsubscribed):.1%})",
        )
    out = console()
    out.print(table)
    out.print(
        f"complaint rate {total.complaint_rate:.2%}: {complaint_verdict(total.complaint_rate)}",
        markup=False,
    )


def _print_status(engine: Engine, mailing: Mailing, limit: int) -> None:
    from rich.table import Table

    from newsletter.deliver.models import DeliveryState
    from newsletter.deliver.report import counts, failures

    assert mailing.id is not None
    by_cell = counts(engine, mailing.id)
    locales = sorted({locale for locale, _ in by_cell})
    table = Table("locale", *DeliveryState, "total", title=f"send of {mailing.issue}")
    for locale in [*locales, "all"]:
        cells = [
            sum(n for (loc, st), n in by_cell.items() if st == state and locale in (loc, "all"))
            for state in DeliveryState
        ]
        table.add_row(locale, *(f"{n:,}" for n in cells), f"{sum(cells):,}")
    out = console()
    out.print(table)
    commit = mailing.commit or "not in git"
    dirty = " (with uncommitted changes)" if mailing.dirty else ""
    out.print(f"content: commit {commit}{dirty}; started {mailing.created_at:%Y-%m-%d %H:%M} UTC")
    if mailing.paused_at is not None:
        out.print(
            f"paused since {mailing.paused_at:%Y-%m-%d %H:%M} UTC: "
            f"`newsletter resume {mailing.issue}` lets it go on",
            markup=False,
        )
    if mailing.queueing_since is not None:
        out.print(
            f"its recipients are being queued since {mailing.queueing_since:%Y-%m-%d %H:%M:%S} "
            f"UTC, more to come; if that was interrupted, {_queue_the_rest(mailing)}",
            markup=False,
        )
    sent = {locale: n for (locale, state), n in by_cell.items() if state == DeliveryState.SENT}
    _print_outcomes(engine, mailing.id, sent)
    failed = failures(engine, mailing.id, limit)
    for email, locale, attempts, reply in failed:
        out.print(f"failed: {email} ({locale}, {attempts} attempts): {reply}", markup=False)


def _queue_the_rest(mailing: Mailing) -> str:
    """How to queue the rest of a send whose queueing was interrupted."""
    if mailing.audience:
        return f"`newsletter send --resume {mailing.issue}` queues the rest and delivers it"
    # Started before the mailing recorded its audience (migration 0020).
    return f"`newsletter send {mailing.issue}` with the send's --to or --tag queues the rest"
