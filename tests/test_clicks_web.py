"""The tracking links of sent issues in the web app: /l/ redirects, /o/ pixels, what is counted.

An issue is sent for real once (the CLI's `send` to an eml: folder, individual tracking and the
open pixel on); each test clicks the links of the email it wrote, on a copy of that project
(real SQLite file), through FastAPI's TestClient used as a context manager so the app's lifespan
starts the click writer and, on leaving, writes what is left.
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session
from typer.testing import CliRunner

from newsletter.cli import app as cli
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.engagement.clicks import ClickRecorder
from newsletter.engagement.store import Click
from newsletter.subscribers import registry
from newsletter.web.app import create_app
from newsletter.web.clicks import PIXEL

from .test_delivery import migrated

SECRET = "test-secret-key-0123456789abcdef"
ISSUE = "2025-01-05-clicks"
BASE = "https://news.example.org"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PAPER = "https://example.org/paper?id=1&x=%C3%A9"
STORY = (
    f"---\ntitle: Links\n---\n\nRead [the paper]({PAPER}), "
    "[the IDN one](<https://例え.テスト/路径/文件 名?q=值#片段>) and "
    '<a href="https://bücher.example/中文/ä b?x=ü">a raw one</a>.\n'
)


def write_config(root: Path, **settings: str) -> Path:
    """The project's configuration with `settings` (TOML values) on top."""
    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    path = root / "config" / "newsletter.toml"
    path.write_text(
        f'name = "AI Weekly"\nbase_url = "{BASE}"\nsender_address = "weekly@news.example.org"\n'
        'postal_address = "1 Main St"\nlocales = ["en"]\ndatabase_url = "sqlite:///news.db"\n'
        f'transport_url = "eml:outbox"\n{extra}',
        encoding="utf-8",
    )
    return path


def sent_project(root: Path) -> Path:
    """A project whose issue was sent to one reader with individual tracking and the open
    pixel, by `newsletter send` (its email in outbox/)."""
    (root / "config").mkdir(parents=True)
    write_config(root, tracking='"individual"', open_tracking="true")
    folder = root / "issues" / ISSUE
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\ntitle: Clicks\nstatus: ready\ndate: 2025-01-05\n---\n\nThe lead.\n", encoding="utf-8"
    )
    (folder / "stories" / "01-links.md").write_text(STORY, encoding="utf-8")
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    migrated(database_url(project))
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        config = project.config
        profile = registry.make_profile(
            "ada@example.org", "Ada", "en", "UTC", [], config.locales, "en", "UTC"
        )
        registry.add(session, profile, status="active", method="test", source="test", now=utcnow())
        session.commit()
    engine.dispose()
    result = CliRunner().invoke(
        cli, ["--config", str(project.source), "send", ISSUE], env={"NEWSLETTER_SECRET_KEY": SECRET}
    )
    assert result.exit_code == 0, result.output
    return root


def the_email(root: Path) -> EmailMessage:
    (path,) = (root / "outbox").glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def emailed_links(root: Path) -> dict[str, str]:
    """Each stored URL (what the issue linked) -> the path of its tracking URL in the email."""
    html = the_email(root).get_body(("html",))
    assert html is not None
    paths = re.findall(rf'href="{BASE}(/l/[^"]+)"', html.get_content())
    with closing(sqlite3.connect(root / "news.db")) as db:
        stored = dict(db.execute("SELECT id, url FROM tracked_link").fetchall())
    return {stored[int(path.split("/")[2].split("-")[0])]: path for path in paths}


def emailed_pixel(root: Path) -> str:
    html = the_email(root).get_body(("html",))
    assert html is not None
    (path,) = re.findall(rf'src="{BASE}(/o/[^"]+)"', html.get_content())
    return str(path)


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sent_project(tmp_path_factory.mktemp("sent"))


def copy_of(sent: Path, where: Path, **settings: str) -> Project:
    """A copy of the sent project (its database with it), configured with `settings`."""
    root = where / "project"
    shutil.copytree(sent, root)
    config = write_config(root, **settings)
    return load_project(config, {"NEWSLETTER_SECRET_KEY": SECRET})


@pytest.fixture
def project(sent: Path, tmp_path: Path) -> Project:
    """The sent project, now with the default: aggregate tracking."""
    return copy_of(sent, tmp_path, open_tracking="true")


@pytest.fixture
def links(sent: Path) -> dict[str, str]:
    return emailed_links(sent)


@pytest.fixture
def pixel(sent: Path) -> str:
    return emailed_pixel(sent)


@pytest.fixture
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project), follow_redirects=False) as running:
        yield running


def rows(project: Project, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(project.root / "news.db")) as db:
        return db.execute(query).fetchall()


def clicks(project: Project) -> list[tuple[Any, ...]]:
    return rows(project, "SELECT link_id, agent, client, delivery_id FROM link_click ORDER BY id")


def written(client: TestClient) -> None:
    """Every click the app has had written now (its recorder flushed), while it runs."""
    app: Any = client.app
    app.state.tracking.recorder.flush()


def link_id(path: str) -> int:
    return int(path.split("/")[2].split("-")[0])


def without_delivery(path: str) -> str:
    """/l/LINK of an individual /l/LINK/DELIVERY path."""
    return "/".join(path.split("/")[:3])


# -- Links ---------------------------------------------------------------------------------------


def test_a_click_goes_to_exactly_the_sent_url_and_is_counted_once_written(
    project: Project, links: dict[str, str]
) -> None:
    path = without_delivery(links[PAPER])
    with TestClient(create_app(project), follow_redirects=False) as client:
        answer = client.get(path, headers={"User-Agent": BROWSER})
        assert answer.status_code == 302
        assert answer.headers["location"] == PAPER
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store, private"
        assert answer.headers["x-robots-tag"] == "noindex, nofollow"
        assert answer.content == b""
        written(client)
        ((link, agent, key, delivery),) = clicks(project)
    assert (link, agent, delivery) == (link_id(path), "browser", None)
    assert re.fullmatch("[0-9a-f]{16}", key)


def test_clicks_are_written_by_the_writer_while_the_app_runs(
    client: TestClient, project: Project, links: dict[str, str]
) -> None:
    for _ in range(3):
        assert client.get(without_delivery(links[PAPER])).status_code == 302
    deadline = time.monotonic() + 30  # The writer writes every half second; no flush here.
    while len(clicks(project)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(clicks(project)) == 3


def test_head_requests_robots_and_scanners_are_told_from_browsers(
    project: Project, links: dict[str, str]
) -> None:
    path = without_delivery(links[PAPER])
    asked = [
        ("GET", BROWSER, "browser"),
        ("HEAD", BROWSER, "head"),
        (
            "GET",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "robot",
        ),
        ("GET", "Mimecast URL Protect", "robot"),
        ("GET", "", "robot"),
        ("HEAD", "curl/8.5.0", "head"),
    ]
    with TestClient(create_app(project), follow_redirects=False) as client:
        for method, user_agent, _ in asked:
            answer = client.request(method, path, headers={"User-Agent": user_agent})
            assert (answer.status_code, answer.headers["location"]) == (302, PAPER)
    found = clicks(project)
    assert [agent for _, agent, _, _ in found] == [agent for _, _, agent in asked]
    # One client key per address and user agent: the two browser requests share theirs.
    assert found[0][2] == found[1][2] and len({key for _, _, key, _ in found}) == 5


def test_every_link_of_the_email_leads_where_the_issue_linked(
    client: TestClient, links: dict[str, str]
) -> None:
    # The masthead's link to the archive (and the hidden one: there too), the story's three.
    assert len(links) == 4
    wanted = {
        f"{BASE}/en/": f"{BASE}/en/",
        PAPER: PAPER,
        # Markdown-it wrote these in ASCII already; the raw one with its host percent-encoded,
        # which browsers (and the redirect) read as the Unicode host.
        "https://xn--r8jz45g.xn--zckzah/%E8%B7%AF%E5%BE%84/%E6%96%87%E4%BB%B6%20%E5%90%8D"
        "?q=%E5%80%BC#%E7%89%87%E6%AE%B5": "https://xn--r8jz45g.xn--zckzah/%E8%B7%AF%E5%BE%84/"
        "%E6%96%87%E4%BB%B6%20%E5%90%8D?q=%E5%80%BC#%E7%89%87%E6%AE%B5",
        "https://b%C3%BCcher.example/%E4%B8%AD%E6%96%87/%C3%A4%20b?x=%C3%BC": (
            "https://xn--bcher-kva.example/%E4%B8%AD%E6%96%87/%C3%A4%20b?x=%C3%BC"
        ),
    }
    assert set(links) == set(wanted)
    for url, path in links.items():
        answer = client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (302, wanted[url])


def _bad_paths(links: dict[str, str], pixel: str) -> dict[str, str]:
    link, delivery = links[PAPER].split("/")[2:4]
    number, signature = link.split("-")
    other = LinkSigner("another-installations-secret-key-0123")
    mine = LinkSigner(SECRET)
    flipped = signature[:-1] + ("a" if signature[-1] != "a" else "b")
    edition = pixel.split("/")[2]
    return {
        "tampered signature": f"/l/{number}-{flipped}",
        "another link's number": f"/l/{int(number) + 1}-{signature}",
        "truncated": f"/l/{link[:-3]}",
        "no signature": f"/l/{number}",
        "signed by another secret": f"/l/{other.link(int(number))}",
        "not a number": f"/l/abc-{signature}",
        "huge number": f"/l/{'9' * 40}-{signature}",
        "huge signed-looking number": f"/l/{'9' * 18}-{signature}",
        "negative": f"/l/-{number}-{signature}",
        "upper case": f"/l/{link.upper()}",
        "a link that does not exist": f"/l/{mine.link(999_999)}",
        "a delivery of another mailing": f"/l/{link}/{mine.delivery(2, 1)}",
        "a tampered delivery": f"/l/{link}/{delivery[:-1]}x",
        "a delivery signed by another secret": f"/l/{link}/{other.delivery(1, 1)}",
        "a pixel's id as a link": f"/l/{edition}",
        "a link's id as a pixel": f"/o/{link}",
        "a tampered pixel": f"/o/{edition[:-1]}x",
        "a pixel of another locale": "/o/" + edition.replace("-en-", "-de-"),
        "a pixel with a delivery of another mailing": f"/o/{edition}/{mine.delivery(2, 1)}",
        "percent-encoded slash": f"/l/{number}%2F{signature}",
    }


def test_links_that_are_not_ours_are_404_and_count_nothing(
    client: TestClient, project: Project, links: dict[str, str], pixel: str
) -> None:
    for name, path in _bad_paths(links, pixel).items():
        for method in ("GET", "HEAD"):
            answer = client.request(method, path)
            assert answer.status_code == 404, (name, method, answer.status_code)
            assert "location" not in answer.headers, name
        page = client.get(path).text
        assert "This link is not valid" in page and "Traceback" not in page, name
    written(client)
    assert clicks(project) == []
    assert rows(project, "SELECT * FROM edition_open") == []


def test_a_flood_is_answered_429_after_the_limit_and_only_the_limit_is_counted(
    sent: Path, tmp_path: Path, links: dict[str, str]
) -> None:
    project = copy_of(sent, tmp_path, click_limit="5")
    now = [0.0]
    path = without_delivery(links[PAPER])
    app = create_app(project, monotonic=lambda: now[0])
    with TestClient(app, follow_redirects=False) as client:
        statuses = [client.get(path).status_code for _ in range(8)]
        assert statuses == [302] * 5 + [429] * 3
        refused = client.get(path)
        assert refused.headers["retry-after"] == "60" and "location" not in refused.headers
        # A client over its limit gets 429 for ids that are not valid too (they count).
        assert client.get("/l/1-aaaaaaaaaaaaaaaa").status_code == 429
        written(client)
        assert len(clicks(project)) == 5  # The limit: what was refused was not counted.
        now[0] = 61.0  # A minute later, the client is served again.
        assert client.get(path).status_code == 302
    assert len(clicks(project)) == 6


def test_a_click_limit_of_zero_is_no_limit(
    sent: Path, tmp_path: Path, links: dict[str, str]
) -> None:
    project = copy_of(sent, tmp_path, click_limit="0")
    with TestClient(create_app(project), follow_redirects=False) as client:
        assert {client.get(without_delivery(links[PAPER])).status_code for _ in range(130)} == {302}
    assert len(clicks(project)) == 130


def test_individual_tracking_stores_the_readers_delivery(
    sent: Path, tmp_path: Path, links: dict[str, str], pixel: str
) -> None:
    project = copy_of(sent, tmp_path, tracking='"individual"', open_tracking="true")
    ((delivery,),) = rows(project, "SELECT id FROM delivery")
    with TestClient(create_app(project), follow_redirects=False) as client:
        assert client.get(links[PAPER]).headers["location"] == PAPER
        assert client.get(without_delivery(links[PAPER])).status_code == 302
        assert client.get(pixel).status_code == 200
    assert [row[3] for row in clicks(project)] == [delivery, None]
    assert rows(project, "SELECT delivery_id FROM edition_open") == [(delivery,)]


def test_with_aggregate_tracking_a_readers_link_is_counted_without_its_reader(
    client: TestClient, project: Project, links: dict[str, str]
) -> None:
    # The email was sent with individual tracking; the operator has turned it off since.
    assert client.get(links[PAPER]).headers["location"] == PAPER
    written(client)
    assert [row[3] for row in clicks(project)] == [None]


def test_links_keep_working_in_a_new_app_and_after_tracking_is_turned_off(
    sent: Path, tmp_path: Path, links: dict[str, str]
) -> None:
    project = copy_of(sent, tmp_path)
    for _ in range(2):  # The app made anew each time: nothing but the database remembers.
        with TestClient(create_app(project), follow_redirects=False) as client:
            assert client.get(links[PAPER]).headers["location"] == PAPER
    write_config(project.root, tracking='"off"')
    off = load_project(project.source, {"NEWSLETTER_SECRET_KEY": SECRET})
    with TestClient(create_app(off), follow_redirects=False) as client:
        assert client.get(links[PAPER]).headers["location"] == PAPER
    assert len(clicks(project)) == 3


# -- Stored URLs as Locations --------------------------------------------------------------------


def test_a_stored_url_beyond_ascii_redirects_as_ascii_and_one_that_cannot_is_404(
    client: TestClient, project: Project
) -> None:
    stored = [
        "https://例え.テスト/路径/文件 名?q=值",
        "javascript:alert(1)",
        "https://x.example/\n",
    ]
    with closing(sqlite3.connect(project.root / "news.db")) as db, db:
        ids = [
            db.execute(
                "INSERT INTO tracked_link (mailing_id, locale, position, url, story,"
                " story_title, label) VALUES (1, 'en', ?, ?, '', '', '')",
                (100 + number, url),
            ).lastrowid
            for number, url in enumerate(stored)
        ]
    signer = LinkSigner(SECRET)
    answer = client.get(f"/l/{signer.link(ids[0] or 0)}")
    assert answer.status_code == 302
    assert answer.headers["location"] == (
        "https://xn--r8jz45g.xn--zckzah/%E8%B7%AF%E5%BE%84/%E6%96%87%E4%BB%B6%20%E5%90%8D"
        "?q=%E5%80%BC"
    )
    for refused in ids[1:]:
        assert client.get(f"/l/{signer.link(refused or 0)}").status_code == 404
    written(client)
    assert [row[0] for row in clicks(project)] == [ids[0]]


# -- The open pixel ------------------------------------------------------------------------------


def test_the_open_pixel_is_a_transparent_gif_and_counts_an_open(
    client: TestClient, project: Project, pixel: str
) -> None:
    answer = client.get(without_delivery(pixel), headers={"User-Agent": BROWSER})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert answer.headers["cache-control"] == "no-store, private"
    assert len(answer.content) == 43 and answer.content == PIXEL
    image = Image.open(io.BytesIO(answer.content))
    assert image.size == (1, 1) and image.convert("RGBA").getpixel((0, 0))[3] == 0
    proxy = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    assert client.get(pixel, headers={"User-Agent": proxy}).status_code == 200
    assert client.head(pixel).status_code == 200
    written(client)
    opens = rows(project, "SELECT mailing_id, locale, agent, delivery_id FROM edition_open")
    assert opens == [(1, "en", "browser", None), (1, "en", "robot", None), (1, "en", "head", None)]
    assert clicks(project) == []


# -- The recorder --------------------------------------------------------------------------------


def test_a_click_of_a_link_deleted_since_does_not_hold_back_the_others(
    project: Project, links: dict[str, str]
) -> None:
    engine = create_db_engine(database_url(project))
    recorder = ClickRecorder(engine)
    at = utcnow()
    link = link_id(links[PAPER])
    for click in (
        Click(at, "browser", "a" * 16, link_id=link),
        Click(at, "browser", "b" * 16, link_id=999_999),  # No such link: a foreign key fails.
        # A delivery that is gone (or a forgotten reader's): the open counts, tied to nobody.
        Click(at, "robot", "c" * 16, mailing_id=1, locale="en", delivery_id=999_999),
        Click(at, "browser", "d" * 16, mailing_id=1, locale="en"),
        Click(at, "browser", "e" * 16, mailing_id=999_999, locale="en"),  # No such mailing.
    ):
        recorder.record(click)
    recorder.close()
    engine.dispose()
    assert [row[2] for row in clicks(project)] == ["a" * 16]
    assert rows(project, "SELECT client, delivery_id FROM edition_open") == [
        ("c" * 16, None),
        ("d" * 16, None),
    ]
    assert recorder.waiting() == 0


def test_the_recorder_keeps_at_most_its_bound_and_says_how_many_it_dropped(
    project: Project, links: dict[str, str]
) -> None:
    engine = create_db_engine(database_url(project))
    recorder = ClickRecorder(engine, most_waiting=3)
    for _ in range(5):
        recorder.record(Click(utcnow(), "browser", "a" * 16, link_id=link_id(links[PAPER])))
    assert (recorder.waiting(), recorder.dropped) == (3, 2)
    recorder.close()
    engine.dispose()
    assert len(clicks(project)) == 3
