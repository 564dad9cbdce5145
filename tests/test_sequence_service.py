"""The welcome sequence under `newsletter run`: a reader who confirms on the web app gets step 1
within a minute, step 2 once the clock passes three days, in their language; a reader who
unsubscribed gets nothing more."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from newsletter.config import Project
from newsletter.service.runner import Options, run_service

from .conftest import SmtpServer
from .sequence_files import Ahead, write_sequence
from .test_delivery import make_project
from .test_service import Service, free_port, wait_until

pytestmark = pytest.mark.slow
BASE = "https://news.example.org"


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


class Browser:
    """A reader's browser on the running web app: cookies kept, links of base_url followed there."""

    def __init__(self, port: int) -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.origin + path.removeprefix(BASE), timeout=10) as answer:
            return str(answer.read().decode("utf-8"))

    def post(self, path: str, form: dict[str, str]) -> str:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.origin + path.removeprefix(BASE), data, timeout=10) as answer:
            return str(answer.read().decode("utf-8"))

    def subscribe(self, email: str, locale: str) -> None:
        page = self.get("/subscribe")
        self.post(
            "/subscribe",
            {"email": email, "name": "", "locale": locale, "timezone": "UTC", "csrf": _csrf(page)},
        )

    def confirm(self, link: str) -> None:
        page = self.get(link)
        self.post(link, {"csrf": _csrf(page)})


def subjects(smtp_server: SmtpServer, email: str) -> list[str]:
    return [
        str(received.message["Subject"])
        for received in smtp_server.received
        if received.recipients == [email]
    ]


def text_of(smtp_server: SmtpServer, email: str, subject: str) -> str:
    for received in smtp_server.received:
        if received.recipients == [email] and received.message["Subject"] == subject:
            return str(received.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    raise AssertionError(f"no {subject!r} to {email}")


def test_confirm_on_the_web_then_welcome_steps_under_run_and_nothing_after_unsubscribing(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project: Project = make_project(tmp_path, f"{smtp_server.url}?connections=1", readers=[])
    write_sequence(project.root)
    port = free_port()
    service = Service(project, "run", "--port", str(port))
    try:
        _first_step(project, service, port, smtp_server)
    finally:
        if service.process.poll() is None:
            service.kill()

    # Three days later, on an injected clock: the same service, in this process.
    stop = threading.Event()
    later = threading.Thread(
        target=run_service, args=(project, Options(web=False, clock=Ahead(3.01)), stop)
    )
    later.start()
    try:
        wait_until(lambda: len(smtp_server.received) >= 5, 60, "welcome step 2")
        time.sleep(1)  # Anything else that would go out has had the time to.
    finally:
        stop.set()
        later.join(60)
    assert subjects(smtp_server, "ana@example.org")[2:] == ["So arbeiten wir"]
    assert subjects(smtp_server, "bob@example.org")[2:] == []  # Unsubscribed: nothing more.


def _first_step(project: Project, service: Service, port: int, smtp_server: SmtpServer) -> None:
    """Two readers subscribe and confirm on the running web app and get welcome step 1 within a
    minute, each in their language; Bob unsubscribes from it; the service stops."""
    service.wait_for_log("newsletter run:")
    browser = Browser(port)
    wait_until(lambda: _answers(browser), 30, "the web app")
    for email, locale in (("ana@example.org", "de"), ("bob@example.org", "en")):
        browser.subscribe(email, locale)
    wait_until(lambda: len(smtp_server.received) == 2, 30, "two confirmation emails")
    for email in ("ana@example.org", "bob@example.org"):
        text = text_of(smtp_server, email, subjects(smtp_server, email)[0])
        link = re.search(r"https://news\.example\.org/confirm/\S+", text)
        assert link, text
        browser.confirm(link.group(0))
    confirmed = time.monotonic()
    wait_until(lambda: len(smtp_server.received) == 4, 60, "welcome step 1 for both readers")
    assert time.monotonic() - confirmed < 60
    assert subjects(smtp_server, "ana@example.org")[1] == "Willkommen an Bord"
    assert subjects(smtp_server, "bob@example.org")[1] == "Welcome aboard"
    welcome = text_of(smtp_server, "bob@example.org", "Welcome aboard")
    assert "Hello and welcome." in welcome and "View in browser" not in welcome
    unsubscribe = re.search(r"https://news\.example\.org/unsubscribe/\S+", welcome)
    assert unsubscribe, welcome
    browser.post(unsubscribe.group(0), {"List-Unsubscribe": "One-Click"})  # RFC 8058
    assert service.stop() == 0


def _answers(browser: Browser) -> bool:
    try:
        browser.get("/healthz")
    except OSError:
        return False
    return True
