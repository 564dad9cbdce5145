"""Who clicked: a person, or a machine that follows links for someone (a scanner).

Mail security gateways, link checkers and preview fetchers follow the links of a message before
a person does, or instead of one; counted as readers, they make every link of every issue look
read. A click of a mailing is a *scanner click* when one of these holds, and a *human click*
otherwise:

1. its agent is `robot` (the client said it is a robot, scanner or preview fetcher): reason
   `robot`; or `head` (a HEAD request: link checkers ask for the headers only): reason `head`;
2. it is on the honeypot link of an edition (position 0: hidden, no person sees it):
   reason `honeypot`;
3. its client (a non-empty client key) followed the honeypot link of the same mailing:
   reason `honeypot_client`;
4. its client (non-empty) followed at least 3 distinct links of the mailing within 5 seconds,
   the first and the last of them at most 5 seconds apart: no person reads that fast, a link
   scanner opens every link at once: reason `burst`.

A scanner click counts under the first reason that holds, in this order, so the reasons add up
to the scanner clicks. Rules 3 and 4 judge a client, so they make every click of that client on
the mailing a scanner click, before the honeypot or the burst and after. A client key is a hash
of the address and user agent under a key of the day, so a client is known for one day at
most: a reader who comes back the next day is a new client. A click without a client key (`""`)
is judged by rules 1 and 2 alone. A person who opens three links in new tabs within 5 seconds
is counted as a scanner: the rule errs on the side of fewer human clicks.

Rules 1 to 3 are one SQL CASE per click (`reason_column`: the honeypot clients are a subquery).
Rule 4 needs each client's clicks in time order, which SQL cannot judge simply and portably, so
`classify` judges it in Python over (client, at, link) rows streamed in client and time order,
holding the clicks of one client at a time.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import ColumnElement, and_, case, select

from newsletter.engagement.models import HONEYPOT, LINK_CLICK, TRACKED_LINK

REASONS = ("robot", "head", "honeypot", "honeypot_client", "burst")
"""Why a click is a scanner click, in the order the rules are tried."""
BURST_LINKS = 3
BURST_WINDOW = timedelta(seconds=5)


@dataclass(frozen=True)
class ClickRow:
    """One click of a mailing as the classification reads it."""

    client: str
    at: datetime
    link_id: int
    reason: str
    """The reason of rules 1 to 3 (from SQL), "" when none holds."""


def reason_column(mailing_id: int) -> ColumnElement[str]:
    """The reason rules 1 to 3 give a click of `mailing_id` ("" for none), for a query that
    joins link_click to tracked_link."""
    honeypot_clients = (
        select(LINK_CLICK.c.client)
        .join(TRACKED_LINK, TRACKED_LINK.c.id == LINK_CLICK.c.link_id)
        .where(
            TRACKED_LINK.c.mailing_id == mailing_id,
            TRACKED_LINK.c.position == HONEYPOT,
            LINK_CLICK.c.client != "",
        )
    )
    return case(
        (LINK_CLICK.c.agent == "robot", "robot"),
        (LINK_CLICK.c.agent == "head", "head"),
        (TRACKED_LINK.c.position == HONEYPOT, "honeypot"),
        (
            and_(LINK_CLICK.c.client != "", LINK_CLICK.c.client.in_(honeypot_clients)),
            "honeypot_client",
        ),
        else_="",
    )


def clicks_query(mailing_id: int) -> Any:
    """Every click of the mailing as (client, at, link_id, reason), ordered as `classify`
    needs them: by client, then time."""
    return (
        select(
            LINK_CLICK.c.client,
            LINK_CLICK.c.at,
            LINK_CLICK.c.link_id,
            reason_column(mailing_id).label("reason"),
        )
        .join(TRACKED_LINK, TRACKED_LINK.c.id == LINK_CLICK.c.link_id)
        .where(TRACKED_LINK.c.mailing_id == mailing_id)
        .order_by(LINK_CLICK.c.client, LINK_CLICK.c.at, LINK_CLICK.c.id)
    )


def classify(rows: Iterable[ClickRow]) -> Iterator[tuple[ClickRow, str]]:
    """Each click with its reason ("" for a human click), rule 4 added to the reasons of rules 1
    to 3. `rows` come ordered by client, then time; one client's clicks are held at a time."""
    for client, group in groupby(rows, key=attrgetter("client")):
        if not client:  # No client to judge: each click by what it is.
            for row in group:
                yield row, row.reason
            continue
        clicks = list(group)
        burst = is_burst(clicks)
        for row in clicks:
            yield row, row.reason or ("burst" if burst else "")


def is_burst(clicks: Iterable[ClickRow]) -> bool:
    """Whether clicks in time order hold BURST_LINKS distinct links within BURST_WINDOW."""
    window: deque[ClickRow] = deque()
    links: Counter[int] = Counter()
    for click in clicks:
        window.append(click)
        links[click.link_id] += 1
        while click.at - window[0].at > BURST_WINDOW:
            gone = window.popleft()
            links[gone.link_id] -= 1
            if not links[gone.link_id]:
                del links[gone.link_id]
        if len(links) >= BURST_LINKS:
            return True
    return False
