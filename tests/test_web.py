"""The public web app against real SQLite files and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlmodel import Session, select

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade
from newsletter.errors import NewsletterError
from newsletter.subscribers import registry
from newsletter.subscribers.models import ConsentEvent, Subscriber, Suppression, Tag
from newsletter.subscribers.tokens import Tokens
from newsletter.web.app import create_app
from newsletter.web.security import RateLimiter

from .conftest import SmtpServer

SECRET = "test-secret-key-0123456789abcdef"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\nsender_address = "weekly@news.example.org"\n'
        'locales = ["en", "zh", "de", "ar"]\ntimezone = "Europe/Berlin"\n'
        f'database_url = "sqlite:///subscribers.db"\ntransport_url = "{smtp_server.url}"\npostal_address = "1 Main St"\n',
        encoding="utf-8",
    )
    project = load_project(
        tmp_path / "config" / "newsletter.toml", environ={"NEWSLETTER_SECRET_KEY": SECRET}
    )
    upgrade(create_db_engine(database_url(project)))
    return project


@pytest.fixture
def client(project: Project) -> TestClient:
    return TestClient(create_app(project, clock=lambda: NOW))


def _engine(project: Project):  # type: ignore[no-untyped-def]
    return create_db_engine(database_url(project))


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _add(project: Project, email: str, status: str = "active", locale: str = "en") -> Subscriber:
    config = project.config
    with Session(_engine(project)) as session:
        profile = registry.make_profile(
            email,
            "",
            locale,
            None,
            ["weekly"],
            config.locales,
            config.default_locale,
            config.timezone,
        )
        subscriber = registry.add(
            session, profile, status=status, method="test", source="test", now=NOW
        )
        session.commit()
        session.refresh(subscriber)
        return subscriber


def _subscriber(project: Project, email: str) -> Subscriber | None:
    with Session(_engine(project)) as session:
        return registry.find(session, email)


def test_double_opt_in_round_trip(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    form = client.get("/subscribe", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert form.status_code == 200 and '<html lang="de"' in form.text
    answer = client.post(
        "/subscribe",
        data={
            "email": "Ana.Lima@Example.org",
            "name": "Ana Lima",
            "locale": "de",
            "timezone": "America/Sao_Paulo",
            "csrf": _csrf(form.text),
        },
    )
    assert answer.status_code == 200
    subscriber = _subscriber(project, "ana.lima@example.org")
    assert (
        subscriber is not None
        and subscriber.status == "pending"
        and subscriber.timezone == "America/Sao_Paulo"
    )
    assert len(smtp_server.received) == 1
    received = smtp_server.received[0]
    assert received.recipients == ["Ana.Lima@example.org"]
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert (
        message["Subject"] == "Bestätigen Sie Ihr Abonnement von AI Weekly"
    )  # In the language chosen.
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://news\.example\.org(/confirm/\S+)", text)
    assert link and link.group(0) in html
    page = client.get(link.group(1))
    assert page.status_code == 200 and "<form" in page.text
    assert _subscriber(project, "ana.lima@example.org").status == "pending"  # type: ignore[union-attr]  # Opening the link alone changes nothing.
    done = client.post(link.group(1), data={"csrf": _csrf(page.text)})
    assert done.status_code == 200
    subscriber = _subscriber(project, "ana.lima@example.org")
    assert (
        subscriber is not None and subscriber.status == "active" and subscriber.confirmed_at == NOW
    )
    with Session(_engine(project)) as session:
        kinds = [
            event.kind
            for event in session.exec(
                select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id)
            )
        ]
    assert kinds == ["subscribe", "confirmation-sent", "confirm"]  # The email is evidence too.


def test_pages_speak_the_browser_language(client: TestClient) -> None:
    arabic = client.get("/subscribe", headers={"Accept-Language": "ar-EG,ar;q=0.9"})
    assert '<html lang="ar" dir="rtl">' in arabic.text and "اشترك" in arabic.text
    assert '<html lang="zh"' in client.get("/subscribe?lang=zh").text
    assert '<html lang="en"' in client.get("/subscribe", headers={"Accept-Language": "sv-SE"}).text


def test_one_click_unsubscribe(client: TestClient, project: Project) -> None:
    subscriber = _add(project, "bo@example.org")
    token = Tokens(SECRET).make("unsubscribe", subscriber)
    response = client.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    after = _subscriber(project, "bo@example.org")
    assert after is not None and after.status == "unsubscribed"
    with Session(_engine(project)) as session:
        assert registry.is_suppressed(session, "bo@example.org")
        event = session.exec(select(ConsentEvent).where(ConsentEvent.kind == "unsubscribed")).one()
        assert event.method == "one-click"
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # Twice is harmless.


def test_unsubscribe_page_needs_a_click(client: TestClient, project: Project) -> None:
    subscriber = _add(project, "cy@example.org")
    page = client.get(f"/unsubscribe/{Tokens(SECRET).make('unsubscribe', subscriber)}")
    assert page.status_code == 200 and 'method="post"' in page.text
    assert _subscriber(project, "cy@example.org").status == "active"  # type: ignore[union-attr]


def test_bad_tokens_are_rejected(client: TestClient, project: Project) -> None:
    ann = _add(project, "ann@example.org", status="pending")
    bob = _add(project, "bob@example.org")
    tokens = Tokens(SECRET)
    good = tokens.make("unsubscribe", ann)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    forged = Tokens("another-secret-0123456789").make("unsubscribe", bob)
    wrong_purpose = tokens.make("confirm", bob)
    expired = (
        _EightDaysAgo(SECRET, salt="newsletter.confirm").sign(f"{ann.id}.{_binding(ann)}").decode()
    )
    for path in (
        f"/unsubscribe/{tampered}",
        f"/unsubscribe/{forged}",
        f"/unsubscribe/{wrong_purpose}",
        f"/confirm/{expired}",
        f"/preferences/{good}",
    ):
        response = client.post(path) if path.startswith("/unsubscribe") else client.get(path)
        assert response.status_code == 400, path
    assert _subscriber(project, "bob@example.org").status == "active"  # type: ignore[union-attr]
    assert _subscriber(project, "ann@example.org").status == "pending"  # type: ignore[union-attr]
    # A token stops working when the address it was made for changes (no reuse across people).
    with Session(_engine(project)) as session:
        moved = session.get(Subscriber, bob.id)
        assert moved is not None
        moved.email, moved.email_key = "robert@example.org", "robert@example.org"
        session.commit()
    assert client.post(f"/unsubscribe/{tokens.make('unsubscribe', bob)}").status_code == 400


class _EightDaysAgo(TimestampSigner):
    """Signs as if it were eight days ago: a confirmation link past its seven days."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 8 * 24 * 3600


def _binding(subscriber: Subscriber) -> str:
    import hashlib

    return hashlib.sha256(subscriber.email_key.encode()).hexdigest()[:16]


def test_honeypot_rate_limit_and_no_enumeration(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    csrf = _csrf(client.get("/subscribe").text)
    bot = client.post(
        "/subscribe",
        data={"email": "bot@example.org", "website": "https://spam.example", "csrf": csrf},
    )
    new = client.post("/subscribe", data={"email": "new@example.org", "csrf": csrf})
    _add(project, "known@example.org")
    known = client.post("/subscribe", data={"email": "known@example.org", "csrf": csrf})
    assert bot.status_code == new.status_code == known.status_code == 200
    assert _heading(bot.text) == _heading(new.text) == _heading(known.text)
    assert _subscriber(project, "bot@example.org") is None
    assert [r.recipients for r in smtp_server.received] == [["new@example.org"]]
    statuses = [
        client.post("/subscribe", data={"email": f"x{n}@example.org", "csrf": csrf}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]  # Five attempts per ten minutes from one address.


def test_the_rate_limiter_forgets_idle_clients_beyond_its_bound() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, lambda: now[0], most_clients=10)
    for number in range(20):
        assert limiter.allow(f"192.0.2.{number}")
    assert limiter.clients() == 20  # Swept once (at the 11th), when none was idle yet.
    now[0] = 61.0
    assert limiter.allow("198.51.100.1")
    assert limiter.clients() == 1
    assert limiter.allow("198.51.100.1") and not limiter.allow("198.51.100.1")


def _heading(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page)
    assert match
    return match.group(1)


def test_forms_refuse_other_sites_and_missing_tokens(client: TestClient, project: Project) -> None:
    csrf = _csrf(client.get("/subscribe").text)
    assert client.post("/subscribe", data={"email": "a@example.org"}).status_code == 400
    assert (
        client.post(
            "/subscribe",
            data={"email": "a@example.org", "csrf": csrf},
            headers={"Origin": "https://evil.example"},
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/subscribe", data={"email": "a" * 400 + "@example.org", "csrf": csrf}
        ).status_code
        == 400
    )
    assert (
        client.post("/subscribe", data={"email": "not-an-address", "csrf": csrf}).status_code == 400
    )
    assert _subscriber(project, "a@example.org") is None


def test_suppressed_addresses_cannot_subscribe_again(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    subscriber = _add(project, "gone@example.org")
    client.post(f"/unsubscribe/{Tokens(SECRET).make('unsubscribe', subscriber)}")
    response = client.post(
        "/subscribe",
        data={"email": "GONE@example.org", "csrf": _csrf(client.get("/subscribe").text)},
    )
    assert response.status_code == 200
    assert smtp_server.received == []
    assert _subscriber(project, "gone@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_preferences_change_language_time_zone_and_topics(
    client: TestClient, project: Project
) -> None:
    subscriber = _add(project, "dee@example.org")
    with Session(_engine(project)) as session:
        session.add(Tag(name="research"))
        session.commit()
    path = f"/preferences/{Tokens(SECRET).make('preferences', subscriber)}"
    page = client.get(path)
    assert page.status_code == 200 and 'value="research"' in page.text
    bad = client.post(
        path, data={"locale": "xx", "timezone": "Asia/Tokyo", "csrf": _csrf(page.text)}
    )
    assert bad.status_code == 400
    saved = client.post(
        path,
        data={
            "locale": "zh",
            "timezone": "Asia/Tokyo",
            "tags": ["research"],
            "csrf": _csrf(page.text),
        },
    )
    assert saved.status_code == 200 and '<html lang="zh"' in saved.text
    with Session(_engine(project)) as session:
        after = session.get(Subscriber, subscriber.id)
        assert after is not None and (after.locale, after.timezone) == ("zh", "Asia/Tokyo")
        assert registry.tags_of(session, after) == ["research"]
        event = session.exec(select(ConsentEvent).where(ConsentEvent.kind == "preferences")).one()
        assert event.details["changes"]["locale"] == ["en", "zh"]


def test_healthz_and_outdated_schema(project: Project, client: TestClient, tmp_path: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    old = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0001")
    with pytest.raises(NewsletterError, match="newsletter db upgrade"):
        create_app(project, engine=old)


def test_missing_secret_key_is_refused(tmp_path: Path, project: Project) -> None:
    unsigned = load_project(project.source, environ={})
    with pytest.raises(NewsletterError, match="NEWSLETTER_SECRET_KEY"):
        create_app(unsigned, engine=_engine(project))


def test_suppression_survives_forget(project: Project) -> None:
    subscriber = _add(project, "eve@example.org")
    with Session(_engine(project)) as session:
        found = session.get(Subscriber, subscriber.id)
        assert found is not None
        registry.forget(session, found, NOW)
        session.commit()
        assert session.exec(select(Subscriber)).all() == []
        assert session.exec(select(ConsentEvent)).all() == []
        assert [row.reason for row in session.exec(select(Suppression))] == ["forgotten"]


TOPICS = (
    '[topics.research]\nen = "Research papers"\nde = "Forschungsarbeiten"\n'
    '\n[topics.weekly]\nen = "The weekly issue"\n'
)


def with_topics(project: Project, topics: str) -> tuple[Project, TestClient]:
    """The project with `topics` (TOML tables) added to its configuration, and its web app."""
    source = project.source
    assert source is not None
    source.write_text(source.read_text(encoding="utf-8") + "\n" + topics, encoding="utf-8")
    project = load_project(source, environ={"NEWSLETTER_SECRET_KEY": SECRET})
    return project, TestClient(create_app(project, clock=lambda: NOW))


def test_preferences_name_the_address_and_show_topics_in_the_readers_language(
    project: Project,
) -> None:
    project, client = with_topics(project, TOPICS)
    subscriber = _add(project, "dee@example.org", locale="de")
    with Session(_engine(project)) as session:
        session.add(Tag(name="research"))
        session.add(Tag(name="sample"))
        session.commit()
    page = client.get(f"/preferences/{Tokens(SECRET).make('preferences', subscriber)}").text
    assert 'Diese Einstellungen gelten für <bdi dir="ltr">dee@example.org</bdi>.' in page
    topics = re.findall(r'value="([^"]+)"( checked)?> <span( lang="[^"]+")?>([^<]+)</span>', page)
    assert topics == [  # In the order of their names: German, else English (marked).
        ("research", "", "", "Forschungsarbeiten"),
        ("weekly", " checked", ' lang="en"', "The weekly issue"),
    ]  # `sample` is the operator's tag, not a configured topic: not offered.


def test_with_topics_configured_a_reader_can_neither_take_nor_lose_the_operators_tags(
    project: Project,
) -> None:
    project, client = with_topics(project, '[topics.research]\nen = "Research papers"\n')
    subscriber = _add(project, "dee@example.org")  # Tagged `weekly` by the operator.
    with Session(_engine(project)) as session:
        session.add(Tag(name="vip"))
        session.commit()
    url = f"/preferences/{Tokens(SECRET).make('preferences', subscriber)}"
    form = {"locale": "en", "timezone": "Europe/Berlin", "csrf": _csrf(client.get(url).text)}
    forged = client.post(url, data={**form, "tags": ["research", "vip"]})
    assert forged.status_code == 400
    assert client.post(url, data={**form, "tags": ["research"]}).status_code == 200
    with Session(_engine(project)) as session:
        found = registry.find(session, "dee@example.org")
        assert found is not None
        assert registry.tags_of(session, found) == ["research", "weekly"]


def test_the_subscribe_form_offers_the_configured_topics_and_keeps_only_those(
    project: Project,
) -> None:
    project, client = with_topics(project, TOPICS)
    with Session(_engine(project)) as session:
        session.add(Tag(name="vip"))  # An operator's own tag: never offered, never taken.
        session.commit()
    page = client.get("/subscribe", headers={"Accept-Language": "de"}).text
    topics = re.findall(r'value="([^"]+)"( checked)?> <span( lang="[^"]+")?>([^<]+)</span>', page)
    assert topics == [
        ("research", "", "", "Forschungsarbeiten"),
        ("weekly", "", ' lang="en"', "The weekly issue"),
    ]
    answer = client.post(
        "/subscribe",
        data={
            "email": "dee@example.org", "locale": "de", "csrf": _csrf(page),
            "tags": ["research", "vip", "made-up"],
        },
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    with Session(_engine(project)) as session:
        subscriber = registry.find(session, "dee@example.org")
        assert subscriber is not None and subscriber.status == "pending"
        assert registry.tags_of(session, subscriber) == ["research"]
        assert sorted(session.exec(select(Tag.name)).all()) == ["research", "vip"]
