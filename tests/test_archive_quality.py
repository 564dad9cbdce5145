"""The archive's pages against two independent checkers: valid HTML, and no serious a11y problem.

Every HTML page of the archive built from the sample issues (languages page, 404, index and issue
pages in English, Chinese and Arabic) goes through the Nu HTML Checker, the W3C's validator, with
its CSS checks on: a page it rejects may render differently from one browser to the next. Then
axe-core runs in real headless Chromium on an index page and an issue page of each language, in
the light and the dark colour scheme (the pages have dark-mode CSS, so contrast differs), and
finds no violation of impact serious or critical: those keep readers on screen readers, keyboards
or low vision out. The checkers come from npm (tests/node/package.json); `make test` installs
them, and chromium, when missing. No network: the pages are served from 127.0.0.1 and every other
request (the samples hotlink their images) is aborted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from newsletter.archive.build import build_archive
from newsletter.config import load_project

from .conftest import ROOT

NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
INSTALL_HINT = "run `make test`, which installs it"
# An index page and an issue page per language: the two layouts, in both directions and scripts.
AXE_PAGES = [
    "en/index.html",
    "en/2024-03-10-ai-revolution-accelerates/index.html",
    "zh/index.html",
    "zh/2024-03-27-ai-deca-show/index.html",
    "ar/index.html",
    "ar/2024-05-07-this-month-in-ai/index.html",
]
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of the sample issues, built once for the module."""
    out = tmp_path_factory.mktemp("archive")
    project = load_project(ROOT / "config" / "newsletter.toml", environ={})
    build_archive(project, out)
    return out


def test_every_page_passes_the_nu_html_checker(archive: Path) -> None:
    java = shutil.which("java")
    if java is None:
        pytest.fail(f"java is not installed: {INSTALL_HINT}")
    if not VNU_JAR.is_file():
        pytest.fail(f"the Nu HTML Checker is missing ({VNU_JAR}): {INSTALL_HINT}")
    pages = sorted(archive.rglob("*.html"))
    names = {page.relative_to(archive).as_posix() for page in pages}
    assert {"index.html", "404.html", *AXE_PAGES} <= names, f"pages missing: {sorted(names)}"

    # One run for all pages: the checker takes seconds to start, then milliseconds per page.
    result = subprocess.run(
        [java, "-jar", str(VNU_JAR), "--format", "json", "--also-check-css", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        messages: list[dict[str, Any]] = json.loads(result.stderr)["messages"]
    except (ValueError, KeyError) as error:
        pytest.fail(f"no JSON report from the Nu HTML Checker ({error}):\n{result.stderr[-2000:]}")
    # Warnings are "info" messages with subType "warning": allowed. Anything else is an error.
    errors = [
        f"{_page_name(archive, message.get('url', ''))}:{message.get('lastLine', '?')}: "
        f"{message.get('message', '')}  [{message.get('extract', '').strip()!r}]"
        for message in messages
        if message.get("type") != "info"
    ]
    assert not errors, "the Nu HTML Checker reports errors:\n" + "\n".join(errors)
    assert result.returncode == 0, result.stderr[-2000:]


def _page_name(archive: Path, url: str) -> str:
    """The checker's file: URL as a path relative to the archive folder."""
    path = Path(unquote(urlsplit(url).path)).resolve()
    return path.relative_to(archive.resolve()).as_posix() if path.is_relative_to(archive) else url


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(archive: Path) -> Iterator[str]:
    """The archive served over HTTP on 127.0.0.1, as a web server would; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(archive)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@pytest.mark.parametrize("name", AXE_PAGES)
def test_axe_finds_no_serious_violation_light_or_dark(
    browser: Browser, site: str, name: str
) -> None:
    page = browser.new_page()
    try:
        page.route("**/*", _loopback_only)
        response = page.goto(site + name, wait_until="load")
        assert response is not None and response.ok, f"{name}: {response and response.status}"
        violations = axe_in_both_schemes(page, name)
    finally:
        page.close()
    assert not violations, "axe:\n" + "\n".join(violations)


SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")


def axe_in_both_schemes(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical violations on the loaded `page`, in the light then the
    dark scheme (switched, not loaded again), each described with `where` and the scheme."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing ({AXE}): {INSTALL_HINT}")
    page.add_script_tag(path=str(AXE))
    found = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark == (scheme == "dark")
        results: dict[str, Any] = page.evaluate("axe.run()")
        assert results["passes"], f"axe checked nothing on {where}: the page is empty"
        found += [
            f"{where} ({scheme}):\n{_describe(violation)}"
            for violation in results["violations"]
            if violation["impact"] in BLOCKING
        ]
    page.emulate_media(color_scheme="light")
    return found


def _describe(violation: dict[str, Any]) -> str:
    """One violation: its rule, impact, what it asks for, and where (the first few elements)."""
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
    more = len(violation["nodes"]) - len(targets)
    where = "; ".join(targets) + (f" (and {more} more)" if more > 0 else "")
    return f"  {violation['id']} ({violation['impact']}): {violation['help']}; at {where}"
