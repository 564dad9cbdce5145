"""`newsletter report`: a real send (to an eml: folder) in two languages, clicks written as the
web app writes them, and what the editor reads: human, scanner and all clicks per link, story
and edition in --json and in the terminal; the stories of the last sends; bad input refused in
one line."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newsletter.db import utcnow
from newsletter.engagement.scanners import ClickRow, is_burst

from .report_sends import ARMS, CHIPS, UNSENT, Sent, counts, make_project, send_both
from .test_delivery import newsletter


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    return send_both(tmp_path_factory.mktemp("report"))


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
