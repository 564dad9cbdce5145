"""The Jinja environment for a theme: a search path that lets a project override single files.

Templates are looked up in `PROJECT/templates/THEME/`, then the built-in `templates/THEME/`,
then the built-in `templates/default/`: a project copies only the templates it changes.
"""

from __future__ import annotations

from pathlib import Path

from babel.lists import format_list
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.bccache import Bucket, BytecodeCache

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


class CompiledTemplates(BytecodeCache):
    """The templates compiled by any environment of template_environment, kept for the
    process: a renderer has an environment per locale, and a process makes renderers for
    each send, preview and test send, so each compiled every template again (a sixth of a
    send's time). Jinja keys each by the template's file and checks its source's checksum: a
    changed file is compiled again. Every environment that uses it compiles alike (the same
    options and extensions; filters and translations are looked up when a template renders)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # Left empty when its checksum differs.

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = CompiledTemplates()


def template_environment(search_path: list[Path], localizer: Localizer) -> Environment:
    """A Jinja environment for one theme and locale: autoescaping HTML, gettext installed."""
    environment = Environment(
        loader=FileSystemLoader([str(path) for path in search_path]),
        bytecode_cache=_COMPILED,
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
