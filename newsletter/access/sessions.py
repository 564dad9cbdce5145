"""Dashboard sessions: a random id in the browser's cookie, its SHA-256 in admin_session.

start_session     a new session for a user who just logged in (never one the browser
                  brought: a session id planted before login is not promoted)
resume_session    the user a session id belongs to while it lasts: 12 hours since it was last
                  used, 7 days at most however active it is
end_session       logging out
end_sessions_of   every session of a user (their password changed, they were removed)
form_token        the CSRF token of a session's forms: an HMAC of its id, so a token is good
                  for that session only and is never stored
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, update
from sqlmodel import Session, col, select

from newsletter.access.models import AdminSession, User

IDLE = timedelta(hours=12)
ABSOLUTE = timedelta(days=7)
SEEN_RECORDED_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often (not one write per page)."""
MAX_ID = 100
"""Longer cookie values are not looked up (ids are 43 characters)."""


def start_session(engine: Engine, user_id: int, now: datetime) -> str:
    """A new session id for `user_id` (shown to the browser only); expired sessions go."""
    session_id = secrets.token_urlsafe(32)
    with Session(engine) as session:
        session.execute(
            delete(AdminSession).where(
                or_(
                    col(AdminSession.expires_at) <= now,
                    col(AdminSession.last_seen_at) <= now - IDLE,
                )
            )
        )
        session.add(
            AdminSession(
                digest=_digest(session_id),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + ABSOLUTE,
            )
        )
        session.commit()
    return session_id


def resume_session(engine: Engine, session_id: str, now: datetime) -> User | None:
    """The user of `session_id` if the session is still open and they have not been removed."""
    if not session_id or len(session_id) > MAX_ID:
        return None
    with Session(engine) as session:
        found = session.exec(
            select(AdminSession, User)
            .join(User, col(User.id) == col(AdminSession.user_id))
            .where(col(AdminSession.digest) == _digest(session_id))
        ).first()
        if found is None:
            return None
        record, user = found
        if now >= record.expires_at or now - record.last_seen_at >= IDLE:
            return None
        if user.disabled_at is not None:
            return None
        if now - record.last_seen_at >= SEEN_RECORDED_EVERY:
            session.execute(
                update(AdminSession)
                .where(col(AdminSession.digest) == record.digest)
                .values(last_seen_at=now)
            )
            session.commit()
            session.refresh(user)
        return user


def end_session(engine: Engine, session_id: str) -> None:
    """Forget the session `session_id`: its cookie opens nothing any more."""
    with Session(engine) as session:
        session.execute(delete(AdminSession).where(col(AdminSession.digest) == _digest(session_id)))
        session.commit()


def end_sessions_of(session: Session, user_id: int) -> None:
    """Delete every session of `user_id`, in the caller's transaction."""
    session.execute(delete(AdminSession).where(col(AdminSession.user_id) == user_id))


def form_token(secret: str, session_id: str) -> str:
    """The CSRF token of the forms of the session `session_id`."""
    key = hmac.new(secret.encode(), b"newsletter.admin.csrf", hashlib.sha256).digest()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()


def form_token_valid(secret: str, session_id: str, token: str) -> bool:
    """Whether `token` is the CSRF token of `session_id` (compared in constant time)."""
    return hmac.compare_digest(form_token(secret, session_id), token)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
