"""The dashboard, /admin/: logging in (with TOTP, limited), sessions (fixation, logout, expiry,
a removed user), CSRF and roles on its one change so far (unsubscribe), the audit log, the
pages; with a real SQLite database and argon2 hashes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from newsletter.access.audit import recent
from newsletter.access.users import Role, add_user, enable_totp, remove_user, set_password
from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.render.i18n import Localizer
from newsletter.subscribers import registry
from newsletter.web.admin.labels import LABELS
from newsletter.web.app import create_app

from .test_delivery import add_reader, copy_of, make_project

BASE = "https://news.example.org"
PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """The app's wall clock and monotonic clock, moved on by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
        self.ticks = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        self.ticks += delta.total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def with_users(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with an admin, an editor and a viewer, made once: each test gets a copy (the
    argon2 hashes take a quarter of a second each)."""
    root = tmp_path_factory.mktemp("with-users")
    made = make_project(root, "null:")
    engine = create_db_engine(database_url(made))
    for name, role in (("ana", Role.ADMIN), ("eve", Role.EDITOR), ("vic", Role.VIEWER)):
        add_user(engine, name, role, PASSWORD, Clock()())
    engine.dispose()
    return root


@pytest.fixture
def project(tmp_path: Path, with_users: Path) -> Project:
    return copy_of(with_users, tmp_path / "project")


@pytest.fixture
def app(project: Project, clock: Clock) -> FastAPI:
    return create_app(project, clock=clock, monotonic=clock.monotonic)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as made:
        yield made


def log_in(
    client: TestClient, name: str, password: str = PASSWORD, code: str = "", next: str = ""
) -> int:
    """Fill in and post the login form as a browser would; the answer's status."""
    token = TOKEN.search(client.get("/admin/login").text)
    assert token is not None
    form = {"name": name, "password": password, "code": code, "csrf": token[1], "next": next}
    return client.post("/admin/login", data=form, follow_redirects=False).status_code


def form_token(client: TestClient, path: str = "/admin/") -> str:
    """The CSRF token the dashboard's page `path` gives its forms."""
    found = TOKEN.search(client.get(path).text)
    assert found is not None
    return found[1]


def logged_in(client: TestClient) -> bool:
    """Whether the client's cookie opens the dashboard (else it is sent to the login form)."""
    answer = client.get("/admin/", follow_redirects=False)
    assert answer.status_code in (200, 303)
    return answer.status_code == 200


def status_of(project: Project, email: str) -> str:
    with Session(create_db_engine(database_url(project))) as session:
        found = registry.find(session, email)
        assert found is not None
        return found.status


def audit_actions(project: Project) -> list[tuple[str, str, str]]:
    engine = create_db_engine(database_url(project))
    return [(entry.actor, entry.action, entry.target) for entry in recent(engine)]


# --- Logging in ---


def test_the_right_password_opens_the_dashboard_and_a_wrong_one_or_name_does_not(
    browser: TestClient,
) -> None:
    assert browser.get("/admin/", follow_redirects=False).headers["location"] == (
        "/admin/login?next=/admin/"
    )
    wrong = browser.post(
        "/admin/login",
        data={
            "name": "ana",
            "password": "wrong password!",
            "csrf": form_token(browser, "/admin/login"),
        },
    )
    unknown = browser.post(
        "/admin/login",
        data={"name": "nobody", "password": PASSWORD, "csrf": form_token(browser, "/admin/login")},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "The name, password or code is not right." in wrong.text
    assert TOKEN.sub("", wrong.text) == TOKEN.sub("", unknown.text)  # Nothing tells them apart.
    assert not logged_in(browser)

    assert log_in(browser, "ana") == 303
    cookie = browser.cookies.jar
    (made,) = [c for c in cookie if c.name == "nl_admin"]
    assert made.secure and made.path == "/admin" and made.has_nonstandard_attr("HttpOnly")
    page = browser.get("/admin/")
    assert page.status_code == 200
    assert re.search(r"active</a></dt><dd>4<", page.text)  # The four readers, by status.
    assert page.headers["x-frame-options"] == "DENY"


def test_after_login_the_browser_goes_where_it_was_going_but_never_off_the_dashboard(
    browser: TestClient,
) -> None:
    token = form_token(browser, "/admin/login")
    for wanted, went in [
        ("/admin/subscribers?q=ada", "/admin/subscribers?q=ada"),
        ("//evil.example/admin/", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("/subscribe", "/admin/"),
    ]:
        answer = browser.post(
            "/admin/login",
            data={"name": "ana", "password": PASSWORD, "csrf": token, "next": wanted},
            follow_redirects=False,
        )
        assert answer.headers["location"] == went


def test_a_login_form_without_its_token_or_from_another_site_is_refused(
    browser: TestClient, project: Project
) -> None:
    assert (
        browser.post("/admin/login", data={"name": "ana", "password": PASSWORD}).status_code == 403
    )
    token = form_token(browser, "/admin/login")
    answer = browser.post(
        "/admin/login",
        data={"name": "ana", "password": PASSWORD, "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403 and not logged_in(browser)


def test_the_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(
    app: FastAPI, clock: Clock
) -> None:
    with TestClient(app, base_url=BASE, client=("192.0.2.1", 5000)) as guesser:
        assert [log_in(guesser, "ana", f"guess number {n}") for n in range(5)] == [401] * 5
        assert log_in(guesser, "ana") == 429
        assert log_in(guesser, "eve") == 429  # The same address, another name.
    # Another address, the same name: the account is limited too.
    with TestClient(app, base_url=BASE, client=("198.51.100.7", 5000)) as other:
        assert log_in(other, "ana") == 429
        assert log_in(other, "eve") == 303
        clock.advance(timedelta(minutes=15))
        assert log_in(other, "ana") == 303


def test_a_user_with_totp_needs_the_current_code_and_each_code_works_once(
    browser: TestClient, project: Project, clock: Clock
) -> None:
    secret = enable_totp(create_db_engine(database_url(project)), "ana", "AI Weekly")
    assert secret.uri.startswith("otpauth://totp/AI%20Weekly:ana?secret=")
    totp = pyotp.TOTP(secret.secret)
    assert log_in(browser, "ana") == 401
    assert log_in(browser, "ana", code=totp.at(clock.now - timedelta(minutes=5))) == 401
    assert log_in(browser, "ana", code=totp.at(clock.now)) == 303
    browser.post("/admin/logout", data={"csrf": form_token(browser)})
    assert log_in(browser, "ana", code=totp.at(clock.now)) == 401  # Seen once already.
    clock.advance(timedelta(seconds=30))
    assert log_in(browser, "ana", code=totp.at(clock.now)) == 303


# --- Sessions ---


def test_a_session_id_the_browser_brought_is_never_the_session_after_login(
    browser: TestClient, app: FastAPI
) -> None:
    browser.cookies.set(
        "nl_admin", "planted-by-someone-else", domain="news.example.org", path="/admin"
    )
    assert not logged_in(browser)
    assert log_in(browser, "ana") == 303
    first = browser.cookies["nl_admin"]
    assert first != "planted-by-someone-else"
    # A session id that was good (say, another user's on a shared computer) is not reused
    # either: logging in again makes a new one, and the old one opens nothing.
    assert log_in(browser, "vic") == 303
    assert browser.cookies["nl_admin"] != first
    with TestClient(app, base_url=BASE) as holder_of_old:
        holder_of_old.cookies.set("nl_admin", first, domain="news.example.org", path="/admin")
        assert not logged_in(holder_of_old)


def test_logout_ends_the_session_on_the_server(browser: TestClient, app: FastAPI) -> None:
    log_in(browser, "ana")
    old = browser.cookies["nl_admin"]
    answer = browser.post(
        "/admin/logout", data={"csrf": form_token(browser)}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
    with TestClient(app, base_url=BASE) as replay:
        replay.cookies.set("nl_admin", old, domain="news.example.org", path="/admin")
        assert not logged_in(replay)


def test_sessions_end_when_idle_for_12_hours_and_after_7_days_in_any_case(
    browser: TestClient, clock: Clock
) -> None:
    log_in(browser, "ana")
    clock.advance(timedelta(hours=11, minutes=59))
    assert logged_in(browser)
    clock.advance(timedelta(hours=12))
    assert not logged_in(browser)
    log_in(browser, "ana")
    for _ in range(15):  # Busy all week, never idle for long.
        clock.advance(timedelta(hours=11))
        assert logged_in(browser)
    clock.advance(timedelta(hours=11))
    assert not logged_in(browser)


def test_a_removed_user_or_a_changed_password_ends_every_session(
    app: FastAPI, project: Project, clock: Clock
) -> None:
    engine = create_db_engine(database_url(project))
    with TestClient(app, base_url=BASE) as ana, TestClient(app, base_url=BASE) as vic:
        log_in(ana, "ana")
        log_in(vic, "vic")
        set_password(engine, "ana", "a new and longer password")
        assert not logged_in(ana) and logged_in(vic)
        assert log_in(ana, "ana", "a new and longer password") == 303
        remove_user(engine, "vic", clock())
        assert not logged_in(vic)
        assert log_in(vic, "vic") == 401


# --- Unsubscribing: roles, CSRF, audit ---


def test_an_admin_unsubscribes_a_reader_and_the_audit_log_says_who(
    browser: TestClient, project: Project
) -> None:
    log_in(browser, "ana")
    page = browser.get("/admin/subscribers/1")
    assert "ada@example.org" in page.text and ">Unsubscribe</button>" in page.text
    answer = browser.post(
        "/admin/subscribers/1/unsubscribe",
        data={"csrf": form_token(browser)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/subscribers/1"
    assert status_of(project, "ada@example.org") == "unsubscribed"
    # Named by id, not address: the log keeps no personal data a forget would have to reach.
    assert any(
        (actor, action) == ("ana", "subscriber.unsubscribe") and target.startswith("subscriber:")
        for actor, action, target in audit_actions(project)
    )
    history = browser.get("/admin/subscribers/1").text
    assert "<td>unsubscribed</td><td>admin</td><td>admin:ana</td>" in history
    assert ">Unsubscribe</button>" not in history


@pytest.mark.parametrize("name", ["vic", "eve"])
def test_a_viewer_or_editor_cannot_unsubscribe_and_nothing_changes(
    browser: TestClient, project: Project, name: str
) -> None:
    log_in(browser, name)
    assert ">Unsubscribe</button>" not in browser.get("/admin/subscribers/1").text
    answer = browser.post("/admin/subscribers/1/unsubscribe", data={"csrf": form_token(browser)})
    assert answer.status_code == 403 and "Your role does not allow this" in answer.text
    assert status_of(project, "ada@example.org") == "active"
    assert [action for _, action, _ in audit_actions(project)] == ["login"]


def test_an_unsubscribe_without_the_sessions_token_is_refused_and_nothing_changes(
    browser: TestClient, app: FastAPI, project: Project
) -> None:
    log_in(browser, "ana")
    with TestClient(app, base_url=BASE) as other_admin:
        log_in(other_admin, "ana")
        others_token = form_token(other_admin)
    own = form_token(browser)
    for data, headers in [
        ({}, {}),  # No token.
        ({"csrf": "0" * 64}, {}),  # A forged one.
        ({"csrf": others_token}, {}),  # Another session's.
        ({"csrf": own}, {"Origin": "https://evil.example"}),  # Posted from another site.
    ]:
        answer = browser.post("/admin/subscribers/1/unsubscribe", data=data, headers=headers)
        assert answer.status_code == 403, data
    assert status_of(project, "ada@example.org") == "active"
    assert "subscriber.unsubscribe" not in {action for _, action, _ in audit_actions(project)}


# --- Pages ---


def test_subscribers_are_searched_by_address_and_status_a_page_at_a_time(
    browser: TestClient, project: Project
) -> None:
    for n in range(60):
        add_reader(project, f"reader{n:02}@example.net")
    log_in(browser, "vic")
    found = browser.get("/admin/subscribers", params={"q": "example.net"}).text
    assert found.count("@example.net</a>") == 50 and "reader49@" in found
    next_page = re.search(r'rel="next" href="([^"]+)"', found)
    assert next_page is not None
    rest = browser.get(next_page[1].replace("&amp;", "&")).text
    assert rest.count("@example.net</a>") == 10 and "reader50@" in rest and "reader49@" not in rest
    assert 'rel="next"' not in rest
    assert "wei@example.cn" in browser.get("/admin/subscribers?q=%E5%BC%A0").text  # 张伟
    assert "No subscriber matches." in browser.get("/admin/subscribers?status=bounced").text


def test_the_pages_are_in_the_browsers_language_direction_and_need_no_script(
    browser: TestClient,
) -> None:
    log_in(browser, "vic")
    page = browser.get("/admin/subscribers/4", headers={"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in page.text and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert browser.get("/admin/subscribers/999").status_code == 404


def test_stored_statuses_and_roles_read_in_the_page_s_language(browser: TestClient) -> None:
    """A status, a consent event, a role: the database's words, shown in the page's words."""
    log_in(browser, "vic")
    german = Localizer("de")
    page = browser.get("/admin/subscribers?status=active", headers={"Accept-Language": "de"})
    active, viewer = german.gettext(LABELS["active"]), german.gettext(LABELS["viewer"])
    assert active != "active" and viewer != "viewer"
    assert f"<td>{active}</td>" in page.text and "<td>active</td>" not in page.text
    assert f"({viewer})" in page.text
    assert f'<option value="active" selected>{active}</option>' in page.text
    one = browser.get("/admin/subscribers/1", headers={"Accept-Language": "de"}).text
    assert f"<td>{german.gettext(LABELS['add'])}</td>" in one  # Its consent history.


def test_the_users_commands_add_list_and_set_up_totp(project: Project) -> None:
    from typer.testing import CliRunner

    from newsletter.cli import app as cli

    def run(*args: str, stdin: str = "") -> tuple[int, str]:
        result = CliRunner().invoke(
            cli, ["--config", str(project.source), "users", *args], input=stdin,
            env={"NEWSLETTER_SECRET_KEY": "x" * 32},
        )  # fmt: skip
        return result.exit_code, result.output

    assert run("add", "zoe", "--role", "viewer", "--password-stdin", stdin="too short\n") == (
        1,
        "error: a password needs at least 12 characters\n"
        "  fix: use a passphrase of several words, or a password manager's\n",
    )
    assert run("add", "zoe", "--role", "boss", "--password-stdin", stdin=PASSWORD)[0] == 1
    assert run("add", "zoe", "--role", "viewer", stdin=f"{PASSWORD}\n{PASSWORD}\n")[0] == 0
    assert run("add", "zoe", "--role", "admin", "--password-stdin", stdin=PASSWORD)[0] == 1
    code, listed = run("list")
    assert code == 0 and re.search(r"zoe\s+│\s+viewer", listed)
    code, shown = run("totp", "zoe")
    assert code == 0 and "otpauth://totp/AI%20Weekly:zoe?secret=" in shown
    assert run("remove", "zoe")[0] == 0 and run("remove", "nobody")[0] == 1
