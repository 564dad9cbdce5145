"""The report of one send as one self-contained HTML file: `newsletter report ISSUE --html OUT`.

The page is the editor's, not the readers': it is no theme's template (templates/<theme>/ make
what readers see) but the package's own (engagement/pages/report.html), in English like the
command line. It holds its style and its charts (engagement/charts.py) inline, no script and
nothing that loads: it can be mailed, attached or opened from a disk as it is. It reads in the
light and the dark colour scheme (prefers-color-scheme), and every table has a caption and
headers scoped to their column or row.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from newsletter.engagement.charts import curve_chart, hours_chart, locales_chart, stories_chart
from newsletter.engagement.documents import document
from newsletter.engagement.report import UNRELIABLE_OPENS, MailingReport
from newsletter.engagement.scanners import BURST_LINKS, BURST_WINDOW
from newsletter.errors import NewsletterError
from newsletter.files import atomic_write_text


def report_page(report: MailingReport, *, name: str, zone: ZoneInfo) -> str:
    """The report as an HTML page; times in `zone`, `name` the newsletter's."""
    pages = Environment(
        loader=PackageLoader("newsletter.engagement", "pages"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.filters["duration"] = duration
    svg = {
        "hours": hours_chart(report.hours),
        "stories": stories_chart(report.stories),
        "delivery": curve_chart(report.curve),
        "locales": locales_chart(report.locales),
    }
    # pygal escapes every label and value it writes into the SVG.
    charts = {key: Markup(value) if value else None for key, value in svg.items()}
    data = document(report)
    return pages.get_template("report.html").render(
        name=name,
        doc=data,
        charts=charts,
        started=f"{report.started.astimezone(zone):%Y-%m-%d %H:%M %Z}",
        editions=sorted({link["locale"] for link in data["links"]}),
        burst_links=BURST_LINKS,
        burst_seconds=int(BURST_WINDOW.total_seconds()),
        unreliable=UNRELIABLE_OPENS,
    )


def duration(seconds: int) -> str:
    """A length of time in words: seconds up to two minutes, minutes up to two hours, then
    hours (to a tenth)."""
    if seconds < 120:
        count, unit = float(seconds), "second"
    elif seconds < 7200:
        count, unit = float(round(seconds / 60)), "minute"
    else:
        count, unit = round(seconds / 3600, 1), "hour"
    return f"{count:g} {unit}{'' if count == 1 else 's'}"


def write_report_page(out: Path, page: str) -> None:
    """Write the page to `out` atomically; a folder (or a path through a file) is refused."""
    if out.is_dir():
        raise NewsletterError(
            f"--html {out}: is a folder", hint=f"name a file in it, such as {out / 'report.html'}"
        )
    try:
        atomic_write_text(out, page)
    except OSError as error:
        raise NewsletterError(
            f"--html {out}: cannot write it ({error.strerror or error})",
            hint="name a file in a folder you can write to",
        ) from None
