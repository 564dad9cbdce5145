"""What readers see of mixed editions and of every element a story may hold, in real Chromium.

The project in tests/fixtures/layout has an English issue whose Arabic edition keeps one story
in English, an Arabic issue whose English edition keeps one in Arabic, and an issue that uses
every element the HTML sanitizer lets through. Each is built once for the module: the email in
both themes (with both CSS inliners for the mixed editions), the web page, and the archive.

- Code reads left to right in a right-to-left edition (`$ pip install` keeps its `$` first).
- axe-core's `color-contrast` finds nothing on the every-element issue, light and dark, as email,
  web page and archive page.
- No page or email has an id twice, and every in-page link has its target.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from playwright.sync_api import Browser

from newsletter.archive.build import build_archive
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.build import build_issue
from newsletter.render.html import TAGS
from newsletter.render.pipeline import Renderer

from .conftest import FIXTURES
from .test_archive_quality import AXE, INSTALL_HINT
from .test_email_browser import THEMES, Requests, _axe, _describe, _open

LAYOUT = FIXTURES / "layout"
MIXED = "2026-01-05-mixed"  # English original, its Arabic edition keeps a story in English.
ARABIC = "2026-01-12-arabic"  # Arabic original, its English edition keeps a story in Arabic.
EVERY = "2026-01-19-every-element"
LOCALES = {MIXED: ["en", "ar"], ARABIC: ["ar", "en"], EVERY: ["en"]}
INLINERS = ["premailer", "css-inline"]

# Every pre and code element: its computed direction and text-align, and the x position of the
# first visible character and of the first letter after it.
CODE = """() => [...document.querySelectorAll('pre, code')].map((element) => {
    const node = document.createTreeWalker(element, NodeFilter.SHOW_TEXT).nextNode();
    const at = (index) => {
        const range = document.createRange();
        range.setStart(node, index);
        range.setEnd(node, index + 1);
        return range.getBoundingClientRect().left;
    };
    const text = node.data;
    const first = text.search(/\\S/);
    const letter = text.slice(first + 1).search(/[A-Za-z]/) + first + 1;
    const style = getComputedStyle(element);
    return {
        tag: element.tagName.toLowerCase(),
        text: text.trim(),
        direction: style.direction,
        align: style.textAlign,
        first: at(first),
        letter: at(letter),
    };
})"""


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(LAYOUT / "config" / "newsletter.toml", environ={})


@pytest.fixture(scope="module")
def built(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT/INLINER/THEME/SLUG/LOCALE/{email.html,web/index.html}: every edition in both themes
    with premailer; the mixed ones with css-inline too."""
    out = tmp_path_factory.mktemp("layout")
    loader = IssueLoader(project.config)
    issues = {slug: loader.load(project.issues_path / slug) for slug in LOCALES}
    for inliner in INLINERS:
        for theme in THEMES:
            renderer = Renderer(project, inliner=inliner, theme=theme)
            for slug, locales in LOCALES.items():
                if inliner == INLINERS[0] or slug != EVERY:
                    build_issue(renderer, issues[slug], locales, out / inliner / theme)
    return out


@pytest.fixture(scope="module")
def archive(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout-archive")
    build_archive(project, out)
    return out


@pytest.fixture
def offline(project: Project) -> Requests:
    return Requests(project.config.base_url, project.issues_path)


def _email(built: Path, slug: str, locale: str, theme: str, inliner: str = INLINERS[0]) -> Path:
    return built / inliner / theme / slug / locale / "email.html"


def _web(built: Path, slug: str, locale: str) -> Path:
    return built / INLINERS[0] / THEMES[0] / slug / locale / "web" / "index.html"


@pytest.mark.parametrize(
    ("kind", "theme", "inliner"),
    [
        *(("email", theme, inliner) for theme in THEMES for inliner in INLINERS),
        ("web", THEMES[0], INLINERS[0]),
    ],
)
def test_code_reads_left_to_right_in_a_right_to_left_edition(
    browser: Browser, built: Path, offline: Requests, kind: str, theme: str, inliner: str
) -> None:
    path = _web(built, MIXED, "ar") if kind == "web" else _email(built, MIXED, "ar", theme, inliner)
    page = _open(browser, path.as_uri(), offline)
    try:
        codes: list[dict[str, Any]] = page.evaluate(CODE)
    finally:
        page.close()
    assert {code["text"] for code in codes} >= {"$ ls -la", "$ pip install newsletter"}, codes
    wrong = [
        code
        for code in codes
        if code["direction"] != "ltr"
        or code["first"] >= code["letter"]
        or (code["tag"] == "pre" and code["align"] not in ("left", "start"))
    ]
    assert not wrong, (
        f"code laid out right to left in the Arabic {kind} ({theme}, {inliner}): {wrong}"
    )


def _contrast(browser: Browser, url: str, requests: Requests) -> list[str]:
    """axe's color-contrast findings on `url` in the light and the dark scheme, at 600 px."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing ({AXE}): {INSTALL_HINT}")
    page = _open(browser, url, requests)
    found = []
    try:
        page.add_script_tag(path=str(AXE))
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            result = _axe(page, "{runOnly: ['color-contrast'], resultTypes: ['violations']}")
            assert result["passes"], "color-contrast checked nothing"
            found += [f"{scheme}: {_describe(v)}" for v in result["violations"]]
    finally:
        page.close()
    return found


def test_the_every_element_issue_holds_every_element_the_sanitizer_allows(built: Path) -> None:
    for path in (_web(built, EVERY, "en"), _email(built, EVERY, "en", THEMES[0])):
        document = lxml.html.parse(str(path)).getroot()
        used = {
            element.tag
            for container in document.find_class("nl-text")
            for element in container.iter()
            if isinstance(element.tag, str)
        }
        assert used >= TAGS, f"{path.name} lacks {sorted(TAGS - used)}: add them to {EVERY}"


@pytest.mark.parametrize("kind", ["email", "digest", "web", "archive", "archive index"])
def test_every_element_has_enough_contrast_in_both_schemes(
    browser: Browser, project: Project, built: Path, archive: Path, offline: Requests, kind: str
) -> None:
    site = f"{project.config.base_url}/"
    requests = offline
    if kind in ("email", "digest"):
        url = _email(built, EVERY, "en", THEMES[0] if kind == "email" else THEMES[1]).as_uri()
    elif kind == "web":
        url = _web(built, EVERY, "en").as_uri()
    else:
        url = f"{site}en/{EVERY}/" if kind == "archive" else f"{site}en/"
        requests = Requests(site, archive)
    found = _contrast(browser, url, requests)
    assert not found, f"axe on the every-element issue ({kind}):\n" + "\n".join(found)


def _pages(built: Path, archive: Path) -> list[Path]:
    return [*built.rglob("*.html"), *archive.rglob("*.html")]


def test_no_page_or_email_has_an_id_twice_and_every_anchor_has_its_target(
    built: Path, archive: Path
) -> None:
    problems = []
    pages = _pages(built, archive)
    assert len(pages) > 20
    for path in pages:
        document = lxml.html.parse(str(path)).getroot()
        ids = Counter(element.get("id") for element in document.iter() if element.get("id"))
        if twice := sorted(name for name, count in ids.items() if count > 1):
            problems.append(f"{path}: ids used more than once: {twice}")
        targets = {
            href[1:]
            for element in document.iter("a")
            if (href := element.get("href", "")).startswith("#")
        }
        if missing := sorted(targets - set(ids)):
            problems.append(f"{path}: links to missing ids: {missing}")
    assert not problems, "\n".join(problems)
