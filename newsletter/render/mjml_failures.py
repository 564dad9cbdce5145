"""MJML to HTML, and when mjml-python refuses the email: which story and line caused it.

mjml-python says only "unable to parse next template in root template". Content is cleaned
before it gets here (controls.py), so a failure comes from the theme, or from a value that a
(project's) template writes unescaped. To tell which, the template is rendered again from a
context with every part of the content left out, then with one part at a time put back: the
first part that makes MJML fail is named with its file and line; if MJML fails with none of
them, the theme is at fault. This costs a few renders, and only when the email fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from markupsafe import Markup

from newsletter.errors import NewsletterError
from newsletter.model import Edition
from newsletter.render.controls import strip_invalid
from newsletter.render.email_html import mjml_to_html

Render = Callable[[dict[str, Any]], str]
"""The email template rendered with a context: MJML source."""

_ISSUE_FIELDS = {
    "title": "title",
    "subtitle": "subtitle",
    "preheader": "preheader",
    "authors": "authors",
    "image_alt": "image_alt",
    "cta": "cta",
}
_STORY_FIELDS = {  # A story card's key -> (what to call it, its front matter key or "" for the body)
    "title": ("title", "title"),
    "summary": ("summary", "summary"),
    "url": ("link", "url"),
    "image_url": ("image", "image"),
    "image_alt": ("image text", "image_alt"),
    "body_html": ("text", ""),
}


def email_from_mjml(source: str, render: Render, context: dict[str, Any], edition: Edition) -> str:
    """The email's HTML from its MJML `source` (rendered from `context`); a NewsletterError
    naming the story (or other part of `edition`) and line when mjml-python refuses it."""
    try:
        html = mjml_to_html(strip_invalid(source))  # No control character gets in.
    except Exception as error:  # mjml-python raises plain exceptions for invalid MJML.
        raise _located(str(error), render, context, edition) from error
    return html


def _parses(render: Render, context: dict[str, Any]) -> bool:
    try:
        mjml_to_html(strip_invalid(render(context)))
    except Exception:
        return False
    return True


def _located(
    error: str, render: Render, context: dict[str, Any], edition: Edition
) -> NewsletterError:
    empty = _emptied(context)
    if _parses(render, empty):
        for path, line, part, trial in _one_part_at_a_time(context, empty, edition):
            if not _parses(render, trial):
                return NewsletterError(
                    f"the email's MJML does not parse ({error}): caused by the {part}",
                    path=path,
                    line=line,
                    hint=f"look for HTML in the {part} that the theme writes as is (unescaped)",
                )
    return NewsletterError(
        f"email.mjml.j2 produced invalid MJML: {error}",
        hint="check the theme's MJML tags (the issue's content renders fine on its own)",
    )


def _emptied(context: dict[str, Any]) -> dict[str, Any]:
    """`context` with no content: issue fields blank, no lead, stories, closing or footer."""
    issue = {**context["issue"], **dict.fromkeys(_ISSUE_FIELDS, "")}
    issue["authors"], issue["cta"] = [], None
    sections = [
        {**s, "title": "", "intro_html": Markup(""), "stories": []} for s in context["sections"]
    ]
    blank = dict.fromkeys(("lead_html", "closing_html", "footer_html"), Markup(""))
    return {**context, **blank, "issue": issue, "sections": sections}


def _one_part_at_a_time(
    full: dict[str, Any], empty: dict[str, Any], edition: Edition
) -> Iterator[tuple[Path, int | None, str, dict[str, Any]]]:
    """(file, line, part, context) for each part of the content put back alone into `empty`."""
    lines = edition.meta_lines
    for key, meta_key in _ISSUE_FIELDS.items():
        issue = {**empty["issue"], key: full["issue"][key]}
        yield edition.source, lines.get(meta_key), f"issue's {key}", {**empty, "issue": issue}
    for key in ("lead_html", "closing_html", "footer_html"):
        part = key.removesuffix("_html")
        yield edition.source, None, f"issue's {part}", {**empty, key: full[key]}
    stories = {story.slug: story for story in edition.stories}
    for index, section in enumerate(full["sections"]):
        for key in ("title", "intro_html"):
            trial = _with_section(empty, index, {key: section[key]})
            yield edition.source, None, f"section {section['title']!r}", trial
        for card in section["stories"]:
            story = stories[card["slug"]]
            blank = dict.fromkeys(_STORY_FIELDS, "") | {"body_html": Markup("")}
            for key, (name, meta_key) in _STORY_FIELDS.items():
                trial = _with_section(
                    empty, index, {"stories": [{**card, **blank, key: card[key]}]}
                )
                line = story.meta_lines.get(meta_key) if meta_key else story.line
                yield story.source, line or story.line, f"story's {name}", trial


def _with_section(context: dict[str, Any], index: int, changes: dict[str, Any]) -> dict[str, Any]:
    sections = list(context["sections"])
    sections[index] = {**sections[index], **changes}
    return {**context, "sections": sections}
