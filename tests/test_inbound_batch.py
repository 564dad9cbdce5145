"""The policy over a batch (inbound/policy.py's PolicyBatch): what the registry would write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import process_batch
from newsletter.subscribers import registry
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.models import ConsentEvent, Subscriber, Suppression

from .test_inbound_processor import NOW, READERS, make_newsletter


def rows(engine: Engine) -> dict[str, Any]:
    """What a change writes: subscribers, consent events (after the import's), suppressions."""
    with Session(engine) as session:
        subscribers = session.exec(select(Subscriber).order_by(col(Subscriber.id))).all()
        events = session.exec(
            select(ConsentEvent).where(ConsentEvent.kind != "add").order_by(col(ConsentEvent.id))
        ).all()
        suppressed = session.exec(select(Suppression).order_by(col(Suppression.email_hash))).all()
        return {
            "subscribers": [
                (s.email, s.status, s.unsubscribed_at, s.updated_at) for s in subscribers
            ],
            "events": [
                (e.subscriber_id, e.kind, e.at, e.method, e.source, e.details) for e in events
            ],
            "suppressed": [(s.email_hash, s.reason, s.at) for s in suppressed],
        }


def reading(number: int, *notices: Notice) -> Reading:
    return Reading(digest_of(f"report {number}".encode()), notices, source="test:inbox")


def test_a_batch_writes_what_the_registry_writes(tmp_path: Path) -> None:
    ours = make_newsletter(tmp_path / "ours")
    ada, wei, jonas = READERS
    readings = [
        reading(1, Notice(Kind.HARD, status="5.1.1", diagnostic="unknown", verp=ours.verp(ada))),
        reading(2, Notice(Kind.COMPLAINT, verp=ours.verp(wei))),
        reading(3, Notice(Kind.POLICY, status="5.7.1", verp=ours.verp(jonas))),
    ]
    outcomes = process_batch(ours.engine, readings, settings=ours.settings, now=NOW)
    assert [o.events[0].action for o in outcomes] == ["suppressed", "complained", "none"]

    reference = make_newsletter(tmp_path / "reference")
    with Session(reference.engine) as session:
        for address, method, why, reason in (
            (ada, "bounce", "test:inbox: 5.1.1 unknown", "bounced"),
            (wei, "complaint", "test:inbox", "complained"),
        ):
            subscriber = session.get(Subscriber, reference.subscribers[address])
            assert subscriber is not None
            registry.unsubscribe(
                session, subscriber, method=method, source=why, now=NOW, reason=reason
            )
        session.commit()
    assert rows(ours.engine) == rows(reference.engine)
    assert rows(ours.engine)["events"]  # Something was compared.


def test_soft_bounces_within_one_batch_count_toward_the_limit(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path, mailings=3)
    ada = READERS[0]
    soft = [Notice(Kind.SOFT, status="5.2.2", verp=news.verp(ada, n)) for n in (1, 1, 2, 3, 3)]
    readings = [reading(number, notice) for number, notice in enumerate(soft)]
    outcomes = process_batch(news.engine, readings, settings=news.settings, now=NOW)
    # The same delivery twice is one failure; the third delivery reaches the limit of 3.
    actions = [o.events[0].action for o in outcomes]
    assert actions == ["counted", "counted", "counted", "suppressed", "already"]
    assert news.subscriber(ada).status == "bounced" and news.suppressed(ada) == "bounced"
    [(kind, method, source)] = [
        (e[1], e[3], e[4]) for e in rows(news.engine)["events"] if e[0] == news.subscribers[ada]
    ]
    assert (kind, method) == ("bounced", "bounce")
    assert source.startswith("3 soft bounces within 30 days; last: test:inbox: 5.2.2")


def test_soft_bounces_of_earlier_batches_count_too(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path, mailings=3)
    ada = READERS[0]
    for number in (1, 2):
        notice = Notice(Kind.SOFT, status="4.2.2", verp=news.verp(ada, number))
        [done] = process_batch(
            news.engine, [reading(number, notice)], settings=news.settings, now=NOW
        )
        assert done.events[0].action == "counted"
    notice = Notice(Kind.SOFT, status="4.2.2", verp=news.verp(ada, 3))
    [done] = process_batch(news.engine, [reading(3, notice)], settings=news.settings, now=NOW)
    assert done.events[0].action == "suppressed"


def test_an_address_suppressed_before_keeps_its_first_reason(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path)
    ada = READERS[0]
    with Session(news.engine) as session:
        session.add(Suppression(email_hash=address_hash(ada), reason="manual", at=NOW))
        session.commit()
    notice = Notice(Kind.HARD, status="5.1.1", verp=news.verp(ada))
    [done] = process_batch(news.engine, [reading(1, notice)], settings=news.settings, now=NOW)
    assert done.events[0].action == "suppressed"
    assert news.subscriber(ada).status == "bounced" and news.suppressed(ada) == "manual"
