"""Signed links for confirm, unsubscribe and preferences pages (itsdangerous).

A token names one subscriber and is salted with its purpose: a confirmation token cannot
unsubscribe, and one subscriber's token cannot act on another. It is also bound to the
address: a subscriber whose address changed (or a reused id) invalidates old tokens.
Confirmation tokens expire; unsubscribe links in old emails keep working, as they must.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from newsletter.errors import NewsletterError
from newsletter.subscribers.models import Subscriber

PURPOSES = ("confirm", "unsubscribe", "preferences")
CONFIRM_MAX_AGE = 7 * 24 * 3600
MIN_SECRET_LENGTH = 16


class InvalidToken(NewsletterError):
    """A link that was tampered with, has expired, or belongs to another purpose or subscriber."""


@dataclass(frozen=True)
class Tokens:
    """Makes and checks tokens with one secret key."""

    secret: str

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise NewsletterError(
                "NEWSLETTER_SECRET_KEY is missing or shorter than 16 characters",
                hint="export NEWSLETTER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            )

    def make(self, purpose: str, subscriber: Subscriber) -> str:
        """A token for `purpose` that only `subscriber` can use."""
        assert subscriber.id is not None
        return self.make_for(purpose, subscriber.id, subscriber.email_key)

    def make_for(self, purpose: str, subscriber_id: int, email_key: str) -> str:
        """A token for `purpose` for the subscriber with this id and address key."""
        return self._serializer(purpose).dumps([subscriber_id, _binding(email_key)])

    def subscriber(self, session: Session, purpose: str, token: str) -> Subscriber:
        """The subscriber a valid token names; InvalidToken otherwise."""
        serializer = self._serializer(purpose)
        try:
            value = serializer.loads(
                token, max_age=CONFIRM_MAX_AGE if purpose == "confirm" else None
            )
        except SignatureExpired as error:
            raise InvalidToken(
                "this link has expired", hint="subscribe again to get a new confirmation link"
            ) from error
        except BadSignature as error:
            raise InvalidToken(
                "this link is not valid", hint="use the link exactly as it came in the email"
            ) from error
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
            raise InvalidToken("this link is not valid")
        found = session.get(Subscriber, value[0])
        if found is None or _binding(found.email_key) != value[1]:
            raise InvalidToken("this link is not valid any more")
        return found

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        return _serializer(self.secret, purpose)


class _KeptKeySigner(TimestampSigner):
    """A signer that derives its key once, not at every signature."""

    @functools.cached_property
    def _key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._key if secret_key is None else super().derive_key(secret_key)


class _Serializer(URLSafeTimedSerializer):
    """URLSafeTimedSerializer with one signer kept for its salt (same tokens, made faster):
    a send makes two tokens for every recipient."""

    default_signer = _KeptKeySigner

    @functools.cached_property
    def _signer(self) -> TimestampSigner:
        return super().make_signer(self.salt)  # type: ignore[return-value]

    def make_signer(self, salt: str | bytes | None = None) -> TimestampSigner:
        if salt is None or salt == self.salt:
            return self._signer
        return super().make_signer(salt)  # type: ignore[return-value]


@functools.lru_cache(maxsize=16)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    """One serializer per key and purpose."""
    return _Serializer(secret, salt=f"newsletter.{purpose}")


def _binding(key: str) -> str:
    """A short digest of the address inside the token (the address itself is not disclosed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def page_url(base_url: str, purpose: str, token: str) -> str:
    """The public URL of the page for `purpose`: /confirm/TOKEN, /unsubscribe/TOKEN, /preferences/TOKEN."""
    return f"{base_url}/{purpose}/{token}"
