"""Changing a subscriber's fields on an operator's request (the API's PATCH, the dashboard's
form): every value checked before any is stored, each change in the consent history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber


@dataclass(frozen=True)
class Changes:
    """What to change of a subscriber: None (or "" for the language and the time zone) keeps
    a field as it is; tags and attributes replace all of them."""

    name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    tags: Sequence[str] | None = None
    attributes: Mapping[str, Any] | None = None


def change(
    session: Session,
    subscriber: Subscriber,
    wanted: Changes,
    *,
    locales: Sequence[str],
    default_locale: str,
    method: str,
    source: str,
    now: datetime,
) -> list[str]:
    """Change the fields `wanted` gives (the API's PATCH, the dashboard's form), recording what
    changed in the consent history; the names of the fields that did. Every value is checked
    before any is stored: InvalidProfile names the first that is not acceptable."""
    profile = registry.make_profile(
        subscriber.email, subscriber.name if wanted.name is None else wanted.name,
        wanted.locale or subscriber.locale, wanted.timezone or subscriber.timezone,
        registry.tags_of(session, subscriber) if wanted.tags is None else wanted.tags,
        locales, default_locale, subscriber.timezone,
    )  # fmt: skip
    if wanted.attributes is not None:
        registry.check_attributes(wanted.attributes)
    changed = registry.update_preferences(
        session, subscriber, locale=profile.locale, timezone=profile.timezone, tags=profile.tags,
        source=source, now=now, method=method,
    )  # fmt: skip
    changed += registry.update_details(
        session, subscriber, name=None if wanted.name is None else profile.name,
        attributes=wanted.attributes, method=method, source=source, now=now,
    )  # fmt: skip
    return sorted(changed)
