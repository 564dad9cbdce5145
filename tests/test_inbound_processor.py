"""The processor: each notice tied to its delivery, the policy applied, everything exactly once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import Delivery, Mailing
from newsletter.deliver.return_path import ReturnPaths
from newsletter.inbound.models import InboundEvent, InboundMessage
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import InboundSettings, Processed, process
from newsletter.subscribers import registry
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.models import ConsentEvent, Subscriber, Suppression
from newsletter.subscribers.tokens import Tokens

from .test_delivery import migrated

SECRET = "test-secret-key-0123456789abcdef"
BOUNCES = "bounces@bounces.news.example.org"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
READERS = ("ada@example.org", "wei@example.cn", "jonas@example.de")
UID = "5f0c1a2b3c4d5e6f"


@dataclass
class Newsletter:
    """A project with readers and sent mailings: what inbound notices are about."""

    project: Project
    engine: Engine
    settings: InboundSettings
    paths: ReturnPaths
    subscribers: dict[str, int]
    deliveries: dict[tuple[str, int], Delivery]
    """(address, mailing number) -> the delivery of that mailing to that reader."""

    def process(
        self, *notices: Notice, problem: str = "", at: datetime = NOW, authenticated: bool = False
    ) -> Processed:
        digest = digest_of(repr((notices, problem, at)).encode())
        reading = Reading(
            digest, notices, problem=problem, source="test:inbox", authenticated=authenticated
        )
        return process(self.engine, reading, settings=self.settings, now=at)

    def verp(self, address: str, mailing: int = 1) -> str:
        delivery_id = self.deliveries[address, mailing].id
        assert delivery_id is not None
        return self.paths.for_delivery(delivery_id)

    def subscriber(self, address: str) -> Subscriber:
        with Session(self.engine) as session:
            found = session.get(Subscriber, self.subscribers[address])
            assert found is not None
            return found

    def suppressed(self, address: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(Suppression, address_hash(address))
            return row.reason if row else None

    def events(self) -> list[InboundEvent]:
        with Session(self.engine) as session:
            return list(session.exec(select(InboundEvent).order_by(col(InboundEvent.id))))

    def consent(self, address: str) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ConsentEvent.kind, ConsentEvent.method)
                .where(ConsentEvent.subscriber_id == self.subscribers[address])
                .order_by(col(ConsentEvent.id))
            )
            return list(rows)


def make_newsletter(
    root: Path,
    mailings: int = 1,
    *,
    database: str = "sqlite:///news.db",
    bounces: str = BOUNCES,
    **settings: str,
) -> Newsletter:
    """A migrated project with READERS, each sent `mailings` mailings (rows made directly);
    SQLite unless `database` names another; return paths on `bounces` ("": off)."""
    (root / "config").mkdir(parents=True)
    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\n'
        f'database_url = "{database}"\nbounce_address = "{bounces}"\n{extra}',
        encoding="utf-8",
    )
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    migrated(database_url(project))
    engine = create_db_engine(database_url(project))
    subscribers, deliveries = {}, {}
    with Session(engine) as session:
        for address in READERS:
            profile = registry.make_profile(address, "", "en", "UTC", [], ["en"], "en", "UTC")
            added = registry.add(
                session, profile, status="active", method="test", source="test", now=NOW
            )
            assert added.id is not None
            subscribers[address] = added.id
        for number in range(1, mailings + 1):
            mailing = Mailing(issue=f"issue-{number}", uid=f"{UID}{number}")
            session.add(mailing)
            session.flush()
            assert mailing.id is not None
            for address, subscriber_id in subscribers.items():
                delivery = Delivery(
                    mailing_id=mailing.id, subscriber_id=subscriber_id, locale="en", state="sent",
                    sent_at=NOW - timedelta(days=10 - number), attempts=1,
                )  # fmt: skip
                session.add(delivery)
                session.flush()
                delivery.message_id = f"<{mailing.uid}.{delivery.id}@news.example.org>"
                deliveries[address, number] = delivery
        session.commit()
        for delivery in deliveries.values():
            session.refresh(delivery)
            session.expunge(delivery)
    settings_ = InboundSettings.of(project)
    return Newsletter(
        project, engine, settings_, ReturnPaths(SECRET, BOUNCES), subscribers, deliveries
    )


@pytest.fixture
def news(tmp_path: Path) -> Newsletter:
    return make_newsletter(tmp_path)


def test_a_hard_bounce_to_a_return_path_suppresses_its_subscriber_at_once(
    news: Newsletter,
) -> None:
    # The report names the forwarding target: the return path names our subscriber.
    notice = Notice(
        Kind.HARD,
        recipient="ada.lovelace@forward.example",
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <ada.lovelace@forward.example>: User unknown",
        verp=news.verp("ada@example.org"),
    )
    processed = news.process(notice)
    assert not processed.duplicate and not processed.kept
    assert [(e.match.matched_by, e.action) for e in processed.events] == [("verp", "suppressed")]
    assert news.subscriber("ada@example.org").status == "bounced"
    assert news.suppressed("ada@example.org") == "bounced"
    assert news.consent("ada@example.org")[-1] == ("bounced", "bounce")
    [event] = news.events()
    delivery = news.deliveries["ada@example.org", 1]
    assert (event.delivery_id, event.mailing_id) == (delivery.id, delivery.mailing_id)
    assert event.subscriber_id == news.subscribers["ada@example.org"]
    assert (event.kind, event.status, event.matched_by) == ("hard", "5.1.1", "verp")
    assert event.locale == delivery.locale == "en"  # Counted per locale without the delivery.
    assert event.recipient_hash == address_hash("ada.lovelace@forward.example")
    assert event.source == "test:inbox" and event.at == NOW
    # Nobody else changed.
    assert news.subscriber("wei@example.cn").status == "active"


def test_the_same_report_twice_changes_nothing_the_second_time(news: Newsletter) -> None:
    notice = Notice(Kind.SOFT, status="4.2.2", verp=news.verp("wei@example.cn"))
    reading = Reading(digest_of(b"the same DSN"), (notice,), source="maildir:/x")
    first = process(news.engine, reading, settings=news.settings, now=NOW)
    again = process(news.engine, reading, settings=news.settings, now=NOW + timedelta(hours=1))
    assert not first.duplicate and again.duplicate and again.events == ()
    assert len(news.events()) == 1
    with Session(news.engine) as session:
        assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda verp: verp.replace(verp.split("-")[-1].split("@")[0], "a" * 16),
        lambda verp: verp.split("-")[0] + "@bounces.news.example.org",
    ],
    ids=["bad-signature", "unsigned"],
)
def test_a_forged_return_path_changes_nobody_whatever_else_the_report_names(
    news: Newsletter, forge: object
) -> None:
    assert callable(forge)
    notice = Notice(
        Kind.HARD,
        recipient="ada@example.org",
        status="5.1.1",
        verp=forge(news.verp("ada@example.org")),
        message_id=news.deliveries["ada@example.org", 1].message_id,
    )
    processed = news.process(notice)
    assert processed.kept
    [event] = processed.events
    assert event.match.matched_by == "none" and "forged" in event.match.reason
    assert event.action == "none"
    assert news.subscriber("ada@example.org").status == "active"
    assert news.suppressed("ada@example.org") is None
    [stored] = news.events()
    assert stored.delivery_id is None and stored.subscriber_id is None
    assert "forged" in stored.reason


# Message-IDs and addresses are not signed: they act when return paths are off (all there is)
# or when a provider's signed webhook vouches for the event; by mail with return paths on, they
# are recorded unmatched and kept for a human.
UNSIGNED_ACTS = [("", False), ("", True), (BOUNCES, True)]


@pytest.mark.parametrize(("bounces", "authenticated"), UNSIGNED_ACTS)
def test_our_message_id_ties_a_report_to_its_delivery(
    tmp_path: Path, bounces: str, authenticated: bool
) -> None:
    news = make_newsletter(tmp_path, bounces=bounces)
    delivery = news.deliveries["jonas@example.de", 1]
    notice = Notice(
        Kind.HARD, status="5.1.2", message_id=delivery.message_id, recipient="Jonas@example.de"
    )
    processed = news.process(notice, authenticated=authenticated)
    assert [(e.match.matched_by, e.match.delivery_id) for e in processed.events] == [
        ("message-id", delivery.id)
    ]
    assert news.subscriber("jonas@example.de").status == "bounced"


@pytest.mark.parametrize(
    "notice",
    [
        Notice(Kind.HARD, status="5.1.1", recipient="wei@example.cn"),
        Notice(Kind.COMPLAINT, recipient="wei@example.cn"),
        Notice(Kind.UNSUBSCRIBE, recipient="wei@example.cn"),
    ],
)
def test_with_return_paths_on_a_mailed_report_without_one_changes_nobody(
    news: Newsletter, notice: Notice
) -> None:
    """Anyone can write a bounce or complaint that names a reader: by mail, only a signed
    return path (or token) acts."""
    delivery = news.deliveries["wei@example.cn", 1]
    forged = replace(notice, message_id=delivery.message_id)
    for report in (notice, forged):
        processed = news.process(report)
        assert processed.kept and processed.events[0].action == "none"
        reason = processed.events[0].match.reason
        assert "only a signed return path acts" in reason or "without a token" in reason, reason
    assert {news.subscriber(a).status for a in READERS} == {"active"}
    assert news.suppressed("wei@example.cn") is None


def test_without_return_paths_a_mailed_report_acts_only_when_two_references_agree(
    tmp_path: Path,
) -> None:
    """Every reader sees their mailing's uid and delivery ids are sequential: with return paths
    off, a Message-ID alone (or an address alone) would let anyone bounce the whole list."""
    news = make_newsletter(tmp_path, bounces="")
    jonas, wei = news.deliveries["jonas@example.de", 1], news.deliveries["wei@example.cn", 1]
    forged = [
        Notice(Kind.HARD, status="5.1.1", message_id=jonas.message_id),
        Notice(Kind.COMPLAINT, message_id=wei.message_id),
        Notice(Kind.HARD, status="5.1.1", recipient="jonas@example.de"),
        Notice(Kind.COMPLAINT, recipient="wei@example.cn"),
        Notice(Kind.HARD, message_id=jonas.message_id, recipient="stranger@example.net"),
    ]
    for notice in forged:
        processed = news.process(notice)
        assert processed.kept and processed.events[0].action == "none", notice
        assert "not signed" in processed.events[0].match.reason or "different people" in (
            processed.events[0].match.reason
        )
    assert {news.subscriber(a).status for a in READERS} == {"active"}


def test_a_message_id_of_another_mailing_or_domain_or_person_matches_nothing(
    news: Newsletter,
) -> None:
    delivery = news.deliveries["jonas@example.de", 1]
    other_uid = delivery.message_id.replace(UID, "0" * len(UID))
    other_domain = delivery.message_id.replace("news.example.org", "evil.example")
    for message_id in (other_uid, other_domain):
        processed = news.process(Notice(Kind.HARD, status="5.1.1", message_id=message_id))
        assert processed.kept and processed.events[0].match.matched_by == "none"
    # Jonas's Message-ID with Wei's address: a reader forging a bounce for someone else.
    processed = news.process(
        Notice(Kind.HARD, recipient="wei@example.cn", message_id=delivery.message_id)
    )
    assert (
        processed.events[0].match.reason == "the Message-ID and the recipient name different people"
    )
    assert {news.subscriber(a).status for a in READERS} == {"active"}


@pytest.mark.parametrize(("bounces", "authenticated"), [("", True), (BOUNCES, True)])
def test_the_recipient_ties_a_report_to_their_latest_sent_delivery(
    tmp_path: Path, bounces: str, authenticated: bool
) -> None:
    news = make_newsletter(tmp_path, mailings=2, bounces=bounces)
    notice = Notice(Kind.COMPLAINT, recipient="WEI@Example.CN")
    processed = news.process(notice, authenticated=authenticated)
    [event] = processed.events
    assert event.match.matched_by == "recipient"
    assert event.match.delivery_id == news.deliveries["wei@example.cn", 2].id
    assert event.action == "complained"
    assert news.subscriber("wei@example.cn").status == "complained"
    assert news.suppressed("wei@example.cn") == "complained"
    assert news.consent("wei@example.cn")[-1] == ("complained", "complaint")


def test_a_recipient_we_never_mailed_is_kept_for_a_human(news: Newsletter) -> None:
    processed = news.process(Notice(Kind.HARD, recipient="stranger@example.net", status="5.1.1"))
    assert processed.kept
    assert processed.events[0].match.reason == "no subscriber has the recipient's address"
    assert news.events()[0].recipient_hash == address_hash("stranger@example.net")


def test_soft_bounces_suppress_at_the_limit_within_the_window(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path, mailings=4)
    ada = "ada@example.org"

    def soft(mailing: int, at: datetime, text: str = "mailbox full") -> str:
        notice = Notice(Kind.SOFT, status="5.2.2", diagnostic=text, verp=news.verp(ada, mailing))
        return news.process(notice, at=at).events[0].action

    assert soft(1, NOW - timedelta(days=40)) == "counted"  # Outside the 30 days by now.
    assert soft(2, NOW - timedelta(days=2)) == "counted"
    assert soft(2, NOW - timedelta(days=1), "again") == "counted"  # The same delivery: one.
    assert soft(3, NOW) == "counted"
    assert news.subscriber(ada).status == "active" and news.suppressed(ada) is None
    assert soft(4, NOW) == "suppressed"
    assert news.subscriber(ada).status == "bounced" and news.suppressed(ada) == "bounced"


def test_the_soft_bounce_limit_is_configurable(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path, mailings=1, soft_bounce_limit="1")
    notice = Notice(Kind.SOFT, status="4.4.7", verp=news.verp("ada@example.org"))
    assert news.process(notice).events[0].action == "suppressed"


def test_a_mailto_unsubscribe_with_its_token_unsubscribes(news: Newsletter) -> None:
    tokens = Tokens(SECRET)
    token = tokens.make_for("unsubscribe", news.subscribers["wei@example.cn"], "wei@example.cn")
    processed = news.process(Notice(Kind.UNSUBSCRIBE, unsubscribe_token=token))
    [event] = processed.events
    assert (event.match.matched_by, event.action) == ("token", "unsubscribed")
    assert event.match.delivery_id == news.deliveries["wei@example.cn", 1].id
    assert event.match.locale == news.deliveries["wei@example.cn", 1].locale == "en"
    assert news.subscriber("wei@example.cn").status == "unsubscribed"
    assert news.consent("wei@example.cn")[-1] == ("unsubscribed", "email")
    assert not processed.kept


@pytest.mark.parametrize("token", ["", "1.abc.def.ghi", "x" * 10_000, "\x00"])
def test_a_mailto_unsubscribe_without_a_valid_token_changes_nothing(
    news: Newsletter, token: str
) -> None:
    processed = news.process(
        Notice(Kind.UNSUBSCRIBE, recipient="wei@example.cn", unsubscribe_token=token)
    )
    assert processed.kept and processed.events[0].match.matched_by == "none"
    assert news.subscriber("wei@example.cn").status == "active"


@pytest.mark.parametrize("kind", [Kind.POLICY, Kind.DELAY, Kind.AUTOREPLY, Kind.DELIVERED])
def test_policy_rejections_delays_and_autoreplies_are_stored_and_change_nothing(
    news: Newsletter, kind: Kind
) -> None:
    processed = news.process(Notice(kind, status="5.7.1", verp=news.verp("ada@example.org")))
    assert not processed.kept
    assert [(e.match.matched_by, e.action) for e in processed.events] == [("verp", "none")]
    assert news.subscriber("ada@example.org").status == "active"
    assert news.events()[0].kind == kind.value


def test_an_unreadable_message_is_stored_and_kept_for_a_human(news: Newsletter) -> None:
    processed = news.process(problem="truncated MIME")
    assert processed.kept and processed.problem == "truncated MIME"
    assert news.events() == []
    with Session(news.engine) as session:
        [message] = session.exec(select(InboundMessage)).all()
    assert (message.problem, message.kept, message.kinds) == ("truncated MIME", True, "")


def test_a_forgotten_subscriber_leaves_anonymous_events(news: Newsletter) -> None:
    verp = news.verp("ada@example.org")
    diagnostic = 'smtp; 452 4.2.2 <Ada@Example.org>: over quota (ada@example.org, "x"@y.example)'
    news.process(Notice(Kind.DELAY, recipient="ada@example.org", verp=verp, diagnostic=diagnostic))
    with Session(news.engine) as session:
        ada = session.get(Subscriber, news.subscribers["ada@example.org"])
        assert ada is not None
        registry.forget(session, ada, NOW)
        session.commit()
    [event] = news.events()
    assert event.subscriber_id is None
    # The server's words are kept without the addresses in them.
    assert event.diagnostic == "smtp; 452 4.2.2 <<address>>: over quota (<address>, <address>)"
    # A bounce arriving after: tied to the delivery, nobody to act on, no crash.
    processed = news.process(Notice(Kind.HARD, status="5.1.1", verp=verp))
    assert processed.events[0].match.matched_by == "verp"
    assert processed.events[0].action == "none"


def test_hostile_values_are_stored_cut_and_on_one_line(news: Newsletter) -> None:
    notice = Notice(
        Kind.UNKNOWN,
        recipient="\x00\ud800<script>@example.org" * 50,
        status="5.1.1\r\nX-Evil: 1",
        diagnostic="550 \x00 broken \ud800 " + "x" * 100_000,
        verp="bounces+1-\x00@bounces.news.example.org",
        message_id="<" + "9" * 5000 + ">",
    )
    processed = news.process(notice)
    assert processed.kept
    [event] = news.events()
    assert len(event.diagnostic) == 500 and "\x00" not in event.diagnostic
    assert "\n" not in event.status and len(event.status) <= 16


def test_a_huge_diagnostic_without_an_address_is_stored_at_once(news: Newsletter) -> None:
    # Looking for addresses over all of it took time in the square of its length: a crafted
    # bounce with a 200 KB diagnostic held the processor for some eight minutes.
    notice = Notice(Kind.HARD, status="5.1.1", diagnostic="550 " + "x" * 200_000 + " a@b.example")
    done = threading.Thread(target=news.process, args=(notice,), daemon=True)
    done.start()
    done.join(timeout=30)
    assert not done.is_alive(), "still processing one notice after 30 s"
    [event] = news.events()
    assert event.diagnostic == "550 " + "x" * 496


def test_settings_need_the_secret_key_for_return_paths(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path)
    project = load_project(news.project.source, {})
    from newsletter.errors import NewsletterError

    with pytest.raises(NewsletterError, match="NEWSLETTER_SECRET_KEY"):
        InboundSettings.of(project)


def test_one_subscriber_bounced_twice_in_one_batch_is_acted_on_once(tmp_path: Path) -> None:
    from newsletter.inbound.processor import process_batch

    news = make_newsletter(tmp_path, mailings=2)
    readings = [
        Reading(digest_of(f"{n}".encode()), (Notice(kind, verp=news.verp("ada@example.org", n)),))
        for n, kind in ((1, Kind.HARD), (2, Kind.COMPLAINT))
    ]
    outcomes = process_batch(news.engine, readings, settings=news.settings, now=NOW)
    assert [o.events[0].action for o in outcomes] == ["suppressed", "already"]
    assert news.subscriber("ada@example.org").status == "bounced"
    assert news.suppressed("ada@example.org") == "bounced"
    assert [kind for kind, _ in news.consent("ada@example.org")] == ["add", "bounced"]
