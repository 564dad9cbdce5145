"""The masthead at the top of every email and web page: the newsletter's logo, or its name.

The logo is configured once (`logo`, `logo_alt`, `logo_width`). A file in the project folder is
published by the archive as `static/NAME` (emails link it there, by its absolute URL) and under a
content-hashed name that archive pages link; a URL on `base_url` is linked as it is. Its alt
text is the newsletter's name unless `logo_alt` gives one for the locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from newsletter.config import Project
from newsletter.errors import ConfigError

LOGO_FOLDER = "static"
"""The folder of the site that holds the logo (no issue may take this slug)."""


@dataclass(frozen=True)
class Logo:
    """The configured logo: where it is published, and the local file it comes from."""

    url: str
    """Its absolute URL, which emails link."""
    width: int
    source: Path | None = None
    """The file in the project folder (None for a logo given by its URL)."""

    @property
    def path(self) -> str:
        """Where the archive publishes the file, relative to its root ("" for a URL)."""
        return f"{LOGO_FOLDER}/{self.source.name}" if self.source else ""


def site_logo(project: Project) -> Logo | None:
    """The logo of `project`, None when it has none; ConfigError when the file is missing or
    lies outside the project folder."""
    config = project.config
    if not config.logo:
        return None
    if "://" in config.logo:
        return Logo(config.logo, config.logo_width)
    root = project.root.resolve()
    source = (root / config.logo).resolve()
    if not source.is_relative_to(root) or not source.is_file():
        problem = "is outside the project folder" if source.is_file() else "is not a file"
        raise ConfigError(
            f"logo: {config.logo} {problem}",
            path=project.source,
            hint="give the path of an image in the project folder, relative to it",
        )
    url = f"{config.base_url}/{LOGO_FOLDER}/{quote(source.name)}"
    return Logo(url, config.logo_width, source)


def masthead(project: Project, logo: Logo | None, locale: str, home: str) -> dict[str, Any]:
    """What templates show at the top: `name`, `logo` (its URL, or ""), `alt`, `width` and
    `href` (where the masthead links: the index of the locale)."""
    return {
        "name": project.config.name,
        "logo": logo.url if logo else "",
        "alt": project.config.logo_text(locale),
        "width": logo.width if logo else 0,
        "href": home,
    }
