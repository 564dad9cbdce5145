"""Templates are compiled once per process and shared by every environment of
template_environment (an environment per locale, per renderer), and compiled again when their
file changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from newsletter.render.i18n import Localizer
from newsletter.render.templates import _COMPILED, template_environment

TEMPLATE = '{% trans %}Unsubscribe{% endtrans %} {{ when | date }} {{ name | default("x") }}\n'


def test_each_locale_renders_its_own_words_from_the_code_compiled_once(tmp_path: Path) -> None:
    (tmp_path / "page.txt.j2").write_text(TEMPLATE, "utf-8")
    values = {"when": date(2026, 12, 3), "name": "Ada"}
    before = len(_COMPILED._code)
    english = template_environment([tmp_path], Localizer("en"))
    assert (
        english.get_template("page.txt.j2").render(values) == "Unsubscribe December 3, 2026 Ada\n"
    )
    compiled = len(_COMPILED._code)
    assert compiled == before + 1  # The new file's code, kept for the process.
    german = template_environment([tmp_path], Localizer("de"))
    # The second environment takes the first one's code: translations and filters are its own.
    assert german.get_template("page.txt.j2").render(values) == "Abmelden 3. Dezember 2026 Ada\n"
    assert len(_COMPILED._code) == compiled


def test_a_changed_file_is_compiled_again(tmp_path: Path) -> None:
    page = tmp_path / "page.txt.j2"
    page.write_text("first {{ name }}\n", "utf-8")
    assert (
        template_environment([tmp_path], Localizer("en"))
        .get_template("page.txt.j2")
        .render(name="Ada")
        == "first Ada\n"
    )
    page.write_text("second {{ name }}\n", "utf-8")
    assert (
        template_environment([tmp_path], Localizer("en"))
        .get_template("page.txt.j2")
        .render(name="Ada")
        == "second Ada\n"
    )


def test_html_is_escaped_and_text_is_not_whichever_environment_compiled_it(
    tmp_path: Path,
) -> None:
    for name in ("page.html.j2", "page.txt.j2"):
        (tmp_path / name).write_text("{{ value }}\n", "utf-8")
    for locale in ("en", "ar"):
        environment = template_environment([tmp_path], Localizer(locale))
        assert environment.get_template("page.html.j2").render(value="<b>") == "&lt;b&gt;\n"
        assert environment.get_template("page.txt.j2").render(value="<b>") == "<b>\n"
