"""The Jinja environment for a theme: a search path that lets a project override single files.

Templates are looked up in `PROJECT/templates/THEME/`, then the built-in `templates/THEME/`,
then the built-in `templates/default/`: a project copies only the templates it changes.
"""

from __future__ import annotations

from pathlib import Path

from babel.lists import format_list
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from newsletter.content.language import display_width
from newsletter.render.fields import default_filter
from newsletter.render.i18n import Localizer
from newsletter.render.text import wrap

BUILTIN_THEMES = Path(__file__).resolve().parent.parent.parent / "templates"
DEFAULT_THEME = "default"
TEMPLATES = ("email.mjml.j2", "text.txt.j2", "web.html.j2")


def theme_search_path(project_root: Path, theme: str) -> list[Path]:
    """Folders searched for templates, most specific first (only those that exist)."""
    candidates = [
        project_root / "templates" / theme,
        BUILTIN_THEMES / theme,
        BUILTIN_THEMES / DEFAULT_THEME,
    ]
    unique = list(dict.fromkeys(path.resolve() for path in candidates))
    return [path for path in unique if path.is_dir()]


def template_environment(search_path: list[Path], localizer: Localizer) -> Environment:
    """A Jinja environment for one theme and locale: autoescaping HTML, gettext installed."""
    environment = Environment(
        loader=FileSystemLoader([str(path) for path in search_path]),
        autoescape=lambda name: bool(name) and not str(name).endswith(".txt.j2"),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Environments live for one command, one preview render or one app: checking every
        # template file's time at each render cost a quarter of an archive build.
        auto_reload=False,
    )
    environment.install_gettext_translations(localizer.translations, newstyle=True)  # type: ignore[attr-defined]
    # Jinja's own `default`, except that a subscriber field keeps its default for the merge.
    environment.filters["default"] = environment.filters["d"] = default_filter
    environment.filters["date"] = localizer.date
    environment.filters["number"] = lambda number: format_decimal(number, locale=localizer.babel)
    environment.filters["width"] = display_width
    environment.filters["wrap"] = wrap
    environment.filters["names"] = lambda names: (
        format_list(list(names), locale=localizer.babel) if names else ""
    )
    return environment
