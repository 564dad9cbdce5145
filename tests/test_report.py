"""`newsletter report`: a real send (to an eml: folder) in two languages, clicks written as the
web app writes them, and what the editor reads: human, scanner and all clicks per link, story
and edition in --json and in the terminal; the stories of the last sends; bad input refused in
one line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url, upgrade, utcnow
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.deliver.return_path import ReturnPaths
from newsletter.engagement.models import TRACKED_LINK
from newsletter.engagement.scanners import ClickRow, is_burst
from newsletter.engagement.store import Click, write_clicks
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import InboundSettings, process
from newsletter.subscribers.models import SUBSCRIBER

from .test_delivery import SECRET, add_reader, newsletter

CHIPS = "2026-05-04-chips"  # Editions en and de; stories chips and robots.
ARMS = "2026-05-11-arms"  # English only; story arms.
UNSENT = "2026-05-18-unsent"
BOUNCES = "bounces@bounces.news.example.org"
READERS = [
    ("ann@example.org", "en"),
    ("bob@example.org", "en"),
    ("cem@example.org", "en"),  # Bounces (hard).
    ("dora@example.de", "de"),
    ("emil@example.de", "de"),  # Complains.
]
ISSUES = {
    f"{CHIPS}/issue.md": "---\ntitle: Chips and robots\ndate: 2026-05-04\nstatus: ready\n---\n\nThe week.\n",
    f"{CHIPS}/issue.de.md": "---\ntitle: Chips und Roboter\n---\n\nDie Woche.\n",
    f"{CHIPS}/stories/01-chips.md": (
        "---\ntitle: New chips\nurl: https://example.com/chips\n---\n\n"
        "Read [the paper](https://example.com/paper) and [the code](https://example.com/code).\n"
    ),
    f"{CHIPS}/stories/01-chips.de.md": (
        "---\ntitle: Neue Chips\nurl: https://example.com/chips\n---\n\n"
        "Lies [das Papier](https://example.com/paper).\n"
    ),
    f"{CHIPS}/stories/02-robots.md": "---\ntitle: Robots walk\n---\n\nSee [the video](https://example.com/video).\n",
    f"{CHIPS}/stories/02-robots.de.md": "---\ntitle: Roboter gehen\n---\n\nSiehe [das Video](https://example.com/video).\n",
    f"{ARMS}/issue.md": "---\ntitle: Arms\ndate: 2026-05-11\nstatus: ready\n---\n\nArms.\n",
    f"{ARMS}/stories/01-arms.md": "---\ntitle: Robot arms\nurl: https://example.com/arms\n---\n\nArms.\n",
    f"{UNSENT}/issue.md": "---\ntitle: Later\ndate: 2026-05-18\nstatus: ready\n---\n\nLater.\n",
}


@dataclass(frozen=True)
class Sent:
    """The project after both sends, and when the first one started."""

    project: Project
    started: datetime

    def report(self, *args: str) -> dict[str, Any]:
        code, output = newsletter(self.project, "report", *args, "--json")
        assert code == 0, output
        document: dict[str, Any] = json.loads(output)
        return document


def make_project(root: Path, settings: str = "") -> Project:
    """Three issues (one never sent) and five readers, two of them German; `settings` are
    more lines of the configuration."""
    (root / "config").mkdir()
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\npostal_address = "1 Main St"\n'
        'locales = ["en", "de"]\ndatabase_url = "sqlite:///news.db"\n'
        f'transport_url = "eml:outbox"\nbounce_address = "{BOUNCES}"\n{settings}',
        encoding="utf-8",
    )
    for name, text in ISSUES.items():
        (root / "issues" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "issues" / name).write_text(text, encoding="utf-8")
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    engine.dispose()
    for email, locale in READERS:
        add_reader(project, email, "", locale)
    return project


def came_back(project: Project, issue: str, email: str, kind: Kind) -> None:
    """A bounce or complaint about `email`'s delivery of `issue`, tied by its return path."""
    engine = create_db_engine(database_url(project))
    query = (
        select(DELIVERY.c.id)
        .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
        .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id)
        .where(MAILING.c.issue == issue, SUBSCRIBER.c.email == email)
    )
    with Session(engine) as session:
        delivery = session.execute(query).scalar_one()
    verp = ReturnPaths(SECRET, BOUNCES).for_delivery(delivery)
    status = "5.1.1" if kind is Kind.HARD else ""
    notice = Notice(kind, recipient=email, status=status, verp=verp)
    reading = Reading(digest_of(repr(notice).encode()), (notice,), source="test:inbox")
    process(engine, reading, settings=InboundSettings.of(project), now=utcnow())
    engine.dispose()


def links_of(project: Project, issue: str) -> dict[tuple[str, int], int]:
    """The tracked links of a send: (locale, position) -> id."""
    engine = create_db_engine(database_url(project))
    query = (
        select(TRACKED_LINK.c.locale, TRACKED_LINK.c.position, TRACKED_LINK.c.id)
        .join(MAILING, MAILING.c.id == TRACKED_LINK.c.mailing_id)
        .where(MAILING.c.issue == issue)
    )
    with engine.connect() as connection:
        found = {(locale, position): id_ for locale, position, id_ in connection.execute(query)}
    engine.dispose()
    return found


def mailing_of(project: Project, issue: str) -> tuple[int, datetime]:
    """The id of the send of `issue` and when it started."""
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        query = select(MAILING.c.id, MAILING.c.created_at).where(MAILING.c.issue == issue)
        id_, started = connection.execute(query).one()
    engine.dispose()
    return id_, started


def click_story(project: Project) -> None:
    """The clicks of both sends: people, a robot, a HEAD request, a client that followed the
    honeypot, a client that followed three links in three seconds, one that took six."""
    chips, arms = links_of(project, CHIPS), links_of(project, ARMS)
    start = mailing_of(project, CHIPS)[1]
    arms_id, later = mailing_of(project, ARMS)

    def on(link: tuple[str, int], seconds: float, client: str, agent: str = "browser") -> Click:
        return Click(start + timedelta(seconds=seconds), agent, client, chips[link])

    en_hidden, en_chips, en_paper, en_code, en_video = (("en", n) for n in (0, 2, 3, 4, 5))
    de_chips, de_video = ("de", 2), ("de", 4)
    minute, hour = 60, 3600
    clicks = [
        on(en_chips, 10 * minute, "h1"), on(en_paper, 2 * hour, "h1"),
        on(en_chips, 30 * minute, "h2"), on(en_video, 30 * minute + 10, "h2"),
        on(en_video, 3 * hour, ""),
        on(de_chips, hour, "h3"), on(de_chips, hour + 2, "h3"),
        on(en_chips, minute, "r1", "robot"),
        on(en_paper, minute, "", "head"),
        on(en_hidden, 2 * minute, "hp"), on(en_chips, 2 * minute + 1, "hp"),
        on(en_code, 50 * hour, "hp"),
        on(en_chips, 5 * minute, "bu"), on(en_paper, 5 * minute + 1, "bu"),
        on(en_code, 5 * minute + 3, "bu"), on(en_video, 6 * hour, "bu"),
        on(en_chips, 20 * minute, "nb"), on(en_paper, 20 * minute + 3, "nb"),
        on(en_code, 20 * minute + 6, "nb"),
        on(de_video, 90 * minute, "", "robot"),
        Click(later + timedelta(minutes=5), "browser", "a1", arms[("en", 2)]),
        Click(later + timedelta(minutes=9), "browser", "a2", arms[("en", 2)]),
        Click(later + timedelta(minutes=1), "browser", "o1", mailing_id=arms_id, locale="en"),
        Click(later + timedelta(minutes=2), "robot", "o2", mailing_id=arms_id, locale="en"),
    ]  # fmt: skip
    engine = create_db_engine(database_url(project))
    write_clicks(engine, clicks)
    engine.dispose()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    return send_both(tmp_path_factory.mktemp("report"))


def send_both(root: Path) -> Sent:
    """Chips sent to all five readers; Cem's bounced and Emil complained; then Arms sent to
    the three left; then the clicks."""
    project = make_project(root)
    code, output = newsletter(project, "send", CHIPS)
    assert code == 0, output
    came_back(project, CHIPS, "cem@example.org", Kind.HARD)
    came_back(project, CHIPS, "emil@example.de", Kind.COMPLAINT)
    code, output = newsletter(project, "send", ARMS)
    assert code == 0, output
    click_story(project)
    return Sent(project, mailing_of(project, CHIPS)[1])


def counts(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["human"], row["scanner"], row["all"]


# -- One send ------------------------------------------------------------------------------------


def test_each_link_counts_human_scanner_and_all_clicks(sent: Sent) -> None:
    links = {(link["locale"], link["position"]): link for link in sent.report(CHIPS)["links"]}
    assert {key: counts(link) for key, link in links.items()} == {
        ("de", 0): (0, 0, 0),
        ("de", 1): (0, 0, 0),
        ("de", 2): (2, 0, 2),  # The same link twice is no burst.
        ("de", 3): (0, 0, 0),
        ("de", 4): (0, 1, 1),  # A robot.
        ("en", 0): (0, 1, 1),  # The honeypot.
        ("en", 1): (0, 0, 0),
        ("en", 2): (3, 3, 6),  # h1, h2, nb; the robot, the honeypot's client, the burst.
        ("en", 3): (2, 2, 4),  # h1, nb; the HEAD, the burst.
        ("en", 4): (1, 2, 3),  # nb; the honeypot's client (after 48 hours too), the burst.
        ("en", 5): (2, 1, 3),  # h2, no client; the burst client six hours later.
    }
    assert links[("en", 3)] == {
        "locale": "en", "position": 3, "url": "https://example.com/paper", "story": "chips",
        "story_title": "New chips", "label": "the paper", "honeypot": False,
        "human": 2, "scanner": 2, "all": 4,
    }  # fmt: skip
    assert links[("en", 0)]["honeypot"] and links[("en", 0)]["label"]


def test_the_scanner_clicks_add_up_by_rule(sent: Sent) -> None:
    assert sent.report(CHIPS)["scanner_reasons"] == {
        "robot": 2, "head": 1, "honeypot": 1, "honeypot_client": 2, "burst": 4,
    }  # fmt: skip


def test_each_story_counts_its_links_in_every_edition_most_read_first(sent: Sent) -> None:
    stories = sent.report(CHIPS)["stories"]
    assert [(s["slug"], s["title"], *counts(s), s["delivered"]) for s in stories] == [
        ("chips", "New chips", 8, 7, 15, 4),
        ("robots", "Robots walk", 2, 2, 4, 4),
    ]
    assert [s["human_per_100_delivered"] for s in stories] == [200.0, 50.0]
    assert stories[0]["locales"] == [
        {"locale": "de", "title": "Neue Chips", "human": 2, "scanner": 0, "all": 2, "delivered": 2},
        {"locale": "en", "title": "New chips", "human": 6, "scanner": 7, "all": 13, "delivered": 2},
    ]


def test_each_edition_has_what_came_back_and_its_clicks(sent: Sent) -> None:
    report = sent.report(CHIPS)
    rows = {row["locale"]: row for row in [*report["locales"], report["total"]]}
    assert list(rows) == ["de", "en", "all"]
    fields = ("sent", "delivered", "bounced", "complained", "unsubscribed")
    assert {locale: tuple(row[f] for f in fields) for locale, row in rows.items()} == {
        "de": (2, 2, 0, 1, 1),  # Emil complained, which unsubscribed him.
        "en": (3, 2, 1, 0, 0),  # Cem bounced.
        "all": (5, 4, 1, 1, 1),
    }
    assert {locale: counts(row) for locale, row in rows.items()} == {
        "de": (2, 1, 3),
        "en": (8, 9, 17),
        "all": (10, 10, 20),
    }
    rates = ("human_per_100_delivered", "bounced_per_100_sent", "complained_per_100_delivered")
    assert {locale: tuple(row[r] for r in rates) for locale, row in rows.items()} == {
        "de": (100.0, 0.0, 50.0),
        "en": (400.0, 33.33, 0.0),
        "all": (250.0, 20.0, 25.0),
    }
    assert report["issue"] == CHIPS
    assert report["started"] == sent.started.isoformat()
    assert report["tracking"] == {
        "mode": "aggregate",
        "links_tracked": True,
        "open_tracking": False,
    }


def test_clicks_per_hour_cover_the_first_48_hours(sent: Sent) -> None:
    hours = sent.report(CHIPS)["hours"]
    assert [hour["hour"] for hour in hours] == list(range(48))
    busy = {hour["hour"]: (hour["human"], hour["all"]) for hour in hours if hour["all"]}
    assert busy == {0: (6, 13), 1: (2, 3), 2: (1, 1), 3: (1, 1), 6: (0, 1)}  # Not hour 50.


def test_the_delivery_curve_climbs_to_every_message_sent(sent: Sent) -> None:
    curve = sent.report(CHIPS)["delivery_curve"]
    assert curve[0] == {"seconds": 0, "sent": 0}
    assert curve[-1]["sent"] == 5
    assert [point["sent"] for point in curve] == sorted(point["sent"] for point in curve)
    assert [point["seconds"] for point in curve] == sorted({p["seconds"] for p in curve})


def test_opens_are_left_out_unless_tracked_or_recorded_and_then_marked_unreliable(
    sent: Sent,
) -> None:
    chips = sent.report(CHIPS)
    assert chips["opens"] is None and chips["total"]["opens"] is None
    arms = sent.report(ARMS)  # open_tracking is off, but two opens were recorded.
    assert arms["opens"]["all"] == 2 and arms["opens"]["unreliable"] is True
    assert "unreliable" in arms["opens"]["note"]
    assert [(row["locale"], row["opens"]) for row in arms["locales"]] == [("en", 2)]


def test_the_terminal_shows_the_numbers_and_bars_per_edition(sent: Sent) -> None:
    code, output = newsletter(sent.project, "report", CHIPS)
    assert code == 0, output
    assert f"report of {CHIPS}: send started" in output
    rows = table_rows(output)
    assert ["en", "3", "2", "1", "0", "0", "8", "9", "17", "400"] in rows
    assert ["de", "2", "2", "0", "1", "1", "2", "1", "3", "100"] in rows
    assert ["all", "5", "4", "1", "1", "1", "10", "10", "20", "250"] in rows
    # Stories of the English edition: the bar is the human clicks, 20 blocks for the most.
    assert ["New chips", "6", "█" * 20, "7", "13"] in rows
    assert ["Robots walk", "2", "██████▋", "1", "3"] in rows
    paper = ["3", "the paper", "New chips", "https://example.com/paper", "2", "█" * 13 + "▍"]
    assert [*paper, "2", "4"] in rows
    assert "scanner clicks by rule: robot 2, head 1, honeypot 1, honeypot client 2, burst 4" in (
        output
    )


def table_rows(output: str) -> list[list[str]]:
    """The cells of every row of every rich table in `output`."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


# -- The last sends ------------------------------------------------------------------------------


def test_the_last_sends_rank_stories_by_human_clicks_per_100_delivered(sent: Sent) -> None:
    report = sent.report("--last", "8")
    assert report["last"] == 8
    assert [
        (
            s["issue"],
            s["slug"],
            s["title"],
            s["human"],
            s["delivered"],
            s["human_per_100_delivered"],
        )
        for s in report["stories"]
    ] == [
        (CHIPS, "chips", "New chips", 8, 4, 200.0),
        (ARMS, "arms", "Robot arms", 2, 3, 66.67),
        (CHIPS, "robots", "Robots walk", 2, 4, 50.0),
    ]
    assert [
        (i["issue"], i["sent"], i["delivered"], *counts(i), i["human_per_100_delivered"])
        for i in report["issues"]
    ] == [(ARMS, 3, 3, 2, 0, 2, 66.67), (CHIPS, 5, 4, 10, 10, 20, 250.0)]  # Newest first.


def test_the_last_one_send_is_the_newest(sent: Sent) -> None:
    report = sent.report("--last", "1")
    assert [line["issue"] for line in report["issues"]] == [ARMS]
    assert [line["slug"] for line in report["stories"]] == ["arms"]


def test_the_last_sends_in_the_terminal(sent: Sent) -> None:
    code, output = newsletter(sent.project, "report", "--last", "8")
    assert code == 0, output
    rows = table_rows(output)
    assert [CHIPS, "New chips", "8", "200", "█" * 20] in rows
    assert [ARMS, "Robot arms", "2", "66.67", "██████▋"] in rows
    assert [row[0] for row in rows if len(row) == 8] == [ARMS, CHIPS]


# -- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error", "fix"),
    [
        (
            ["no-such-issue"],
            "error: no issue 'no-such-issue' and no send of it in the database",
            f"  fix: give a sent issue's slug, such as {ARMS}, {CHIPS}",
        ),
        (
            [UNSENT],
            f"error: issue {UNSENT} has not been sent yet: there is nothing to report",
            f"  fix: send it with `newsletter send {UNSENT}`, then report on it",
        ),
        (
            ["--last", "0"],
            "error: --last 0: the number of sends must be 1 or more",
            "  fix: give how many of the latest sends to compare, such as --last 8",
        ),
        (
            [CHIPS, "--last", "2"],
            "error: give an ISSUE or --last N, not both",
            "  fix: newsletter report --last 8",
        ),
        (
            ["--last", "2", "--html", "out.html"],
            "error: --html goes with an ISSUE",
            "  fix: newsletter report ISSUE --html report.html",
        ),
        (
            [],
            "error: give the ISSUE to report on, or --last N",
            "  fix: newsletter report ISSUE, or newsletter report --last 8",
        ),
    ],
    ids=["unknown", "never-sent", "last-0", "issue-and-last", "html-with-last", "nothing"],
)
def test_bad_input_is_one_line_with_the_fix(
    sent: Sent, args: list[str], error: str, fix: str
) -> None:
    code, output = newsletter(sent.project, "report", *args)
    assert code == 1
    assert output == f"{error}\n{fix}\n"


def test_an_issue_is_found_by_its_folder_too(sent: Sent) -> None:
    folder = str(sent.project.issues_path / CHIPS)
    assert sent.report(folder)["issue"] == CHIPS


def test_html_into_a_folder_is_refused_and_nothing_is_written(sent: Sent, tmp_path: Path) -> None:
    code, output = newsletter(sent.project, "report", CHIPS, "--html", str(tmp_path))
    assert code == 1
    assert output == (
        f"error: --html {tmp_path}: is a folder\n"
        f"  fix: name a file in it, such as {tmp_path / 'report.html'}\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_html_is_written_atomically_and_says_where(sent: Sent, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "chips.html"
    code, output = newsletter(sent.project, "report", CHIPS, "--html", str(out))
    assert code == 0, output
    assert output == f"wrote the report of {CHIPS} to {out}\n"
    assert [path.name for path in out.parent.iterdir()] == ["chips.html"]  # No temporary file.
    page = out.read_text(encoding="utf-8")
    assert page.startswith('<!doctype html>\n<html lang="en">')
    assert "<script" not in page and "<!--" not in page
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!#)""", page)  # Only links in the page.
    # The tables hold the numbers of the JSON document: the row of all editions, for one.
    total = sent.report(CHIPS)["total"]
    cells = "".join(
        f'<td class="n">{total[key]}</td>'
        for key in ("sent", "delivered", "bounced", "complained", "unsubscribed", "human")
    )
    assert f'<tr class="total"><th scope="row">all</th>{cells}' in page


def test_a_send_without_tracking_says_its_links_were_not_tracked(tmp_path: Path) -> None:
    project = make_project(tmp_path, 'tracking = "off"\n')
    assert newsletter(project, "report", "--last", "8") == (0, "nothing has been sent yet\n")
    assert json.loads(newsletter(project, "report", "--last", "8", "--json")[1]) == {
        "last": 8, "issues": [], "stories": [],
    }  # fmt: skip
    assert newsletter(project, "send", ARMS)[0] == 0
    code, output = newsletter(project, "report", ARMS, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["tracking"] == {"mode": "off", "links_tracked": False, "open_tracking": False}
    assert report["links"] == report["stories"] == [] and report["opens"] is None
    assert [(row["locale"], row["sent"], row["all"]) for row in report["locales"]] == [("en", 5, 0)]
    code, output = newsletter(project, "report", ARMS)
    assert code == 0 and "click tracking off (this send's links were not tracked)" in output
    page = tmp_path / "arms.html"
    assert newsletter(project, "report", ARMS, "--html", str(page))[0] == 0
    assert "This send has no tracked links." in page.read_text(encoding="utf-8")


def test_an_issue_that_does_not_load_says_why(sent: Sent) -> None:
    broken = sent.project.issues_path / "2026-06-01-broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\n\nText.\n", encoding="utf-8")
    try:
        code, output = newsletter(sent.project, "report", str(broken))
    finally:
        broken.unlink()
    assert code == 1
    assert output.startswith(f"error: {broken}:2: ") and "no send" not in output


# -- The burst rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "links", "burst"),
    [
        ((0, 2.5, 5.0), (1, 2, 3), True),  # Three links, the last 5 seconds after the first.
        ((0, 2.5, 5.001), (1, 2, 3), False),
        ((0, 1, 2), (1, 1, 2), False),  # Two distinct links.
        ((0, 60, 61, 62), (1, 2, 3, 4), True),  # The window moves on.
        ((0, 3, 6, 9), (1, 2, 3, 1), False),  # Three links, but never within 5 seconds.
    ],
    ids=["five-seconds", "just-over", "two-links", "later", "spread"],
)
def test_a_burst_is_three_distinct_links_within_five_seconds(
    seconds: tuple[float, ...], links: tuple[int, ...], burst: bool
) -> None:
    start = datetime(2026, 5, 4, 8, 0, tzinfo=utcnow().tzinfo)
    clicks = [
        ClickRow("c", start + timedelta(seconds=at), link, "")
        for at, link in zip(seconds, links, strict=True)
    ]
    assert is_burst(clicks) is burst
