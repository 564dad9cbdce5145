"""The dashboard's overview, /admin/: active subscribers at the end of each day or week (against
the join and leave dates of generated subscribers, on SQLite and PostgreSQL), the chart drawn as
well-formed inline SVG (mirrored in Arabic), the last sends' delivered, bounced and complained
shares as bars (real sends, a real bounce, complaint and refusal), the next scheduled send, an
empty database; in Chromium, light and dark, with axe-core and the page's CSP."""

from __future__ import annotations

import itertools
import random
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page
from sqlalchemy import Engine
from sqlmodel import Session

from newsletter.access.users import Role, add_user
from newsletter.config import Project
from newsletter.db import converter, create_db_engine, database_url, insert_many
from newsletter.inbound.report import came_back, outcomes
from newsletter.subscribers.growth import growth, point_days
from newsletter.subscribers.models import STATUSES, SUBSCRIBER
from newsletter.subscribers.registry import status_counts
from newsletter.web.admin.charts import PLOT, WIDTH
from newsletter.web.app import create_app

from .conftest import SmtpServer, web_server
from .report_sends import ARMS, CHIPS, mailing_of, send_both
from .test_admin import BASE, PASSWORD, log_in
from .test_archive_quality import axe_in_both_schemes
from .test_delivery import make_project, newsletter
from .test_postgres import cluster, database, either_engine  # noqa: F401 - the throwaway cluster
from .test_service import free_port

NOW = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
ZONE = "America/New_York"  # Weeks end at its midnight, across its DST change.
SVG = "{http://www.w3.org/2000/svg}"


# --- Subscribers over time, against their join and leave dates ---


@dataclass(frozen=True)
class Person:
    status: str
    created: datetime
    confirmed: datetime | None
    left: datetime | None

    @property
    def joined(self) -> datetime:
        return self.confirmed or self.created

    def active_at(self, moment: datetime) -> bool:
        """The plain reading: joined before the moment, not left by then, never pending."""
        if self.status == "pending" or self.joined >= moment:
            return False
        return self.left is None or self.left >= moment


def people(count: int, days: int, on: list[datetime]) -> list[Person]:
    """`count` subscribers added over the last `days`: confirmed, imported (no confirmation)
    or pending; some left (unsubscribed, bounced, complained), one pending one too; and some
    joining or leaving exactly at the moments `on` (the points' ends)."""
    chance = random.Random(17)
    made = []
    for _ in range(count):
        created = NOW - timedelta(seconds=chance.uniform(0, days * 86400))
        kind = chance.choice(("confirmed", "confirmed", "confirmed", "imported", "pending"))
        confirmed = min(
            created + timedelta(hours=chance.uniform(0, 50)), NOW - timedelta(minutes=1)
        )
        status, left = ("pending", None) if kind == "pending" else ("active", None)
        if kind != "pending" and chance.random() < 0.3:
            start = confirmed if kind == "confirmed" else created
            left = start + (NOW - start) * chance.random()
            status = chance.choice(("unsubscribed", "bounced", "complained"))
        made.append(Person(status, created, confirmed if kind == "confirmed" else None, left))
    for moment in on[::7]:
        made.append(Person("active", moment - timedelta(days=3), moment, None))
        made.append(Person("unsubscribed", moment - timedelta(days=9), None, moment))
    made.append(Person("unsubscribed", NOW - timedelta(days=40), None, NOW - timedelta(days=20)))
    return made


def fill(engine: Engine, made: list[Person]) -> None:
    when = converter(SUBSCRIBER.c.created_at.type, engine.dialect)
    nothing = converter(SUBSCRIBER.c.attributes.type, engine.dialect)({})
    columns = ("id", "email", "email_key", "name", "locale", "timezone", "status", "attributes")
    columns += ("consent_method", "consent_source", "created_at", "updated_at")
    columns += ("confirmed_at", "unsubscribed_at")
    rows = [
        (number, f"r{number}@example.org", f"r{number}@example.org", "", "en", "UTC", p.status, nothing,
         "test", "test", when(p.created), when(p.created), when(p.confirmed) if p.confirmed else None,
         when(p.left) if p.left else None)
        for number, p in enumerate(made, 1)
    ]  # fmt: skip
    with engine.begin() as connection:
        insert_many(connection, SUBSCRIBER, columns, rows)


def test_each_week_counts_those_who_had_joined_and_not_yet_left(engine: Engine) -> None:
    zone = ZoneInfo(ZONE)
    # The points' ends: midnight after each Sunday in New York, the last week's up to now.
    sundays = [date(2026, 12, 6) - timedelta(weeks=back) for back in range(51, -1, -1)]
    ends = [datetime.combine(day + timedelta(days=1), datetime.min.time(), zone) for day in sundays]
    made = people(3000, 500, ends[:-1])
    fill(engine, made)
    with engine.connect() as connection, Session(engine) as session:
        counted = growth(connection, NOW, ZONE)
        statuses = status_counts(session)
        given = growth(connection, NOW, ZONE, active_now=statuses["active"])

    assert statuses == {status: sum(p.status == status for p in made) for status in STATUSES}
    today = date(2026, 12, 3)  # The last week is counted up to now: the point says today.
    assert counted.unit == "week" and [point.day for point in counted.points] == [
        *sundays[:-1],
        today,
    ]
    assert [point.end for point in counted.points] == [*ends[:-1], NOW]
    expected = [sum(p.active_at(end) for p in made) for end in [*ends[:-1], NOW]]
    assert [point.active for point in counted.points] == expected
    assert given == counted  # The status count the page has already gives the same numbers.
    assert expected[-1] == statuses["active"] and len(set(expected)) > 30  # Numbers that move.


@pytest.mark.parametrize(
    ("age", "unit", "points"),
    [(0, "day", 14), (9, "day", 14), (39, "day", 40), (55, "day", 56), (56, "week", 12),
     (100, "week", 15), (363, "week", 52), (2000, "week", 52)],
)  # fmt: skip
def test_a_young_list_gets_a_point_a_day_an_older_one_a_point_a_week(
    age: int, unit: str, points: int
) -> None:
    zone = ZoneInfo(ZONE)
    first = datetime.combine(
        NOW.astimezone(zone).date() - timedelta(days=age), datetime.min.time(), zone
    )
    found, days = point_days(first + timedelta(hours=12), NOW, zone)
    today = NOW.astimezone(zone).date()
    assert (found, len(days)) == (unit, points)
    step = timedelta(days=1 if unit == "day" else 7)
    assert all(later - earlier == step for earlier, later in itertools.pairwise(days))
    assert days[-1] == (today if unit == "day" else date(2026, 12, 6))  # Today, or its Sunday.


def test_no_subscriber_means_no_points(engine: Engine) -> None:
    fill(engine, [Person("pending", NOW - timedelta(days=3), None, None)])
    with engine.connect() as connection:
        assert growth(connection, NOW, ZONE).points == []


# --- The page ---


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """report_sends' two sends (Chips to five readers, one bounced and one complaining; Arms to
    the three left) in a project that has Arabic too, a viewer, and a weekly schedule."""
    project = send_both(tmp_path_factory.mktemp("overview"), '["en", "de", "ar"]').project
    engine = create_db_engine(database_url(project))
    add_user(engine, "vic", Role.VIEWER, PASSWORD, datetime.now(UTC))
    engine.dispose()
    assert newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "Europe/Berlin")[0] == 0
    return project


@pytest.fixture
def client(sent: Project) -> Iterator[TestClient]:
    with TestClient(create_app(sent), base_url=BASE) as made:
        assert log_in(made, "vic") == 303
        yield made


def rate_rows(page: str) -> dict[str, list[str]]:
    """The rates table: each issue's attempted deliveries and its three figures."""
    table = page.split('<table class="nl-rates">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S):
        issue, attempted = re.findall(r'^([^<]*)<span class="nl-scale">([^<]*)</span>', row)[0]
        rows[issue] = [attempted, *re.findall(r'<span class="nl-figure">([^<]*)</span>', row)]
    return rows


def bar_lengths(page: str) -> list[float]:
    """Each bar's length (percent of its column), parsed as SVG, in the page's order."""
    table = page.split('<table class="nl-rates">', 1)[1].split("</table>", 1)[0]
    lengths = []
    for svg in re.findall(r"<svg .*?</svg>", table, re.S):
        tree = ElementTree.fromstring(svg)
        assert tree.get("aria-hidden") == "true"  # The figure beside it is what is read.
        lengths.append(float(tree.findall(f"{SVG}rect")[1].get("width", "")))
    return lengths


def test_the_last_sends_show_delivered_bounced_and_complained_shares(
    client: TestClient, sent: Project
) -> None:
    page = client.get("/admin/").text
    # Chips: 5 attempted, Cem's bounced (hard), Emil complained; Arms: the 3 left, all fine.
    assert rate_rows(page) == {
        ARMS: ["3 attempted", "100%", "0%", "0%"],
        CHIPS: ["5 attempted", "80%", "20%", "20%"],
    }
    # Delivered runs to 100%; bounced and complained to their largest share, 20%.
    assert bar_lengths(page) == [100, 0, 0, 80, 100, 100]
    assert page.count("bars to 20%") == 2 and "bars to 100%" in page
    engine = create_db_engine(database_url(sent))
    ids = [mailing_of(sent, issue)[0] for issue in (CHIPS, ARMS)]
    back = came_back(engine, ids)
    assert back == {ids[0]: (1, 1), ids[1]: (0, 0)}
    for id_ in ids:  # The counts `newsletter report` and `status` give, per locale.
        found = outcomes(engine, id_).values()
        assert back[id_] == (sum(o.bounced for o in found), sum(o.complained for o in found))
    engine.dispose()


def test_a_refused_delivery_counts_as_bounced(tmp_path: Path, smtp_server: SmtpServer) -> None:
    smtp_server.recorder.replies["jonas@example.de"] = "550 5.1.1 mailbox unavailable"
    project = make_project(tmp_path, f"{smtp_server.url}?connections=1")
    engine = create_db_engine(database_url(project))
    add_user(engine, "vic", Role.VIEWER, PASSWORD, datetime.now(UTC))
    engine.dispose()
    assert newsletter(project, "send", "2024-03-10-ai-revolution-accelerates")[0] == 0
    with TestClient(create_app(project), base_url=BASE) as browser:
        assert log_in(browser, "vic") == 303
        page = browser.get("/admin/").text
    assert rate_rows(page) == {
        "2024-03-10-ai-revolution-accelerates": ["4 attempted", "75%", "25%", "0%"]
    }


def outer_svg(page: str) -> ElementTree.Element:
    """The subscriber chart, parsed as XML (so well-formed): from its tag to the end tag that
    closes it (the plot is an SVG inside)."""
    start = page.index('<svg class="nl-chart"')
    depth = 0
    for tag in re.finditer(r"<svg[ >]|</svg>", page[start:]):
        depth += -1 if tag[0] == "</svg>" else 1
        if depth == 0:
            return ElementTree.fromstring(page[start : start + tag.end()])
    raise AssertionError("the chart's svg is not closed")


def test_the_subscriber_chart_is_svg_with_its_numbers_and_a_table(client: TestClient) -> None:
    page = client.get("/admin/").text
    chart = outer_svg(page)
    assert chart.get("role") == "img" and chart.get("aria-labelledby") == (
        "nl-growth-title nl-growth-desc"
    )
    title, desc = chart.find(f"{SVG}title"), chart.find(f"{SVG}desc")
    assert title is not None and title.text == "Active subscribers at the end of each day"
    # The five readers joined today; Cem bounced and Emil complained: 3 active now.
    assert desc is not None and desc.text is not None and desc.text.startswith("3 on ")
    plot = chart.find(f"{SVG}svg")
    assert plot is not None and plot.get("viewBox") == f"0 0 {WIDTH} {PLOT}"
    line = plot.find(f"{SVG}polyline")
    assert line is not None
    points = [tuple(map(float, xy.split(","))) for xy in line.get("points", "").split()]
    assert len(points) == 14  # A young list: a point a day, two weeks at least.
    assert points[0][0] == 0 and points[-1][0] == WIDTH  # Oldest on the left.
    assert points[-1][1] == 0 and points[0][1] == PLOT  # 3 at the top of an axis to 3; 0.
    values = [text.text for text in chart.iter(f"{SVG}text") if text.get("class") == "nl-value"]
    assert values == ["0", "1", "2", "3"]
    table = page.split("<details>", 1)[1].split("</details>", 1)[0]
    assert table.count("<tr><td>") == 14 and '<td class="nl-num">3</td></tr>' in table


def test_an_arabic_page_draws_the_chart_right_to_left(client: TestClient) -> None:
    page = client.get("/admin/?lang=ar").text
    assert '<html lang="ar" dir="rtl">' in page
    chart = outer_svg(page)
    line = chart.find(f"{SVG}svg/{SVG}polyline")
    assert line is not None
    xs = [float(xy.split(",")[0]) for xy in line.get("points", "").split()]
    assert xs[0] == WIDTH and xs[-1] == 0  # The newest point on the left.
    dates = [t for t in chart.iter(f"{SVG}text") if t.get("class") is None]
    assert [(d.get("x"), d.get("text-anchor")) for d in (dates[0], dates[-1])] == [
        ("100.0%", "start"),
        ("0.0%", "end"),
    ]
    values = [t for t in chart.iter(f"{SVG}text") if t.get("class") == "nl-value"]
    assert {value.get("x") for value in values} == {"100%"}  # On the right, where lines start.


def test_the_next_scheduled_send_stands_out_at_the_top(client: TestClient) -> None:
    page = client.get("/admin/").text
    top = page.split('<section class="nl-next"', 1)[1].split("</section>", 1)[0]
    assert page.index('<section class="nl-next"') < page.index("<h2>Subscribers</h2>")
    moment = re.search(r'<time class="nl-when" datetime="([^"]+)">([^<]+)</time>', top)
    assert moment is not None
    when = datetime.fromisoformat(moment[1])
    assert when.strftime("%a %H:%M") == "Mon 08:00" and when > datetime.now(UTC)
    assert moment[2] == f"{when:%a}, {when:%b} {when.day}, {when.year}, 8:00\u202fAM"
    assert "(Europe/Berlin)" in top and "weekly-mon-0800" in top
    german = client.get("/admin/?lang=de").text
    assert f"{when.day}. " in german and ", 08:00</time>" in german


def test_pages_asked_at_once_each_get_every_part(client: TestClient) -> None:
    # The overview's parts run in a pool of 8 threads, 4 a page: 12 pages at once must queue
    # for it, none waiting on a part that never gets a thread.
    first = client.get("/admin/").text
    with ThreadPoolExecutor(max_workers=12) as pool:
        asked = [pool.submit(lambda: client.get("/admin/").text) for _ in range(12)]
        pages = [page.result(timeout=60) for page in asked]
    for page in pages:
        assert rate_rows(page) == rate_rows(first) and len(rate_rows(page)) == 2
        assert outer_svg(page).findtext(f"{SVG}desc") == outer_svg(first).findtext(f"{SVG}desc")
        assert "weekly-mon-0800" in page


def test_an_empty_database_renders_the_overview(tmp_path: Path) -> None:
    project = make_project(tmp_path, "null:", readers=[])
    engine = create_db_engine(database_url(project))
    add_user(engine, "vic", Role.VIEWER, PASSWORD, datetime.now(UTC))
    engine.dispose()
    with TestClient(create_app(project), base_url=BASE) as browser:
        assert log_in(browser, "vic") == 303
        answer = browser.get("/admin/")
    page = answer.text
    assert answer.status_code == 200
    assert "No subscriber has joined yet." in page and "<svg" not in page
    assert "Nothing has been sent yet." in page and '<table class="nl-rates">' not in page
    assert "Nothing is scheduled." in page


# --- In Chromium ---


@pytest.fixture(scope="module")
def served(sent: Project) -> Iterator[tuple[str, str]]:
    """The app on a real uvicorn server: (its origin, a viewer's session cookie)."""
    app = create_app(sent)
    with TestClient(app, base_url=BASE) as client:
        assert log_in(client, "vic") == 303
        cookie = client.cookies["nl_admin"]
    with web_server(app, free_port()) as origin:
        yield origin, cookie


@pytest.mark.parametrize(("lang", "width"), [("en", 1100), ("ar", 375)])
def test_in_chromium_it_passes_axe_and_the_csp_and_fits_the_screen_light_or_dark(
    browser: Browser, served: tuple[str, str], lang: str, width: int
) -> None:
    origin, cookie = served
    url = f"{origin}/admin/?lang={lang}"
    with _look(browser, url, cookie, width, bypass_csp=False) as (page, logged):
        for scheme, line in (("light", "rgb(10, 88, 202)"), ("dark", "rgb(108, 182, 255)")):
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            facts = page.evaluate(FACTS)
            assert facts["overflow"] <= 0 and facts["chartWidth"] > width - 120
            assert facts["labelSize"] == "13px"  # The chart's text keeps its size on a phone.
            assert facts["lineColour"] == line and facts["bars"] == 6
    assert logged == []  # No CSP violation (nor any other error) was logged.
    # axe-core is a script the page's CSP refuses: it runs in a second look that bypasses it.
    with _look(browser, url, cookie, width, bypass_csp=True) as (page, _):
        violations = axe_in_both_schemes(page, url)
    assert not violations, "axe:\n" + "\n".join(violations)


FACTS = """() => {
    const chart = document.querySelector('svg.nl-chart');
    return {
        overflow: document.documentElement.scrollWidth - innerWidth,
        chartWidth: chart.getBoundingClientRect().width,
        lineColour: getComputedStyle(chart.querySelector('.nl-line')).stroke,
        labelSize: getComputedStyle(chart.querySelector('text')).fontSize,
        bars: document.querySelectorAll('.nl-bar svg').length,
    };
}"""


@contextmanager
def _look(
    browser: Browser, url: str, cookie: str, width: int, *, bypass_csp: bool
) -> Iterator[tuple[Page, list[str]]]:
    """The page at `url` loaded as the logged-in viewer, and what its console logged."""
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=bypass_csp)
    context.add_cookies([{"name": "nl_admin", "value": cookie, "url": url}])
    page = context.new_page()
    logged: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico on its own, sometimes before the checks end: its 404
        # is the browser's request, not the page's.
        if "favicon" not in message.location["url"]:
            logged.append(f"{message.text} {message.location['url']}")

    page.on("console", console)
    try:
        answer = page.goto(url, wait_until="load")
        assert answer is not None and answer.status == 200
        yield page, logged
    finally:
        context.close()
