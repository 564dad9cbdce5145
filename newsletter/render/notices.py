"""Emails the system sends by itself (the subscription confirmation), rendered like issues.

A notice is rendered once per locale with placeholders, then merged per recipient, exactly as
an issue is: Jinja -> MJML -> inlined CSS for HTML, and a text part.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from newsletter.config import Project
from newsletter.render.email_html import mjml_to_html
from newsletter.render.i18n import Localizer
from newsletter.render.inline import inline_css
from newsletter.render.merge import PLACEHOLDERS
from newsletter.render.templates import template_environment, theme_search_path


@dataclass(frozen=True)
class Notice:
    """A rendered notice in one locale, with placeholders still in it."""

    subject: str
    html: str
    text: str


class Notices:
    """Renders notices for one project; each (name, locale) once."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.search_path = theme_search_path(project.root, project.config.theme)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Notices per application, cached for its life.
    def render(self, name: str, locale: str) -> Notice:
        """The notice `name` (`confirm`) in `locale`."""
        localizer = Localizer(locale)
        environment = template_environment(self.search_path, localizer)
        config = self.project.config
        context: dict[str, Any] = {
            "newsletter": {
                "name": config.name,
                "base_url": config.base_url,
                "postal_address": config.postal_address,
            },
            "locale": localizer.layout,
            "merge": PLACEHOLDERS,
        }
        subject = environment.get_template(f"{name}.subject.j2").render(context).strip()
        html = inline_css(
            mjml_to_html(environment.get_template(f"{name}.mjml.j2").render(context)),
            config.css_inliner,
        )
        text = environment.get_template(f"{name}.txt.j2").render(context)
        return Notice(subject=subject, html=html, text=text)
