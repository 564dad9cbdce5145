"""A delivery worker: claim a batch, make each message, send it, record what happened; repeat.

One worker holds one transport connection. A send runs one worker in its own process, or
several in child processes (one per SMTP connection); workers share nothing but the database.
A worker stops when nothing is due, when asked to, or when the process that started it is gone
(a killed `send` must not leave children sending): it records what it sent and gives back the
claims it did not get to.

Outcomes are recorded in the database every RECORD_EVERY messages, and each one is appended to
the worker's journal on the local disk (journal.py) as soon as the server has answered, before
the next message goes out: after a kill -9, `send --resume` and `run` record what the journal
holds, so only the message whose reply had not been read is sent again (one per connection;
RECORD_EVERY per connection after a power cut, which can lose the journal's last lines).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.config import Config, Project
from newsletter.db import (
    OUTAGE,
    create_db_engine,
    database_url,
    patiently,
    through_outage,
    utcnow,
)
from newsletter.deliver.compose import Content, MessageTemplate, Recipient, Sender, message_id
from newsletter.deliver.journal import Journal, journal_folder
from newsletter.deliver.models import DeliveryState, MailingEdition
from newsletter.deliver.outbox import (
    Claimed,
    Person,
    Result,
    RetryPolicy,
    claim,
    record,
    release,
    subscribers_now,
    worker_name,
)
from newsletter.deliver.pacing import SharedRate
from newsletter.deliver.return_path import ReturnPaths, return_paths_of
from newsletter.deliver.signing import Signer, signer_for
from newsletter.deliver.smtp import MailServerGone
from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.deliver.transports import Transport, open_transport
from newsletter.subscribers.tokens import Tokens, page_url

log = logging.getLogger(__name__)
LEASE = 300.0
RECORD_EVERY = 50
"""Outcomes a worker holds before recording them (journaled meanwhile: what a power cut can
repeat, per worker)."""
CLAIMS_PER_RECORD = 4  # A worker claims 4 batches at a time and records each as it is sent.
CLAIM_SECONDS = 2.0


class Composed(NamedTuple):
    """A recipient's message, ready to send."""

    message_id: str
    data: bytes


@dataclass(frozen=True)
class Job:
    """What a worker needs; plain values, so a child process can be handed it."""

    config: Config
    secrets: Mapping[str, str]
    root: Path
    database_url: str
    mailing_id: int
    mailing_uid: str
    rate: float | None = None
    """Messages per second for the whole installation: every worker of every process and host
    on the database shares it (None: as fast as the server takes them)."""
    connections: int = 1
    """The workers of this process: a claim at a rate holds a couple of seconds of their share."""
    batch: int = RECORD_EVERY
    """Outcomes recorded at a time (each journaled meanwhile; see journal.py)."""
    parent: int | None = None
    """The process id of the `send` that started this worker in a child process."""
    clock: Callable[[], datetime] = utcnow
    """The time: claims take the deliveries due by then."""

    @classmethod
    def of(
        cls, project: Project, mailing_id: int = 0, mailing_uid: str = "", **settings: Any
    ) -> Job:
        """The job of delivering a mailing of `project` (mailing 0: a template that workers
        fill in with each mailing they deliver)."""
        return cls(
            config=project.config, secrets=dict(project.secrets), root=project.root,
            database_url=database_url(project), mailing_id=mailing_id, mailing_uid=mailing_uid,
            **settings,
        )  # fmt: skip


def sender_of(config: Config) -> Sender:
    """The From, Reply-To and list identity of the configured newsletter."""
    return Sender(
        name=config.sender,
        address=config.sender_address,
        reply_to=config.reply_to,
        list_name=config.name,
        unsubscribe_address=config.unsubscribe_mailbox,
    )


def load_templates(engine: Engine, mailing_id: int, sender: Sender) -> dict[str, MessageTemplate]:
    """One message template per edition of the mailing, built from the stored editions."""
    with Session(engine) as session:
        editions = session.exec(
            select(MailingEdition).where(col(MailingEdition.mailing_id) == mailing_id)
        ).all()
        return {
            edition.locale: MessageTemplate(
                Content(
                    edition.locale, edition.subject, edition.html, edition.text, edition.web_url
                ),
                sender,
            )
            for edition in editions
        }


class Worker:
    """Delivers a mailing's due messages until none is left or it is told to stop."""

    def __init__(self, job: Job, engine: Engine, transport: Transport) -> None:
        self.job, self.engine, self.transport = job, engine, transport
        config = job.config
        self.sender = sender_of(config)
        self.templates = load_templates(engine, job.mailing_id, self.sender)
        self.tokens = Tokens(job.secrets.get("NEWSLETTER_SECRET_KEY", ""))
        self.signer: Signer | None = signer_for(config, job.secrets)
        self.return_paths: ReturnPaths | None = return_paths_of(config.bounce_address, job.secrets)
        # Tracking URLs name the reader's delivery only where the mailing was made with
        # `tracking = "individual"`: what its stored editions say, whatever the setting is now.
        self.click_ids = None
        if any(template.per_reader_links for template in self.templates.values()):
            self.click_ids = LinkSigner(job.secrets.get("NEWSLETTER_SECRET_KEY", ""))
        self.fields = any(template.fields for template in self.templates.values())
        """Subscribers' attributes are read only for a mailing with subscriber fields."""
        self.policy = RetryPolicy(config.retry_delay, config.max_attempts)
        self.name = worker_name()
        self.journals = journal_folder(job.root, config)
        self.pace = SharedRate(engine, job.rate) if job.rate else None
        self.leased_at = 0.0
        """When this worker's claims last got their lease (time.monotonic())."""

    def run(self, stop: Callable[[], bool], progress: Callable[[int], None] | None = None) -> int:
        """Deliver batches until nothing is due or `stop()`; the number of messages handled."""
        stop = functools.partial(self._stopping, stop)  # Asked below, the parent's end too.
        handled = 0
        try:
            while not stop():
                batch = through_outage(self._claim, "claiming deliveries", stop)
                if not batch:
                    break
                self.leased_at = time.monotonic()
                handled += self._deliver(batch, stop, progress)
        finally:
            if self.pace is not None:
                self.pace.give_back()
        return handled

    def _deliver(
        self,
        batch: list[Claimed],
        stop: Callable[[], bool],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Send a claimed batch, recording outcomes every `job.batch` messages; how many.

        Whatever happens (a stop, an unreachable server), what was sent is recorded and the
        claims not sent are given back. Each outcome is journaled before the next message
        goes out (with pipelining, before its data: only its envelope was written with this
        one), so a kill -9 repeats only the message whose reply was not read yet.
        """
        ids = [claimed.subscriber_id for claimed in batch if claimed.subscriber_id]
        people = through_outage(
            functools.partial(subscribers_now, self.engine, ids, attributes=self.fields),
            "reading the subscribers of a batch",
            stop,
        )
        date = format_datetime(self.job.clock())
        finished: set[int] = set()
        refusals = [self._refusal(claimed, people) for claimed in batch]
        # The envelopes that will be sent, in order.
        envelopes = [
            None if refused else (self._envelope_sender(c.id), people[c.subscriber_id or 0].email)
            for c, refused in zip(batch, refusals, strict=True)
        ]
        # The next delivery sent after each: the transport announces its envelope behind this
        # message, and its message is composed while the server handles this one.
        to_send = [at for at, envelope in enumerate(envelopes) if envelope]
        following = dict(itertools.pairwise(to_send))
        ahead: dict[int, Composed] = {}
        journal = Journal(self.journals, self.job.mailing_id, self.name)
        results: list[Result] = []
        try:
            # Outcomes a journal of this name holds already (a record that failed, or a
            # process id reused) are recorded with this batch's first ones.
            results = journal.open()
            for at, (claimed, refused, envelope) in enumerate(
                zip(batch, refusals, envelopes, strict=True)
            ):
                if stop():
                    break
                if refused is not None:
                    results.append(refused)
                else:
                    assert envelope is not None  # Made for every delivery not refused.
                    message = ahead.pop(claimed.id, None)
                    if message is None:
                        message = self._compose(claimed, people, date)
                    then, meanwhile = None, None
                    if (upcoming := following.get(at)) is not None:
                        then = envelopes[upcoming]
                        meanwhile = functools.partial(
                            self._compose_ahead, ahead, batch[upcoming], people, date
                        )
                    results.append(
                        self._deliver_one(claimed, message, envelope, then, meanwhile, stop)
                    )
                journal.append(results[-1])
                if len(results) >= self.job.batch:
                    finished |= self._record(results, progress, stop)
                    journal.clear()
                    results = []
        finally:
            recorded = False
            try:
                finished |= self._record(results, progress, stop)
                recorded = True
            finally:
                journal.close(remove=recorded)  # Kept if not recorded: the next run records it.
            unsent = [c.id for c in batch if c.id not in finished]
            through_outage(
                lambda: release(self.engine, self.name, unsent, self.job.clock()),
                "giving back the claims not sent",
                stop,  # Else the next run or --resume does.
            )
        return len(finished)

    def _claim(self) -> list[Claimed]:
        return claim(
            self.engine,
            self.job.mailing_id,
            self.name,
            limit=self.claim_size,
            lease=LEASE,
            now=self.job.clock(),
        )

    def _record(
        self,
        results: list[Result],
        progress: Callable[[int], None] | None,
        stop: Callable[[], bool],
    ) -> set[int]:
        # The claims still held get a new lease once a third of it has gone, not at every
        # record: a renewal rewrites each of them (on PostgreSQL, a new row version each).
        renew = time.monotonic() - self.leased_at > LEASE / 3
        record(
            self.engine,
            self.job.mailing_id,
            self.name,
            results,
            self.policy,
            self.job.clock(),
            lease=LEASE,
            renew=renew,
            stop=stop,  # Then the journal keeps them for --resume.
        )
        if renew:
            self.leased_at = time.monotonic()
        if progress and results:
            progress(len(results))
        return {result.id for result in results}

    def _refusal(self, claimed: Claimed, people: dict[int, Person]) -> Result | None:
        """Why a claimed delivery will not be sent (skipped or failed), or None: it will be."""
        person = people.get(claimed.subscriber_id) if claimed.subscriber_id else None
        if person is None:
            reason = "the subscriber was deleted after the send began"
            return Result(claimed.id, claimed.attempts, DeliveryState.SKIPPED, reason)
        if person.status != "active":
            reason = f"the subscriber is {person.status} now"
            return Result(claimed.id, claimed.attempts, DeliveryState.SKIPPED, reason)
        if claimed.locale not in self.templates:
            reason = f"the mailing has no {claimed.locale} edition"
            return Result(claimed.id, claimed.attempts, DeliveryState.FAILED, reason)
        return None

    def _envelope_sender(self, delivery_id: int) -> str:
        """The delivery's Return-Path: its signed VERP address, else the sender address."""
        if self.return_paths is None:
            return self.sender.address
        return self.return_paths.for_delivery(delivery_id)

    def _compose(self, claimed: Claimed, people: dict[int, Person], date: str) -> Composed:
        """The message for one recipient, signed if the send signs: its Message-ID and bytes."""
        assert claimed.subscriber_id is not None
        person = people[claimed.subscriber_id]
        base, tokens = self.job.config.base_url, self.tokens
        unsubscribe = tokens.make_for("unsubscribe", claimed.subscriber_id, person.key)
        preferences = tokens.make_for("preferences", claimed.subscriber_id, person.key)
        recipient = Recipient(
            email=person.email,
            name=person.name,
            message_id=message_id(self.job.mailing_uid, claimed.id, self.sender.domain),
            unsubscribe_url=page_url(base, "unsubscribe", unsubscribe),
            preferences_url=page_url(base, "preferences", preferences),
            unsubscribe_token=unsubscribe,
            click_token=(
                self.click_ids.delivery(self.job.mailing_id, claimed.id) if self.click_ids else ""
            ),
            attributes=person.attributes or {},
        )
        message: bytes = self.templates[claimed.locale].fill(recipient, date)
        if self.signer is not None:
            message = self.signer.sign(message)
        return Composed(recipient.message_id, message)

    def _compose_ahead(
        self,
        ahead: dict[int, Composed],
        claimed: Claimed,
        people: dict[int, Person],
        date: str,
    ) -> None:
        """Compose the next message while the server handles this one (with DKIM, 0.3 ms of
        CPU that overlapped nothing). A failure is left for the message's turn, which composes
        it again and reports the error where it belongs."""
        with contextlib.suppress(Exception):  # Raised again at the message's turn.
            ahead[claimed.id] = self._compose(claimed, people, date)

    def _deliver_one(
        self,
        claimed: Claimed,
        composed: Composed,
        envelope: tuple[str, str],
        following: tuple[str, str] | None,
        meanwhile: Callable[[], None] | None,
        stop: Callable[[], bool],
    ) -> Result:
        """Send one composed message with its envelope (the return path, signed once per
        delivery, and the address) and say what became of it; `following` is the next
        envelope, `meanwhile` what to do while the server answers."""
        if self.pace is not None:
            self.pace.wait(stop)
        then = None if self.pace else following  # Paced: the next message waits for its slot.
        send = functools.partial(
            self.transport.send,
            *envelope,
            composed.data,
            composed.message_id,
            following=then[1] if then else None,
            following_sender=then[0] if then else "",
            meanwhile=meanwhile,
        )
        # A server it had reached that refuses the connection (a restart): nothing of the
        # message went out; it is tried again each second, as the database is.
        outcome = patiently(
            send, patience=OUTAGE, pause=1.0, what="sending", on=(MailServerGone,), stop=stop
        )
        if outcome.state != DeliveryState.SENT:
            log.info(
                "delivery %d to subscriber %s: %s", claimed.id, claimed.subscriber_id, outcome.reply
            )
        return Result(
            claimed.id,
            claimed.attempts,
            outcome.state,
            outcome.reply,
            composed.message_id,
            outcome.suppress,
        )

    @property
    def claim_size(self) -> int:
        """Deliveries a claim takes: CLAIMS_PER_RECORD records' worth; at a rate, about
        CLAIM_SECONDS of this worker's share of it, so that a small send at a low rate is
        spread over every connection instead of waiting behind one."""
        most = self.job.batch * CLAIMS_PER_RECORD
        if not self.job.rate:
            return most
        share = self.job.rate / max(1, self.job.connections)
        return max(1, min(most, math.ceil(share * CLAIM_SECONDS)))

    def _stopping(self, stop: Callable[[], bool]) -> bool:
        return stop() or (self.job.parent is not None and os.getppid() != self.job.parent)


def run_job(
    job: Job, stop: Callable[[], bool], progress: Callable[[int], None] | None = None
) -> int:
    """Open the job's database and transport, deliver, close them; the messages handled."""
    engine = create_db_engine(job.database_url)
    transport = open_transport(job.config.transport_url, job.secrets, job.root)
    try:
        return Worker(job, engine, transport).run(stop, progress)
    finally:
        transport.close()
        engine.dispose()
