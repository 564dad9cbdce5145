"""The dashboard in real headless Chromium, served by uvicorn on 127.0.0.1 with a real SMTP
server: an administrator logs in, finds a subscriber and unsubscribes them, pauses and resumes
a schedule, and test-sends an issue that arrives at the server; axe-core finds no serious or
critical violation on any dashboard page (every page a link of the dashboard leads to), in the
light and the dark scheme. A send's live progress page is followed in test_admin_sends.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from newsletter.access.users import Role, add_user
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.schedules import schedules
from newsletter.web.app import create_app

from .conftest import Recorder, SmtpServer, serving, web_server
from .test_admin import PASSWORD, Clock, status_of
from .test_archive_quality import axe_in_both_schemes
from .test_delivery import ISSUE, SECRET, add_reader, make_project, newsletter
from .test_service import free_port, wait_until

SEARCHED = "grace.hopper@example.org"


@dataclass(frozen=True)
class Dashboard:
    """The web app on a real server: its origin, the project, what its SMTP server received."""

    origin: str
    project: Project
    recorder: Recorder


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with serving(Recorder()) as mail:
        yield from _served_dashboard(tmp_path_factory.mktemp("dashboard"), mail)


def _served_dashboard(root: Path, mail: SmtpServer) -> Iterator[Dashboard]:
    web_port = free_port()
    make_project(root, f"{mail.url}?connections=1")
    # The dashboard's origin is the site's: its forms are checked against it.
    origin = f"http://127.0.0.1:{web_port}"
    source = root / "config" / "newsletter.toml"
    settings = source.read_text("utf-8").replace("https://news.example.org", origin)
    source.write_text(settings, "utf-8")
    project = load_project(source, {"NEWSLETTER_SECRET_KEY": SECRET})
    add_reader(project, SEARCHED, "Grace Hopper", "de")
    engine = create_db_engine(database_url(project))
    add_user(engine, "ana", Role.ADMIN, PASSWORD, Clock()())
    assert newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "UTC")[0] == 0
    assert newsletter(project, "send", ISSUE)[0] == 0  # A send, for the sends' pages.
    try:
        with web_server(create_app(project, engine=engine), web_port):
            yield Dashboard(origin, project, mail.recorder)
    finally:
        engine.dispose()


def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def logged_in(
    browser: Browser,
    dashboard: Dashboard,
    scheme: Literal["light", "dark"] = "light",
    **options: Any,
) -> BrowserContext:
    """A browser context whose session is the administrator's, logged in through the form."""
    context = browser.new_context(color_scheme=scheme, **options)
    context.route("**/*", _loopback_only)
    page = context.new_page()
    page.goto(dashboard.origin + "/admin/subscribers")
    assert urlsplit(page.url).path == "/admin/login"  # Sent to log in first, then back.
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(dashboard.origin + "/admin/subscribers")
    page.close()
    return context


def test_an_admin_finds_and_unsubscribes_a_reader_steers_a_schedule_and_test_sends(
    browser: Browser, dashboard: Dashboard
) -> None:
    context = logged_in(browser, dashboard)
    page = context.new_page()
    try:
        page.goto(dashboard.origin + "/admin/")
        page.get_by_role("link", name="Subscribers").first.click()
        page.fill("#q", "hopper")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name=SEARCHED).click()
        assert page.locator("h1").inner_text() == SEARCHED
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        assert "unsubscribed" in page.locator("dl").inner_text()
        assert status_of(dashboard.project, SEARCHED) == "unsubscribed"

        page.get_by_role("link", name="Schedules").first.click()
        page.get_by_role("button", name="Pause weekly-mon-0800").click()
        page.wait_for_load_state()
        assert page.get_by_role("button", name="Resume weekly-mon-0800").is_visible()
        assert _next_run(dashboard.project) is None
        page.get_by_role("button", name="Resume weekly-mon-0800").click()
        page.wait_for_load_state()
        assert page.get_by_role("button", name="Pause weekly-mon-0800").is_visible()
        assert _next_run(dashboard.project) is not None

        page.get_by_role("link", name="Issues").first.click()
        page.get_by_role("link", name=ISSUE).click()
        page.fill("#address", "proof.reader@example.org")
        page.select_option("#locale", "en")
        page.get_by_role("button", name="Send a test").click()
        page.wait_for_load_state()
        assert "sent" in page.get_by_role("status").inner_text()
        wait_until(lambda: _received_by(dashboard, "proof.reader@example.org"), 10, "the test")
        [message] = _received_by(dashboard, "proof.reader@example.org")
        assert str(message["Subject"]).startswith("[TEST]")
    finally:
        context.close()


def _received_by(dashboard: Dashboard, address: str) -> list[Any]:
    return [r.message for r in dashboard.recorder.received if r.recipients == [address]]


def _next_run(project: Project) -> object:
    engine = create_db_engine(database_url(project))
    try:
        [(planned, _)] = schedules(project, engine)
        return planned.next_run
    finally:
        engine.dispose()


# An id in a path stands for every id: one page of each kind is checked.
_ID = re.compile(r"/\d+(?=/|$)")


def dashboard_pages(
    page: Page, origin: str, check: Callable[[Page, str], None], start: str = "/admin/"
) -> list[str]:
    """Every dashboard page a GET link leads to from `start`, one per kind (ids and queries
    aside), each `check`ed once loaded; in the order they were found."""
    found: dict[str, str] = {}
    waiting = [start]
    while waiting:
        path = waiting.pop(0)
        kind = _ID.sub("/ID", urlsplit(path).path)
        if kind in found or len(found) >= 40:
            continue
        found[kind] = path
        check(page, path)
        links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        for link in links:
            url = urlsplit(urljoin(origin + path, link))
            if url.netloc == urlsplit(origin).netloc and url.path.startswith("/admin/"):
                waiting.append(url.path + (f"?{url.query}" if url.query else ""))
    return list(found.values())


def test_axe_finds_no_serious_violation_on_any_dashboard_page_light_or_dark(
    browser: Browser, dashboard: Dashboard
) -> None:
    problems: list[str] = []

    def check(where: Page, path: str) -> None:
        """axe on the page at `path`, light then dark (one load: the scheme is switched)."""
        response = where.goto(dashboard.origin + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        problems.extend(axe_in_both_schemes(where, path))

    # The pages allow no script of their own: axe's goes in past the policy.
    outside = browser.new_page(bypass_csp=True)
    context = logged_in(browser, dashboard, bypass_csp=True)
    page = context.new_page()
    try:
        check(outside, "/admin/login")
        pages = dashboard_pages(page, dashboard.origin, check)
        # The pages of the menu, and one subscriber's and one issue's page at least.
        kinds = {_ID.sub("/ID", urlsplit(path).path) for path in pages}
        assert {"/admin/", "/admin/subscribers", "/admin/subscribers/ID"} <= kinds, pages
        assert {"/admin/issues", f"/admin/issues/{ISSUE}", "/admin/schedules"} <= kinds, pages
        assert {"/admin/audit", "/admin/sends", "/admin/sends/ID"} <= kinds, pages
        check(page, f"/admin/issues/{ISSUE}/send?to=")  # Behind a GET form, not a link.
    finally:
        outside.close()
        context.close()
    assert not problems, "axe:\n" + "\n".join(problems)
