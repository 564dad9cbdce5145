"""`newsletter build`: write the rendered email, text part and web page of issues to a folder.

OUT/SLUG/LOCALE/email.html        the email as a reader receives it (sample recipient)
OUT/SLUG/LOCALE/email.txt         its text/plain part
OUT/SLUG/LOCALE/web/index.html    the web version, with its images beside it
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.files import atomic_copy, atomic_write_text
from newsletter.model import Issue
from newsletter.render.merge import personalize, sample_values
from newsletter.render.pipeline import RenderedEdition, Renderer
from newsletter.render.urls import web_url


@dataclass
class BuiltEdition:
    """Where one edition was written, and how big its email is."""

    slug: str
    locale: str
    folder: Path
    email_bytes: int
    files: int


def build_issue(
    renderer: Renderer, issue: Issue, locales: list[str], out: Path
) -> list[BuiltEdition]:
    """Render `locales` of `issue` (all first, so a failure writes nothing) and write them under `out`."""
    rendered = [renderer.render(issue, locale) for locale in locales]
    return [_write(renderer, edition, out / issue.slug / edition.locale) for edition in rendered]


def _write(renderer: Renderer, edition: RenderedEdition, folder: Path) -> BuiltEdition:
    base = renderer.config.base_url
    values = sample_values(base, web_url(base, edition.locale, edition.slug))
    email, text = personalize(edition.email_html, edition.text, values)
    atomic_write_text(folder / "email.html", email)
    atomic_write_text(folder / "email.txt", text)
    atomic_write_text(folder / "web" / "index.html", edition.web_html)
    for source, inside in edition.assets.items():
        atomic_copy(source, folder / "web" / inside)
    return BuiltEdition(
        edition.slug, edition.locale, folder, len(email.encode("utf-8")), 3 + len(edition.assets)
    )
