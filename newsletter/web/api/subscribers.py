"""/api/v1/subscribers and /api/v1/tags: the subscriber functions of the CLI, for programs.

A subscriber is named in a path by their id or their address (`/subscribers/17`,
`/subscribers/ana@example.org`). Lists page by an opaque cursor over ids: no page counts
the whole table, and the thousandth page is as fast as the first.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from newsletter.access import audit
from newsletter.access.keys import KeyHolder, Scope
from newsletter.engagement.people import forget_person
from newsletter.signups import request_confirmation
from newsletter.subscribers import changes, registry
from newsletter.subscribers.changes import Changes
from newsletter.subscribers.csv_import import import_rows
from newsletter.subscribers.models import Subscriber
from newsletter.web.api.auth import require
from newsletter.web.api.problems import Refused
from newsletter.web.api.schemas import (
    BulkImport,
    ImportResult,
    NewSubscriber,
    SkippedItem,
    SubscriberChange,
    SubscriberOut,
    SubscriberPage,
    TagCount,
    TopicOut,
)
from newsletter.web.site import Site, current_site, database

router = APIRouter(tags=["subscribers"])
READ = require(Scope.SUBSCRIBERS_READ)
WRITE = require(Scope.SUBSCRIBERS_WRITE)
SITE = Depends(current_site)
DATABASE = Depends(database)
MAX_PAGE = 500
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


@router.get("/subscribers", response_model=SubscriberPage, summary="List subscribers")
def list_subscribers(
    status: Annotated[
        str | None, Query(pattern="^(pending|active|unsubscribed|bounced|complained)$")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    locale: Annotated[str | None, Query(max_length=35)] = None,
    created_since: datetime | None = None,
    search: Annotated[str, Query(max_length=320, description="Part of the address or name.")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    caller: KeyHolder = READ,
    db: Session = DATABASE,
) -> SubscriberPage:
    """Subscribers in the order they were added, filtered, `limit` at a time."""  # fmt: skip
    found = registry.search(
        db, search, status=status, tag=tag, locale=locale, created_since=created_since,
        after_id=after_cursor(cursor), limit=limit + 1,
    )  # fmt: skip
    page = found[:limit]
    last = page[-1].id if page and len(found) > limit else None
    tags = registry.tags_by_subscriber(db, [s.id for s in page if s.id is not None])
    return SubscriberPage(
        items=[SubscriberOut.of(s, tags[s.id or 0]) for s in page],
        next_cursor=cursor_after(last) if last is not None else None,
    )


@router.post(
    "/subscribers", response_model=SubscriberOut, status_code=201, summary="Add a subscriber"
)
def add_subscriber(
    new: NewSubscriber, caller: KeyHolder = WRITE, site: Site = SITE, db: Session = DATABASE
) -> SubscriberOut:
    """Add a subscriber: active at once, or with `double_opt_in` pending until they click the
    link of the confirmation email sent now (the subscribe form's email and limits)."""  # fmt: skip
    config = site.project.config
    profile = registry.make_profile(
        new.email, new.name, new.locale, new.timezone, new.tags,
        config.locales, config.default_locale, config.timezone,
    )  # fmt: skip
    if registry.find(db, profile.address) is not None:
        raise Refused(
            409, f"{profile.address} is already a subscriber", "PATCH it, or GET it first"
        )
    if registry.is_suppressed(db, profile.key):
        raise Refused(
            409,
            f"{profile.address} is on the suppression list and cannot be added again",
            "the address unsubscribed, bounced or asked to be forgotten",
        )
    source = f"api:{caller.prefix}"
    if new.double_opt_in:
        if not request_confirmation(site.mailer, db, profile, method="api", source=source):
            raise Refused(503, "the confirmation email could not be sent", "try again later")
        subscriber = _found(db, profile.address)
    else:
        subscriber = registry.add(
            db, profile, status="active", method="api", source=source, now=site.clock()
        )
    if new.attributes:
        registry.update_details(
            db, subscriber, name=None, attributes=new.attributes, method="api", source=source,
            now=site.clock(),
        )  # fmt: skip
    _audit(db, caller, "subscriber.add", subscriber, site, {"double_opt_in": new.double_opt_in})
    db.commit()
    return SubscriberOut.of(subscriber, registry.tags_of(db, subscriber))


@router.post("/subscribers/import", response_model=ImportResult, summary="Import subscribers")
def import_subscribers(
    bulk: BulkImport, caller: KeyHolder = WRITE, site: Site = SITE
) -> ImportResult:
    """Import up to 10,000 subscribers in one transaction, as `subscribers import` imports a
    CSV file: duplicates merged, suppressed addresses skipped, an existing subscriber's status
    never changed, each invalid item listed with why; nobody is mailed."""
    config = site.project.config
    keys = sorted({key for item in bulk.subscribers for key in item.attributes})
    header = ["email", "name", "locale", "timezone", "tags", *keys]
    rows = (
        (number, [
            item.email, item.name, item.locale, item.timezone, ", ".join(item.tags),
            *(_cell(item.attributes.get(key)) for key in keys),
        ])
        for number, item in enumerate(bulk.subscribers)
    )  # fmt: skip
    report = import_rows(
        site.engine, header, rows, source=f"api:{caller.prefix}", locales=config.locales,
        default_locale=config.default_locale, default_timezone=config.timezone, tags=bulk.tags,
        now=site.clock(),
    )  # fmt: skip
    audit.record_now(
        site.engine, audit.key_actor(caller), "subscribers.import", f"{report.rows} items",
        site.clock(), {"created": report.created, "updated": report.updated},
    )  # fmt: skip
    return ImportResult(
        items=report.rows, created=report.created, updated=report.updated,
        unchanged=report.unchanged, duplicates=report.duplicates, suppressed=report.suppressed,
        invalid=[SkippedItem(item=row.line, reason=row.reason) for row in report.invalid],
    )  # fmt: skip


@router.get("/subscribers/{ref}", response_model=SubscriberOut, summary="Get a subscriber")
def get_subscriber(ref: str, caller: KeyHolder = READ, db: Session = DATABASE) -> SubscriberOut:
    """One subscriber, by id or address."""
    subscriber = _found(db, ref)
    return SubscriberOut.of(subscriber, registry.tags_of(db, subscriber))


@router.patch("/subscribers/{ref}", response_model=SubscriberOut, summary="Change a subscriber")
def change_subscriber(
    ref: str,
    change: SubscriberChange,
    caller: KeyHolder = WRITE,
    site: Site = SITE,
    db: Session = DATABASE,
) -> SubscriberOut:
    """Change the fields given: name, locale, time zone, tags (all of them), attributes (all)."""
    subscriber = _found(db, ref)
    config = site.project.config
    wanted = Changes(change.name, change.locale, change.timezone, change.tags, change.attributes)
    changes.change(
        db, subscriber, wanted, locales=config.locales, default_locale=config.default_locale,
        method="api", source=f"api:{caller.prefix}", now=site.clock(),
    )  # fmt: skip
    _audit(
        db,
        caller,
        "subscriber.change",
        subscriber,
        site,
        {"fields": sorted(change.model_fields_set)},
    )
    db.commit()
    return SubscriberOut.of(subscriber, registry.tags_of(db, subscriber))


@router.post("/subscribers/{ref}/unsubscribe", response_model=SubscriberOut, summary="Unsubscribe")
def unsubscribe_subscriber(
    ref: str, caller: KeyHolder = WRITE, site: Site = SITE, db: Session = DATABASE
) -> SubscriberOut:
    """Stop all mail to the subscriber and put the address on the suppression list."""
    subscriber = _found(db, ref)
    registry.unsubscribe(
        db, subscriber, method="api", source=f"api:{caller.prefix}", now=site.clock()
    )
    _audit(db, caller, "subscriber.unsubscribe", subscriber, site)
    db.commit()
    return SubscriberOut.of(subscriber, registry.tags_of(db, subscriber))


@router.delete("/subscribers/{ref}", status_code=204, summary="Forget a subscriber (GDPR)")
def forget_subscriber(
    ref: str, caller: KeyHolder = WRITE, site: Site = SITE, db: Session = DATABASE
) -> None:
    """Delete everything about the person; only a hash of the address stays on the suppression
    list, so they are never mailed again. Their clicks stay as counts only."""
    subscriber = _found(db, ref)
    _audit(db, caller, "subscriber.forget", subscriber, site)
    forget_person(db, subscriber, site.clock())
    db.commit()


@router.get("/tags", response_model=list[TagCount], summary="List tags")
def list_tags(caller: KeyHolder = READ, db: Session = DATABASE) -> list[TagCount]:
    """Every tag with how many subscribers have it, by name."""
    return [TagCount(name=name, subscribers=count) for name, count in registry.tag_counts(db)]


@router.get("/topics", response_model=list[TopicOut], summary="List the topics readers choose")
def list_topics(caller: KeyHolder = READ, site: Site = SITE) -> list[TopicOut]:
    """The configured topics, with their names per locale: what a signup form of your own
    offers (POST /subscribers with `tags` among them), as the subscribe form does."""
    config = site.project.config
    return [
        TopicOut(
            tag=tag, names={locale: config.topic_name(tag, locale)[0] for locale in config.locales}
        )
        for tag in sorted(config.topics)
    ]


def _audit(
    db: Session,
    caller: KeyHolder,
    action: str,
    subscriber: Subscriber,
    site: Site,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record the change in the audit log, in the transaction that makes it."""
    db.flush()  # A new subscriber gets its id.
    target = audit.subscriber_target(subscriber.id or 0)
    audit.record(db, audit.key_actor(caller), action, target, site.clock(), detail)


def _found(db: Session, ref: str) -> Subscriber:
    """The subscriber `ref` names (an id or an address); 404 when there is none."""
    subscriber = (
        db.get(Subscriber, int(ref)) if ref.isdigit() and len(ref) < 12 else registry.find(db, ref)
    )
    if subscriber is None:
        raise Refused(
            404, f"no subscriber {ref!r}", "GET /api/v1/subscribers?search=... to find one"
        )
    return subscriber


def _cell(value: str | int | float | bool | None) -> str:
    """An attribute value as a CSV cell holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cursor_after(last_id: int) -> str:
    """The opaque cursor of the page after the row `last_id`."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def after_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after; 400 for a cursor this API did not give."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    kind, _, number = text.partition(":")
    if kind != "id" or not number.isdigit() or len(number) > 12:
        raise Refused(400, "cursor: not one this API gave", "pass next_cursor as it came")
    return int(number)
