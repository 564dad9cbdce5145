"""The dashboard's subscribers: search them, read one, unsubscribe one.

GET  /admin/subscribers?q=&status=&after=   viewer   50 at a time, by id (keyset pages)
GET  /admin/subscribers/ID                  viewer   details, consent history, deliveries
POST /admin/subscribers/ID/unsubscribe      admin    as the reader's own link does, audited
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.access import audit
from newsletter.access.audit import subscriber_target
from newsletter.access.users import Role
from newsletter.deliver.report import deliveries_of
from newsletter.errors import NotFoundError
from newsletter.subscribers import registry
from newsletter.subscribers.models import STATUSES, Subscriber
from newsletter.web.admin.auth import PATH, Admin, require_role
from newsletter.web.admin.layout import render
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
    )


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def subscriber_page(
    request: Request,
    subscriber_id: int,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = SITE,
    db: Session = DATABASE,
) -> HTMLResponse:
    """One subscriber: what is stored about them, their consent history and their deliveries."""
    subscriber = _found(db, subscriber_id)
    return render(
        request,
        site,
        "subscriber",
        admin,
        subscriber=subscriber,
        data=registry.personal_data(db, subscriber),
        deliveries=deliveries_of(site.engine, subscriber_id),
        can_unsubscribe=admin.may(Role.ADMIN)
        and subscriber.status not in ("unsubscribed", "bounced", "complained"),
    )


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
    return Response(status_code=303, headers={"Location": f"{PATH}/subscribers/{subscriber_id}"})


def _found(db: Session, subscriber_id: int) -> Subscriber:
    subscriber = db.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFoundError(f"no subscriber {subscriber_id}")
    return subscriber
