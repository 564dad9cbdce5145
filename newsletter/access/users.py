"""The dashboard's users: added with a role, their passwords hashed with argon2id, logged in
with an optional TOTP second factor, listed, removed.

    add_user       a new user (a name of 1 to 64 characters, a password of at least 12)
    set_password   a new password; every session of the user ends
    verify_login   the user a name, password (and code) belong to, or None: the same work and
                   the same answer for an unknown name as for a wrong password
    enable_totp    a new TOTP secret for a user (their authenticator app's codes from now on)
    remove_user    the user can no longer log in; every session ends
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.access.models import User
from newsletter.access.sessions import end_sessions_of
from newsletter.errors import NewsletterError, NotFoundError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
"""Longer passwords are refused before hashing: nobody types more, and hashing is costly."""
MAX_NAME = 64
TOTP_STEP = 30
"""Seconds per code, as authenticator apps count them."""
HASHER = PasswordHasher()
"""argon2id with argon2-cffi's defaults (RFC 9106's second recommendation); a stored hash
made with weaker parameters is replaced at the next login."""


class Role(StrEnum):
    """What a user may do on the dashboard; each role may do what the ones before it may."""

    VIEWER = "viewer"
    """Reads everything: subscribers, issues, sends, schedules, the audit log."""
    EDITOR = "editor"
    """Also test-sends issues and adds, pauses, resumes and cancels schedules."""
    ADMIN = "admin"
    """Also starts sends and manages subscribers, users and API keys."""

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


ROLE_HINT = "use one of " + ", ".join(role.value for role in Role)


@dataclass(frozen=True)
class Secret:
    """A user's new TOTP secret, and the otpauth:// URI an authenticator app reads (as a QR code)."""

    secret: str
    uri: str


def parse_role(given: str) -> Role:
    """The role named `given`; NewsletterError for an unknown one."""
    try:
        return Role(given.strip().lower())
    except ValueError:
        raise NewsletterError(f"{given!r} is not a role", hint=ROLE_HINT) from None


def add_user(engine: Engine, name: str, role: Role, password: str, now: datetime) -> User:
    """A new user named `name` with `role`; NewsletterError for a bad or taken name or a
    password too short."""
    name = _checked_name(name)
    password_hash = HASHER.hash(_checked_password(password))
    with Session(engine) as session:
        if session.exec(select(User).where(col(User.name) == name)).first() is not None:
            raise NewsletterError(
                f"there is a user {name!r} already",
                hint="choose another name (a removed user's name stays taken)",
            )
        user = User(name=name, role=role.value, password_hash=password_hash, created_at=now)
        session.add(user)
        session.commit()
        session.refresh(user)
        return user


def set_password(engine: Engine, name: str, password: str) -> User:
    """Give the user `name` a new password; every session they have ends."""
    password_hash = HASHER.hash(_checked_password(password))
    with Session(engine) as session:
        user = _found(session, name)
        user.password_hash = password_hash
        session.add(user)
        end_sessions_of(session, _id(user))
        session.commit()
        session.refresh(user)
        return user


def verify_login(engine: Engine, name: str, password: str, code: str, now: datetime) -> User | None:
    """The user whose name, password and (when they have TOTP) current code these are, or None
    for any mistake: which part was wrong is not said, and an unknown name costs a hash too."""
    with Session(engine) as session:
        user = session.exec(select(User).where(col(User.name) == name.strip())).first()
        if user is None or user.disabled_at is not None or len(password) > MAX_PASSWORD:
            # The same argon2 work as for a real user, so that timing tells no names apart.
            _password_matches(_dummy_hash(), password[:MAX_PASSWORD])
            return None
        if not _password_matches(user.password_hash, password):
            return None
        if user.totp_secret is not None:
            step = totp_step(user.totp_secret, code, now)
            if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
                return None  # A wrong code, or one already used (someone watched it typed).
            user.totp_last_step = step
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        session.add(user)
        session.commit()
        session.refresh(user)
        return user


def enable_totp(engine: Engine, name: str, issuer: str) -> Secret:
    """A new TOTP secret for `name` (replacing any former one): from now on, logging in also
    takes the current code of the authenticator app that read the URI."""
    secret = pyotp.random_base32()
    with Session(engine) as session:
        user = _found(session, name)
        user.totp_secret, user.totp_last_step = secret, None
        session.add(user)
        session.commit()
    uri = pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(name=name, issuer_name=issuer)
    return Secret(secret, uri)


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code `code` is (this one, the one before or after, for clocks a
    little apart), or None."""
    code = "".join(code.split())
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def list_users(engine: Engine) -> list[User]:
    """Every user, removed ones too, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(User).order_by(col(User.id))))


def remove_user(engine: Engine, name: str, now: datetime) -> User:
    """The user `name` can no longer log in, and every session they have ends at once."""
    with Session(engine) as session:
        user = _found(session, name)
        if user.disabled_at is None:
            user.disabled_at = now
            session.add(user)
        end_sessions_of(session, _id(user))
        session.commit()
        session.refresh(user)
        return user


def _checked_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable() or any(c.isspace() for c in name):
        raise NewsletterError(
            f"a user's name is 1 to {MAX_NAME} characters without spaces",
            hint="use a short login name such as ana or ana@example.org",
        )
    return name


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise NewsletterError(
            f"a password needs at least {MIN_PASSWORD} characters",
            hint="use a passphrase of several words, or a password manager's",
        )
    if len(password) > MAX_PASSWORD:
        raise NewsletterError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made once per process with the real parameters."""
    return HASHER.hash("not a password anyone has: it only makes an unknown name cost the same")


def _found(session: Session, name: str) -> User:
    user = session.exec(select(User).where(col(User.name) == name.strip())).first()
    if user is None:
        raise NotFoundError(f"no user {name!r}", hint="run `newsletter users list` to see them")
    return user


def _id(user: User) -> int:
    assert user.id is not None  # Read from the database.
    return user.id
