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
    from newsletter.deliver.sending import resume_mailing

    return resume_mailing(engine, find_send(project, engine, name, slug_only=slug_only), now)


def queue_rest_of_send(
    project: Project, engine: Engine, name: str, now: datetime
) -> tuple[Mailing, int]:
    """Queue the rest of the send's audience if its queueing was interrupted (a queueing that
    goes on meanwhile makes this add no one twice); a pause stays. The mailing as it is now,
    and how many readers were added."""
    from newsletter.deliver.sending import resume_mailing

    return resume_mailing(engine, find_send(project, engine, name), now, unpause=False)
