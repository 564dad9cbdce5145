"""An issue on its way out: found by name, rendered into editions, its send started.

    load_issue     the issue a command or a schedule names (slug, folder or file)
    offers         which of its editions readers get, and why (content/offers.py)
    editions       the issue rendered in each offered locale, ready to send
    start_send     its mailing made (once) and its audience queued, now or at each reader's
                   local time
    preview_send   who a send would reach with which edition, or why it would be refused
    queue_send     a send started by slug for `newsletter run` to deliver (the API, the
                   dashboard)
    send_issue     the whole send: checked, started (or resumed, or its failures queued
                   again), then delivered until every delivery is final, with progress and stop
    ready_issues   the issues marked `status: ready`, oldest first: what a weekly schedule sends
    project_sent_issues  the issues whose send started, and when: what the archive publishes

This module joins content, render and deliver: the CLI, the scheduler, the API and the
dashboard start sends through it, so a scheduled send is the same send as a manual one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Project
from newsletter.content.offers import Offer, edition_offers, offered_locales, readers_edition
from newsletter.content.offers import fallback_locale as choose_fallback
from newsletter.errors import NewsletterError
from newsletter.model import Issue

if TYPE_CHECKING:  # Imported where used: the CLI imports this module to list its commands.
    from sqlalchemy import Engine
    from sqlmodel import Session

    from newsletter.audience.targets import Target
    from newsletter.deliver.audience import LocalTime, Prepare
    from newsletter.deliver.compose import Content
    from newsletter.deliver.models import Mailing, MailingEdition
    from newsletter.deliver.sending import Progress
    from newsletter.deliver.smtp import Outcome

log = logging.getLogger(__name__)


def load_issue(project: Project, name: str) -> Issue:
    """The issue called `name` (a slug, folder or file under the issues folder): the same issue,
    with the same slug, whatever name it is given; NotFoundError for a name that is no issue
    of the issues folder."""
    from newsletter.content.loader import IssueLoader
    from newsletter.content.source import find_issue_path

    path = find_issue_path(project.issues_path, name, project.config.locales, elsewhere=False)
    return IssueLoader(project.config, project.root).load(path)


def load_issue_by_slug(project: Project, slug: str) -> Issue:
    """The issue whose slug is `slug`, for a name that came in a request: a slug, never a path
    (a path would let the request learn which files the server has); NotFoundError for
    anything else, in the same words as for a slug no issue has."""
    from newsletter.content.loader import IssueLoader
    from newsletter.content.slugs import make_slug
    from newsletter.content.source import discover_issue_paths, split_name
    from newsletter.errors import NotFoundError

    locales = project.config.locales
    if slug and make_slug(slug) == slug:
        for path in discover_issue_paths(project.issues_path, locales):
            if make_slug(split_name(path, locales).base) == slug:
                return IssueLoader(project.config, project.root).load(path)
    raise NotFoundError(
        f"no issue {slug!r}", hint="name the issue by its slug, as `newsletter list` shows it"
    )


def offers(project: Project, issue: Issue) -> dict[str, Offer]:
    """Every edition of `issue` by locale, and whether its readers get it (content/offers.py)."""
    return edition_offers(issue, project.config)


def editions(
    project: Project, issue: Issue, locales: Sequence[str] = (), *, web_version: bool = True
) -> list[Content]:
    """The issue rendered, ready to send: every offered edition, or the editions that readers
    of `locales` get (each once); without `web_version`, with no link to a web page (a
    sequence step, which is never published)."""
    from newsletter.deliver.compose import Content
    from newsletter.render.pipeline import Renderer
    from newsletter.render.urls import web_url

    wanted = list(dict.fromkeys(readers_editions(project, issue, locales).values()))
    renderer = Renderer(project)
    made = []
    for locale in wanted or offered_locales(issue, project.config):
        rendered = renderer.render(issue, locale, web=False, web_version=web_version)
        url = web_url(project.config.base_url, locale, issue.slug) if web_version else ""
        made.append(
            Content(
                locale, rendered.subject, rendered.email_html, rendered.text, url, rendered.stories
            )
        )
    return made


def readers_editions(project: Project, issue: Issue, locales: Sequence[str]) -> dict[str, str]:
    """The edition readers of each of `locales` get, by locale (NewsletterError for a locale
    that is not configured: no reader has it)."""
    from newsletter.locales import match_locale

    configured = project.config.locales
    found = offers(project, issue)
    offered = [locale for locale, offer in found.items() if offer.offered]
    fallback = fallback_locale(project, issue)
    chosen = {}
    for given in locales:
        try:
            locale = match_locale(given, [*configured, *issue.locales])
        except ValueError:
            locale = ""
        if locale not in configured and locale not in issue.locales:
            raise NewsletterError(
                f"--locale {given}: not a locale of this newsletter",
                hint="use one of " + ", ".join(configured),
            )
        chosen[locale] = readers_edition(locale, offered, fallback)
    return chosen


def fallback_locale(project: Project, issue: Issue) -> str:
    """The edition for subscribers whose language has no offered edition of the issue."""
    offered = offered_locales(issue, project.config)
    return choose_fallback(issue, offered, project.config.default_locale)


def test_send(
    project: Project, issue: Issue, addresses: Sequence[str], locales: Sequence[str] = ()
) -> list[tuple[str, str, Outcome]]:
    """The issue's editions (or those readers of `locales` get) to each address, `[TEST]` in
    the subject and sample reader values in the body: (address, edition, outcome) of each.
    NewsletterError for an address that is not one. Drafts may be test-sent."""
    from newsletter.deliver.sending import send_test
    from newsletter.deliver.transports import open_transport
    from newsletter.subscribers.addresses import InvalidAddress, normalize_address

    checked = []
    for address in addresses:
        try:
            checked.append(normalize_address(address)[0])
        except InvalidAddress as error:
            raise NewsletterError(f"--test {address!r}: {error}") from None
    made = editions(project, issue, locales)
    transport = open_transport(project.config.transport_url, project.secrets, project.root)
    try:
        return send_test(project.config, project.secrets, transport, made, checked)
    finally:
        transport.close()


DRAFT_RULE = "only --test and --dry-run send a draft"
DRAFT_FIX = "set `status: ready` in its front matter when it is ready to go out"


def draft_refusal(issue: Issue) -> NewsletterError | None:
    """Why the issue may not be sent, when it is a draft (what its file says, as written);
    None when it is not. Only test sends and dry runs handle drafts."""
    from newsletter.content.documents import status_said

    main = issue.main
    if main.status != "draft":
        return None
    return NewsletterError(
        f"issue {issue.slug} is a draft ({status_said(main)}): {DRAFT_RULE}",
        path=main.source,
        line=main.meta_lines.get("status") if main.own_status else None,
        hint=DRAFT_FIX,
    )


def check_not_draft(issue: Issue) -> None:
    """NewsletterError when the issue is a draft: only test sends and dry runs handle drafts."""
    refusal = draft_refusal(issue)
    if refusal is not None:
        raise refusal


def check_can_send(project: Project) -> None:
    """NewsletterError for settings that would fail every message (the signing key, the DKIM
    key, the transport URL) or put placeholders in it: checked before anyone is queued."""
    from newsletter.deliver.signing import signer_for
    from newsletter.deliver.transports import transport_limits
    from newsletter.subscribers.tokens import Tokens

    project.require_settings("a real send")
    Tokens(project.secrets.get("NEWSLETTER_SECRET_KEY", ""))
    signer_for(project.config, project.secrets)
    transport_limits(project.config.transport_url)


def send_refusal(project: Project, issue: Issue) -> NewsletterError | None:
    """Why a real send of `issue` would be refused now (settings that would fail every
    message, a draft), as the CLI says it; None when it would not be."""
    try:
        check_can_send(project)
    except NewsletterError as error:
        return error
    return draft_refusal(issue)


def reach(project: Project, engine: Engine, issue: Issue, to: Target | None) -> dict[str, int]:
    """How many subscribers a send of `issue` would reach now (of the segment `to`, if given),
    per edition locale, as `send --dry-run` counts them; nothing is rendered or written."""
    from newsletter.deliver.sending import preview

    locales = offered_locales(issue, project.config)
    return preview(engine, locales, default_locale=fallback_locale(project, issue), to=to)


@dataclass(frozen=True)
class SendPreview:
    """What starting the send of an issue would do: who gets which edition, or why not."""

    issue: Issue
    recipients: dict[str, int]
    """Subscribers per edition locale (the dry run's counts)."""
    refusal: NewsletterError | None
    """Why the send would be refused (settings, a draft); None: it would start."""
    started: Mailing | None
    """The issue's send, when it has started before: only readers not in it yet are added."""


def preview_send(project: Project, engine: Engine, slug: str, *, to: str | None) -> SendPreview:
    """What `queue_send` would do with the same issue and segment, nothing written;
    NotFoundError for an unknown slug, NewsletterError for a segment that does not parse."""
    from newsletter.audience.targets import target_of
    from newsletter.deliver.report import find_mailing

    issue = load_issue_by_slug(project, slug)
    target = target_of(to, project.config) if to else None
    return SendPreview(
        issue,
        reach(project, engine, issue, target),
        send_refusal(project, issue),
        find_mailing(engine, issue.slug),
    )


def queue_send(
    project: Project, engine: Engine, slug: str, *, to: str | None, clock: Callable[[], datetime]
) -> tuple[Mailing, int]:
    """Start the send of the issue whose slug is `slug` (a request's name: never a path) for
    `newsletter run` to deliver: the settings checked, a draft refused, its audience (every
    active subscriber, or the segment `to`) queued. The mailing and how many were added (0
    when everyone already is in it). What the API and the dashboard start sends with."""
    from newsletter.audience.targets import target_of

    check_can_send(project)
    issue = load_issue_by_slug(project, slug)
    target = target_of(to, project.config) if to else None
    return start_send(project, engine, issue, to=target, clock=clock)


def start_send(
    project: Project,
    engine: Engine,
    issue: Issue,
    *,
    to: Target | None,
    clock: Callable[[], datetime],
    local_time: LocalTime | None = None,
) -> tuple[Mailing, int]:
    """The issue's mailing (its offered editions rendered and stored the first time) and how
    many subscribers were added to its audience, queued at `clock()` once rendered; with
    `local_time`, each is due at that wall-clock time in their zone. A draft is refused."""
    from newsletter.content.git import content_commit
    from newsletter.deliver.report import find_mailing
    from newsletter.deliver.sending import start_mailing

    check_not_draft(issue)
    made = [] if find_mailing(engine, issue.slug) else editions(project, issue)
    commit, dirty = content_commit(issue.path)
    return start_mailing(
        engine, issue.slug, made, commit=commit, dirty=dirty, to=to,
        default_locale=fallback_locale(project, issue), now=clock(), local_time=local_time,
        prepare=link_tracking(project, made),
    )  # fmt: skip


def link_tracking(project: Project, made: Sequence[Content]) -> Prepare | None:
    """What makes the links of a new mailing's editions tracking links, as the configuration
    says (`tracking`, `open_tracking`); None when links stay as they are."""
    from newsletter.deliver.tracking_ids import LinkSigner
    from newsletter.engagement.store import track_editions

    config = project.config
    if config.tracking == "off" and not config.open_tracking:
        return None
    signer = LinkSigner(project.secrets.get("NEWSLETTER_SECRET_KEY", ""))
    stories = {content.locale: content.stories for content in made}

    def prepare(session: Session, mailing_id: int, editions: Sequence[MailingEdition]) -> None:
        track_editions(session, mailing_id, editions, stories, config, signer)

    return prepare


class SendMode(StrEnum):
    """What a send does before it delivers."""

    NEW = "new"
    """Start the send, or add the subscribers who joined since it started."""
    RESUME = "resume"
    """Continue an interrupted or paused send: nobody new is added (but the rest of an audience
    whose queueing was interrupted, as the mailing recorded it)."""
    ONLY_FAILED = "only_failed"
    """Queue the failed deliveries again (except to addresses suppressed since), then deliver."""


@dataclass(frozen=True)
class SendStarted:
    """Where a send stands when its delivery begins: what the caller tells the operator."""

    mailing: Mailing
    mode: SendMode
    added: int = 0
    """Subscribers added to the audience now (resuming: the rest of an interrupted queueing)."""
    requeued: int = 0
    """Failed deliveries queued again (SendMode.ONLY_FAILED)."""
    offers: list[Offer] = field(default_factory=list)
    """The editions chosen now, offered or held back and why (only when the send is new)."""
    later: list[tuple[datetime, int]] = field(default_factory=list)
    """(due time, deliveries) waiting for their readers' local time: `newsletter run` sends them."""


def send_issue(
    project: Project,
    engine: Engine,
    issue: Issue,
    *,
    mode: SendMode = SendMode.NEW,
    to: Target | None = None,
    clock: Callable[[], datetime],
    stop: Callable[[], bool] = lambda: False,
    started: Callable[[SendStarted], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[Mailing, Progress]:
    """Send `issue` to its audience: the settings checked, the send started (a draft refused),
    resumed or its failures queued again as `mode` says; `started` is told where it stands;
    then delivered until every delivery is final (retries waited out) or `stop()`. The mailing
    and where the delivery ended.

    `engine` is disposed before delivering: worker processes are forked, and no connection may
    be open across fork() (see deliver/sending.py).
    """
    from newsletter.deliver.audience import requeue_failed
    from newsletter.deliver.report import find_mailing, later
    from newsletter.deliver.sending import deliver, resume_mailing
    from newsletter.deliver.worker import Job

    check_can_send(project)
    mailing = find_mailing(engine, issue.slug)
    added = requeued = 0
    chosen: list[Offer] = []
    if mode is SendMode.NEW:
        if mailing is None:  # Its editions are chosen now (else they were at the first send).
            check_not_draft(issue)
            chosen = list(offers(project, issue).values())
        mailing, added = start_send(project, engine, issue, to=to, clock=clock)
    else:
        check_not_draft(issue)  # Taken back after its send started: nothing more goes out.
        if mailing is None:
            raise NewsletterError(
                f"issue {issue.slug} has not been sent yet",
                hint=f"send it with `newsletter send {issue.slug}`",
            )
        # Resuming or retrying a paused send goes on with it, and with the rest of an audience
        # whose queueing was interrupted.
        mailing, added = resume_mailing(engine, mailing, clock())
        if mode is SendMode.ONLY_FAILED:
            requeued = requeue_failed(engine, mailing.id or 0, clock())
    assert mailing.id is not None
    if started is not None:
        waiting = later(engine, mailing.id, clock())
        started(SendStarted(mailing, mode, added, requeued, chosen, waiting))
    job = Job.of(project, mailing.id, mailing.uid)
    engine.dispose()
    return mailing, deliver(job, stop=stop, progress=progress)


def find_send(project: Project, engine: Engine, name: str, *, slug_only: bool = False) -> Mailing:
    """The send called `name`: a mailing's own name (an issue's slug, a sequence step's
    `sequence:...`), else the slug of the issue `name` loads as (with `slug_only`, for a name
    from a request: never as a path); NotFoundError if none."""
    from newsletter.deliver.report import find_mailing
    from newsletter.errors import NotFoundError

    mailing = find_mailing(engine, name)
    if mailing is None and not name.startswith("sequence:"):
        try:
            load = load_issue_by_slug if slug_only else load_issue
            mailing = find_mailing(engine, load(project, name).slug)
        except NotFoundError:
            mailing = None
    if mailing is None:
        raise NotFoundError(
            f"no send of {name!r}",
            hint="`newsletter status ISSUE` shows a send; start one with `newsletter send ISSUE`",
        )
    return mailing


def ready_issues(project: Project) -> list[Issue]:
    """Every issue marked `status: ready`, oldest first (by date, then slug).

    An issue that cannot be loaded is left out with a warning: one broken draft must not stop
    the weekly send of the others (`newsletter check` names its problem).
    """
    from newsletter.content.loader import IssueLoader
    from newsletter.content.source import discover_issue_paths

    loader = IssueLoader(project.config, project.root)
    ready = []
    for path in discover_issue_paths(project.issues_path, project.config.locales):
        try:
            issue = loader.load(path)
        except NewsletterError as error:
            log.warning("skipping %s, which does not load: %s", path.name, error)
            continue
        if issue.main.status == "ready":
            ready.append(issue)
    return sorted(ready, key=_age)


def _age(issue: Issue) -> tuple[bool, float, str]:
    date = issue.main.date  # Aware (dates without a zone take the configured one).
    return (date is None, date.timestamp() if date else 0.0, issue.slug)


def project_sent_issues(project: Project) -> dict[str, datetime]:
    """The issues whose send started in the project's database (deliver/report.py); {} when its SQLite file does not exist yet
    (looking must not create it, nor import SQLAlchemy just to find that out)."""
    url = project.config.database_url
    if url.startswith("sqlite:///") and "?" not in url:
        path = Path(url.removeprefix("sqlite:///"))
        if not (path if path.is_absolute() else project.root / path).exists():
            return {}
    from sqlalchemy.exc import SQLAlchemyError

    from newsletter.db import create_db_engine, database_url
    from newsletter.db_schema import known_revision
    from newsletter.deliver.report import sent_issues

    engine = create_db_engine(database_url(project))
    try:
        known_revision(engine)  # A newer version's schema may not mean what this one reads.
        return sent_issues(engine)
    except SQLAlchemyError as error:
        raise NewsletterError(
            f"cannot read which issues were sent from the database: {getattr(error, 'orig', None) or error}",
            hint="check database_url (`newsletter db status`)",
        ) from error
    finally:
        engine.dispose()
