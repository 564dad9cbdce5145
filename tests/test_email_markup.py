"""The email's markup as mail clients and spam filters read it, for issues in both themes and for
the confirmation notice, with both CSS inliners: the preheader hidden by display and size (never
by a colour like the background's), the locale's direction on every block MJML lays out, and no
stylesheet, font or script from anywhere (test_email_browser.py loads them in Chromium)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.notices import Notices
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

SLUG = "2024-05-07-this-month-in-ai"
INLINERS = ["premailer", "css-inline"]
THEMES = ["default", "digest"]


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(ROOT / "config" / "newsletter.toml", environ={})


@pytest.fixture(scope="module")
def emails(project: Project) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(kind, inliner, locale) -> (email HTML, preheader): the issue in each theme, the notice."""
    issue = IssueLoader(project.config).load(project.issues_path / SLUG)
    found = {}
    for inliner in INLINERS:
        for locale in ("en", "ar"):
            for theme in THEMES:
                rendered = Renderer(project, inliner=inliner, theme=theme).render(issue, locale)
                found[theme, inliner, locale] = (rendered.email_html, rendered.preheader)
            settings = project.config.model_copy(update={"css_inliner": inliner})
            notice = Notices(Project(settings, project.root, None, {})).render("confirm", locale)
            found["confirm", inliner, locale] = (notice.html, "")
    return found


class _FirstInBody(HTMLParser):
    """The first element inside <body>: its tag, its style declarations, its text."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.tag = ""
        self.style: dict[str, str] = {}
        self.depth = 0
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
        elif self.in_body and not self.tag:
            self.tag = tag
            declarations = (dict(attrs).get("style") or "").split(";")
            self.style = {
                name.strip().lower(): value.strip().lower()
                for name, _, value in (item.partition(":") for item in declarations)
                if name.strip()
            }
            self.depth = 1
        elif self.depth:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text += data


HIDDEN = {
    "display": "none",
    "font-size": "0",
    "line-height": "0",
    "max-height": "0",
    "max-width": "0",
    "opacity": "0",
    "overflow": "hidden",
    "mso-hide": "all",
}


@pytest.mark.parametrize("locale", ["en", "ar"])
@pytest.mark.parametrize("inliner", INLINERS)
@pytest.mark.parametrize("kind", [*THEMES, "confirm"])
def test_the_preheader_is_hidden_by_display_and_size_never_by_its_colour(
    emails: dict[tuple[str, str, str], tuple[str, str]], kind: str, inliner: str, locale: str
) -> None:
    html, preheader = emails[kind, inliner, locale]
    first = _FirstInBody()
    first.feed(html)
    if preheader:
        assert first.text.strip() == preheader
    assert first.text.strip(), "the email starts without its preheader"
    values = {
        name: re.sub(r"(px|!important)$", "", value).strip() for name, value in first.style.items()
    }
    assert {name: values.get(name) for name in HIDDEN} == HIDDEN
    assert "color" not in values, f"the preheader is hidden by its colour: {first.style}"


@pytest.mark.parametrize("locale", ["en", "ar"])
@pytest.mark.parametrize("kind", [*THEMES, "confirm"])
def test_every_block_mjml_lays_out_runs_in_the_direction_of_the_language(
    emails: dict[tuple[str, str, str], tuple[str, str]], kind: str, locale: str
) -> None:
    html, _ = emails[kind, "premailer", locale]
    directions = re.findall(r"direction:\s*(\w+)", html)
    assert len(directions) > 3
    assert set(directions) == {"rtl" if locale == "ar" else "ltr"}


@pytest.mark.parametrize("inliner", INLINERS)
@pytest.mark.parametrize("kind", [*THEMES, "confirm"])
def test_the_email_loads_no_stylesheet_font_or_script(
    emails: dict[tuple[str, str, str], tuple[str, str]], kind: str, inliner: str
) -> None:
    html, _ = emails[kind, inliner, "en"]
    assert not re.search(r"<link\b|<script\b|@import|@font-face|fonts\.googleapis", html, re.I)
