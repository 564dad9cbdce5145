"""The overview's charts, laid out for templates/THEME/admin/_charts.html.j2 to draw as inline
SVG: no script, text at the page's own size at any width, mirrored for right-to-left languages,
every number written per locale.

    growth_chart   the active subscribers at the end of each day or week: a line over an
                   area, gridlines labelled on the start side, five dates below, and every
                   point for the table beside it
    rate_rows      the last sends' delivered, bounced and complained shares of the deliveries
                   attempted, as bars in a table with their numbers

Why not pygal, which draws the engagement report's charts: its SVG scales as a whole (its
12 px labels are 5 px high on a phone's 375 px), its series colours are fixed in its own style
sheet (a dark scheme only by overriding its selectors), it cannot run right to left (in an RTL
page its value labels, anchored at their end, run into the plot), and it writes a script and a
tooltip's text for every value. Here the line and area sit in an inner SVG stretched to the
width (`preserveAspectRatio="none"`, a stroke that does not scale) and text is placed in
percentages of the width, so it keeps its size; colours come from the page's style sheet.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel.dates import format_skeleton
from babel.numbers import format_compact_decimal, format_decimal, format_percent

from newsletter.render.i18n import Localizer
from newsletter.subscribers.growth import Growth

WIDTH = 1000
"""The plot's own units across (its viewBox), stretched to the chart's width."""
HEIGHT, TOP, PLOT = 220, 22, 166
"""The chart's height, the plot's top and the plot's height, in pixels."""
DATES = 5
"""Dates written under the chart (the first, the last, evenly between)."""
FLOORS = {"delivered": 1.0, "bounced": 0.01, "complained": 0.001}
"""The least share a column's bars run to: a small rate never fills its column."""


@dataclass(frozen=True)
class Label:
    """A text on the chart: `at` is a position (x in percent of the width, or y in pixels)."""

    at: float
    text: str
    anchor: str = "start"
    minor: bool = False
    """Left out on a phone's width (the page's style sheet), where it would touch the next."""


@dataclass(frozen=True)
class LineChart:
    """What the template draws: the plot (`line`, `area` in WIDTH x PLOT units), its gridlines
    with their values, the dates below, and each point's date and number for the table."""

    unit: str
    line: str
    area: str
    grid: list[Label]
    dates: list[Label]
    start: str
    """Where gridline values stand: "0" (left to right) or "100%" (right to left)."""
    first: str
    last: str
    now: str
    """The number active at the last point, written for the locale."""
    rows: list[tuple[str, str]]
    height: int = HEIGHT
    top: int = TOP
    plot: int = PLOT


def growth_chart(growth: Growth, localizer: Localizer) -> LineChart | None:
    """The chart of `growth` in the localizer's language and direction (None: no points)."""
    points = growth.points
    if not points:
        return None
    rtl = localizer.direction == "rtl"
    values = value_axis(max(point.active for point in points))
    top = values[-1]
    step = WIDTH / max(len(points) - 1, 1)
    xs = [WIDTH - step * n if rtl else step * n for n in range(len(points))]
    ys = [PLOT - PLOT * point.active / top for point in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    grid = [
        Label(TOP + PLOT - PLOT * value / top, _axis_number(value, localizer)) for value in values
    ]
    number = functools.partial(format_decimal, locale=localizer.babel)
    return LineChart(
        unit=growth.unit, line=line, area=f"{xs[0]:.1f},{PLOT} {line} {xs[-1]:.1f},{PLOT}",
        grid=grid, dates=_dates([point.day for point in points], localizer, rtl),
        start="100%" if rtl else "0", first=long_day(points[0].day, localizer),
        last=long_day(points[-1].day, localizer), now=number(points[-1].active),
        rows=[(long_day(point.day, localizer), number(point.active)) for point in points],
    )  # fmt: skip


def value_axis(largest: int) -> list[int]:
    """The gridlines' values: from 0 in 1 to 4 steps of 1, 2 or 5 times a power of ten, up to
    the first at or over `largest`."""
    largest = max(largest, 1)
    power = 10 ** (len(str(largest // 4)) - 1)
    step = next(power * factor for factor in (1, 2, 5, 10) if power * factor * 4 >= largest)
    return list(range(0, step * math.ceil(largest / step) + 1, step))


def _axis_number(value: int, localizer: Localizer) -> str:
    """A gridline's value: short for large numbers where the locale has a short form (`1.2M`,
    `120万`, `1 Mio.`), else in full (`500.000`: German has no short thousands)."""
    short = format_compact_decimal(value, locale=localizer.babel, fraction_digits=1)
    return format_decimal(value, locale=localizer.babel) if short.isdigit() else short


def long_day(day: date, localizer: Localizer) -> str:
    """A day with its year, as the locale writes it (`Mar 9, 2026`, `2026年3月9日`)."""
    return format_skeleton("yMMMd", day, locale=localizer.babel)


def _dates(days: Sequence[date], localizer: Localizer, rtl: bool) -> list[Label]:
    """DATES of the days (month and day) under their points, evenly apart, the first and last
    kept inside the chart; every other one minor (a chart has 12 points at least)."""
    last = len(days) - 1
    labels = []
    for number in range(DATES):
        index = round(last * number / (DATES - 1))
        x = 100 * index / last
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        text = format_skeleton("MMMd", days[index], locale=localizer.babel)
        labels.append(Label(100 - x if rtl else x, text, anchor, minor=number % 2 == 1))
    return labels


@dataclass(frozen=True)
class Rate:
    """One share as a bar: its text and its length in percent of its column."""

    text: str
    length: float


@dataclass(frozen=True)
class RateRow:
    """One send's row of bars."""

    issue: str
    attempted: int
    attempted_text: str
    delivered: Rate
    bounced: Rate
    complained: Rate


@dataclass(frozen=True)
class SendCounts:
    """What the rates are made of, for one send."""

    issue: str
    sent: int
    failed: int
    bounced: int
    """Sent messages that bounced after the receiving server took them."""
    complained: int

    @property
    def attempted(self) -> int:
        """Deliveries tried to the end: sent or failed (queued and skipped ones are not)."""
        return self.sent + self.failed

    def shares(self) -> dict[str, float | None]:
        """Delivered, bounced (failed, or bounced after) and complained, as shares of the
        deliveries attempted (None when none was)."""
        counts = {
            "delivered": self.sent - self.bounced,
            "bounced": self.failed + self.bounced,
            "complained": self.complained,
        }
        attempted = self.attempted
        return {name: count / attempted if attempted else None for name, count in counts.items()}


def rate_rows(
    sends: Sequence[SendCounts], localizer: Localizer
) -> tuple[list[RateRow], dict[str, str]]:
    """Each send's bars, and what each column's full length stands for, written per locale."""
    shares = [send.shares() for send in sends]
    scales = {
        name: max([floor, *(share[name] or 0.0 for share in shares)])
        for name, floor in FLOORS.items()
    }
    rows = [
        RateRow(
            send.issue,
            send.attempted,
            format_decimal(send.attempted, locale=localizer.babel),
            *(_rate(share[name], scales[name], localizer) for name in FLOORS),
        )
        for send, share in zip(sends, shares, strict=True)
    ]
    return rows, {name: percent(scale, localizer) for name, scale in scales.items()}


def _rate(share: float | None, scale: float, localizer: Localizer) -> Rate:
    if share is None:
        return Rate("–", 0.0)
    return Rate(percent(share, localizer), round(100 * share / scale, 2))


def percent(share: float, localizer: Localizer) -> str:
    """A share as a percentage for the locale: two decimals under 1% (`0.05%`), else one."""
    value = round(share * 100, 2 if share < 0.01 else 1) / 100
    return format_percent(value, locale=localizer.babel, decimal_quantization=False)
