"""Signed links for confirm, unsubscribe and preferences pages (itsdangerous).

A token names one subscriber and is salted with its purpose: a confirmation token cannot
unsubscribe, and one subscriber's token cannot act on another. It is also bound to the
address: a subscriber whose address changed (or a reused id) invalidates old tokens.
Confirmation tokens expire; unsubscribe links in old emails keep working, as they must.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.signer import HMACAlgorithm
from sqlmodel import Session

from newsletter.errors import NewsletterError
from newsletter.subscribers.addresses import key_spellings
from newsletter.subscribers.models import Subscriber

PURPOSES = ("confirm", "unsubscribe", "preferences")
CONFIRM_MAX_AGE = 7 * 24 * 3600
MIN_SECRET_LENGTH = 16


class InvalidToken(NewsletterError):
    """A link that was tampered with, has expired, or belongs to another purpose or subscriber."""


def check_secret_key(secret: str, signs: str = "") -> None:
    """NewsletterError when NEWSLETTER_SECRET_KEY is missing or too short to sign anything
    (`signs`: what it would sign, for the message)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise NewsletterError(
            f"NEWSLETTER_SECRET_KEY is missing or shorter than {MIN_SECRET_LENGTH} characters"
            + (f"; it signs {signs}" if signs else ""),
            hint="export NEWSLETTER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )


@dataclass(frozen=True)
class Tokens:
    """Makes and checks tokens with one secret key."""

    secret: str

    def __post_init__(self) -> None:
        check_secret_key(self.secret)

    def make(self, purpose: str, subscriber: Subscriber) -> str:
        """A token for `purpose` that only `subscriber` can use."""
        assert subscriber.id is not None
        return self.make_for(purpose, subscriber.id, subscriber.email_key)

    def make_for(self, purpose: str, subscriber_id: int, email_key: str) -> str:
        """A token for `purpose` for the subscriber with this id and address key.

        `ID.BINDING.TIMESTAMP.SIGNATURE`: the payload is URL-safe as it is, so it is signed as
        it is (no JSON, no compression); a send makes two of these for every recipient.
        """
        return _signer(self.secret, purpose).sign(f"{subscriber_id}.{_binding(email_key)}").decode()

    def subscriber(self, session: Session, purpose: str, token: str) -> Subscriber:
        """The subscriber a valid token names; InvalidToken otherwise."""
        try:
            value = _signer(self.secret, purpose).unsign(
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
        subscriber_id, _, binding = value.decode("ascii", "replace").partition(".")
        if not subscriber_id.isdigit():
            raise InvalidToken("this link is not valid")
        found = session.get(Subscriber, int(subscriber_id))
        if found is None or binding not in map(_binding, key_spellings(found.email_key)):
            raise InvalidToken("this link is not valid any more")
        return found


class _OneShotHMAC(HMACAlgorithm):
    """HMAC-SHA1 with the standard library's one-shot C function (the same bytes as before)."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _KeptKeySigner(TimestampSigner):
    """A signer that derives its key once, not at every signature."""

    @functools.cached_property
    def _key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._key if secret_key is None else super().derive_key(secret_key)


@functools.lru_cache(maxsize=16)
def _signer(secret: str, purpose: str) -> TimestampSigner:
    """One signer per key and purpose; the purpose salts the key."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return _KeptKeySigner(secret, salt=f"newsletter.{purpose}", algorithm=_OneShotHMAC())


def _binding(key: str) -> str:
    """A short digest of the address inside the token (the address itself is not disclosed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def page_url(base_url: str, purpose: str, token: str) -> str:
    """The public URL of the page for `purpose`: /confirm/TOKEN, /unsubscribe/TOKEN, /preferences/TOKEN."""
    return f"{base_url}/{purpose}/{token}"
