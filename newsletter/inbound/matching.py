"""Tying a notice to the delivery it is about, or saying why it cannot be tied to any.

Strongest reference first:

    verp         the signed return path the report came back to (deliver/return_path.py)
    message-id   our Message-ID `<uid.id@domain>` in the returned headers, its mailing's uid
                 matching the delivery's mailing
    recipient    the subscriber with that address, and their latest sent delivery
    token        a mailto unsubscribe's signed token (subscribers/tokens.py)

A return path of ours that does not check (forged, or signed with another key) ends the
matching: it is recorded unmatched, whatever else the report names. Only a match may change a
subscriber (the policy, inbound/policy.py); nothing here writes.

Message-IDs and addresses are not signed: anyone can write a bounce that names them. So once
return paths are on (`bounce_address`), a report by mail acts only by its signed return path
(or an unsubscribe by its signed token); one that names a delivery by Message-ID or recipient
alone is recorded unmatched, with the delivery it names in its reason, and kept for a human.
A provider's webhook whose signature checked (`authenticated`) vouches for its events. With
return paths off, a mailed report acts only when two unsigned references agree: our Message-ID
and the recipient, naming the same reader (docs/bounces.md says why to turn return paths on).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from newsletter.characters import forbidden_character
from newsletter.deliver.models import DELIVERY, MAILING, Delivery, DeliveryState
from newsletter.deliver.return_path import ReturnPaths
from newsletter.inbound.notices import Kind, Notice
from newsletter.subscribers.addresses import address_key
from newsletter.subscribers.bulk import chunks
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import InvalidToken, Tokens

_MESSAGE_ID = re.compile(r"<?\s*([A-Za-z0-9_-]{1,64})\.([1-9][0-9]{0,17})@([^<>@\s]{1,255})\s*>?")
MAX_ADDRESS = 320


@dataclass(frozen=True)
class Match:
    """The delivery (and its mailing and subscriber) a notice is about, and how it was found;
    `matched_by` is "none" and `reason` says why when it is about none of ours."""

    matched_by: str
    delivery_id: int | None = None
    mailing_id: int | None = None
    subscriber_id: int | None = None
    reason: str = ""
    locale: str = ""
    """The delivery's locale ("" without a delivery)."""

    @property
    def matched(self) -> bool:
        """Whether the notice was tied to one of our deliveries (or subscribers, by token)."""
        return self.matched_by != "none"


@dataclass(frozen=True)
class Matcher:
    """Matches notices with the keys of one newsletter: its return paths, tokens and domain."""

    return_paths: ReturnPaths | None
    tokens: Tokens | None
    sender_domain: str

    def match(
        self,
        session: Session,
        notice: Notice,
        *,
        authenticated: bool = False,
        deliveries: Deliveries | None = None,
    ) -> Match:
        """The delivery `notice` is about, by the strongest reference it carries that may act:
        `authenticated` when its source proved who sent it (a webhook's signature).
        `deliveries`: those read already in this transaction (`prefetch`)."""
        if notice.kind is Kind.UNSUBSCRIBE and (notice.unsubscribe_token or not authenticated):
            return self._by_token(session, notice.unsubscribe_token)
        deliveries = deliveries or Deliveries(session.connection())
        verp = self._by_verp(deliveries, notice.verp)
        if verp is not None:
            return verp
        found = self._by_message_id(session, deliveries, notice) or self._by_recipient(
            session, deliveries, notice.recipient
        )
        if not found.matched or authenticated:
            return found
        if self.return_paths is not None:
            return Match(
                "none",
                reason=f"not signed: its {found.matched_by} names delivery {found.delivery_id}, "
                "but with bounce_address set only a signed return path acts",
            )
        # No return paths: two unsigned references must agree. Our Message-IDs are
        # <uid.id@domain>, and every reader sees the uid and sequential ids: a Message-ID alone
        # would let any reader bounce the whole list.
        named = _subscriber_of(session, notice.recipient)
        if (
            found.matched_by == "message-id"
            and named is not None
            and named.id == found.subscriber_id
        ):
            return found
        return Match(
            "none",
            reason=f"not signed: its {found.matched_by} names delivery {found.delivery_id}, but "
            "without return paths (bounce_address) a report acts only when our Message-ID and "
            "the recipient both name that delivery's reader",
        )

    def prefetch(self, deliveries: Deliveries, notices: Iterable[Notice]) -> None:
        """Read the deliveries the return paths of `notices` name, all at once."""
        if self.return_paths is not None:
            named = (deliveries.signed(self.return_paths, notice.verp) for notice in notices)
            deliveries.load(delivery_id for delivery_id in named if delivery_id is not None)

    def _by_verp(self, deliveries: Deliveries, verp: str) -> Match | None:
        """The match a return path makes; None when it is none of ours (look further)."""
        if self.return_paths is None or not verp:
            return None
        delivery_id = deliveries.signed(self.return_paths, verp)
        if delivery_id is None:
            if _looks_like_ours(self.return_paths, verp):
                return Match("none", reason="forged return path: its signature does not check")
            return None
        delivery = deliveries.get(delivery_id)
        if delivery is None:
            return Match("none", reason=f"return path of delivery {delivery_id}, since deleted")
        return _of(delivery, "verp")

    def _by_message_id(
        self, session: Session, deliveries: Deliveries, notice: Notice
    ) -> Match | None:
        """The sent delivery our Message-ID names, or None (look further)."""
        found = _MESSAGE_ID.fullmatch(notice.message_id.strip()) if notice.message_id else None
        if found is None or found.group(3).lower().rstrip(".") != self.sender_domain.lower():
            return None
        uid, delivery_id = found.group(1), int(found.group(2))
        delivery = deliveries.get(delivery_id)
        if delivery is None or delivery.uid != uid or delivery.state != DeliveryState.SENT:
            return None
        # A Message-ID is not signed (every reader sees their own): one that names another
        # subscriber than the recipient the report names is not believed.
        named = _subscriber_of(session, notice.recipient)
        if named is not None and named.id != delivery.subscriber_id:
            return Match("none", reason="the Message-ID and the recipient name different people")
        return _of(delivery, "message-id")

    def _by_recipient(self, session: Session, deliveries: Deliveries, recipient: str) -> Match:
        if not recipient:
            return Match("none", reason="no return path, Message-ID or recipient of ours")
        subscriber = _subscriber_of(session, recipient)
        if subscriber is None:
            return Match("none", reason="no subscriber has the recipient's address")
        latest = session.exec(
            select(Delivery.id)
            .where(Delivery.subscriber_id == subscriber.id, Delivery.state == DeliveryState.SENT)
            .order_by(col(Delivery.sent_at).desc(), col(Delivery.id).desc())
            .limit(1)
        ).first()
        delivery = deliveries.get(latest) if latest is not None else None
        if delivery is None:
            return Match("none", reason="the recipient was never sent a mailing")
        return _of(delivery, "recipient")

    def _by_token(self, session: Session, token: str) -> Match:
        if self.tokens is None:
            return Match("none", reason="no NEWSLETTER_SECRET_KEY to check unsubscribe tokens")
        if not token or len(token) > 500 or forbidden_character(token):
            return Match("none", reason="an unsubscribe request without a token")
        try:
            subscriber = self.tokens.subscriber(session, "unsubscribe", token)
        except InvalidToken as error:
            return Match("none", reason=f"unsubscribe token: {error.message}")
        latest = session.exec(
            select(Delivery.id, Delivery.mailing_id, Delivery.locale)
            .where(Delivery.subscriber_id == subscriber.id, Delivery.state == DeliveryState.SENT)
            .order_by(col(Delivery.id).desc())
            .limit(1)
        ).first()
        if latest is None:
            return Match("token", subscriber_id=subscriber.id)
        delivery_id, mailing_id, locale = latest
        return Match("token", delivery_id, mailing_id, subscriber.id, locale=locale)


class _Delivery(NamedTuple):
    id: int
    mailing_id: int
    subscriber_id: int | None
    state: str
    locale: str
    uid: str
    """Its mailing's uid (in its Message-ID)."""


_DELIVERIES = sql_select(
    DELIVERY.c.id, DELIVERY.c.mailing_id, DELIVERY.c.subscriber_id, DELIVERY.c.state,
    DELIVERY.c.locale, MAILING.c.uid,
).join_from(DELIVERY, MAILING, DELIVERY.c.mailing_id == MAILING.c.id)  # fmt: skip


@dataclass
class Deliveries:
    """The deliveries one transaction's notices name, each read once (a batch of a hundred
    reports in one query), and the return paths already checked."""

    connection: Connection
    _known: dict[int, _Delivery | None] = field(default_factory=dict)
    _signed: dict[str, int | None] = field(default_factory=dict)

    def load(self, delivery_ids: Iterable[int]) -> None:
        """Read these deliveries (those not read yet) with their mailings' uids."""
        missing = sorted(set(delivery_ids) - self._known.keys())
        for part in chunks(missing):
            for row in self.connection.execute(_DELIVERIES.where(DELIVERY.c.id.in_(part))):
                self._known[row.id] = _Delivery(*row)
            for delivery_id in part:
                self._known.setdefault(delivery_id, None)

    def get(self, delivery_id: int) -> _Delivery | None:
        """The delivery with this id and its mailing's uid, or None."""
        if delivery_id not in self._known:
            self.load([delivery_id])
        return self._known[delivery_id]

    def signed(self, return_paths: ReturnPaths, verp: str) -> int | None:
        """The delivery a return path names when its signature checks (checked once)."""
        if verp not in self._signed:
            self._signed[verp] = return_paths.delivery_of(verp) if verp else None
        return self._signed[verp]


def _of(delivery: _Delivery, matched_by: str) -> Match:
    return Match(
        matched_by, delivery.id, delivery.mailing_id, delivery.subscriber_id,
        locale=delivery.locale,
    )  # fmt: skip


def _looks_like_ours(return_paths: ReturnPaths, address: str) -> bool:
    """Whether `address` is on our bounce mailbox with an extension (a return path's shape)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return domain.rstrip(".") == return_paths.domain and local.startswith(return_paths.prefix + "+")


def _subscriber_of(session: Session, recipient: str) -> Subscriber | None:
    """The subscriber whose address (any spelling) is `recipient`, or None."""
    recipient = recipient.strip().strip("<>").strip()
    if not recipient or len(recipient) > MAX_ADDRESS or forbidden_character(recipient):
        return None
    return session.exec(
        select(Subscriber).where(Subscriber.email_key == address_key(recipient))
    ).first()
