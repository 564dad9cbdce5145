"""The dashboard's sends: the list, a send's page and its progress JSON, pausing and resuming,
starting a send from an issue (confirmed, once per form), the script and its CSP; and in real
Chromium, a send's page following a real delivery to 100% without a reload."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from newsletter.access.audit import recent
from newsletter.access.sessions import start_session
from newsletter.access.users import Role, add_user, list_users
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.models import MAILING, Mailing
from newsletter.sends import SendMode, load_issue, send_issue
from newsletter.web.admin.sends import PAGE
from newsletter.web.app import create_app

from .conftest import Recorder, SmtpServer, serving, web_server
from .test_admin import BASE, PASSWORD, TOKEN, form_token, log_in
from .test_audience_record import interrupt
from .test_delivery import ISSUE, SECRET, deliveries, import_readers, make_project, newsletter
from .test_service import free_port

ONCE = re.compile(r'name="once" value="([^"]+)"')
SCRIPT = re.compile(r'<script src="([^"]+)" defer></script>')


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the four sample readers and three users, made once (argon2 is slow):
    each test gets a copy."""
    root = tmp_path_factory.mktemp("template")
    made = make_project(root, "null:")
    engine = create_db_engine(database_url(made))
    for name, role in (("ana", Role.ADMIN), ("eve", Role.EDITOR), ("vic", Role.VIEWER)):
        add_user(engine, name, role, PASSWORD, utcnow())
    engine.dispose()
    return root


def copy_project(template: Path, root: Path, transport_url: str, base_url: str = BASE) -> Project:
    shutil.copytree(template, root)
    config = root / "config" / "newsletter.toml"
    text = config.read_text(encoding="utf-8").replace('"null:"', f'"{transport_url}"')
    config.write_text(text.replace(BASE, base_url), encoding="utf-8")
    return load_project(config, {"NEWSLETTER_SECRET_KEY": SECRET})


@pytest.fixture
def project(template: Path, tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return copy_project(template, tmp_path / "project", f"{smtp_server.url}?connections=1")


@pytest.fixture
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project), base_url=BASE) as made:
        yield made


def confirmation(client: TestClient, to: str = "") -> tuple[str, str, str]:
    """The confirmation page of a send of ISSUE to `to`: (page, CSRF token, one-time token)."""
    page = client.get(f"/admin/issues/{ISSUE}/send", params={"to": to})
    assert page.status_code == 200, page.text
    csrf, once = TOKEN.search(page.text), ONCE.search(page.text)
    assert csrf is not None and once is not None
    return page.text, csrf[1], once[1]


def start(client: TestClient, csrf: str, once: str, to: str = "") -> tuple[int, str]:
    """Post the confirmation's form: (status, Location)."""
    answer = client.post(
        f"/admin/issues/{ISSUE}/send",
        data={"csrf": csrf, "once": once, "to": to},
        follow_redirects=False,
    )
    return answer.status_code, answer.headers.get("location", "")


def mailings(project: Project) -> list[Mailing]:
    with Session(create_db_engine(database_url(project))) as session:
        return list(session.exec(select(Mailing).order_by(col(Mailing.id))))


def actions(project: Project) -> list[tuple[str, str, str]]:
    engine = create_db_engine(database_url(project))
    return [(entry.actor, entry.action, entry.target) for entry in recent(engine)]


def started_by_ana(client: TestClient) -> tuple[str, str]:
    """The issue's send started on the dashboard by ana, an admin: her form token and the
    send's page."""
    assert log_in(client, "ana") == 303
    _, csrf, once = confirmation(client)
    return csrf, start(client, csrf, once)[1]


def main_of(page: str) -> str:
    return page.split("<main", 1)[1].split("</main>", 1)[0]


def test_an_admin_confirms_then_starts_a_send_and_lands_on_its_page(
    client: TestClient, project: Project
) -> None:
    assert log_in(client, "ana") == 303
    issue = client.get(f"/admin/issues/{ISSUE}").text
    assert f'action="/admin/issues/{ISSUE}/send"' in issue  # The form, for admins.
    page, csrf, once = confirmation(client)
    rows = re.findall(
        r'<tr><td>(\w+)</td><td lang="[^"]+" dir="auto">[^<]*</td><td class="nl-num">(\d+)', page
    )
    # Ada (en), Jonas (de) and Noor (ar) get the English edition; Wei the Chinese one: as
    # `send --dry-run` counts them.
    assert rows == [("en", "3"), ("zh", "1")]
    dry_run = newsletter(project, "send", ISSUE, "--dry-run")[1]
    assert re.findall(r"│ (\w+) +│ (\d+) ", dry_run) == rows
    assert mailings(project) == []  # Confirming writes nothing.
    status, location = start(client, csrf, once)
    [mailing] = mailings(project)
    assert (status, location) == (303, f"/admin/sends/{mailing.id}")
    assert len(deliveries(project)) == 4  # Queued for `newsletter run`.
    sent = client.get(location)
    assert sent.status_code == 200 and 'value="0"' in sent.text and ">4</span>" in sent.text
    assert ("ana", "send.start", ISSUE) in actions(project)


def test_a_segment_limits_the_send_and_one_that_does_not_parse_is_refused_as_the_cli_says(
    client: TestClient, project: Project
) -> None:
    assert log_in(client, "ana") == 303
    bad = client.get(f"/admin/issues/{ISSUE}/send", params={"to": "locale ="})
    code, output = newsletter(project, "send", ISSUE, "--dry-run", "--to", "locale =")
    assert bad.status_code == 422 and code != 0
    assert "--to: segment &#39;locale =&#39;: at 9: expected a quoted value" in bad.text
    assert "--to: segment 'locale =': at 9: expected a quoted value" in output
    page, csrf, once = confirmation(client, 'locale = "zh"')
    assert re.findall(r'<td class="nl-num">(\d+)</td></tr>', page) == ["0", "1"]
    assert start(client, csrf, once, 'locale = "zh"')[0] == 303
    assert [email for email, _ in deliveries(project)] == ["wei@example.cn"]
    assert mailings(project)[0].tag == 'locale = "zh"'


def test_a_second_post_of_the_same_form_starts_nothing_and_goes_to_the_same_page(
    client: TestClient, project: Project
) -> None:
    assert log_in(client, "ana") == 303
    _, csrf, once = confirmation(client)
    # A double click: two posts of the one form at the same moment, from two threads.
    answers: list[tuple[int, str]] = []
    ready = threading.Barrier(2)

    def post() -> None:
        ready.wait()
        answers.append(start(client, csrf, once))

    posts = [threading.Thread(target=post) for _ in range(2)]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join(60)
    [mailing] = mailings(project)
    assert answers == [(303, f"/admin/sends/{mailing.id}")] * 2
    assert start(client, csrf, once) == (303, f"/admin/sends/{mailing.id}")  # A retry later.
    assert [a for _, a, _ in actions(project)].count("send.start") == 1
    other = client.post(
        f"/admin/issues/{ISSUE}/send",
        data={"csrf": csrf, "once": once, "to": "weekly"},
        follow_redirects=False,
    )
    assert other.status_code == 409  # The same token with another segment.
    assert len(deliveries(project)) == 4


def test_a_draft_is_refused_with_the_clis_message_and_nothing_is_queued(
    client: TestClient, project: Project
) -> None:
    main = project.issues_path / ISSUE / "issue.md"
    text = main.read_text(encoding="utf-8").replace("status: sent\n", "status: draft\n")
    main.write_text(text, encoding="utf-8")
    code, output = newsletter(project, "send", ISSUE)
    said = f"issue {ISSUE} is a draft (status: draft): only --test and --dry-run send a draft"
    assert code != 0 and said in output
    assert log_in(client, "ana") == 303
    page = client.get(f"/admin/issues/{ISSUE}/send").text
    assert said in page and "Start the send" not in page  # No form to post.
    csrf, once = form_token(client), "a-form-of-a-page-opened-earlier"
    refused = client.post(
        f"/admin/issues/{ISSUE}/send",
        data={"csrf": csrf, "once": once},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and said in refused.text
    assert "status: ready" in refused.text  # The fix, as the CLI's hint says it.
    assert mailings(project) == [] and actions(project).count(("ana", "send.start", ISSUE)) == 0
    # Once it is ready, the same form goes through: a refusal keeps no answer for its token.
    main.write_text(text.replace("status: draft\n", "status: ready\n"), encoding="utf-8")
    assert start(client, csrf, once)[0] == 303 and len(deliveries(project)) == 4


def test_settings_that_would_fail_every_message_are_refused_as_the_cli_says(
    template: Path, tmp_path: Path
) -> None:
    project = copy_project(template, tmp_path / "project", "null:")
    config = project.source
    assert config is not None
    config.write_text(config.read_text(encoding="utf-8") + 'dkim_selector = "mail"\n')
    project = load_project(config, {"NEWSLETTER_SECRET_KEY": SECRET})
    code, output = newsletter(project, "send", ISSUE)
    said = "dkim_selector is set, but NEWSLETTER_DKIM_PRIVATE_KEY holds neither"
    assert code != 0 and said in output
    with TestClient(create_app(project), base_url=BASE) as client:
        assert log_in(client, "ana") == 303
        page = client.get(f"/admin/issues/{ISSUE}/send").text
        assert said in page and "Start the send" not in page
        refused = client.post(
            f"/admin/issues/{ISSUE}/send",
            data={"csrf": form_token(client), "once": "a-form-of-a-page-opened-earlier"},
        )
        assert refused.status_code == 422 and said in refused.text
    assert mailings(project) == []


@pytest.mark.parametrize("name", ["vic", "eve"])
def test_viewers_and_editors_may_not_start_pause_or_resume_a_send(
    client: TestClient, project: Project, name: str
) -> None:
    assert newsletter(project, "send", ISSUE)[0] == 0
    [mailing] = mailings(project)
    assert log_in(client, name) == 303
    page = client.get(f"/admin/sends/{mailing.id}")
    assert page.status_code == 200 and "<form" not in main_of(page.text)
    assert f"/admin/issues/{ISSUE}/send" not in client.get(f"/admin/issues/{ISSUE}").text
    assert client.get(f"/admin/issues/{ISSUE}/send").status_code == 403
    csrf = TOKEN.search(page.text)
    assert csrf is not None
    assert start(client, csrf[1], "z" * 32)[0] == 403
    for change in ("pause", "resume"):
        answer = client.post(f"/admin/sends/{mailing.id}/{change}", data={"csrf": csrf[1]})
        assert answer.status_code == 403
    assert mailings(project)[0].paused_at is None
    assert [a for _, a, _ in actions(project)] == ["login"]


def test_every_post_needs_the_sessions_csrf_token(client: TestClient, project: Project) -> None:
    assert log_in(client, "ana") == 303
    _, csrf, once = confirmation(client)
    for token in ("", "0" * 64):
        assert start(client, token, once)[0] == 403
    assert mailings(project) == []
    assert start(client, csrf, once)[0] == 303
    [mailing] = mailings(project)
    forged = client.post(f"/admin/sends/{mailing.id}/pause", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and mailings(project)[0].paused_at is None


def test_the_progress_json_counts_a_real_sends_deliveries(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    smtp_server.recorder.replies["noor@example.org"] = "550 5.1.1 no such user"
    assert log_in(client, "vic") == 303
    assert newsletter(project, "send", ISSUE, "--to", 'locale = "en"')[0] == 0  # Ada only.
    [mailing] = mailings(project)
    code, output = newsletter(project, "send", ISSUE)  # Adds the other three, delivers them.
    assert code == 0, output
    progress = client.get(f"/admin/sends/{mailing.id}/progress")
    assert progress.headers["cache-control"] == "no-store"
    states: dict[str, int] = {}
    for _, delivery in deliveries(project):
        states[delivery.state] = states.get(delivery.state, 0) + 1
    assert states == {"sent": 3, "failed": 1}
    assert progress.json() == {
        "id": mailing.id,
        "states": {"queued": 0, "sending": 0, **states, "skipped": 0},
        "locales": {"en": {"sent": 2, "failed": 1}, "zh": {"sent": 1}},
        "done": 4, "total": 4, "percent": 100, "phase": "done", "finished": True,
    }  # fmt: skip
    page = client.get(f"/admin/sends/{mailing.id}").text
    assert 'value="100"' in page and "noor@example.org" in page and "550 5.1.1" in page
    # The same numbers as the API's.
    assert 'data-count="all:failed">1<' in page and 'data-count="en:sent">2<' in page


def test_an_admin_pauses_and_resumes_a_send_and_the_progress_says_so(
    client: TestClient, project: Project
) -> None:
    csrf, location = started_by_ana(client)
    first = client.get(f"{location}/progress").json()
    assert (first["phase"], first["percent"], first["finished"]) == ("running", 0, False)
    paused = client.post(f"{location}/pause", data={"csrf": csrf})
    assert paused.status_code == 200 and "Resume" in main_of(paused.text)
    assert client.get(f"{location}/progress").json()["phase"] == "paused"
    code, output = newsletter(project, "send", ISSUE)  # A paused send delivers nothing.
    assert code == 0 and "paused since" in output
    resumed = client.post(f"{location}/resume", data={"csrf": csrf})
    assert resumed.status_code == 200 and "Pause" in main_of(resumed.text)
    assert client.get(f"{location}/progress").json()["phase"] == "running"
    assert {("ana", "send.pause", ISSUE), ("ana", "send.resume", ISSUE)} <= set(actions(project))


def test_pause_then_resume_queues_the_rest_of_an_interrupted_audience_and_says_how_many(
    client: TestClient, project: Project
) -> None:
    """The dashboard's way to finish a send whose queueing was interrupted (docs/admin.md)."""
    csrf, location = started_by_ana(client)
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=1)
    assert client.get(f"{location}/progress").json()["phase"] == "queueing"
    assert client.post(f"{location}/pause", data={"csrf": csrf}).status_code == 200
    assert client.post(f"{location}/resume", data={"csrf": csrf}).status_code == 200
    rest_queued(client, location, engine, lost, "running", "send.resume")
    engine.dispose()


def rest_queued(
    client: TestClient, location: str, engine: Engine, lost: list[str], phase: str, action: str
) -> None:
    """The send at its page `location` is in `phase` with the `lost` readers queued again,
    and the audit entry `action` says how many it added."""
    progress = client.get(f"{location}/progress").json()
    assert (progress["phase"], progress["total"]) == (phase, 1 + len(lost))
    [entry] = [entry for entry in recent(engine) if entry.action == action]
    assert json.loads(entry.detail or "{}")["added"] == len(lost) > 0


def test_queue_the_rest_finishes_an_interrupted_queueing_without_a_pause(
    client: TestClient, project: Project
) -> None:
    """While a send's recipients are being queued (or that was interrupted), its page offers
    "Queue the rest", in the admin's language; once all are queued, it does not."""
    csrf, location = started_by_ana(client)
    action = f'action="{location}/queue-rest" data-while-unfinished data-while-queueing'
    assert action not in client.get(location).text  # Every recipient queued.
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=1)
    assert action in client.get(location).text and "Queue the rest" in client.get(location).text
    german = client.get(location, headers={"Accept-Language": "de"}).text
    assert "Rest einreihen" in german and "niemand doppelt" in german
    assert client.post(f"{location}/queue-rest", data={"csrf": csrf}).status_code == 200
    rest_queued(client, location, engine, lost, "running", "send.queue_rest")
    assert action not in client.get(location).text
    engine.dispose()


def test_queue_the_rest_leaves_a_pause_and_is_not_offered_without_a_recorded_audience(
    client: TestClient, project: Project
) -> None:
    """Pressed on a page shown before someone paused the send, Queue the rest queues the rest
    and the send stays paused. A send started before migration 0020 recorded no audience to
    queue the rest of: the page does not offer it (`newsletter status` says what to do)."""
    csrf, location = started_by_ana(client)
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=1)
    assert client.post(f"{location}/pause", data={"csrf": csrf}).status_code == 200
    assert client.post(f"{location}/queue-rest", data={"csrf": csrf}).status_code == 200
    rest_queued(client, location, engine, lost, "paused", "send.queue_rest")
    interrupt(engine, keep=1)
    with engine.begin() as connection:  # As a send started before 0020 is.
        connection.execute(update(MAILING).values(paused_at=None, audience=""))
    page = client.get(location).text
    assert "queueing its recipients" in page and f'action="{location}/queue-rest"' not in page
    engine.dispose()


def test_a_send_whose_recipients_are_still_being_queued_is_not_done_in_any_language(
    client: TestClient, project: Project
) -> None:
    """As a send killed while queueing its audience leaves it (tests/test_audience_parts.py):
    every delivery queued so far is sent, and the send still is not done."""
    assert log_in(client, "ana") == 303
    assert newsletter(project, "send", ISSUE)[0] == 0
    [mailing] = mailings(project)
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        found = session.get(Mailing, mailing.id)
        assert found is not None
        found.queueing_since = utcnow()
        session.add(found)
        session.commit()
    engine.dispose()
    progress = client.get(f"/admin/sends/{mailing.id}/progress").json()
    assert (progress["phase"], progress["percent"], progress["finished"]) == ("queueing", 99, False)
    assert progress["done"] == progress["total"] == 4
    for language, label in (
        ("en", "queueing its recipients"),
        ("de", "Empfänger werden eingereiht"),
    ):
        headers = {"Accept-Language": language}
        for page in (f"/admin/sends/{mailing.id}", "/admin/sends"):
            assert label in client.get(page, headers=headers).text, (language, page)


def test_the_list_pages_through_sends_newest_first_sequence_steps_too(
    client: TestClient, project: Project
) -> None:
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        for n in range(PAGE + 1):
            session.add(Mailing(issue=f"sequence:welcome/{n:02}@v1", uid=f"{n:016x}"))
        session.commit()
    assert log_in(client, "vic") == 303
    first = main_of(client.get("/admin/sends").text)
    assert first.count("(sequence step)") == PAGE and f"welcome/{PAGE:02}@v1" in first
    assert "welcome/00@v1" not in first and 'href="/admin/sends?before=2"' in first
    older = main_of(client.get("/admin/sends?before=2").text)
    assert "welcome/00@v1" in older and "Older sends" not in older
    assert 'aria-current="page"' in client.get("/admin/sends").text.split("</nav>")[0]


def test_only_the_send_page_may_run_a_script_and_only_the_apps_own(
    client: TestClient, project: Project
) -> None:
    assert client.get("/admin/static/progress.js", follow_redirects=False).status_code == 303
    assert newsletter(project, "send", ISSUE)[0] == 0
    [mailing] = mailings(project)
    assert log_in(client, "vic") == 303
    page = client.get(f"/admin/sends/{mailing.id}")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1]
    assert "default-src 'none'" in policy
    for other in ("/admin/", "/admin/sends", f"/admin/issues/{ISSUE}"):
        assert "script-src" not in client.get(other).headers["content-security-policy"]
    found = SCRIPT.search(page.text)
    assert found is not None and found[1].startswith("/admin/static/progress.js?v=")
    assert "<script>" not in page.text  # No inline script: the policy would refuse it anyway.
    script = client.get(found[1])
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age" in script.headers["cache-control"]
    assert "private" in script.headers["cache-control"]
    assert script.headers["x-content-type-options"] == "nosniff"
    status = re.search(r'<p id="nl-status" role="status" aria-live="polite">', page.text)
    assert status is not None  # Only the short status text is announced, not the table.


# --- In Chromium, while a real delivery runs ---


class SlowRecorder(Recorder):
    """A mail server that takes its time over each message: a send long enough to watch."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.03)
        return await super().handle_DATA(server, session, envelope)


def slow_smtp_server() -> AbstractContextManager[SmtpServer]:
    return serving(SlowRecorder())


def as_ana(browser: Browser, engine: Engine, origin: str) -> tuple[BrowserContext, Page, list[str]]:
    """A page of a browser logged in as ana (the login form has its own tests: a session of
    the library's), and the errors its scripts meet (one refused by the CSP, or failing)."""
    context = browser.new_context(base_url=origin)
    [ana] = [user for user in list_users(engine) if user.name == "ana"]
    assert ana.id is not None
    session = start_session(engine, ana.id, utcnow())
    context.add_cookies(
        [{"name": "nl_admin", "value": session, "domain": "127.0.0.1", "path": "/admin"}]
    )
    page = context.new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon" not in message.location["url"]:
            errors.append(f"{message.text} {message.location['url']}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def start_on_the_page(page: Page) -> None:
    """The issue's send started from its confirmation page, landing on the send's page."""
    page.goto(f"/admin/issues/{ISSUE}/send")
    page.click("text=Start the send")
    page.wait_for_url(re.compile(r"/admin/sends/\d+$"))


def test_a_sends_page_follows_a_real_delivery_to_100_percent_without_a_reload(
    template: Path, tmp_path: Path, browser: Browser
) -> None:
    port = free_port()
    with slow_smtp_server() as smtp:
        project = copy_project(
            template, tmp_path / "project", f"{smtp.url}?connections=1", f"http://127.0.0.1:{port}"
        )
        import_readers(project, 146)  # 150 with the four: the worker records 50 at a time.
        engine = create_db_engine(database_url(project))
        with web_server(create_app(project), port) as origin:
            context, page, errors = as_ana(browser, engine, origin)
            try:
                start_on_the_page(page)
                assert page.locator("#nl-bar").get_attribute("value") == "0"
                page.evaluate("window.notReloaded = true")
                delivered: list[object] = []
                delivery = threading.Thread(
                    target=lambda: delivered.append(
                        send_issue(
                            project, engine, load_issue(project, ISSUE),
                            mode=SendMode.RESUME, clock=utcnow,
                        )
                    )
                )  # fmt: skip
                delivery.start()
                try:
                    between = "() => { const v = document.querySelector('#nl-bar').value; return v > 0 && v < 100 }"
                    page.wait_for_function(between, polling=50, timeout=30_000)
                    shown = page.locator("#nl-status").inner_text()
                    assert re.fullmatch(r"(33|66)% · Done: (50|100) / 150 · sending", shown), shown
                    page.wait_for_function(
                        "() => document.querySelector('#nl-bar').value === 100",
                        polling=50, timeout=30_000,
                    )  # fmt: skip
                finally:
                    delivery.join(60)
                assert delivered and len(smtp.received) == 150
                assert page.locator("#nl-status").inner_text() == "100% · Done: 150 / 150 · done"
                assert page.locator('[data-count="all:sent"]').inner_text() == "150"
                assert page.locator('[data-count="en:queued"]').inner_text() == "0"
                assert page.evaluate("window.notReloaded") is True
                assert errors == []
            finally:
                context.close()
        engine.dispose()


def test_queue_the_rest_leaves_the_page_once_another_process_has_queued_them(
    template: Path, tmp_path: Path, browser: Browser
) -> None:
    """The page's script hides "Queue the rest" when the send leaves the queueing phase, here
    because `newsletter resume` queued the rest meanwhile."""
    port = free_port()
    project = copy_project(template, tmp_path / "project", "null:", f"http://127.0.0.1:{port}")
    engine = create_db_engine(database_url(project))
    with web_server(create_app(project), port) as origin:
        context, page, errors = as_ana(browser, engine, origin)
        try:
            start_on_the_page(page)
            form = page.locator("form[data-while-queueing]")
            assert form.count() == 0
            lost = interrupt(engine, keep=1)
            page.reload()
            assert form.is_visible() and "Queue the rest" in form.inner_text()
            code, output = newsletter(project, "resume", ISSUE)
            assert code == 0 and f"{len(lost)} recipients added" in output, output
            page.wait_for_function(
                "() => document.querySelector('form[data-while-queueing]').hidden",
                polling=100, timeout=10_000,
            )  # fmt: skip
            assert page.locator("[data-field=phase]").inner_text() == "sending"
            assert errors == []
        finally:
            context.close()
    engine.dispose()
