"""Issue 15's proof from end to end: the sample issue really sent through an SMTP server on
127.0.0.1, three links of the received messages clicked through the web app (one by a
link scanner), and `newsletter report` counting exactly those clicks, per link and locale, in
its JSON and in the charts of its HTML page opened in Chromium."""

from __future__ import annotations

import json
import re
import shutil
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.engagement.models import TRACKED_LINK
from newsletter.web.app import create_app

from .conftest import ROOT, SmtpServer
from .test_delivery import make_project, newsletter
from .test_report_browser import CHART_VALUES, numbers

ISSUE = "2024-05-07-this-month-in-ai"  # Editions en and ar, a link in every story.
BASE = "https://news.example.org"
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
)
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
_TRACKING = re.compile(rf'href="({re.escape(BASE)}/l/[^"]+)"')


def received(smtp_server: SmtpServer) -> dict[str, EmailMessage]:
    """The messages the SMTP server took in, by recipient."""
    found = {}
    for message in smtp_server.received:
        parsed = message_from_bytes(message.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found[str(parsed["To"]).rpartition("<")[2].rstrip(">")] = parsed
    return found


def tracking_links(message: EmailMessage) -> list[str]:
    """The tracking links of a message's HTML part, in order, each once (the honeypot last)."""
    body = message.get_body(("html",))
    assert body is not None
    return list(dict.fromkeys(_TRACKING.findall(body.get_content())))


def stored_links(project: Project) -> dict[int, dict[str, Any]]:
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        rows = connection.execute(select(TRACKED_LINK)).mappings().all()
    engine.dispose()
    return {row["id"]: dict(row) for row in rows}


def link_id(url: str) -> int:
    return int(urlsplit(url).path.split("/")[2].split("-")[0])


def test_clicks_on_a_real_send_are_reported_exactly(
    tmp_path: Path, smtp_server: SmtpServer, browser: Browser
) -> None:
    project = make_project(tmp_path, f"{smtp_server.url}?connections=1")
    shutil.copytree(ROOT / "issues" / ISSUE, project.issues_path / ISSUE)
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    messages = received(smtp_server)
    english, arabic = messages["ada@example.org"], messages["noor@example.org"]
    links = stored_links(project)
    story_links = [
        url for url in tracking_links(english) if links[link_id(url)]["story"]
    ]  # Links of stories, in reading order.
    first, second = story_links[0], story_links[-1]
    [scanned] = [
        url
        for url in tracking_links(arabic)
        if links[link_id(url)]["story"] == links[link_id(first)]["story"]
        and links[link_id(url)]["url"] == links[link_id(first)]["url"]
    ]

    with TestClient(create_app(project), base_url=BASE) as client:
        for url, agent in ((first, BROWSER), (first, BROWSER), (second, BROWSER)):
            answer = client.get(url, headers={"User-Agent": agent}, follow_redirects=False)
            assert answer.status_code == 302, answer.text
            assert answer.headers["location"] == links[link_id(url)]["url"]
            assert answer.headers["referrer-policy"] == "no-referrer"
        answer = client.get(scanned, headers={"User-Agent": SCANNER}, follow_redirects=False)
        assert answer.status_code == 302
        tampered = first[:-1] + ("a" if first[-1] != "a" else "b")
        assert client.get(tampered, follow_redirects=False).status_code == 404

    code, output = newsletter(project, "report", ISSUE, "--json")
    assert code == 0, output
    document = json.loads(output)
    clicked = {
        (row["locale"], row["url"]): (row["human"], row["scanner"])
        for row in document["links"]
        if row["all"]
    }
    assert clicked == {
        ("en", links[link_id(first)]["url"]): (2, 0),
        ("en", links[link_id(second)]["url"]): (1, 0),
        ("ar", links[link_id(scanned)]["url"]): (0, 1),
    }
    by_locale = {row["locale"]: (row["human"], row["scanner"]) for row in document["locales"]}
    assert by_locale["en"] == (3, 0) and by_locale["ar"] == (0, 1)
    assert (document["total"]["human"], document["total"]["scanner"]) == (3, 1)
    assert document["total"]["sent"] == 4 and document["tracking"]["mode"] == "aggregate"

    page_file = tmp_path / "report.html"
    code, output = newsletter(project, "report", ISSUE, "--html", str(page_file))
    assert code == 0, output
    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(page_file.as_uri(), wait_until="load")
        charts = page.evaluate(CHART_VALUES)
    finally:
        page.close()
    assert requests == [page_file.as_uri()] and problems == []
    stories = list(reversed(document["stories"]))  # pygal draws the first at the bottom.
    assert numbers(charts["chart-stories"]) == [
        [story["human"] for story in stories],
        [story["scanner"] for story in stories],
    ]
    assert sum(numbers(charts["chart-stories"])[0]) == 3
    assert sum(numbers(charts["chart-stories"])[1]) == 1
    assert sum(numbers(charts["chart-hours"])[1]) == 4


def test_with_individual_tracking_a_click_is_in_the_readers_gdpr_export(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, f"{smtp_server.url}?connections=1", tracking='"individual"')
    shutil.copytree(ROOT / "issues" / ISSUE, project.issues_path / ISSUE)
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    messages = received(smtp_server)
    links = stored_links(project)
    url = next(
        url for url in tracking_links(messages["noor@example.org"]) if links[link_id(url)]["story"]
    )
    with TestClient(create_app(project), base_url=BASE) as client:
        answer = client.get(url, headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["location"] == links[link_id(url)]["url"]

    code, output = newsletter(project, "subscribers", "show", "noor@example.org", "--json")
    assert code == 0, output
    [click] = json.loads(output)["clicks"]
    assert (click["issue"], click["locale"], click["url"], click["agent"]) == (
        ISSUE, "ar", links[link_id(url)]["url"], "browser",
    )  # fmt: skip
    for other in ("ada@example.org", "wei@example.cn"):
        code, output = newsletter(project, "subscribers", "show", other, "--json")
        assert code == 0 and json.loads(output)["clicks"] == [], output
