"""The web app's pages in real headless Chromium: no page is wider than the screen, in a
left-to-right and a right-to-left language, at phone and desktop widths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page
from sqlmodel import Session

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade
from newsletter.subscribers import registry
from newsletter.subscribers.models import Tag
from newsletter.subscribers.tokens import Tokens
from newsletter.web.app import create_app

from .conftest import web_server
from .test_service import free_port

SECRET = "test-secret-key-0123456789abcdef"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WIDTHS = [375, 1024]
LONG_ADDRESS = "someone.with.a.rather.long.address.for.testing@mail.example.org"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Project]]:
    """The web app on a real uvicorn server: (its origin, the project)."""
    root = tmp_path_factory.mktemp("pages")
    (root / "config").mkdir()
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nlocales = ["en", "ar"]\n'
        'timezone = "Europe/Berlin"\ndatabase_url = "sqlite:///subscribers.db"\n'
        'transport_url = "null:"\npostal_address = "1 Main St, 10117 Berlin"\n\n'
        '[topics.research]\nen = "Research papers and what they mean for practitioners"\n'
        'ar = "الأوراق البحثية وما تعنيه للممارسين في هذا المجال"\n',
        encoding="utf-8",
    )
    project = load_project(
        root / "config" / "newsletter.toml", environ={"NEWSLETTER_SECRET_KEY": SECRET}
    )
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    with Session(engine) as session:
        session.add(Tag(name="weekly"))
        session.add(Tag(name="a-very-long-internal-tag-name-without-any-display-name-at-all"))
        for locale in ("en", "ar"):
            profile = registry.make_profile(
                f"{locale}.{LONG_ADDRESS}",
                "",
                locale,
                None,
                ["research"],
                ["en", "ar"],
                "en",
                "UTC",
            )
            registry.add(session, profile, status="pending", method="test", source="t", now=NOW)
        session.commit()
    app = create_app(project, engine=engine, clock=lambda: NOW)
    with web_server(app, free_port()) as origin:
        yield origin, project


def _token_pages(project: Project, locale: str) -> list[str]:
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        subscriber = registry.find(session, f"{locale}.{LONG_ADDRESS}")
        assert subscriber is not None
        tokens = Tokens(SECRET)
        pages = [f"/{kind}/{tokens.make(kind, subscriber)}" for kind in ("confirm", "unsubscribe")]
        pages.append(f"/preferences/{tokens.make('preferences', subscriber)}")
    engine.dispose()
    return pages


def submit(page: Page) -> None:
    """Post the page's form and wait for the page that answers: read before it has loaded, the
    old page may be gone and the new one have no document yet."""
    with page.expect_navigation():
        page.click("button[type=submit]")


def _width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("locale", ["en", "ar"])
@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_screen(
    browser: Browser, site: tuple[str, Project], locale: str, width: int
) -> None:
    origin, project = site
    # A client address of its own (uvicorn trusts the header from 127.0.0.1): four posts per
    # address would reach the form's rate limit.
    client = {"X-Forwarded-For": f"198.51.100.{width % 250}{len(locale)}"}
    page = browser.new_page(
        viewport={"width": width, "height": 800}, locale=locale, extra_http_headers=client
    )
    try:
        paths = [f"/subscribe?lang={locale}", *_token_pages(project, locale)]
        paths += ["/unsubscribe/not-a-valid-token", f"/{locale}/", "/no-such-page"]
        for path in paths:
            page.goto(origin + path)
            assert page.evaluate("document.documentElement.dir") == (
                "rtl" if locale == "ar" else "ltr"
            ) or path in (f"/{locale}/", "/no-such-page")
            assert _width(page) == width, (path, _width(page))
        # The form's own answers: a refused address (the browser lets `a@b` through), then
        # the page every accepted post gets.
        page.goto(f"{origin}/subscribe?lang={locale}")
        page.fill("#email", "a@b")
        page.fill("#name", "Ein ziemlich langer Name, der trotzdem in die Zeile passen muss")
        submit(page)
        assert page.locator("#problem").count() == 1 and _width(page) == width
        page.fill("#email", f"new.{width}.{LONG_ADDRESS}")
        submit(page)
        assert page.locator("#problem").count() == 0 and _width(page) == width
    finally:
        page.close()


def test_the_honeypot_is_out_of_sight_for_people_and_screen_readers(
    browser: Browser, site: tuple[str, Project]
) -> None:
    origin, _ = site
    page = browser.new_page(viewport={"width": 375, "height": 800})
    try:
        page.goto(f"{origin}/subscribe?lang=ar")
        trap = page.locator("#website")
        assert trap.count() == 1 and not trap.is_visible()
        tree = page.locator("body").aria_snapshot()  # What a screen reader is given.
        assert "textbox" in tree and "website" not in tree.lower()
        assert "اترك هذا الحقل" not in tree  # "Leave this field empty"
        page.keyboard.press("Tab")
        focused = [page.evaluate("document.activeElement.id")]
        for _ in range(6):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.id"))
        assert "website" not in focused
    finally:
        page.close()
