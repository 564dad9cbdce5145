"""A send paused and resumed, from any process: the CLI, the API and the dashboard.

pause_send    workers claim nothing more of it, in every process
resume_send   it goes on; the rest of an audience whose queueing was interrupted is
              queued first, as the mailing recorded it
queue_rest_of_send  that rest queued, and nothing else (a pause stays)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.sends import find_send

if TYPE_CHECKING:  # Imported where used, as in sends.py: the CLI lists its commands first.
    from datetime import datetime

    from sqlalchemy import Engine

    from newsletter.config import Project
    from newsletter.deliver.models import Mailing


def pause_send(
    project: Project, engine: Engine, name: str, now: datetime, *, slug_only: bool = False
) -> Mailing:
    """Pause the send of the issue called `name` (or of a sequence step's mailing): workers
    claim nothing more of it, in every process; the messages in flight finish."""
    from newsletter.deliver.sending import set_paused

    mailing = find_send(project, engine, name, slug_only=slug_only)
    assert mailing.id is not None
    if mailing.paused_at is None:
        set_paused(engine, mailing.id, now)
        mailing.paused_at = now
    return mailing


def resume_send(
    project: Project, engine: Engine, name: str, now: datetime, *, slug_only: bool = False
) -> tuple[Mailing, int]:
    """Let a paused send go on, and queue the rest of its audience if that was interrupted:
    `newsletter run` (or `send --resume`) delivers the rest. The mailing as it is now, and
    how many readers were added to it."""
    return _queue_rest(project, engine, name, now, slug_only=slug_only, unpause=True)


def queue_rest_of_send(
    project: Project, engine: Engine, name: str, now: datetime
) -> tuple[Mailing, int]:
    """Queue the rest of the send's audience if its queueing was interrupted (a queueing that
    goes on meanwhile makes this add no one twice); a pause stays. The mailing as it is now,
    and how many readers were added."""
    return _queue_rest(project, engine, name, now, slug_only=False, unpause=False)


def _queue_rest(
    project: Project, engine: Engine, name: str, now: datetime, *, slug_only: bool, unpause: bool
) -> tuple[Mailing, int]:
    from newsletter.deliver.audience import interrupted_audience, queue_rest
    from newsletter.deliver.report import find_mailing
    from newsletter.deliver.sending import set_paused

    mailing = find_send(project, engine, name, slug_only=slug_only)
    assert mailing.id is not None
    rest = interrupted_audience(mailing)  # Read (or refused) before anything changes.
    if unpause and mailing.paused_at is not None:
        set_paused(engine, mailing.id, None)
        mailing.paused_at = None
    added = queue_rest(engine, mailing, rest, now)
    if rest is not None:  # Its mark, as the queueing left it.
        mailing = find_mailing(engine, mailing.issue) or mailing
    return mailing, added
