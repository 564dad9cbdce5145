"""A send as people follow it: where it stands, how far it got, what failed and what came back.

    sends_page     sends newest first, a page at a time (keyset: as fast on the last page)
    send_by_id     one send by its mailing's id
    progress_of    each send's deliveries by state and its phase (queueing its audience,
                   running, paused, waiting for its readers' local time, done): a few
                   index counts, cheap to poll
    send_status    one send's progress with its deliveries per locale and state
    send_details   that, the failures, and what `newsletter report ISSUE --json` says

The API (GET /api/v1/sends/{issue}) and the dashboard's send pages read sends through here, so
both show the same numbers. Sequence steps' mailings are sends too (`sequence:...`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from newsletter.deliver.models import FINAL, STEP_MAILINGS, DeliveryState, Mailing
from newsletter.deliver.report import counts, due_counts, failures, mailings_page, state_counts
from newsletter.errors import NotFoundError


class Phase(StrEnum):
    """Where a send stands."""

    QUEUEING = "queueing"
    """Its audience is being queued (workers send the parts already in); or that was
    interrupted, and resuming the send queues the rest."""
    RUNNING = "running"
    """Deliveries are due: `newsletter run` (or `send`) sends them, or retries them later."""
    PAUSED = "paused"
    """Paused: nothing more goes out until it is resumed."""
    WAITING = "waiting"
    """Every delivery left waits for its reader's local time."""
    DONE = "done"
    """Every delivery is final (sent, failed or skipped)."""


@dataclass(frozen=True)
class SendProgress:
    """A send's deliveries by state (every state, zeros too) and its phase."""

    mailing_id: int
    states: dict[str, int]
    phase: Phase

    @property
    def done(self) -> int:
        """Deliveries that are final."""
        return sum(self.states[state] for state in FINAL)

    @property
    def total(self) -> int:
        """All deliveries."""
        return sum(self.states.values())

    @property
    def percent(self) -> int:
        """Final deliveries per 100, rounded down: 100 only when the send is done (not while
        its audience is being queued, every delivery so far final or none queued yet)."""
        if self.phase is Phase.DONE:
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        """Whether nothing is left to send."""
        return self.phase is Phase.DONE

    def document(self) -> dict[str, Any]:
        """The progress as JSON: states, done, total, percent, phase, finished."""
        return {
            "id": self.mailing_id, "states": self.states, "done": self.done,
            "total": self.total, "percent": self.percent, "phase": self.phase.value,
            "finished": self.finished,
        }  # fmt: skip


@dataclass(frozen=True)
class SendStatus:
    """One send: its mailing, its progress, its deliveries per locale and state."""

    mailing: Mailing
    progress: SendProgress
    locales: dict[str, dict[str, int]]

    @property
    def states(self) -> dict[str, int]:
        """Deliveries per state, the states that have any."""
        return {state: n for state, n in self.progress.states.items() if n}

    @property
    def sequence_step(self) -> bool:
        """Whether the send is a sequence step's (`sequence:NAME/STEP@VERSION`), not an issue's."""
        return self.mailing.issue.startswith(STEP_MAILINGS)


@dataclass(frozen=True)
class Failure:
    """A delivery that failed: to whom (`(forgotten)` once they are), in which edition, how
    many attempts, and the server's last reply."""

    address: str
    locale: str
    attempts: int
    reply: str


@dataclass(frozen=True)
class SendDetails:
    """A send with its failures (the first `FAILURES_SHOWN`) and its report."""

    status: SendStatus
    failures: list[Failure]
    report: dict[str, Any]
    """What `newsletter report ISSUE --json` says: bounces, complaints, clicks per locale."""


FAILURES_SHOWN = 50


def sends_page(
    engine: Engine, before_id: int | None, limit: int, now: datetime
) -> tuple[list[tuple[Mailing, SendProgress]], int | None]:
    """Up to `limit` sends, newest first, older than the mailing `before_id` if given, each
    with its progress; and the id to go on before (None on the last page)."""
    found = mailings_page(engine, before_id, limit + 1)
    page = found[:limit]
    progress = progress_of(engine, page, now)
    following = page[-1].id if len(found) > limit else None
    return [(mailing, progress[mailing.id or 0]) for mailing in page], following


def send_by_id(engine: Engine, mailing_id: int) -> Mailing:
    """The send whose mailing has this id; NotFoundError if there is none."""
    with Session(engine) as session:
        mailing = session.get(Mailing, mailing_id)
    if mailing is None:
        raise NotFoundError(f"no send {mailing_id}", hint="the list of sends shows them")
    return mailing


def progress_of(
    engine: Engine, mailings: Sequence[Mailing], now: datetime
) -> dict[int, SendProgress]:
    """Each mailing's progress by id, in two grouped queries whatever their number."""
    ids = [mailing.id or 0 for mailing in mailings]
    states = state_counts(engine, ids)
    due = due_counts(engine, ids, now)
    found = {}
    for mailing in mailings:
        id_ = mailing.id or 0
        by_state = {state.value: states[id_].get(state, 0) for state in DeliveryState}
        unfinished = sum(by_state.values()) - sum(by_state[state] for state in FINAL)
        more = unfinished or mailing.queueing_since is not None
        if not more:
            phase = Phase.DONE
        elif mailing.paused_at is not None:
            phase = Phase.PAUSED
        elif mailing.queueing_since is not None:
            phase = Phase.QUEUEING
        elif not due.get(id_):
            phase = Phase.WAITING
        else:
            phase = Phase.RUNNING
        found[id_] = SendProgress(id_, by_state, phase)
    return found


def send_status(engine: Engine, mailing: Mailing, now: datetime) -> SendStatus:
    """The send's progress and its deliveries per locale and state (a few index counts)."""
    assert mailing.id is not None
    locales: dict[str, dict[str, int]] = {}
    for (locale, state), count in sorted(counts(engine, mailing.id).items()):
        locales.setdefault(locale, {})[state] = count
    return SendStatus(mailing, progress_of(engine, [mailing], now)[mailing.id], locales)


def send_details(
    engine: Engine, mailing: Mailing, now: datetime, shown: int = FAILURES_SHOWN
) -> SendDetails:
    """The send's status, its first `shown` failures (oldest first) and its report."""
    from newsletter.engagement.documents import document
    from newsletter.engagement.report import mailing_report

    assert mailing.id is not None
    return SendDetails(
        send_status(engine, mailing, now),
        [Failure(*failed) for failed in failures(engine, mailing.id, shown)],
        document(mailing_report(engine, mailing)),
    )
