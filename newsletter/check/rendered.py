"""Checks on the rendered email: what inboxes do with it (clipping, subject, preheader, links)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Protocol

from newsletter.check.merge_fields import template_field_notes
from newsletter.model import Edition, Issue, Note
from newsletter.render.pipeline import RenderedEdition

GMAIL_CLIP_BYTES = 102 * 1024
"""Gmail shows "[Message clipped]" and hides the rest (footer and unsubscribe link included) above this."""
SUBJECT_MAX = 80
PREHEADER_MIN, PREHEADER_MAX = 30, 150
_URL = re.compile(r"""\b(href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_ABSOLUTE = re.compile(r"^(https?://[^/\s]+|mailto:|tel:|#|%%nl_[a-z_]+%%)", re.IGNORECASE)


class Renders(Protocol):
    """What renders an edition: a Renderer, or the preview's cache of what it rendered."""

    def render(self, issue: Issue, locale: str) -> RenderedEdition: ...


def check_rendered(issue: Issue, renderer: Renders, fields: Collection[str] = ()) -> list[Note]:
    """Render every edition of `issue` and report what inboxes would do badly with it, and
    the subscriber fields its templates got wrong."""
    notes: list[Note] = []
    for locale, edition in issue.editions.items():
        rendered = renderer.render(issue, locale)
        notes.extend(_email_checks(rendered, edition))
        notes.extend(
            template_field_notes(rendered.email_html, rendered.text, fields, edition.source, locale)
        )
    return notes


def _email_checks(rendered: RenderedEdition, edition: Edition) -> Iterator[Note]:
    path, title_line = edition.source, edition.title_line
    where = f"{rendered.locale}: "
    size = len(rendered.email_html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        yield Note(
            "error",
            f"{where}email HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB (the unsubscribe link would be hidden)",
            path,
            None,
            "shorten the issue, move stories to the web version, or use the digest theme",
            code="email-size",
        )
    if len(rendered.subject) > SUBJECT_MAX:
        yield Note(
            "warning",
            f"{where}subject is {len(rendered.subject)} characters; inboxes show about {SUBJECT_MAX} at most",
            path,
            title_line,
            "shorten the title",
            code="subject-length",
        )
    length = len(rendered.preheader)
    if length > PREHEADER_MAX or length < PREHEADER_MIN:
        yield Note(
            "warning",
            f"{where}preheader is {length} characters; inboxes show {PREHEADER_MIN} to {PREHEADER_MAX}",
            path,
            edition.meta_lines.get("preheader"),
            "write a `preheader:` (or description) of one or two short sentences",
            code="preheader-length",
        )
    bad = sorted(
        {url for _, url in _URL.findall(rendered.email_html) if url and not _ABSOLUTE.match(url)}
    )
    for url in bad:
        yield Note(
            "error",
            f"{where}link {url!r} is not an absolute http(s) or mailto URL in the email",
            path,
            None,
            "link to a full URL, or to a file inside the issue folder",
            code="relative-link",
        )
