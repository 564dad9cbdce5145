"""The parts of click tracking on their own: stored URLs as Locations, the one exemption from
local redirects, who made a request, client keys.

What the app does with them, against a real send, is in test_clicks_web.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.engagement.agents import agent_of
from newsletter.engagement.clicks import ClientKeys
from newsletter.web.clicks import TRACKING_PATHS
from newsletter.web.redirects import LocalRedirects, external_location

from .test_clicks_web import BROWSER, PAPER

# -- Stored URLs as Locations --------------------------------------------------------------------

# (a URL as stored, its Location): IDN hosts in A-labels, the rest percent-encoded as UTF-8,
# what was encoded kept, what needs nothing left alone.
LOCATIONS = [
    (PAPER, PAPER),
    ("https://例え.テスト/路径/文件 名?q=值#片段", None),  # Checked part by part below.
    ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://b%C3%BCcher.example/a", "https://xn--bcher-kva.example/a"),
    ("https://ＥＸＡＭＰＬＥ．ｃｏｍ/", "https://example.com/"),
    ("https://😀.example/", "https://xn--e28h.example/"),
    ("HTTP://Example.ORG:8080/a b/%zz/%41", "HTTP://Example.ORG:8080/a%20b/%25zz/%41"),
    (
        'https://x.example/q?a="<b>"&c={d}|e^`',
        "https://x.example/q?a=%22%3Cb%3E%22&c=%7Bd%7D%7Ce%5E%60",
    ),
    ("https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x"),
    ("https://user:pa ss@x.example/", "https://user:pa%20ss@x.example/"),
    ("https://x.example/a\\b?c\\d", "https://x.example/a/b?c%5Cd"),
    ("https://x.example\\@evil.example/", "https://x.example/@evil.example/"),
    ("  https://x.example/a  ", "https://x.example/a"),
    ("https://x.example/?", "https://x.example/?"),
    ("https://a_b.example/", "https://a_b.example/"),
]
REFUSED = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://x.example/",
    "//x.example/",
    "/en/",
    "https://x.example/a\nLocation: https://evil.example/",
    "https://x.example/a\r\nb",
    "https://x.example/\x00",
    "https://x.example/\x85",
    "https://x.example/\u2028",
    "https:///path",
    "https://x.example:port/",
    "https://x.example:123456/",
    "https://exa mple.org/",
    "https://exa<mple.org/",
    "https://x.example%2Fevil.example/",
    "https://\ufffd.example/",
]


@pytest.mark.parametrize(("url", "location"), LOCATIONS)
def test_a_stored_url_becomes_an_ascii_location(url: str, location: str | None) -> None:
    made = external_location(url)
    assert made is not None and made.isascii() and " " not in made
    if location is not None:
        assert made == location
    parts = urlsplit(made)
    assert parts.scheme.lower() in ("http", "https") and parts.hostname


def test_an_idn_url_with_a_chinese_path_keeps_every_part() -> None:
    made = external_location("https://例え.テスト/路径/文件 名?q=值#片段")
    assert made is not None and made.isascii()
    parts = urlsplit(made)
    assert parts.hostname == "xn--r8jz45g.xn--zckzah"
    assert (unquote(parts.path), unquote(parts.query), unquote(parts.fragment)) == (
        "/路径/文件 名",
        "q=值",
        "片段",
    )


@pytest.mark.parametrize("url", REFUSED)
def test_what_cannot_be_a_location_is_refused(url: str) -> None:
    assert external_location(url) is None


def test_only_the_tracking_paths_may_redirect_off_the_site() -> None:
    def away(_: Request) -> Response:
        return Response(status_code=302, headers={"Location": "https://evil.example/x"})

    app = LocalRedirects(Starlette(routes=[Route("/{path:path}", away)]), external=TRACKING_PATHS)
    client = TestClient(app, follow_redirects=False)
    for path in ("/l/1-abc", "/l/1-abc/2-def", "/o/1-en-abc", "/o/1-en-abc/2-def"):
        assert client.get(path).headers["location"] == "https://evil.example/x", path
    for path in ("/l/1-abc/2-def/3", "/l/", "/x/l/1-abc", "/link/1", "/subscribe", "/l", "/o"):
        assert client.get(path).headers["location"] == "/x", path


# -- Who asked, and the client key -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "agent"),
    [
        (BROWSER, "browser"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "browser",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "browser",
        ),
        ("", "robot"),
        ("   ", "robot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "robot"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) HeadlessChrome/120.0 Safari/537.36", "robot"),
        ("Mimecast URL Protect", "robot"),
        ("Proofpoint URL Defense", "robot"),
        ("Barracuda Sentinel (EE)", "robot"),
        ("Microsoft Office SafeLinks", "robot"),
        ("Mozilla/5.0 (Windows NT 10.0) Safe Links Scanner", "robot"),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "robot"),
        ("Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "robot"),
        ("GoogleImageProxy", "robot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "robot"),
        ("facebookexternalhit/1.1", "robot"),
        ("curl/8.5.0", "robot"),
        ("python-requests/2.32.3", "robot"),
        ("Mozilla/5.0 " + "x" * 2000, "robot"),
    ],
)
def test_who_made_a_get_request(user_agent: str, agent: str) -> None:
    assert agent_of("GET", user_agent) == agent
    assert agent_of("HEAD", user_agent) == "head"


def test_a_client_key_is_the_same_within_a_day_and_unrelated_the_next() -> None:
    now = [datetime(2025, 1, 5, 0, 0, tzinfo=UTC)]
    keys = ClientKeys(lambda: now[0])
    first = keys.key_of("192.0.2.1", BROWSER)
    assert re.fullmatch("[0-9a-f]{16}", first)
    now[0] += timedelta(hours=23, minutes=59)
    assert keys.key_of("192.0.2.1", BROWSER) == first
    assert keys.key_of("192.0.2.2", BROWSER) != first
    assert keys.key_of("192.0.2.1", "curl/8.5.0") != first
    now[0] += timedelta(minutes=2)  # The next UTC day: a new key.
    assert keys.key_of("192.0.2.1", BROWSER) != first
    # Another process (another key) never gives the same key for the same client.
    assert ClientKeys(lambda: now[0]).key_of("192.0.2.1", BROWSER) != keys.key_of(
        "192.0.2.1", BROWSER
    )
