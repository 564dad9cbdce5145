"""/api/v1/issues and /api/v1/sends: the content folder's issues, sends and their outcomes,
test sends and starting a send (with an Idempotency-Key), as the CLI does them."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from newsletter.access import audit
from newsletter.access.idempotency import MAX_KEY, abandon, begin, finish, request_digest
from newsletter.access.keys import KeyHolder, Scope
from newsletter.catalog import IssueLine
from newsletter.deliver.models import Mailing
from newsletter.web.api.auth import require
from newsletter.web.api.problems import Refused
from newsletter.web.api.schemas import (
    EditionOut,
    FindingOut,
    IssueOut,
    NewSend,
    SendOut,
    SendPage,
    SendStarted,
    TestOutcome,
    TestSend,
)
from newsletter.web.api.subscribers import after_cursor, cursor_after
from newsletter.web.site import Site, current_site

if TYPE_CHECKING:
    from newsletter.send_status import SendStatus

router = APIRouter(tags=["sends"])
READ = require(Scope.SENDS_READ)
WRITE = require(Scope.SENDS_WRITE)
SITE = Depends(current_site)


@router.get("/issues", response_model=list[IssueOut], summary="List issues")
def list_issues(request: Request, caller: KeyHolder = READ, site: Site = SITE) -> list[IssueOut]:
    """Every issue of the content folder with its editions, whether it was sent, and how many
    errors and warnings `newsletter check` finds in it."""
    return [_issue(line) for line in site.catalog.issues()]


@router.get("/issues/{name}", response_model=IssueOut, summary="Get an issue")
def get_issue(name: str, request: Request, caller: KeyHolder = READ, site: Site = SITE) -> IssueOut:
    """One issue (slug, folder or file) with each finding of `newsletter check`."""
    return _issue(site.catalog.issue(name))


@router.get("/sends", response_model=SendPage, summary="List sends")
def list_sends(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    caller: KeyHolder = READ,
    site: Site = SITE,
) -> SendPage:
    """Sends, newest first, with their deliveries by state."""
    from newsletter.deliver.report import mailings_page, state_counts

    found = mailings_page(site.engine, after_cursor(cursor), limit + 1)
    page = found[:limit]
    states = state_counts(site.engine, [mailing.id or 0 for mailing in page])
    return SendPage(
        items=[_send(mailing, states[mailing.id or 0]) for mailing in page],
        next_cursor=cursor_after(page[-1].id or 0) if len(found) > limit else None,
    )


@router.get("/sends/{issue}", response_model=SendOut, summary="Get a send")
def get_send(issue: str, caller: KeyHolder = READ, site: Site = SITE) -> SendOut:
    """A send by its issue's slug (or a sequence step's mailing name): deliveries per locale and
    state, the failures, and what `newsletter report` says (outcomes, clicks)."""
    from newsletter.send_status import send_details

    details = send_details(site.engine, _mailing(site, issue), site.clock())
    sent = _status(details.status)
    sent.failures = [asdict(failure) for failure in details.failures]
    sent.report = details.report
    return sent


@router.post("/sends/{issue}/pause", response_model=SendOut, summary="Pause a send")
def pause_send_route(issue: str, caller: KeyHolder = WRITE, site: Site = SITE) -> SendOut:
    """No worker, in any process, sends more of it; the messages in flight finish."""
    from newsletter.send_control import pause_send
    from newsletter.send_status import send_status

    mailing = pause_send(site.project, site.engine, issue, site.clock(), slug_only=True)
    audit.record_now(
        site.engine, audit.key_actor(caller), "send.pause", mailing.issue, site.clock()
    )
    return _status(send_status(site.engine, mailing, site.clock()))


@router.post("/sends/{issue}/resume", response_model=SendOut, summary="Resume a send")
def resume_send_route(issue: str, caller: KeyHolder = WRITE, site: Site = SITE) -> SendOut:
    """Let a paused send go on: `newsletter run` delivers the rest. A send whose queueing of
    its audience was interrupted (`queueing_since` set) gets the rest of that audience first,
    as it was started; if another process is still queueing it, both add each reader once."""
    from newsletter.send_control import resume_send
    from newsletter.send_status import send_status

    mailing, added = resume_send(site.project, site.engine, issue, site.clock(), slug_only=True)
    audit.record_now(
        site.engine, audit.key_actor(caller), "send.resume", mailing.issue, site.clock(),
        {"added": added} if added else None,
    )  # fmt: skip
    return _status(send_status(site.engine, mailing, site.clock()))


@router.post("/sends/{issue}/test", response_model=list[TestOutcome], summary="Test-send an issue")
def test_send_issue(
    issue: str, test: TestSend, caller: KeyHolder = WRITE, site: Site = SITE
) -> list[TestOutcome]:
    """Each edition (or those readers of `locales` get) to each address now, `[TEST]` in the
    subject, sample reader values in the body; drafts too. Nobody else gets anything."""
    from newsletter.sends import load_issue_by_slug, test_send

    loaded = load_issue_by_slug(site.project, issue)
    results = test_send(site.project, loaded, test.addresses, test.locales)
    audit.record_now(
        site.engine, audit.key_actor(caller), "send.test", loaded.slug, site.clock(),
        {"messages": len(results)},
    )  # fmt: skip
    return [
        TestOutcome(address=address, edition=locale, state=outcome.state, reply=outcome.reply)
        for address, locale, outcome in results
    ]


@router.post("/sends", response_model=SendStarted, status_code=202, summary="Start a send")
def start_send_route(
    new: NewSend,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=MAX_KEY)] = None,
    caller: KeyHolder = WRITE,
    site: Site = SITE,
) -> JSONResponse:
    """Start the issue's send: its editions rendered and stored, its audience (everyone, or the
    segment `to`) queued; `newsletter run` delivers it. An `Idempotency-Key` header is
    required: a retry with the same key gets the first answer and never starts twice."""
    if not idempotency_key:
        raise Refused(
            400, "an Idempotency-Key header is required to start a send",
            "send a new random value (a UUID) with each send, and the same one with its retries",
        )  # fmt: skip
    body = new.model_dump_json().encode()
    digest = request_digest("POST", request.url.path, body)
    earlier = begin(site.engine, caller.id, idempotency_key, digest, site.clock())
    if earlier is not None:
        return _replay(earlier.status, earlier.body, earlier.same)
    try:
        answer = _start(site, new)
    except Exception:
        abandon(site.engine, caller.id, idempotency_key)
        raise
    finish(site.engine, caller.id, idempotency_key, 202, answer.model_dump_json())
    audit.record_now(
        site.engine, audit.key_actor(caller), "send.start", answer.issue, site.clock(),
        {"added": answer.added, "to": new.to or ""},
    )  # fmt: skip
    return JSONResponse(answer.model_dump(), status_code=202)


def _start(site: Site, new: NewSend) -> SendStarted:
    from newsletter.sends import queue_send

    mailing, added = queue_send(site.project, site.engine, new.issue, to=new.to, clock=site.clock)
    return SendStarted(issue=mailing.issue, added=added)


def _replay(status: int, body: str, same: bool) -> JSONResponse:
    if not same:
        raise Refused(
            422, "this Idempotency-Key was used for another request",
            "use a new key for each different send",
        )  # fmt: skip
    if status == 0:
        raise Refused(
            409, "the request with this Idempotency-Key is still being carried out",
            "wait a moment, then send it again",
        )  # fmt: skip
    answer = JSONResponse(json.loads(body), status_code=status)
    answer.headers["Idempotent-Replayed"] = "true"
    return answer


def _issue(line: IssueLine) -> IssueOut:
    return IssueOut(
        slug=line.slug, status=line.status, date=line.date, sent_at=line.sent_at,
        errors=line.errors, warnings=line.warnings,
        editions=[EditionOut(locale=e.locale, title=e.title, stories=e.stories, offered=e.offered) for e in line.editions],
        findings=[
            FindingOut(severity=n.severity, message=n.message, file=str(n.path), line=n.line, fix=n.hint or "")
            for n in line.notes
        ] if line.notes else None,
    )  # fmt: skip


def _mailing(site: Site, name: str) -> Mailing:
    from newsletter.deliver.report import find_mailing

    mailing = find_mailing(site.engine, name)
    if mailing is None:
        raise Refused(404, f"no send of {name!r}", "GET /api/v1/sends lists the sends")
    return mailing


def _send(
    mailing: Mailing, states: dict[str, int], locales: dict[str, dict[str, int]] | None = None
) -> SendOut:
    """A send as the API shows it: its deliveries by state, and by locale when one is read."""
    return SendOut(
        issue=mailing.issue, started=mailing.created_at, commit=mailing.commit,
        dirty=mailing.dirty, audience=mailing.tag, paused_at=mailing.paused_at,
        queueing_since=mailing.queueing_since, states=states,
        locales=locales, report=None,
    )  # fmt: skip


def _status(status: SendStatus) -> SendOut:
    return _send(status.mailing, status.states, status.locales)
