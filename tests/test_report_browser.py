"""The HTML report (`newsletter report ISSUE --html OUT`) opened from its file in real headless
Chromium: it asks for nothing but itself, logs no error, runs no script, reads in the light
and the dark scheme (axe-core finds no serious violation, contrast included), and its charts
hold the numbers of the JSON document (pygal writes each value in `<desc class="value">`)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, ConsoleMessage

from .report_sends import CHIPS, send_both
from .test_archive_quality import axe_in_both_schemes
from .test_delivery import newsletter

# Each chart's values per series, as pygal wrote them, and the titles of its axes.
CHART_VALUES = """() => Object.fromEntries([...document.querySelectorAll('svg[id^="chart-"]')].map(
    (svg) => {
        const series = [];
        for (let n = 0; svg.querySelector(`g.series.serie-${n}`); n++) {
            series.push([...svg.querySelectorAll(`g.series.serie-${n} desc.value`)]
                .map((desc) => desc.textContent));
        }
        const titles = [...svg.querySelectorAll('g.titles text')].map((text) => text.textContent);
        return [svg.id, {series, titles}];
    }))"""


@dataclass(frozen=True)
class Report:
    """The HTML report of the test's send, and its JSON document."""

    page: Path
    document: dict[str, Any]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    sent = send_both(tmp_path_factory.mktemp("report"))
    page = sent.project.root / "report.html"
    code, output = newsletter(sent.project, "report", CHIPS, "--html", str(page))
    assert code == 0, output
    return Report(page, sent.report(CHIPS))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_asks_for_nothing_but_itself_and_logs_no_error(
    browser: Browser, report: Report, scheme: Literal["light", "dark"]
) -> None:
    page = browser.new_page(color_scheme=scheme)
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: _console(message, problems))
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(report.page.as_uri(), wait_until="load")
        page.wait_for_timeout(200)  # Anything late (a lazy image, a font) would ask by now.
        facts = page.evaluate(
            """() => ({
                scripts: document.scripts.length,
                lang: document.documentElement.lang,
                charts: document.querySelectorAll('svg[id^="chart-"]').length,
                captions: [...document.querySelectorAll('table')].every((t) => t.caption),
                background: getComputedStyle(document.body).backgroundColor,
                chartColour: [...document.querySelectorAll('svg')].map((s) => getComputedStyle(s).color),
                text: getComputedStyle(document.body).color,
            })"""
        )
    finally:
        page.close()
    assert requests == [report.page.as_uri()]
    assert problems == []
    assert facts["scripts"] == 0 and facts["lang"] == "en" and facts["charts"] == 4
    assert facts["captions"], "a table without a caption"
    dark = scheme == "dark"
    assert facts["background"] == ("rgb(13, 17, 23)" if dark else "rgb(255, 255, 255)")
    assert set(facts["chartColour"]) == {facts["text"]}  # The charts follow the scheme.


def _console(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type in ("error", "warning"):
        problems.append(f"{message.type}: {message.text}")


def test_the_charts_hold_the_numbers_of_the_json(browser: Browser, report: Report) -> None:
    page = browser.new_page()
    try:
        page.goto(report.page.as_uri(), wait_until="load")
        charts: dict[str, dict[str, Any]] = page.evaluate(CHART_VALUES)
    finally:
        page.close()
    document = report.document
    assert sorted(charts) == ["chart-delivery", "chart-hours", "chart-locales", "chart-stories"]

    hours = document["hours"]
    assert numbers(charts["chart-hours"]) == [
        [hour["human"] for hour in hours],
        [hour["all"] for hour in hours],
    ]
    assert sum(numbers(charts["chart-hours"])[1]) == 19  # 20 clicks, one after 48 hours.

    stories = list(reversed(document["stories"]))  # pygal draws the first at the bottom.
    assert numbers(charts["chart-stories"]) == [
        [story["human"] for story in stories],
        [story["scanner"] for story in stories],
    ]

    locales = document["locales"]
    assert numbers(charts["chart-locales"]) == [
        [row["human_per_100_delivered"] for row in locales],
        [row["bounced_per_100_sent"] for row in locales],
        [row["complained_per_100_delivered"] for row in locales],
    ]
    assert numbers(charts["chart-locales"])[1] == [0, 33.33]  # de, en

    delivery = charts["chart-delivery"]
    unit = delivery["titles"][0].split()[0]
    seconds = {"seconds": 1, "minutes": 60, "hours": 3600}[unit]
    [points] = delivery["series"]
    read = [tuple(float(part) for part in point.split(": ")) for point in points]
    assert read == [
        (round(point["seconds"] / seconds, 2), point["sent"])
        for point in document["delivery_curve"]
    ]
    assert read[-1][1] == 5


def numbers(chart: dict[str, Any]) -> list[list[float]]:
    """A chart's values, per series, as numbers."""
    return [[float(value) for value in series] for series in chart["series"]]


def test_axe_finds_no_serious_violation_light_or_dark(browser: Browser, report: Report) -> None:
    page = browser.new_page()
    try:
        page.goto(report.page.as_uri(), wait_until="load")
        violations = axe_in_both_schemes(page, report.page.name)
    finally:
        page.close()
    assert not violations, "axe:\n" + "\n".join(violations)


def test_the_chart_library_leaves_imports_alone() -> None:
    # pygal puts an import hook without find_spec on sys.meta_path: every import after it
    # warned, which failed whatever test ran next in the same process.
    program = "import newsletter.engagement.charts; import csv, xml.dom.minidom"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", program], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
