"""A send's audience is queued in parts, each committed as it is made (deliver/audience.py):
the workers start on the first part while the rest goes in, and until the last part is in the
send is not done, not even when it was killed half-way."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.db_schema import upgrade
from newsletter.deliver.audience import FIRST_PART, audience_record, enqueue_audience
from newsletter.deliver.compose import Content
from newsletter.deliver.models import DELIVERY, MAILING, UNFINISHED, Mailing
from newsletter.deliver.report import mailings_with
from newsletter.deliver.sending import store_mailing
from newsletter.send_status import Phase, progress_of
from newsletter.subscribers.models import SUBSCRIBER

from .conftest import SmtpServer
from .test_delivery import ISSUE, SECRET, import_readers, make_project, newsletter
from .test_postgres import (  # noqa: F401 - the throwaway cluster
    add_subscribers,
    cluster,
    database,
    engine_for,
)

READERS_KILLED = 40_000
"""Readers of the send killed while it queues them: SQLite queues them in about half a second
on a 2-core machine, its first part within milliseconds."""


def test_workers_see_the_first_part_of_an_audience_while_the_rest_is_queued(
    request: pytest.FixtureRequest,
) -> None:
    engine, mailing = new_send(request, 20_000)
    assert mailing.id is not None
    added: list[int] = []
    queueing = threading.Thread(
        target=lambda: added.append(
            enqueue_audience(engine, mailing, default_locale="en", to=None, now=utcnow())
        )
    )
    seen: list[tuple[int, Phase, bool]] = []  # Deliveries, phase, listed as unfinished.
    with engine.connect() as watcher:
        queueing.start()
        while queueing.is_alive() or not seen:
            # The mark and the phase first, the deliveries then: the last part commits its
            # rows and the mark's end at once, so a count short of the audience taken after
            # them means they were read before that end.
            now = current(engine, mailing.id)
            phase = progress_of(engine, [now], utcnow())[mailing.id].phase
            unfinished = [id_ for id_, _, _ in mailings_with(engine, UNFINISHED, queueing=True)]
            count = watcher.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
            watcher.rollback()  # A new snapshot at each look.
            seen.append((count, phase, bool(unfinished)))
            time.sleep(0.002)
    queueing.join()
    assert added == [20_000]
    halfway = [(phase, listed) for count, phase, listed in seen if 0 < count < 20_000]
    assert halfway, "no part of the audience was seen before the whole of it"
    assert set(halfway) == {(Phase.QUEUEING, True)}
    assert min(count for count, _, _ in seen if count) >= FIRST_PART
    assert current(engine, mailing.id).queueing_since is None
    assert (
        progress_of(engine, [current(engine, mailing.id)], utcnow())[mailing.id].phase
        is Phase.RUNNING
    )


def test_two_queueings_of_one_audience_at_once_add_everyone_once(
    request: pytest.FixtureRequest,
) -> None:
    """Two sends of one issue at once (an operator's and a firing's) queue their parts in
    turns: a part whose subscribers have none yet goes in by COPY, the others skip those the
    other queueing added; no UNIQUE pair fails, and nobody is queued twice or left out."""
    engine, mailing = new_send(request, 16_000)
    added: list[int | BaseException] = []

    def queue() -> None:
        try:
            added.append(
                enqueue_audience(engine, mailing, default_locale="en", to=None, now=utcnow())
            )
        except BaseException as error:
            added.append(error)

    both = [threading.Thread(target=queue) for _ in range(2)]
    for one in both:
        one.start()
    for one in both:
        one.join(60)
    assert all(isinstance(n, int) for n in added) and sum(added) == 16_000, added  # type: ignore[arg-type]
    with engine.connect() as connection:
        queued = connection.execute(
            select(func.count(), func.count(DELIVERY.c.subscriber_id.distinct()))
        ).one()
    assert tuple(queued) == (16_000, 16_000)
    assert current(engine, mailing.id or 0).queueing_since is None


def test_the_mark_stays_while_a_queueing_goes_on_though_another_one_ended_meanwhile(
    request: pytest.FixtureRequest,
) -> None:
    """Two queueings of one send at once: the one that ends first said the send's audience
    was all in while the other was still adding its parts (had it been killed then, nothing
    would have said that its send was incomplete). Each part says it again."""
    engine, mailing = new_send(request, 40_000)
    assert mailing.id is not None
    queueing = threading.Thread(
        target=enqueue_audience,
        args=(engine, mailing),
        kwargs={"default_locale": "en", "to": None, "now": utcnow()},
    )
    marked: list[bool] = []  # After the other queueing's end, while this one goes on.
    with engine.connect() as watcher:
        queueing.start()
        while not watcher.execute(select(func.count()).select_from(DELIVERY)).scalar_one():
            watcher.commit()
            time.sleep(0.002)
        # Another queueing of the same send ends, and says so.
        watcher.execute(update(MAILING).values(queueing_since=None))
        watcher.commit()
        while queueing.is_alive():
            count = watcher.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
            mark = watcher.execute(select(MAILING.c.queueing_since)).scalar_one()
            watcher.commit()
            if count < 40_000:
                marked.append(mark is not None)
            time.sleep(0.002)
    queueing.join()
    assert True in marked, "no part said the queueing was going on"
    assert current(engine, mailing.id).queueing_since is None


def new_send(request: pytest.FixtureRequest, subscribers: int) -> tuple[Engine, Mailing]:
    """A new PostgreSQL database with `subscribers` readers, and a send being made to them."""
    engine = engine_for(request.getfixturevalue("database"))
    upgrade(engine)
    add_subscribers(engine, subscribers)
    mailing = store_mailing(
        engine, "x", [Content("en", "Subject", "<p>hi</p>", "hi", "https://e.org/x")],
        commit="", dirty=False, told="", now=utcnow(), queueing=audience_record(None, None, "en"),
    )  # fmt: skip
    return engine, mailing


def current(engine: Engine, mailing_id: int) -> Mailing:
    """The mailing as it is now."""
    with Session(engine) as session:
        found = session.get(Mailing, mailing_id)
        assert found is not None
        return found


def test_a_send_killed_while_queueing_its_audience_is_not_done_and_resuming_adds_the_rest(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Before, a send killed while it queued its audience left a mailing with no deliveries,
    which every report called done: nobody was sent anything, and nothing said so. Then
    `resume` queued nothing: the rest needed the operator to give the send's segment again."""
    project = make_project(tmp_path, smtp_server.url)
    import_readers(project, READERS_KILLED, ("de", "en"))
    everyone = READERS_KILLED // 2 + 1  # The segment's: half the readers, and jonas@.
    store = tmp_path / "news.db"
    segment = 'locale = "de"'
    sender = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(project.source), "send", ISSUE,
         "--to", segment],
        env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    with sqlite3.connect(store, timeout=30) as watcher:
        while not watcher.execute("SELECT 1 FROM delivery LIMIT 1").fetchall():
            assert sender.poll() is None and time.monotonic() < deadline, "no delivery queued"
            time.sleep(0.002)
    os.killpg(sender.pid, signal.SIGKILL)  # As the first part is in.
    sender.wait()
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        queued = connection.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
        (mailing_id,) = connection.execute(select(MAILING.c.id)).one()
    assert 0 < queued < everyone
    killed = current(engine, mailing_id)
    assert killed.queueing_since is not None
    assert progress_of(engine, [killed], utcnow())[mailing_id].phase is Phase.QUEUEING
    assert [id_ for id_, _, _ in mailings_with(engine, (), queueing=True)] == [mailing_id]
    status, told = newsletter(project, "status", ISSUE)
    told = " ".join(told.split())
    assert status == 0 and "its recipients are being queued since" in told
    assert f"`newsletter send --resume {ISSUE}` queues the rest" in told
    # `resume` queues the rest and sends nothing itself (`send --resume` would deliver too).
    status, told = newsletter(project, "resume", ISSUE)
    assert status == 0, told
    assert f"{everyone - queued:,} recipients added" in told
    with engine.connect() as connection:
        per_reader = connection.execute(
            select(func.count(), func.count(DELIVERY.c.subscriber_id.distinct()))
        ).one()
        locales = connection.execute(
            select(SUBSCRIBER.c.locale)
            .distinct()
            .join(DELIVERY, DELIVERY.c.subscriber_id == SUBSCRIBER.c.id)
        ).scalars()
        assert set(locales) == {"de"}
    assert tuple(per_reader) == (everyone, everyone)
    assert current(engine, mailing_id).queueing_since is None
    assert smtp_server.received == []
    engine.dispose()
