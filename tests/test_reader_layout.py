"""What readers see of mixed editions and of every element a story may hold, in real Chromium.

The project in tests/fixtures/layout has an English issue whose Arabic edition keeps one story
in English, an Arabic issue whose English edition keeps one in Arabic, and an issue that uses
every element the HTML sanitizer lets through. Each is built once for the module: the email in
both themes (with both CSS inliners for the mixed editions), the web page, and the archive.

- A story in the other direction is laid out in its own: every text block runs in its direction
  and starts on its side, list markers and quotation borders sit on that side (email and web).
- Code reads left to right in a right-to-left edition (`$ pip install` keeps its `$` first).
- axe-core's `color-contrast` finds nothing on the every-element issue, light and dark, as email,
  web page and archive page.
- A section heading whose title is in another language than the edition says which.
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
FALLBACKS = [(MIXED, "ar"), (ARABIC, "en")]
"""Editions with a story in the other direction."""

# Everything in another language than the page (a story, a section's title or intro), and in it:
# each visible text node with the computed direction of its element and of the block it sits in,
# the block's text-align, and the direction both should have (the closest dir: the story's, or
# the "Read more" line's in the page's language); each list item with the room its list leaves on
# either side (the marker sits in the room on the item's start side); each quotation with the
# width of its left and right borders. Code is left out: it is left to right everywhere.
OTHER_DIRECTION = """() => {
    const page = document.documentElement.lang;
    const others = [...document.body.querySelectorAll('[lang]:not([hreflang])')]
        .filter((element) => element.lang !== page && element.parentElement.closest('[lang]').lang === page);
    const found = {others: others.map((e) => e.textContent.trim().slice(0, 40)), texts: [], items: [], quotes: []};
    const block = (element) => {
        while (getComputedStyle(element).display.startsWith('inline')) element = element.parentElement;
        return element;
    };
    for (const other of others) {
        const walker = document.createTreeWalker(other, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const element = node.parentElement;
            if (!node.data.trim() || !element.checkVisibility() || element.closest('pre, code')) continue;
            const around = block(element);
            found.texts.push({
                text: node.data.trim().slice(0, 40),
                expected: element.closest('[dir]').dir,
                direction: getComputedStyle(element).direction,
                blockExpected: around.closest('[dir]').dir,
                blockDirection: getComputedStyle(around).direction,
                align: getComputedStyle(around).textAlign,
            });
        }
        const items = [...other.querySelectorAll('li')];
        if (other.matches('li')) items.push(other);
        for (const item of items) {
            const box = item.getBoundingClientRect();
            const list = item.parentElement.getBoundingClientRect();
            found.items.push({
                text: item.textContent.trim().slice(0, 40),
                direction: getComputedStyle(item).direction,
                left: box.left - list.left,
                right: list.right - box.right,
            });
        }
        for (const quote of other.querySelectorAll('blockquote')) {
            const style = getComputedStyle(quote);
            found.quotes.push({
                text: quote.textContent.trim().slice(0, 40),
                direction: style.direction,
                left: parseFloat(style.borderLeftWidth),
                right: parseFloat(style.borderRightWidth),
            });
        }
    }
    return found;
}"""

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


def _start(direction: str) -> str:
    return "left" if direction == "ltr" else "right"


def _misplaced(found: dict[str, Any]) -> list[str]:
    """What in `found` (OTHER_DIRECTION's result) is not laid out in its own direction."""
    problems = []
    for text in found["texts"]:
        start = _start(text["blockExpected"])
        if (
            text["direction"] != text["expected"]
            or text["blockDirection"] != text["blockExpected"]
            or text["align"] not in ("start", start)
        ):
            problems.append(
                f"{text['text']!r}: {text['direction']} in a {text['blockDirection']} block"
                f" aligned {text['align']} (wanted {text['expected']} in {text['blockExpected']},"
                f" {start})"
            )
    for item in found["items"]:
        start, end = ("left", "right") if item["direction"] == "ltr" else ("right", "left")
        if item[start] < 16 or item[end] > 2:
            problems.append(
                f"list item {item['text']!r} ({item['direction']}): room for its marker"
                f" {item[start]:.0f}px on the {start}, {item[end]:.0f}px on the {end}"
            )
    for quote in found["quotes"]:
        start, end = ("left", "right") if quote["direction"] == "ltr" else ("right", "left")
        if not quote[start] or quote[end]:
            problems.append(
                f"quotation {quote['text']!r} ({quote['direction']}): border {quote['left']}px"
                f" left, {quote['right']}px right"
            )
    return problems


@pytest.mark.parametrize(("slug", "locale"), FALLBACKS)
@pytest.mark.parametrize(
    ("kind", "theme", "inliner"),
    [
        *(("email", theme, inliner) for theme in THEMES for inliner in INLINERS),
        ("web", THEMES[0], INLINERS[0]),
    ],
)
def test_a_story_in_the_other_direction_is_laid_out_in_its_own(
    browser: Browser,
    built: Path,
    offline: Requests,
    kind: str,
    theme: str,
    inliner: str,
    slug: str,
    locale: str,
) -> None:
    path = (
        _email(built, slug, locale, theme, inliner)
        if kind == "email"
        else _web(built, slug, locale)
    )
    page = _open(browser, path.as_uri(), offline)
    try:
        found: dict[str, Any] = page.evaluate(OTHER_DIRECTION)
    finally:
        page.close()
    titles = {MIXED: "A story only in English", ARABIC: "قصة بالعربية فقط"}
    assert any(text.startswith(titles[slug]) for text in found["others"]), found["others"]
    assert len(found["texts"]) >= 8 and len(found["items"]) >= 5 and found["quotes"], found
    wrong = _misplaced(found)
    assert not wrong, f"{kind} ({theme}, {inliner}) of {slug}/{locale}:\n" + "\n".join(wrong)


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


def _language(element: lxml.html.HtmlElement) -> tuple[str, str]:
    """The lang and dir in effect at `element` (its own or its closest ancestor's)."""
    lang = next((e.get("lang") for e in element.iterancestors() if e.get("lang")), "")
    direction = next((e.get("dir") for e in element.iterancestors() if e.get("dir")), "")
    return element.get("lang") or lang, element.get("dir") or direction


INTRO = "What happened this week, told in English and left untranslated."


@pytest.mark.parametrize(
    ("slug", "locale", "text", "lang", "direction"),
    [
        (MIXED, "ar", "News", "en", "ltr"),
        (MIXED, "ar", "Content", "en", "ltr"),
        (MIXED, "ar", INTRO, "en", "ltr"),
        (ARABIC, "en", "أخبار", "ar", "rtl"),
    ],
)
def test_a_section_title_or_intro_in_another_language_says_which(
    built: Path, archive: Path, slug: str, locale: str, text: str, lang: str, direction: str
) -> None:
    # The digest shows no intros; the archive's page is the web page with the site around it.
    themes = THEMES[:1] if text == INTRO else THEMES
    paths = [_email(built, slug, locale, theme) for theme in themes]
    paths += [_web(built, slug, locale), archive / locale / slug / "index.html"]
    for path in paths:
        document = lxml.html.parse(str(path)).getroot()
        assert document.get("lang") == locale
        found = [e for e in document.iter() if (e.text or "").strip() == text]
        assert found, f"{text!r} not found in {path}"
        for element in found:
            where = f"{element.tag} {text!r} in {path}"
            assert _language(element) == (lang, direction), where


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
