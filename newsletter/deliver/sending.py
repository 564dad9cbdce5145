"""A send from start to finish, and the sends that touch no outbox (test sends, dry runs).

    start_mailing  the issue's mailing with its rendered editions; its audience queued
    deliver        workers (in this process, or one child process per SMTP connection) until
                   every delivery is final, waiting out retries (not local times: those are
                   `newsletter run`'s); a stop leaves the rest queued
    send_test      one message per (address, edition) to any address, with sample values
    preview        who a send would reach, per locale, without writing anything

The editions come rendered (render/ made them); nothing here renders Markdown.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime, make_msgid
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_any
from typing import Any

from sqlalchemy import Engine, select, update

from newsletter.audience.targets import Target
from newsletter.config import Config
from newsletter.db import OUTAGE, create_db_engine, through_outage, utcnow
from newsletter.deliver.audience import (
    LocalTime,
    Prepare,
    audience,
    audience_record,
    enqueue_audience,
    interrupted_audience,
    open_mailing,
    queue_rest,
)
from newsletter.deliver.compose import Content, MessageTemplate, Recipient
from newsletter.deliver.halt import Halt
from newsletter.deliver.journal import journal_folder, recover_abandoned
from newsletter.deliver.models import MAILING, Mailing, MailingEdition
from newsletter.deliver.outbox import RetryPolicy
from newsletter.deliver.report import find_mailing, pending
from newsletter.deliver.report import progress as progress_of
from newsletter.deliver.signing import signer_for
from newsletter.deliver.smtp import Outcome
from newsletter.deliver.transports import Limits, Transport, transport_limits
from newsletter.deliver.wakeup import announce
from newsletter.deliver.worker import Job, run_job, sender_of
from newsletter.errors import DatabaseGone, NewsletterError
from newsletter.render.merge import sample_fields, sample_values

log = logging.getLogger(__name__)
POLL = 0.5
TOLD = 100
"""Characters of the audience a mailing records (mailing.tag)."""


@dataclass(frozen=True)
class Progress:
    """Where a send stands: deliveries final out of all, and the next retry if it is waiting."""

    done: int
    total: int
    waiting_until: datetime | None = None
    paused: bool = False
    """The send was paused: nothing more goes out until it is resumed."""


def start_mailing(
    engine: Engine,
    issue: str,
    editions: Sequence[Content],
    *,
    commit: str,
    dirty: bool,
    to: Target | None,
    default_locale: str,
    now: datetime,
    local_time: LocalTime | None = None,
    prepare: Prepare | None = None,
) -> tuple[Mailing, int]:
    """The issue's mailing (made now with these editions, given to `prepare` before they are
    stored; or the one made before) and how many
    subscribers were added to its audience (0 when everyone already is in it); with
    `local_time`, each delivery is due at that wall-clock time in the subscriber's zone."""
    # Made as being queued: a send stopped before its audience is all in is not done.
    mailing = store_mailing(
        engine, issue, editions, commit=commit, dirty=dirty, told=audience_told(to), now=now,
        prepare=prepare, queueing=audience_record(to, local_time, default_locale),
    )  # fmt: skip
    added = enqueue_audience(
        engine, mailing, default_locale=default_locale, to=to, now=now, local_time=local_time
    )
    log.info("mailing %s (%s): %d recipients added", issue, mailing.commit or "no commit", added)
    return mailing, added


def store_mailing(
    engine: Engine,
    issue: str,
    editions: Sequence[Content],
    *,
    commit: str,
    dirty: bool,
    told: str,
    now: datetime,
    prepare: Prepare | None = None,
    queueing: str = "",
) -> Mailing:
    """The mailing called `issue`: made now with these editions (given to `prepare` before they
    are stored), or the one made before; `told` is what it shows of its audience; with
    `queueing` (the audience_record of an audience), a new one is marked as having that
    audience queued (enqueue_audience ends it)."""
    made = Mailing(
        issue=issue, uid=secrets.token_hex(8), commit=commit, dirty=dirty, tag=told,
        created_at=now, queueing_since=now if queueing else None, audience=queueing,
    )  # fmt: skip
    stored = [
        MailingEdition(
            mailing_id=0,  # Set when the mailing is stored.
            locale=e.locale,
            subject=e.subject,
            web_url=e.web_url,
            html=e.html,
            text=e.text,
        )
        for e in editions
    ]
    return open_mailing(engine, made, stored, prepare)


def deliver(
    job: Job, *, stop: Callable[[], bool], progress: Callable[[Progress], None] | None = None
) -> Progress:
    """Deliver the job's mailing until every delivery is final, or waits for its reader's
    local time, or `stop()`; where it ended. Retries are waited out."""
    limits = transport_limits(job.config.transport_url)
    journals = journal_folder(job.root, job.config)  # Checked before any worker starts.
    policy = RetryPolicy(job.config.retry_delay, job.config.max_attempts)
    engine = create_db_engine(job.database_url)
    report = _reporter(engine, job.mailing_id, progress)
    reported = 0.0

    def batch_done(_: int) -> None:
        # Counting a large send's deliveries takes milliseconds: at most once a POLL.
        nonlocal reported
        if time.monotonic() - reported >= POLL:
            reported = time.monotonic()
            report(None)

    try:
        while True:
            # What dead workers journaled is recorded, then their claims are queued again.
            recover_abandoned(engine, journals, job.mailing_id, policy, utcnow())
            if limits.connections == 1:
                run_job(replace(job, rate=limits.rate), stop, batch_done)
            else:
                # No SQLite connection may be open across fork(): the children would inherit
                # SQLite's per-process lock state (and die or corrupt it). Reopened after.
                engine.dispose()
                _run_children(job, limits, stop, report)
            # Deliveries waiting for their reader's local time are left to `newsletter run`.
            remaining, due = pending(engine, job.mailing_id, utcnow())
            if remaining == 0 or stop():
                return report(None)
            if paused_since(engine, job.mailing_id) is not None:
                return report(None, paused=True)
            if due is not None and due <= utcnow():
                continue  # Due since the workers finished: go again.
            # Retries are due later, or another process holds the claims left: wait.
            report(due)
            deadline = time.monotonic() + ((due - utcnow()).total_seconds() if due else 1.0)
            while (left := deadline - time.monotonic()) > 0 and not stop():
                time.sleep(min(POLL, left))
    finally:
        engine.dispose()


def set_paused(engine: Engine, mailing_id: int, paused_at: datetime | None) -> None:
    """Pause the mailing from `paused_at` (workers claim nothing more of it; the messages in
    flight finish), or resume it (None)."""
    with engine.begin() as connection:
        connection.execute(
            update(MAILING).where(MAILING.c.id == mailing_id).values(paused_at=paused_at)
        )
        if paused_at is None:
            announce(connection)


def resume_mailing(
    engine: Engine, mailing: Mailing, now: datetime, *, unpause: bool = True
) -> tuple[Mailing, int]:
    """The rest of the mailing's audience queued if its queueing was interrupted (as the
    mailing recorded it; a record that cannot be read is refused before anything changes),
    and, with `unpause`, the mailing resumed. The mailing as it is now, and how many readers
    were added."""
    assert mailing.id is not None
    rest = interrupted_audience(mailing)
    if unpause and mailing.paused_at is not None:
        set_paused(engine, mailing.id, None)
        mailing.paused_at = None
    added = queue_rest(engine, mailing, rest, now)
    if rest is not None:  # Its mark, as the queueing left it.
        mailing = find_mailing(engine, mailing.issue) or mailing
    return mailing, added


def paused_since(engine: Engine, mailing_id: int) -> datetime | None:
    """When the mailing was paused; None while it is not."""
    with engine.connect() as connection:
        found: datetime | None = connection.execute(
            select(MAILING.c.paused_at).where(MAILING.c.id == mailing_id)
        ).scalar()
        return found


def _reporter(
    engine: Engine, mailing_id: int, progress: Callable[[Progress], None] | None
) -> Callable[..., Progress]:
    """A function that reads the mailing's counts and hands them to `progress`.

    While the database server is away (a restart, a failover), the counts last read stand:
    the workers wait for it (db.through_outage), and this process goes on watching them,
    up to OUTAGE; without counts yet, it waits too.
    """
    last: Progress | None = None
    away_since: float | None = None

    def counts() -> tuple[int, int]:
        nonlocal away_since
        try:
            found = progress_of(engine, mailing_id)
        except DatabaseGone as error:
            if last is None:
                return through_outage(lambda: progress_of(engine, mailing_id), "counting")
            if away_since is None:
                away_since = time.monotonic()
                log.warning("%s; the send waits for it", error)
            if time.monotonic() - away_since > OUTAGE:
                raise
            return last.done, last.total
        away_since = None
        return found

    def report(waiting_until: datetime | None, paused: bool = False) -> Progress:
        nonlocal last
        last = Progress(*counts(), waiting_until, paused)
        if progress:
            progress(last)
        return last

    return report


def _run_children(
    job: Job,
    limits: Limits,
    stop: Callable[[], bool],
    report: Callable[[datetime | None], Progress],
) -> None:
    """One worker process per connection; this process watches them and reports progress."""
    context = multiprocessing.get_context("fork")
    halt = Halt(context)  # Not an Event: see deliver/halt.py.
    # Each worker its own pipe for its error, not one queue: a queue's lock stays taken by a
    # worker killed while writing to it, and the others would block on it for good.
    errors = [context.Pipe(duplex=False) for _ in range(limits.connections)]
    share = replace(job, rate=limits.rate, connections=limits.connections, parent=os.getpid())
    children = [
        context.Process(target=_child, args=(share, halt, writer), daemon=True)
        for _, writer in errors
    ]
    # What this process has made lives as long as the workers: out of their collections (each
    # full one walked it all), and not copied by them (see service/pool.py's workers).
    gc.freeze()
    for child in children:
        child.start()
    try:
        while running := [child.sentinel for child in children if child.is_alive()]:
            if stop():
                halt.set()
            report(None)
            wait_for_any(running, timeout=POLL)
    finally:
        halt.set()
        for child in children:
            child.join()
        for _, writer in errors:
            writer.close()
    if said := [text for text in map(_said, (reader for reader, _ in errors)) if text]:
        raise NewsletterError(said[0], hint="fix it, then run the same send with --resume")
    if failed := [child.exitcode for child in children if child.exitcode != 0]:
        # A worker that died without a word (killed, out of memory): stop rather than loop.
        raise NewsletterError(
            f"a delivery worker stopped unexpectedly (exit status {failed[0]})",
            hint="see the log, then run the same send with --resume",
        )


def _child(job: Job, halt: Halt, errors: Connection) -> None:
    """A worker process: stops when the parent says so or is gone; errors go to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which halts us.
    try:
        run_job(job, halt.is_set)
    except NewsletterError as error:
        errors.send(str(error)[:SAID])
        sys.exit(1)
    except Exception as error:
        log.exception("delivery worker %d failed", os.getpid())
        errors.send(f"a delivery worker failed: {type(error).__name__}: {error}"[:SAID])
        sys.exit(1)


SAID = 2000
"""The longest error a worker hands its parent: the pipe holds it while the parent waits."""


def _said(reader: Connection) -> str:
    """The error a finished worker wrote to its pipe; '' for none, or one cut by a kill."""
    try:
        return str(reader.recv()) if reader.poll() else ""
    except (EOFError, OSError):
        return ""
    finally:
        reader.close()


# -- Sends without an outbox --------------------------------------------------------------------


def send_test(
    config: Config,
    secrets: dict[str, str] | Any,
    transport: Transport,
    editions: Sequence[Content],
    addresses: Sequence[str],
) -> list[tuple[str, str, Outcome]]:
    """Each edition to each address with sample reader values, `[TEST]` in the subject."""
    sender = sender_of(config)
    signer = signer_for(config, secrets)
    date = format_datetime(utcnow())
    sent = []
    for edition in editions:
        template = MessageTemplate(edition, sender, test=True)
        values = sample_values(config.base_url, edition.web_url)
        samples = sample_fields(field.name for field in template.fields)
        for address in addresses:
            recipient = Recipient(
                email=address,
                name=values["name"],
                message_id=make_msgid(domain=sender.domain),
                unsubscribe_url=values["unsubscribe_url"],
                preferences_url=values["preferences_url"],
                unsubscribe_token="preview",
            )
            message: bytes = template.fill(recipient, date, samples)
            if signer is not None:
                message = signer.sign(message)
            sent.append((address, edition.locale, transport.send(sender.address, address, message)))
    return sent


def preview(
    engine: Engine, locales: Sequence[str], *, default_locale: str, to: Target | None
) -> dict[str, int]:
    """How many subscribers a send would reach now, per edition locale (nothing is written)."""
    reached: dict[str, int] = dict.fromkeys(locales, 0)
    with engine.connect() as connection:
        for _, locale, _ in audience(connection, locales, default_locale=default_locale, to=to):
            reached[locale] += 1
    return reached


def audience_told(to: Target | None) -> str:
    """What the mailing records of its audience: the segment as given, cut to the column."""
    if to is None:
        return ""
    return to.text if len(to.text) <= TOLD else to.text[: TOLD - 3] + "..."
