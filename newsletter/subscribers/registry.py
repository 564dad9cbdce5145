"""Subscribers one at a time: add, find, tag, confirm, unsubscribe, suppress, export and forget.

Every change of consent is recorded as a ConsentEvent (when, how, from where). Functions take a
Session and `now`, and leave committing to the caller, so a command or a request is one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func
from sqlmodel import Session, col, select

from newsletter.characters import forbidden_character
from newsletter.errors import NewsletterError
from newsletter.locales import match_locale
from newsletter.subscribers.addresses import (
    InvalidAddress,
    address_hash,
    address_hashes,
    address_key,
    normalize_address,
)
from newsletter.subscribers.models import (
    STATUSES,
    SUBSCRIBER,
    ConsentEvent,
    Subscriber,
    SubscriberTag,
    Suppression,
    Tag,
)
from newsletter.subscribers.search_index import containing
from newsletter.timezones import InvalidTimeZone, time_zone

MAX_NAME = 200
MAX_TAGS = 50
MAX_ATTRIBUTES = 100


@dataclass(frozen=True)
class Profile:
    """What a person tells us about themselves: validated before it is stored."""

    address: str
    key: str
    name: str
    locale: str
    timezone: str
    tags: tuple[str, ...]


class InvalidProfile(NewsletterError):
    """A value a person gave that cannot be stored; `field` names it (email, name, locale...)."""

    def __init__(self, field: str, problem: str, hint: str) -> None:
        super().__init__(f"{field}: {problem}", hint=hint)
        self.field, self.problem = field, problem

    def __reduce__(self) -> tuple[type[InvalidProfile], tuple[object, ...]]:
        return (type(self), (self.field, self.problem, self.hint))


def make_profile(
    email: str,
    name: str,
    locale: str | None,
    timezone: str | None,
    tags: Iterable[str],
    locales: Sequence[str],
    default_locale: str,
    default_timezone: str,
) -> Profile:
    """A validated profile; InvalidProfile naming the field when a value is not acceptable.

    Whitespace in a name (line breaks and tabs too) becomes single spaces; any other control
    character, in any field, is refused rather than stored.
    """
    try:
        address, key = normalize_address(email)
    except InvalidAddress as error:
        problem = f"{email!r} is not a valid address: {error}"
        raise InvalidProfile("email", problem, "check the address") from error
    try:
        chosen = match_locale(locale, locales) if locale else default_locale
    except ValueError as error:
        raise InvalidProfile("locale", str(error), "use one of " + ", ".join(locales)) from error
    if chosen not in locales:
        problem = f"{chosen!r} is not one of the newsletter's locales"
        raise InvalidProfile("locale", problem, "use one of " + ", ".join(locales))
    try:
        zone = time_zone(timezone or default_timezone, "timezone")
    except InvalidTimeZone as error:
        hint = "use a name such as Europe/Berlin or Asia/Tokyo"
        raise InvalidProfile("timezone", error.problem, hint) from None
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidProfile("name", f"longer than {MAX_NAME} characters", "shorten the name")
    if control := forbidden_character(name):
        raise InvalidProfile("name", control, "remove it from the name")
    clean_tags = tuple(dict.fromkeys(tag.strip()[:100] for tag in tags if tag.strip()))
    for tag in clean_tags:
        if control := forbidden_character(tag):
            raise InvalidProfile("tags", f"{tag!r} {control}", "remove it from the tag")
    if len(clean_tags) > MAX_TAGS:
        problem = f"{len(clean_tags)} tags, at most {MAX_TAGS}"
        raise InvalidProfile("tags", problem, "use fewer tags")
    return Profile(address, key, name, chosen, zone, clean_tags)


def find(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (any spelling), or None."""
    if forbidden_character(email):
        return None  # No address holds one; a query with a NUL would fail on PostgreSQL.
    return session.exec(
        select(Subscriber).where(Subscriber.email_key == address_key(email.strip()))
    ).first()


def is_suppressed(session: Session, key: str) -> bool:
    """Whether the address with this key must never be mailed."""
    return any(session.get(Suppression, digest) is not None for digest in address_hashes(key))


def suppress(session: Session, key: str, reason: str, now: datetime) -> None:
    """Put an address on the suppression list (keeping the first reason it got there for)."""
    if not is_suppressed(session, key):
        session.add(Suppression(email_hash=address_hash(key), reason=reason, at=now))


def add(
    session: Session, profile: Profile, *, status: str, method: str, source: str, now: datetime
) -> Subscriber:
    """A new subscriber; NewsletterError when the address exists or is suppressed."""
    if control := forbidden_character(source):
        raise InvalidProfile("source", control, "remove it from the consent source")
    if status not in ("pending", "active"):
        raise NewsletterError(f"status: a new subscriber is pending or active, not {status!r}")
    existing = find(session, profile.address)
    if existing is not None:
        raise NewsletterError(
            f"{profile.address} is already a subscriber ({existing.status})",
            hint="use `newsletter subscribers show` to see it",
        )
    if is_suppressed(session, profile.key):
        raise NewsletterError(
            f"{profile.address} is on the suppression list and cannot be added again",
            hint="the address unsubscribed, bounced or asked to be forgotten",
        )
    subscriber = Subscriber(
        email=profile.address, email_key=profile.key, name=profile.name, locale=profile.locale, timezone=profile.timezone, status=status,
        consent_at=now, consent_method=method, consent_source=source[:500], confirmed_at=now if status == "active" else None, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(subscriber)
    session.flush()
    set_tags(session, subscriber, profile.tags)
    record(session, subscriber, "subscribe" if status == "pending" else "add", method, source, now)
    return subscriber


def record(
    session: Session,
    subscriber: Subscriber,
    kind: str,
    method: str,
    source: str,
    now: datetime,
    **details: Any,
) -> None:
    """Append a consent event to the subscriber's history."""
    assert subscriber.id is not None
    session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            kind=kind,
            at=now,
            method=method,
            source=source[:500],
            details=details,
        )
    )


def tags_of(session: Session, subscriber: Subscriber) -> list[str]:
    """The subscriber's tags, sorted."""
    rows = session.exec(
        select(Tag.name)
        .join(SubscriberTag, col(SubscriberTag.tag_id) == col(Tag.id))
        .where(SubscriberTag.subscriber_id == subscriber.id)
    )
    return sorted(rows)


def tags_by_subscriber(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The tags of each of these subscribers, sorted, in one query (a page of a list)."""
    found: dict[int, list[str]] = {id_: [] for id_ in ids}
    rows = session.exec(
        select(SubscriberTag.subscriber_id, Tag.name)
        .join(Tag, col(SubscriberTag.tag_id) == col(Tag.id))
        .where(col(SubscriberTag.subscriber_id).in_(list(ids)))
    )
    for id_, name in rows:
        found[id_].append(name)
    return {id_: sorted(names) for id_, names in found.items()}


def tag_counts(session: Session) -> list[tuple[str, int]]:
    """Every tag and how many subscribers have it, by name."""
    # Counted per tag id over the tag index alone (it holds the tag id), then named.
    counted = dict(
        iter(
            session.exec(
                select(SubscriberTag.tag_id, func.count()).group_by(col(SubscriberTag.tag_id))
            )
        )
    )
    names = session.exec(select(Tag.id, Tag.name).order_by(col(Tag.name)))
    return [(name, counted.get(id_ or 0, 0)) for id_, name in names]


def status_counts(session: Session) -> dict[str, int]:
    """How many subscribers have each status (every status listed, 0 for those none has)."""
    # Most of a list is active: counted as all rows (SQLite counts a table's rows without
    # reading them: 10 ms at a million, where GROUP BY status took 110) less the other
    # statuses, each a range of the status index; in one statement.
    others = [status for status in STATUSES if status != "active"]
    counts = [select(func.count()).select_from(Subscriber)] + [
        select(func.count()).where(Subscriber.status == status) for status in others
    ]
    total, *found = session.exec(select(*(count.scalar_subquery() for count in counts))).one()
    by_status = dict(zip(others, found, strict=True))
    return {
        status: total - sum(found) if status == "active" else by_status[status]
        for status in STATUSES
    }


def set_tags(session: Session, subscriber: Subscriber, tags: Iterable[str]) -> None:
    """Give the subscriber exactly these tags (creating tags that do not exist yet)."""
    wanted = set(tags)
    session.exec(delete(SubscriberTag).where(col(SubscriberTag.subscriber_id) == subscriber.id))
    for name in sorted(wanted):
        tag = session.exec(select(Tag).where(Tag.name == name)).first()
        if tag is None:
            tag = Tag(name=name)
            session.add(tag)
            session.flush()
        assert tag.id is not None and subscriber.id is not None
        session.add(SubscriberTag(subscriber_id=subscriber.id, tag_id=tag.id))


def confirm(session: Session, subscriber: Subscriber, *, source: str, now: datetime) -> bool:
    """Activate a pending subscriber (double opt-in); False when there was nothing to confirm."""
    if subscriber.status != "pending" or is_suppressed(session, subscriber.email_key):
        return False
    subscriber.status, subscriber.confirmed_at, subscriber.updated_at = "active", now, now
    record(session, subscriber, "confirm", "link", source, now)
    return True


def unsubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    method: str,
    source: str,
    now: datetime,
    reason: str = "unsubscribed",
) -> bool:
    """Stop all mail to the subscriber and suppress the address; False if already done."""
    changed = subscriber.status not in ("unsubscribed", "bounced", "complained")
    if changed:
        subscriber.status = reason if reason in STATUSES else "unsubscribed"
        subscriber.unsubscribed_at = subscriber.updated_at = now
        record(session, subscriber, reason, method, source, now)
    suppress(session, subscriber.email_key, reason, now)
    return changed


def update_preferences(
    session: Session,
    subscriber: Subscriber,
    *,
    locale: str,
    timezone: str,
    tags: Iterable[str],
    source: str,
    now: datetime,
    method: str = "form",
) -> list[str]:
    """Change language, time zone and tags, recording what changed; the fields that did."""
    before = {
        "locale": subscriber.locale,
        "timezone": subscriber.timezone,
        "tags": tags_of(session, subscriber),
    }
    subscriber.locale, subscriber.timezone, subscriber.updated_at = locale, timezone, now
    set_tags(session, subscriber, tags)
    after = {"locale": locale, "timezone": timezone, "tags": sorted(set(tags))}
    changes = {
        field: [before[field], after[field]] for field in before if before[field] != after[field]
    }
    if changes:
        record(session, subscriber, "preferences", method, source, now, changes=changes)
    return sorted(changes)


def update_details(
    session: Session,
    subscriber: Subscriber,
    *,
    name: str | None,
    attributes: Mapping[str, Any] | None,
    method: str,
    source: str,
    now: datetime,
) -> list[str]:
    """Change the name and attributes given (None: as they are), recording what changed; the
    fields that did. InvalidProfile for a name or attributes that are not acceptable."""
    if attributes is not None:
        check_attributes(attributes)
    changes: dict[str, Any] = {}
    if name is not None:
        name = " ".join(name.split())
        if len(name) > MAX_NAME:
            raise InvalidProfile("name", f"longer than {MAX_NAME} characters", "shorten the name")
        if control := forbidden_character(name):
            raise InvalidProfile("name", control, "remove it from the name")
        if name != subscriber.name:
            changes["name"] = [subscriber.name, name]
            subscriber.name = name
    if attributes is not None and attributes != subscriber.attributes:
        changes["attributes"] = [subscriber.attributes, attributes]
        subscriber.attributes = dict(attributes)
    if changes:
        subscriber.updated_at = now
        record(session, subscriber, "update", method, source, now, changes=changes)
    return sorted(changes)


def check_attributes(attributes: Mapping[str, Any]) -> None:
    """InvalidProfile unless the attributes are what a CSV import would store: at most
    MAX_ATTRIBUTES, each named (no control character in the name) and each text value free of
    control characters but tabs and line breaks."""
    if len(attributes) > MAX_ATTRIBUTES:
        problem = f"{len(attributes)} attributes, at most {MAX_ATTRIBUTES}"
        raise InvalidProfile("attributes", problem, "remove some")
    for key, value in attributes.items():
        if not key.strip():
            raise InvalidProfile("attributes", "an attribute has no name", "name it")
        if wrong := forbidden_character(key):
            raise InvalidProfile("attributes", f"the name {key!r} {wrong}", "rename it")
        if isinstance(value, str) and (wrong := forbidden_character(value, multiline=True)):
            raise InvalidProfile("attributes", f"{key}: {wrong}", "remove it from the value")


def search(
    session: Session,
    text: str = "",
    *,
    status: str | None = None,
    tag: str | None = None,
    locale: str | None = None,
    limit: int = 100,
    offset: int = 0,
    after_id: int | None = None,
    created_since: datetime | None = None,
) -> list[Subscriber]:
    """Subscribers whose address or name contains `text` (search_index.py says how exactly),
    filtered, oldest first; `after_id` pages by id (keyset: as fast on the thousandth page as
    on the first)."""
    if forbidden_character(text):
        return []  # No address or name holds one (they are refused when stored).
    query = select(Subscriber)
    by_id: ColumnElement[int] = SUBSCRIBER.c.id
    if text and (key := _whole_address(text)) is not None:
        query = query.where(col(Subscriber.email_key) == key)  # One index lookup.
    elif text:
        query, by_id = containing(session.connection(), query, text)
    if status:
        query = query.where(Subscriber.status == status)
    if locale:
        query = query.where(Subscriber.locale == locale)
    if after_id is not None:
        query = query.where(by_id > after_id)
    if created_since is not None:
        query = query.where(col(Subscriber.created_at) >= created_since)
    if tag:
        # EXISTS, not a join: subscribers are read in id order and each checked by the tag
        # table's primary key, so a page stops at its last row instead of sorting every holder.
        tagged = (
            select(SubscriberTag.subscriber_id)
            .join(Tag, col(Tag.id) == col(SubscriberTag.tag_id))
            .where(col(SubscriberTag.subscriber_id) == col(Subscriber.id), Tag.name == tag)
        )
        query = query.where(tagged.exists())
    return list(session.exec(query.order_by(by_id).offset(offset).limit(limit)))


def _whole_address(text: str) -> str | None:
    """The comparison key of `text` when it is a whole address (search finds that subscriber
    by the unique index); None for anything else, which is looked for as part of one."""
    if "@" not in text or any(character.isspace() for character in text.strip()):
        return None
    try:
        return normalize_address(text)[1]
    except InvalidAddress:
        return None


def personal_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about one person (the answer to a GDPR access request)."""
    events = session.exec(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(col(ConsentEvent.id))
    )
    data = subscriber.model_dump(exclude={"id", "email_key"})
    data = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in data.items()
    }
    data["tags"] = tags_of(session, subscriber)
    data["consent_events"] = [
        {
            "kind": event.kind,
            "at": event.at.isoformat(),
            "method": event.method,
            "source": event.source,
            "details": event.details,
        }
        for event in events
    ]
    return data


def forget(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """Delete everything about the person; only the suppression hash stays, so they are never mailed again."""
    suppress(session, subscriber.email_key, "forgotten", now)
    session.delete(subscriber)
