"""The email as readers see it, in real headless Chromium: direction, contrast, third parties.

Each sample edition is rendered once per theme (default and digest) for the module. In an Arabic
email every text block runs right to left (and left to right in English); axe-core's
`color-contrast` finds nothing at 600 and 375 px, in the light and the dark colour scheme, and
the muted lines (meta line, byline, footer) really are muted; no email, web page or archive page
asks a host other than the newsletter's own and the issue's image hosts for anything.

axe-core's other rules run once per edition, without the page-level rules that assume a web page
around the content (an email is shown inside the mail client's page): `region`,
`landmark-one-main`, `page-has-heading-one` and `bypass` (docs/templates.md says the same).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from newsletter.archive.build import build_archive
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.content.markdown import markdown_parser
from newsletter.model import Issue
from newsletter.render.build import build_issue
from newsletter.render.merge import FIELDS, personalize
from newsletter.render.notices import Notices
from newsletter.render.pipeline import Renderer

from .conftest import ROOT
from .test_archive_quality import AXE, INSTALL_HINT

THEMES = ["default", "digest"]
EDITIONS = [
    ("2024-03-10-ai-revolution-accelerates", "en"),
    ("2024-03-27-ai-deca-show", "zh"),
    ("2024-05-07-this-month-in-ai", "ar"),
    ("2024-05-07-this-month-in-ai", "en"),
]
SLUGS = sorted({slug for slug, _ in EDITIONS})
# Rules about a whole web page, which an email is not: the mail client's page is around it.
PAGE_LEVEL_RULES = ["region", "landmark-one-main", "page-has-heading-one", "bypass"]
BLOCKING = {"serious", "critical"}

# Every visible text node: its element's computed direction, and the direction of the story it
# sits in when that story is in another language than the email (a fallback keeps its own).
TEXT_BLOCKS = """() => {
    const root = document.documentElement;
    const blocks = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const element = node.parentElement;
        if (!node.data.trim() || !element.checkVisibility()) continue;
        const story = element.closest('[lang]');
        blocks.push({
            text: node.data.trim().slice(0, 50),
            direction: getComputedStyle(element).direction,
            own: story && story.lang !== root.lang ? story.dir : null,
        });
    }
    return blocks;
}"""

# The computed colour of every visible text node inside an element of `selector`.
TEXT_COLOURS = """(selector) => {
    const colours = [];
    for (const container of document.querySelectorAll(selector)) {
        const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const element = node.parentElement;
            if (!node.data.trim() || !element.checkVisibility()) continue;
            if (element.closest('a')) continue;  // Links have their own colour.
            colours.push([node.data.trim().slice(0, 40), getComputedStyle(element).color]);
        }
    }
    return colours;
}"""


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(ROOT / "config" / "newsletter.toml", environ={})


@pytest.fixture(scope="module")
def issues(project: Project) -> dict[str, Issue]:
    loader = IssueLoader(project.config)
    return {slug: loader.load(project.issues_path / slug) for slug in SLUGS}


@pytest.fixture(scope="module")
def built(
    project: Project, issues: dict[str, Issue], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every edition built once per theme: OUT/THEME/SLUG/LOCALE/{email.html,web/index.html}."""
    out = tmp_path_factory.mktemp("built")
    for theme in THEMES:
        renderer = Renderer(project, theme=theme)
        for slug in SLUGS:
            locales = [locale for s, locale in EDITIONS if s == slug]
            build_issue(renderer, issues[slug], locales, out / theme)
    return out


@pytest.fixture(scope="module")
def notices(project: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The confirmation email in English and Arabic, as a reader gets it: locale -> file URI."""
    out = tmp_path_factory.mktemp("notices")
    found = {}
    for locale in ("en", "ar"):
        notice = Notices(project).render("confirm", locale)
        values = dict.fromkeys(FIELDS, "https://news.example.org/confirm/preview")
        html, _ = personalize(notice.html, notice.text, {**values, "email": "reader@example.org"})
        (out / f"{locale}.html").write_text(html, "utf-8")
        found[locale] = (out / f"{locale}.html").as_uri()
    return found


def _email(built: Path, theme: str, slug: str, locale: str) -> str:
    return (built / theme / slug / locale / "email.html").as_uri()


class Requests:
    """Every request a page made; the site's own files served from `files`, nothing else."""

    def __init__(self, base_url: str, files: Path) -> None:
        self.base = urlsplit(base_url)
        self.files = files
        self.urls: list[str] = []

    def route(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        self.urls.append(route.request.url)
        if url.scheme in ("file", "data"):
            route.continue_()
            return
        if url.netloc != self.base.netloc:
            route.abort()
            return
        local = self.files / unquote(url.path).lstrip("/")
        if url.path.endswith("/"):
            local = local / "index.html"
        if local.is_file():
            route.fulfill(path=str(local))
        else:
            route.fulfill(status=404, body="not found")

    def hosts(self) -> set[str]:
        """The hosts asked for something (file: and data: URLs are no host)."""
        return {
            urlsplit(url).hostname or ""
            for url in self.urls
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        }


def _open(
    browser: Browser, url: str, requests: Requests, width: int = 600, scheme: str = "light"
) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.route("**/*", requests.route)
    page.goto(url, wait_until="load")
    return page


@pytest.fixture
def offline(project: Project) -> Requests:
    """Requests for the site's files served from the issues folder (as the archive publishes
    them: SLUG/PATH), every other request aborted."""
    return Requests(project.config.base_url, project.issues_path)


def _directions(page: Page, locale: str) -> list[str]:
    """The text blocks of `page` that do not run in the direction of `locale` (nor in that of
    a story in another language, which keeps its own)."""
    blocks: list[dict[str, Any]] = page.evaluate(TEXT_BLOCKS)
    expected = "rtl" if locale == "ar" else "ltr"
    assert sum(block["direction"] == expected for block in blocks) >= 5, f"little text: {blocks}"
    return [
        f"{block['text']!r}: {block['direction']}"
        for block in blocks
        if block["direction"] != (block["own"] or expected)
    ]


@pytest.mark.parametrize("locale", ["ar", "en"])
@pytest.mark.parametrize("theme", THEMES)
def test_every_text_block_of_the_email_runs_in_the_direction_of_its_language(
    browser: Browser, built: Path, offline: Requests, theme: str, locale: str
) -> None:
    page = _open(browser, _email(built, theme, "2024-05-07-this-month-in-ai", locale), offline)
    try:
        wrong = _directions(page, locale)
    finally:
        page.close()
    assert not wrong, f"{len(wrong)} text blocks in the wrong direction: {wrong[:5]}"


def _contrast_problems(page: Page, every_rule: bool) -> list[str]:
    """axe's color-contrast findings at 600 and 375 px in both colour schemes; with
    `every_rule`, also every serious or critical finding of the other rules (but the
    page-level ones), once."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing ({AXE}): {INSTALL_HINT}")
    page.add_script_tag(path=str(AXE))
    found: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark == (scheme == "dark")
        for width in (600, 375):
            page.set_viewport_size({"width": width, "height": 900})
            result = _axe(page, "{runOnly: ['color-contrast'], resultTypes: ['violations']}")
            assert result["passes"], "color-contrast checked nothing"
            found += [f"{scheme} {width}px: {_describe(v)}" for v in result["violations"]]
    if every_rule:
        disabled = ", ".join(f"'{rule}': {{enabled: false}}" for rule in PAGE_LEVEL_RULES)
        result = _axe(page, f"{{rules: {{{disabled}}}, resultTypes: ['violations']}}")
        found += [
            f"other rules: {_describe(violation)}"
            for violation in result["violations"]
            if violation["impact"] in BLOCKING
        ]
    return found


def _axe(page: Page, options: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(f"axe.run(document, {options})")
    return result


@pytest.mark.parametrize(("slug", "locale"), EDITIONS[:3])
@pytest.mark.parametrize("theme", THEMES)
def test_the_email_has_enough_contrast_in_both_schemes_at_both_widths(
    browser: Browser, built: Path, offline: Requests, theme: str, slug: str, locale: str
) -> None:
    page = _open(browser, _email(built, theme, slug, locale), offline)
    try:
        # The other rules take seconds: once per theme, on the right-to-left edition.
        found = _contrast_problems(page, every_rule=locale == "ar")
    finally:
        page.close()
    assert not found, f"axe on the {theme} email {slug}/{locale}:\n" + "\n".join(found)


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_the_confirmation_email_reads_in_its_direction_with_enough_contrast(
    browser: Browser, notices: dict[str, str], offline: Requests, locale: str
) -> None:
    page = _open(browser, notices[locale], offline)
    try:
        wrong = _directions(page, locale)
        found = _contrast_problems(page, every_rule=True)
    finally:
        page.close()
    assert not wrong, f"text blocks in the wrong direction: {wrong[:5]}"
    assert not found, f"axe on the confirmation email ({locale}):\n" + "\n".join(found)


def _describe(violation: dict[str, Any]) -> str:
    nodes = violation["nodes"]
    details = "; ".join(
        f"{' '.join(map(str, node['target']))}: {node['any'][0]['message'] if node['any'] else ''}"
        for node in nodes[:3]
    )
    return f"{violation['id']} ({violation['impact']}, {len(nodes)} elements): {details}"


@pytest.mark.parametrize("theme", THEMES)
def test_muted_lines_are_muted_and_readable_in_both_schemes(
    browser: Browser, built: Path, offline: Requests, theme: str
) -> None:
    page = _open(
        browser, _email(built, theme, "2024-03-10-ai-revolution-accelerates", "en"), offline
    )
    try:
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            body = {colour for _, colour in page.evaluate(TEXT_COLOURS, ".nl-text p")}
            muted = page.evaluate(TEXT_COLOURS, ".nl-muted")
            assert len(body) == 1, f"{scheme}: body text in several colours: {body}"
            assert len(muted) >= 3, f"{scheme}: no muted text found"
            same = [(text, colour) for text, colour in muted if colour in body]
            assert not same, f"{scheme}: muted text in the colour of body text: {same}"
    finally:
        page.close()


def _image_hosts(issue: Issue) -> set[str]:
    """The hosts of every image the issue's own content shows (front matter and Markdown)."""
    parser = markdown_parser()
    urls: list[str] = []
    for edition in issue.editions.values():
        urls += [edition.image or "", *(story.image or "" for story in edition.stories)]
        texts = [edition.lead, edition.closing, edition.footer, *(s.body for s in edition.stories)]
        texts += [section.intro for section in edition.sections]
        for text in texts:
            for token in parser.parse(text):
                for child in token.children or []:
                    if child.type == "image":
                        urls.append(str(child.attrs.get("src", "")))
                urls += re.findall(r"<img[^>]+src=[\"']([^\"']+)", token.content)
    return {urlsplit(url).hostname or "" for url in urls if urlsplit(url).hostname}


@pytest.fixture(scope="module")
def archive(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("archive")
    build_archive(project, out)
    return out


def test_no_email_web_page_or_archive_page_asks_a_third_party_for_anything(
    browser: Browser, project: Project, issues: dict[str, Issue], built: Path, archive: Path
) -> None:
    base = urlsplit(project.config.base_url).hostname or ""
    visits: list[tuple[str, Requests, set[str]]] = []
    for theme in THEMES:
        for slug, locale in EDITIONS:
            allowed = {base, *_image_hosts(issues[slug])}
            email = Requests(project.config.base_url, project.issues_path)
            visits.append((_email(built, theme, slug, locale), email, allowed))
            if theme == THEMES[0]:
                web = Requests(project.config.base_url, project.issues_path)
                uri = (built / theme / slug / locale / "web" / "index.html").as_uri()
                visits.append((uri, web, allowed))
    site = f"{project.config.base_url}/"
    visits.append((site, Requests(site, archive), {base}))
    for locale in ("en", "zh", "ar"):
        visits.append((f"{site}{locale}/", Requests(site, archive), {base}))
    for slug, locale in EDITIONS:
        visits.append(
            (
                f"{site}{locale}/{slug}/",
                Requests(site, archive),
                {base, *_image_hosts(issues[slug])},
            )
        )
    problems = []
    page = browser.new_page()
    current: list[Requests] = []
    page.route("**/*", lambda route: current[-1].route(route))
    try:
        for url, requests, allowed in visits:
            current.append(requests)
            page.goto(url, wait_until="load")
            assert requests.urls, f"{url}: no request recorded"
            if strangers := requests.hosts() - allowed:
                asked = [u for u in requests.urls if urlsplit(u).hostname in strangers]
                problems.append(f"{url} asked {sorted(strangers)}: {asked[:3]}")
    finally:
        page.close()
    assert not problems, "third-party requests:\n" + "\n".join(problems)
