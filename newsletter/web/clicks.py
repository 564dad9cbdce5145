"""The tracking links of sent issues: each request counted, then on to where the link goes.

    GET|HEAD /l/LINK             302 to the link's URL, as it stood in the sent issue
    GET|HEAD /l/LINK/DELIVERY    the same, from one reader's email (tracking = "individual")
    GET|HEAD /o/EDITION          the open pixel (open_tracking): a transparent 1x1 GIF
    GET|HEAD /o/EDITION/DELIVERY the same, from one reader's email

LINK, EDITION and DELIVERY are signed ids (deliver/tracking_ids.py): nobody can make one up, so
these routes lead nowhere but to the links of issues we sent, and count nothing else. Anything
malformed, truncated, altered, signed by another installation's key, unknown, or a delivery of
another mailing is 404 (the app's "not valid" page) and counts nothing. More than `click_limit`
requests a minute from one client address get 429 (Retry-After: 60) and count nothing either.

A request costs no database write: the click goes to the app's ClickRecorder (written in
batches by its own thread). Where a link leads, its Location made once (redirects.py:
`external_location`), comes from memory after its first click (a stored link never changes);
that first lookup runs in the thread pool, off the event loop. The answer has no body to
render: a Location, or the GIF.

A delivery is stored with a click only while `tracking = "individual"`: an email sent in that
mode keeps its links when the operator turns it off, and its clicks are then counted like
everyone's, with no reader.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.engagement.agents import agent_of, is_robot
from newsletter.engagement.clicks import ClickRecorder, ClientKeys
from newsletter.engagement.store import Click, LinkTarget, link_target
from newsletter.errors import NotFoundError
from newsletter.web.redirects import external_location
from newsletter.web.security import RateLimiter

log = logging.getLogger(__name__)

TRACKING_PATHS = re.compile(r"/[lo]/[^/]+(?:/[^/]+)?")
"""The whole paths these routes answer: their redirects alone may leave the site (redirects.py)."""
LIMIT_WINDOW = 60.0
"""Seconds over which `click_limit` counts one client address's requests."""
KEPT_LINKS = 20_000
"""Tracked links kept in memory (some 10 MB): a year of weekly issues of a hundred links each."""
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
"""A transparent 1x1 GIF, 43 bytes."""
# No cache may keep the answer (each request is a click), no search engine may index it, and the
# page a link leads to learns nothing of where it was clicked (the tracking URL names the issue).
HEADERS = {
    "Cache-Control": "no-store, private",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True)
class Destination:
    """A tracked link and the Location that leads to it (None: its URL cannot be one)."""

    target: LinkTarget
    location: str | None


class Destinations:
    """Where tracked links lead, by id, the most recently followed KEPT_LINKS of them kept in
    memory. A link never changes once stored, so what is kept is never stale; an id not found
    is looked up again next time (the database may have been restored since)."""

    def __init__(self, engine: Engine, size: int = KEPT_LINKS) -> None:
        self.engine = engine
        self.size = size
        self._kept: OrderedDict[int, Destination] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, link_id: int) -> Destination | None:
        """Where link `link_id` leads, from memory or (in the thread pool) the database; None
        when there is no such link."""
        with self._lock:
            kept = self._kept.get(link_id)
            if kept is not None:
                self._kept.move_to_end(link_id)
                return kept
        target = await run_in_threadpool(link_target, self.engine, link_id)
        if target is None:
            return None
        destination = Destination(target, external_location(target.url))
        with self._lock:
            self._kept[link_id] = destination
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return destination


@dataclass
class Tracking:
    """What the tracking routes of one app share (app.state.tracking)."""

    signer: LinkSigner
    destinations: Destinations
    recorder: ClickRecorder
    individual: bool
    """Whether a click is stored with its delivery (tracking = "individual")."""
    limiter: RateLimiter | None
    clock: Callable[[], datetime]
    keys: ClientKeys = field(init=False)

    def __post_init__(self) -> None:
        self.keys = ClientKeys(self.clock)

    def allow(self, request: Request) -> bool:
        """Count the request against its client address's limit; False when it is over."""
        return self.limiter is None or self.limiter.allow(_address(request))

    def record(
        self,
        request: Request,
        *,
        link_id: int = 0,
        mailing_id: int = 0,
        locale: str = "",
        delivery_id: int | None = None,
    ) -> None:
        """Keep a click of a link (`link_id`) or an open of an edition (`mailing_id`, `locale`)
        made by `request`; its delivery only while tracking is individual."""
        user_agent = request.headers.get("user-agent", "")
        click = Click(
            at=self.clock(),
            agent=agent_of(request.method, user_agent),
            client=self.keys.key_of(_address(request), user_agent),
            link_id=link_id,
            mailing_id=mailing_id,
            locale=locale,
            delivery_id=delivery_id if self.individual else None,
        )
        self.recorder.record(click)


def make_tracking(
    engine: Engine,
    secret: str,
    *,
    individual: bool,
    click_limit: int,
    clock: Callable[[], datetime],
    monotonic: Callable[[], float],
) -> Tracking:
    """The tracking routes' state for an app; `click_limit` 0 is no limit."""
    limiter = RateLimiter(click_limit, LIMIT_WINDOW, monotonic) if click_limit else None
    return Tracking(
        LinkSigner(secret), Destinations(engine), ClickRecorder(engine), individual, limiter, clock
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app runs, its clicks are written; when it stops, the last of them too."""
    tracking: Tracking = app.state.tracking
    tracking.recorder.start()
    # The robot patterns are compiled now, not in the first click's request.
    await run_in_threadpool(is_robot, "Mozilla/5.0")
    try:
        yield
    finally:
        await run_in_threadpool(tracking.recorder.close)


async def follow_link(request: Request) -> Response:
    """A link of an issue (/l/LINK), or of one reader's email (/l/LINK/DELIVERY): counted,
    then 302 to where it goes."""
    params = request.path_params
    return await _follow(request, params["link"], params.get("delivery"))


async def open_pixel(request: Request) -> Response:
    """The open pixel of an edition (/o/EDITION), or of one reader's email
    (/o/EDITION/DELIVERY): counted, then the GIF."""
    params = request.path_params
    return _open(request, params["edition"], params.get("delivery"))


# Starlette's routes rather than FastAPI's: they have no parameters to validate or document,
# and FastAPI's handling of a request (dependencies solved, the endpoint wrapped) costs about as
# much CPU again as the click's own work (measured as bench/clicks.py calls the app). The app's
# error handlers answer for them all the same.
ROUTES = [
    Route("/l/{link}", follow_link, methods=["GET", "HEAD"]),
    Route("/l/{link}/{delivery}", follow_link, methods=["GET", "HEAD"]),
    Route("/o/{edition}", open_pixel, methods=["GET", "HEAD"]),
    Route("/o/{edition}/{delivery}", open_pixel, methods=["GET", "HEAD"]),
]


def tracking_of(request: Request) -> Tracking:
    """The tracking state of the app that serves `request`."""
    tracking: Tracking = request.app.state.tracking
    return tracking


async def _follow(request: Request, link: str, delivery: str | None) -> Response:
    tracking = tracking_of(request)
    # Requests with ids that are not valid count against the limit too: a client that guesses
    # or replays ids is slowed down like one that floods a link, and a refused request costs
    # neither a signature check nor a lookup.
    if not tracking.allow(request):
        return _too_many()
    link_id = tracking.signer.link_of(link)
    destination = None if link_id is None else await tracking.destinations.get(link_id)
    if destination is None:
        raise NotFoundError("this link is not valid")
    target = destination.target
    delivery_id = None
    if delivery is not None:
        delivery_id = tracking.signer.delivery_of(target.mailing_id, delivery)
        if delivery_id is None:
            raise NotFoundError("this link is not valid")
    if destination.location is None:
        log.warning("tracked link %d: %r cannot be a redirect's Location", target.id, target.url)
        raise NotFoundError("this link is not valid")
    tracking.record(request, link_id=target.id, delivery_id=delivery_id)
    return Response(status_code=302, headers={"Location": destination.location, **HEADERS})


def _open(request: Request, edition: str, delivery: str | None) -> Response:
    tracking = tracking_of(request)
    if not tracking.allow(request):  # Counted first, like links (see _follow).
        return _too_many()
    found = tracking.signer.edition_of(edition)
    if found is None:
        raise NotFoundError("this link is not valid")
    mailing_id, locale = found
    delivery_id = None
    if delivery is not None:
        delivery_id = tracking.signer.delivery_of(mailing_id, delivery)
        if delivery_id is None:
            raise NotFoundError("this link is not valid")
    tracking.record(request, mailing_id=mailing_id, locale=locale, delivery_id=delivery_id)
    return Response(PIXEL, media_type="image/gif", headers=HEADERS)


def _too_many() -> Response:
    return Response(
        "Too many requests: try again in a minute.\n",
        status_code=429,
        media_type="text/plain",
        headers={"Retry-After": str(int(LIMIT_WINDOW)), "Cache-Control": "no-store"},
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else ""
