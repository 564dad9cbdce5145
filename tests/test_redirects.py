"""Redirects never leave the site: hostile paths and Host headers against every app, over HTTP.

`newsletter serve`, `newsletter run` and `newsletter preview` run as real processes; requests go
over a socket with http.client, which sends the path and Host header exactly as written (an
HTTP client library would read `//evil.example/` as a host of its own).
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from newsletter.config import load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade

from .conftest import ROOT
from .test_service import free_port

SECRET = "test-secret-key-0123456789abcdef"
SLUG = "2024-05-07-this-month-in-ai"
HOSTS = [
    "evil.example",
    "evil.example:8080",
    "user@evil.example",
    "evil.example/path",
    "127.0.0.1",
    "news.example.org",
]
# Paths a hostile link can carry: doubled slashes, backslashes (a slash to browsers), encoded
# slashes and dots, a reserved route with a host after it, tracking links with a host in them.
HOSTILE_PATHS = [
    "//evil.example/",
    "//evil.example/en",
    "///evil.example/",
    "/\\evil.example/",
    "/\\/evil.example/",
    "/%2F%2Fevil.example/",
    "/%5Cevil.example/",
    "/%5C%5Cevil.example",
    "/.//evil.example/",
    "/en/..//evil.example/",
    "//en",
    "///en",
    "//subscribe//evil.example/",
    "//subscribe/",
    "/subscribe//evil.example/",
    "/subscribe/\\evil.example/",
    "//confirm/x/",
    "/preferences//evil.example//",
    "/%09/evil.example/",
    # The tracking links may redirect off the site, but only with a signed id of a link we sent.
    "/l//evil.example/",
    "//l/1-aaaaaaaaaaaaaaaa",
    "/l/1-aaaaaaaaaaaaaaaa/%2F%2Fevil.example/",
    "/o/1-en-aaaaaaaaaaaaaaaa//evil.example",
]
# Redirects the apps should make, and where to.
WANTED = {
    "serve": {
        "/en": "/en/",
        "/en?x=1": "/en/?x=1",
        "/subscribe/": "/subscribe",
        "/subscribe/?lang=de": "/subscribe?lang=de",
        "//subscribe/": "/subscribe",
    },
    "preview": {
        f"/{SLUG}": f"/{SLUG}/",
        f"/{SLUG}/": f"/{SLUG}/en/",
        f"/{SLUG}/ar": f"/{SLUG}/ar/",
    },
}
WANTED["run"] = WANTED["serve"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with one issue and an upgraded database, shared by the three apps."""
    root = tmp_path_factory.mktemp("redirects")
    (root / "config").mkdir()
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nlocales = ["en", "ar"]\n'
        'timezone = "Europe/Berlin"\ndatabase_url = "sqlite:///subscribers.db"\n'
        'transport_url = "null:"\npostal_address = "1 Main St"\n',
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "issues" / SLUG, root / "issues" / SLUG)
    loaded = load_project(root / "config" / "newsletter.toml", environ={})
    engine = create_db_engine(database_url(loaded))
    upgrade(engine)
    engine.dispose()
    return root


@pytest.fixture(scope="module", params=["serve", "run", "preview"])
def app(request: pytest.FixtureRequest, project: Path) -> Iterator[tuple[str, int]]:
    """(name, port) of one app, running as `newsletter NAME` in its own process."""
    name, port = request.param, free_port()
    command = [sys.executable, "-m", "newsletter", "--config", "config/newsletter.toml", name]
    log_path = project / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
            cwd=project,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while _answers(port) is False:
            log_text = log_path.read_text(errors="replace")
            assert process.poll() is None and time.monotonic() < deadline, log_text
            time.sleep(0.1)
        yield name, port
    finally:
        process.terminate()
        process.wait(30)


def _answers(port: int) -> bool:
    try:
        _get(port, "/", "127.0.0.1")
    except OSError:
        return False
    return True


def _get(port: int, path: str, host: str, method: str = "GET") -> tuple[int, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        if method == "POST":
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("location")
    finally:
        connection.close()


def _on_this_site(location: str, port: int, path: str) -> bool:
    """Whether a browser that asked for `path` here would stay on this host after `location`."""
    if "\\" in location or location.startswith("//") or not location.startswith("/"):
        return False
    parts = urlsplit(location)
    here = f"http://127.0.0.1:{port}"
    return not parts.scheme and not parts.netloc and urljoin(here + path, location).startswith(here)


def test_no_redirect_leaves_the_site(app: tuple[str, int]) -> None:
    name, port = app
    paths = [*HOSTILE_PATHS, *WANTED[name], f"//{SLUG}/en", f"/{SLUG}//evil.example/"]
    redirects = 0
    for path in paths:
        for host in HOSTS:
            for method in ("GET", "POST") if "subscribe" in path else ("GET",):
                status, location = _get(port, path, host, method)
                assert status < 500, (name, path, host, status)
                if location is not None:
                    redirects += 1
                    assert 300 <= status < 400, (name, path, host, status)
                    assert _on_this_site(location, port, path), (name, path, host, location)
    assert redirects >= len(WANTED[name]) * len(HOSTS)


def test_the_redirects_that_help_still_work(app: tuple[str, int]) -> None:
    name, port = app
    for path, target in WANTED[name].items():
        for host in ("evil.example", f"127.0.0.1:{port}"):
            status, location = _get(port, path, host)
            assert (status, location) == (307 if "subscribe" not in path else 308, target), (
                name,
                path,
                host,
            )
