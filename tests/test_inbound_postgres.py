"""The processor on PostgreSQL: no write lock there, so the UNIQUE digest and row locks hold."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from newsletter.inbound.models import InboundMessage
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import Processed, process, process_batch

from .test_inbound_processor import NOW, Newsletter, make_newsletter
from .test_postgres import cluster, database  # noqa: F401 - the throwaway cluster


@pytest.fixture
def news(database: str, tmp_path: Path) -> Iterator[Newsletter]:  # noqa: F811
    made = make_newsletter(tmp_path, mailings=3, database=database, soft_bounce_limit="2")
    yield made
    made.engine.dispose()


def test_bounces_complaints_and_duplicates_on_postgresql(news: Newsletter) -> None:
    hard = Reading(
        digest_of(b"hard"), (Notice(Kind.HARD, verp=news.verp("ada@example.org")),), source="t"
    )
    soft = [
        Reading(
            digest_of(f"soft {n}".encode()),
            (Notice(Kind.SOFT, status="5.2.2", verp=news.verp("wei@example.cn", n)),),
        )
        for n in (1, 2)
    ]
    outcomes = process_batch(news.engine, [hard, *soft, hard], settings=news.settings, now=NOW)
    assert [o.duplicate for o in outcomes] == [False, False, False, True]
    assert [o.events[0].action for o in outcomes[:3]] == ["suppressed", "counted", "suppressed"]
    assert news.subscriber("ada@example.org").status == "bounced"
    assert news.subscriber("wei@example.cn").status == "bounced"
    complaint = Reading(
        digest_of(b"c"), (Notice(Kind.COMPLAINT, verp=news.verp("jonas@example.de")),)
    )
    assert process(news.engine, complaint, settings=news.settings, now=NOW).events[0].action == (
        "complained"
    )
    assert process(news.engine, hard, settings=news.settings, now=NOW).duplicate
    assert len(news.events()) == 4


def test_the_same_message_processed_at_once_by_two_processes_is_stored_once(
    news: Newsletter,
) -> None:
    readings = [
        Reading(
            digest_of(f"delay {n}".encode()),
            (Notice(Kind.DELAY, verp=news.verp("ada@example.org")),),
        )
        for n in range(30)
    ]
    results: list[list[Processed]] = []

    def run() -> None:
        results.append(process_batch(news.engine, readings, settings=news.settings, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    stored_once = [sum(not r[n].duplicate for r in results) for n in range(len(readings))]
    assert stored_once == [1] * len(readings)
    with Session(news.engine) as session:
        count = session.exec(select(func.count()).select_from(InboundMessage)).one()
    assert count == len(readings) and len(news.events()) == len(readings)
