"""The rendered email and web pages in real headless Chromium (Debian's, driven by Playwright).

At phone and desktop widths nothing overflows horizontally, every image has alt text, Arabic is
right to left, and both CSS inliners render the same pixels. The screenshots of the inliners'
comparison, and of a page that fails its checks, are kept in test-artifacts/screenshots/ for
review (a full-page screenshot of every page took half the module's time). `make test` installs chromium when it is missing.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, Route

from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.build import build_issue
from newsletter.render.merge import personalize, sample_values
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
EDITIONS = [
    ("2024-03-10-ai-revolution-accelerates", "en"),
    ("2024-03-10-ai-revolution-accelerates", "zh"),
    ("2024-03-27-ai-deca-show", "zh"),
    ("2024-05-07-this-month-in-ai", "en"),
    ("2024-05-07-this-month-in-ai", "ar"),
]


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(ROOT / "config" / "newsletter.toml", environ={})


@pytest.fixture(scope="module")
def built(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    loader = IssueLoader(project.config)
    renderer = Renderer(project)
    for slug in {slug for slug, _ in EDITIONS}:
        issue = loader.load(project.issues_path / slug)
        build_issue(renderer, issue, issue.locales, out)
    return out


def _page(browser: Browser, project: Project, width: int) -> Page:
    """A page whose requests for the site's files are served from the issues folder; no network."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    base = urlsplit(project.config.base_url)

    def serve(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme == "file":
            route.continue_()
            return
        local = (
            project.issues_path / unquote(url.path).lstrip("/")
            if url.netloc == base.netloc
            else None
        )
        if local is not None and local.is_file():
            route.fulfill(path=str(local))
        else:
            route.abort()

    page.route("**/*", serve)
    return page


def _inspect(page: Page, url: str) -> dict[str, object]:
    page.goto(url)
    page.wait_for_load_state("load")
    return page.evaluate(
        """() => ({
            scrollWidth: document.documentElement.scrollWidth,
            width: window.innerWidth,
            dir: document.documentElement.dir,
            images: document.images.length,
            withoutAlt: [...document.images].filter(image => !image.hasAttribute('alt')).map(image => image.src),
        })"""
    )


@pytest.mark.parametrize(("slug", "locale"), EDITIONS)
@pytest.mark.parametrize(
    ("kind", "width"), [("email", 375), ("email", 600), ("web", 375), ("web", 1280)]
)
def test_page_fits_the_width_and_every_image_has_alt(
    browser: Browser, project: Project, built: Path, slug: str, locale: str, kind: str, width: int
) -> None:
    folder = built / slug / locale
    path = folder / "email.html" if kind == "email" else folder / "web" / "index.html"
    page = _page(browser, project, width)
    try:
        found = _inspect(page, path.as_uri())
        try:
            assert found["scrollWidth"] <= found["width"], f"{kind} at {width}px overflows: {found}"  # type: ignore[operator]
            assert found["images"], "no images at all: the check would be empty"
            assert found["withoutAlt"] == []
            assert found["dir"] == ("rtl" if locale == "ar" else "ltr")
        except AssertionError:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"{slug}-{locale}-{kind}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            raise
    finally:
        page.close()


@pytest.mark.parametrize(
    ("slug", "locale"),
    [
        ("2024-05-07-this-month-in-ai", "en"),
        ("2024-03-27-ai-deca-show", "zh"),
        ("2024-05-07-this-month-in-ai", "ar"),
    ],
)
def test_both_inliners_render_the_same_pixels(
    browser: Browser, project: Project, tmp_path: Path, slug: str, locale: str
) -> None:
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    values = sample_values(project.config.base_url, "https://news.example.org/")
    shots = {}
    for inliner in ("premailer", "css-inline"):
        rendered = Renderer(project, inliner=inliner).render(issue, locale)
        html, _ = personalize(rendered.email_html, rendered.text, values)
        path = tmp_path / f"{inliner}.html"
        path.write_text(html, encoding="utf-8")
        page = _page(browser, project, 600)
        try:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            shots[inliner] = page.screenshot(full_page=True)
        finally:
            page.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{slug}-{locale}-inliner-{inliner}.png").write_bytes(shots[inliner])
    first, second = (
        Image.open(BytesIO(shots[name])).convert("RGB") for name in ("premailer", "css-inline")
    )
    assert first.size == second.size
    assert ImageChops.difference(first, second).getbbox() is None, (
        "the two inliners render differently"
    )
