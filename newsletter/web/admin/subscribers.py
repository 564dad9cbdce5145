"""The dashboard's subscribers: search them, read one, change, unsubscribe or forget one.

GET  /admin/subscribers?q=&status=&after=   viewer   50 at a time, by id (keyset pages)
GET  /admin/subscribers/ID                  viewer   details, consent history, deliveries
POST /admin/subscribers/ID/edit             admin    as the API's PATCH (subscribers/changes.py)
POST /admin/subscribers/ID/unsubscribe      admin    as the reader's own link does
POST /admin/subscribers/ID/forget           admin    the GDPR erasure of the CLI and the API,
                                                     once the address is typed to confirm it

Each change is audited in its transaction, the subscriber named by id only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.access import audit
from newsletter.access.audit import subscriber_target
from newsletter.access.users import Role
from newsletter.deliver.report import deliveries_of
from newsletter.engagement.people import forget_person
from newsletter.errors import NotFoundError
from newsletter.subscribers import changes, registry
from newsletter.subscribers.addresses import address_key
from newsletter.subscribers.models import STATUSES, Subscriber
from newsletter.subscribers.registry import InvalidProfile
from newsletter.timezones import time_zones
from newsletter.web.admin.auth import PATH, Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.admin.subscriber_form import EditForm, posted_form, stored_form
from newsletter.web.site import Site, current_site, database

router = APIRouter()
SITE = Depends(current_site)
DATABASE = Depends(database)
PAGE = 50


@router.get("/subscribers", response_class=HTMLResponse)
def search(
    request: Request,
    q: Annotated[str, Query(max_length=320)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    after: Annotated[int | None, Query(ge=0)] = None,
    forgotten: Annotated[bool, Query()] = False,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = SITE,
    db: Session = DATABASE,
) -> HTMLResponse:
    """Subscribers whose address or name holds `q`, with `status` if given, PAGE at a time."""
    chosen = status if status in STATUSES else ""
    found = registry.search(db, q.strip(), status=chosen or None, after_id=after, limit=PAGE + 1)
    page = found[:PAGE]
    return render(
        request,
        site,
        "subscribers",
        admin,
        q=q,
        chosen_status=chosen,
        statuses=STATUSES,
        subscribers=page,
        next_after=page[-1].id if len(found) > PAGE else None,
        forgotten=forgotten,
    )


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def subscriber_page(
    request: Request,
    subscriber_id: int,
    saved: Annotated[bool, Query()] = False,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = SITE,
    db: Session = DATABASE,
) -> HTMLResponse:
    """One subscriber: what is stored about them, their consent history and their deliveries;
    for admins, the forms that change, unsubscribe and forget them."""
    return _page(request, site, admin, db, _found(db, subscriber_id), saved=saved)


@router.post("/subscribers/{subscriber_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    subscriber_id: int,
    name: Annotated[str, Form()] = "",
    locale: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    tags: list[str] = Form(default_factory=list),
    key: list[str] = Form(default_factory=list),
    value: list[str] = Form(default_factory=list),
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
    db: Session = DATABASE,
) -> Response:
    """Change name, language, time zone, topics and attributes as the API's PATCH does; a
    value that cannot be stored is shown at its field (422) and nothing changes."""
    subscriber = _found(db, subscriber_id)
    config, who, now = site.project.config, admin.user.name, site.clock()
    form = posted_form(
        name, locale, timezone, tags, key, value, topics=list(config.topics),
        stored=subscriber.attributes,
    )  # fmt: skip
    if not form.field:
        try:
            changed = changes.change(
                db, subscriber, form.changes(_kept_tags(site, db, subscriber)),
                locales=config.locales, default_locale=config.default_locale, method="admin",
                source=f"admin:{who}", now=now,
            )  # fmt: skip
        except InvalidProfile as error:
            db.rollback()
            form = form.refused(error)
    if form.field:
        return _page(request, site, admin, db, subscriber, status=422, form=form)
    if changed:
        # The names of the fields, not their values: the log keeps no personal data.
        audit.record(
            db, who, "subscriber.change", subscriber_target(subscriber_id), now,
            {"subscriber_id": subscriber_id, "fields": changed},
        )  # fmt: skip
    db.commit()
    return _back_to(subscriber_id, "?saved=1")


@router.post("/subscribers/{subscriber_id}/unsubscribe")
def unsubscribe(
    subscriber_id: int,
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
    db: Session = DATABASE,
) -> Response:
    """Stop all mail to the subscriber and suppress the address; back to their page."""
    subscriber = _found(db, subscriber_id)
    now = site.clock()
    who = admin.user.name
    changed = registry.unsubscribe(db, subscriber, method="admin", source=f"admin:{who}", now=now)
    audit.record(
        db, who, "subscriber.unsubscribe", subscriber_target(subscriber_id), now,
        {"subscriber_id": subscriber_id, "changed": changed},
    )  # fmt: skip
    db.commit()
    return _back_to(subscriber_id)


@router.post("/subscribers/{subscriber_id}/forget", response_class=HTMLResponse)
def forget(
    request: Request,
    subscriber_id: int,
    address: Annotated[str, Form()] = "",
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
    db: Session = DATABASE,
) -> Response:
    """Erase the person (GDPR) as `subscribers forget` does, once their address was typed to
    confirm it (else the page again, 422, nothing done); on to the list."""
    subscriber = _found(db, subscriber_id)
    if address_key(address.strip()) != subscriber.email_key:
        return _page(request, site, admin, db, subscriber, status=422, forget_refused=True)
    now = site.clock()
    forget_person(db, subscriber, now)
    audit.record(
        db, admin.user.name, "subscriber.forget", subscriber_target(subscriber_id), now,
        {"subscriber_id": subscriber_id},
    )  # fmt: skip
    db.commit()
    return Response(status_code=303, headers={"Location": f"{PATH}/subscribers?forgotten=1"})


def _page(
    request: Request,
    site: Site,
    admin: Admin,
    db: Session,
    subscriber: Subscriber,
    *,
    status: int = 200,
    form: EditForm | None = None,
    saved: bool = False,
    forget_refused: bool = False,
) -> HTMLResponse:
    """The subscriber's page; an admin's with the forms (`form` as posted, if it was)."""
    data = registry.personal_data(db, subscriber)
    may_change = admin.may(Role.ADMIN)
    if form is None and may_change:
        form = stored_form(
            subscriber.name, subscriber.locale, subscriber.timezone, data["tags"],
            subscriber.attributes,
        )  # fmt: skip
    config = site.project.config
    return render(
        request, site, "subscriber", admin, status=status, subscriber=subscriber, data=data,
        deliveries=deliveries_of(site.engine, subscriber.id or 0), saved=saved,
        can_unsubscribe=may_change
        and subscriber.status not in ("unsubscribed", "bounced", "complained"),
        form=form if may_change else None, forget_refused=forget_refused,
        languages=site.languages, timezones=time_zones(),
        topics=site.topics(config.topics, site.browser_locale(request)),
        kept_tags=_kept_tags(site, db, subscriber),
    )  # fmt: skip


def _kept_tags(site: Site, db: Session, subscriber: Subscriber) -> list[str]:
    """The subscriber's tags that are no topic: the operator's own, which the form keeps."""
    return [
        tag for tag in registry.tags_of(db, subscriber) if tag not in site.project.config.topics
    ]


def _back_to(subscriber_id: int, query: str = "") -> Response:
    return Response(
        status_code=303, headers={"Location": f"{PATH}/subscribers/{subscriber_id}{query}"}
    )


def _found(db: Session, subscriber_id: int) -> Subscriber:
    subscriber = db.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFoundError(f"no subscriber {subscriber_id}")
    return subscriber
