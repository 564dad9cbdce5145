"""The charts of the HTML report, drawn by pygal as SVG that the page holds inline.

    hours_chart     human and all clicks in each of the first 48 hours
    stories_chart   human and scanner clicks per story
    curve_chart     deliveries sent so far, by seconds, minutes or hours since the start
    locales_chart   per edition: human clicks per 100 delivered, bounces per 100 sent,
                    complaints per 100 delivered

pygal writes every value of a chart in a `<desc class="value">` element, as `format_value`
writes it (x and y as `X: Y` in the delivery curve), so the numbers can be read back.

The report holds no script and loads nothing (it is opened from a disk, an attachment or a
shared folder, where a script is a risk or blocked, and its tables carry every number). With
`js=[]` pygal links no script, but it still writes one inline `<script>` with its settings for
its tooltip script; `clean` removes it, with pygal's comments (its version, today's date, its
home page: the same report then gives the same bytes) and the ids pygal gives legend entries
(the same in every chart, so not unique in one page). What stays loads nothing: the style is
inline and uses the system's fonts (pygal asks Google Fonts only for a `googlefont:` family,
never given here); the only URLs left are the SVG and XLink namespace names, which nothing
fetches. Text and lines are drawn in `currentColor`, so the charts follow the page's colour in
the light and the dark scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from newsletter.engagement.pygal_loaded import Style, pygal
from newsletter.engagement.report import LocaleReport, StoryReport, per_100
from newsletter.engagement.timeline import CurvePoint, Hour

HUMAN = "#2f7de1"
OTHER = "#8c8c8c"
WARNING = "#d9822b"
DANGER = "#d64545"
WIDTH = 720
LABEL_LENGTH = 40


def format_value(value: float) -> str:
    """A chart's value as its `desc` holds it: whole numbers without a point, others to two
    decimals (as the JSON document has them)."""
    return str(int(value)) if float(value).is_integer() else str(round(value, 2))


def _chart(kind: Any, name: str, caption: str, colours: Sequence[str], **options: Any) -> Any:
    """A pygal chart of `kind` whose SVG is ready to put inline (see `clean`)."""
    style = Style(
        background="transparent", plot_background="transparent", foreground="currentColor",
        foreground_strong="currentColor", foreground_subtle="currentColor",
        guide_stroke_color="currentColor", major_guide_stroke_color="currentColor",
        font_family="system-ui, sans-serif", label_font_size=12, major_label_font_size=12,
        legend_font_size=13, title_font_size=14, colors=tuple(colours),
    )  # fmt: skip
    settings = {"width": WIDTH, "height": 320, "legend_at_bottom": True, "truncate_legend": -1}
    chart = kind(
        js=[], disable_xml_declaration=True, style=style, value_formatter=format_value,
        **(settings | options),
    )  # fmt: skip
    chart.uuid = name  # The svg's id (chart-NAME), which its style is scoped to.
    chart.add_xml_filter(lambda root: clean(root, caption))
    return chart


def clean(root: Any, caption: str) -> Any:
    """The chart's SVG tree without script, comments or legend ids, named `caption` for
    assistive technology (its `<title>`, role `img`)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if not isinstance(child.tag, str) or _local(child.tag) == "script":
                parent.remove(child)  # Comments (whose tag is a function) and the script.
    for element in root.iter():
        if element is not root:
            element.attrib.pop("id", None)
    for child in root:
        if _local(child.tag) == "title":
            child.text = caption
    root.set("role", "img")
    return root


def _local(tag: str) -> str:
    """A tag's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _svg(chart: Any) -> str:
    svg = chart.render()
    assert isinstance(svg, str)  # disable_xml_declaration gives text.
    return svg


def hours_chart(hours: Sequence[Hour]) -> str:
    """Human and all clicks per hour over the first 48 hours, as inline SVG."""
    chart = _chart(
        pygal.Line, "hours", "Clicks in each of the first 48 hours: human and all",
        (HUMAN, OTHER), x_title="hours since the send started", show_minor_x_labels=False,
        x_labels_major_every=6, truncate_label=-1, dots_size=2,
    )  # fmt: skip
    chart.x_labels = [str(hour.hour) for hour in hours]
    chart.add("human", [hour.human for hour in hours])
    chart.add("all", [hour.all for hour in hours])
    return _svg(chart)


def stories_chart(stories: Sequence[StoryReport]) -> str | None:
    """Human and scanner clicks per story, most read first, as inline SVG (None: no story)."""
    if not stories:
        return None
    chart = _chart(
        pygal.HorizontalBar, "stories", "Clicks per story: human and scanner", (HUMAN, OTHER),
        height=120 + 44 * len(stories), truncate_label=LABEL_LENGTH,
    )  # fmt: skip
    shown = list(reversed(stories))  # pygal draws the first label at the bottom.
    chart.x_labels = [story.title or story.slug for story in shown]
    chart.add("human", [story.clicks.human for story in shown])
    chart.add("scanner", [story.clicks.scanner for story in shown])
    return _svg(chart)


def curve_unit(curve: Sequence[CurvePoint]) -> tuple[str, int]:
    """The unit the delivery curve's time is shown in: seconds for a send of two minutes at
    most, minutes for one of three hours at most, else hours; and its length in seconds."""
    last = curve[-1].seconds if curve else 0
    if last <= 120:
        return "seconds", 1
    return ("minutes", 60) if last <= 3 * 3600 else ("hours", 3600)


def curve_chart(curve: Sequence[CurvePoint]) -> str | None:
    """Deliveries sent so far by time since the start (in `curve_unit`, the x axis's title
    says which), as inline SVG (None: none sent)."""
    if not curve:
        return None
    unit, length = curve_unit(curve)
    chart = _chart(
        pygal.XY, "delivery", "Deliveries sent since the send started", (HUMAN,),
        x_title=f"{unit} since the send started", y_title="messages sent",
        x_value_formatter=format_value, show_legend=False, dots_size=2,
    )  # fmt: skip
    chart.add("sent", [(point.seconds / length, point.sent) for point in curve])
    return _svg(chart)


def locales_chart(locales: Sequence[LocaleReport]) -> str | None:
    """Per edition: human clicks per 100 delivered, bounces per 100 sent and complaints per
    100 delivered, as inline SVG (None: no edition)."""
    if not locales:
        return None
    chart = _chart(
        pygal.Bar, "locales", "Editions compared: clicks, bounces and complaints",
        (HUMAN, WARNING, DANGER),
    )  # fmt: skip
    chart.x_labels = [locale.locale for locale in locales]
    came = [locale.outcomes for locale in locales]
    humans = [locale.clicks.human for locale in locales]
    chart.add(
        "human clicks per 100 delivered",
        [per_100(human, found.delivered) for human, found in zip(humans, came, strict=True)],
    )
    chart.add("bounces per 100 sent", [per_100(found.bounced, found.sent) for found in came])
    chart.add(
        "complaints per 100 delivered",
        [per_100(found.complained, found.delivered) for found in came],
    )
    return _svg(chart)
