"""The shipped gettext catalogs: complete in every locale, plural forms included, and in step
with the templates. Read from the .po files: Babel compiles an untranslated plural with the
English text, so a check on compiled catalogs would pass with entries missing."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from newsletter.render.i18n import CATALOGS, Localizer, load_translations

from .conftest import ROOT

SHIPPED = ["en", "zh_Hans", "ja", "de", "fr", "es", "pt_BR", "ar"]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        return read_po(stream, locale=locale)


@functools.cache
def _template_messages() -> frozenset[str]:
    """The strings of the templates and the code (read once: every catalog is checked against
    them)."""
    method_map = [("templates/**.j2", "jinja2"), ("newsletter/**.py", "python")]
    options = {"templates/**.j2": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options):
        found.add(message[0] if isinstance(message, tuple) else message)
    return frozenset(found)


@pytest.mark.parametrize("locale", SHIPPED)
def test_catalog_is_complete_with_every_plural_form(locale: str) -> None:
    catalog = _catalog(locale)
    assert catalog.fuzzy is False
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, f"{locale}: fuzzy {message.id!r}"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: untranslated {message.id!r}"
        if message.pluralizable:
            assert len(strings) == catalog.num_plurals, (
                f"{locale}: {message.id!r} has {len(strings)} of {catalog.num_plurals} forms"
            )
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = {name for text in ids for name in _PLACEHOLDER.findall(text)}
        for text in strings:
            assert set(_PLACEHOLDER.findall(text)) == wanted, (
                f"{locale}: {text!r} lacks or adds a placeholder"
            )


@pytest.mark.parametrize("locale", SHIPPED)
def test_catalog_holds_exactly_the_template_strings(locale: str) -> None:
    in_templates = _template_messages()
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in _catalog(locale) if m.id}
    assert in_catalog == in_templates, "run `make translations` and translate the new strings"


def test_plural_forms_follow_each_language() -> None:
    def minutes(locale: str, number: int) -> str:
        return Localizer(locale).ngettext(
            "%(num)d minute to read", "%(num)d minutes to read", number
        ) % {"num": number}

    assert minutes("en", 1) == "1 minute to read"
    assert minutes("en", 5) == "5 minutes to read"
    assert minutes("de", 1) != minutes("de", 5).replace("5", "1")
    assert minutes("fr", 0).replace("0", "1") == minutes("fr", 1)  # French uses the singular for 0.
    # Arabic has six plural forms; one, two and few (3-10) read differently.
    assert _catalog("ar").num_plurals == 6
    assert len({minutes("ar", n).replace(str(n), "") for n in (1, 2, 5)}) == 3
    assert "%" not in minutes("zh", 3) and "3" in minutes("zh", 3)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh", "退订"),
        ("zh_Hans", "退订"),
        ("ja", "配信停止"),
        ("de", "Abmelden"),
        ("ar", "إلغاء الاشتراك"),
        ("pt_BR", "Cancelar inscrição"),
    ],
)
def test_locales_find_their_catalog(locale: str, expected: str) -> None:
    assert Localizer(locale).gettext("Unsubscribe") == expected


def test_an_unknown_locale_falls_back_to_english(tmp_path: Path) -> None:
    assert Localizer("sw", catalogs=tmp_path).gettext("Unsubscribe") == "Unsubscribe"


def test_dates_and_direction_per_locale() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime(2024, 3, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    assert Localizer("en").date(moment) == "March 10, 2024"
    assert Localizer("zh").date(moment) == "2024年3月10日"
    assert Localizer("de").date(moment) == "10. März 2024"
    assert (Localizer("ar").direction, Localizer("ar").lang) == ("rtl", "ar")
    assert Localizer("pt_BR").lang == "pt-BR"


PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Unsubscribe"
msgstr "Abmelden"

#, fuzzy
msgid "Read online"
msgstr "Ungeprüfte Übersetzung"
"""


def test_make_catalogs_compiles_what_the_code_compiles_itself(tmp_path: Path) -> None:
    # `make catalogs` compiled with -f (fuzzy entries kept), the code without: a translation a
    # translator had marked as unchecked reached readers only where the .mo had been made.
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(PO, encoding="utf-8")
    read = load_translations("de", tmp_path)
    assert (read.gettext("Unsubscribe"), read.gettext("Read online")) == ("Abmelden", "Read online")

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ncatalogs: $(STAMP)\n\t$(BIN)/pybabel ", 1)[1].split("\n", 1)[0]
    arguments = [
        str(tmp_path) if a == "newsletter/translations" else a for a in shlex.split(recipe)
    ]
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]  # The Makefile's, in this venv.
    subprocess.run([*pybabel, *arguments], check=True, timeout=60)
    assert (folder / "messages.mo").is_file()
    # Copied with their times to a new path, which the code has not read yet: it reads the .mo.
    shutil.copytree(tmp_path / "de", tmp_path / "again" / "de")
    compiled = load_translations("de", tmp_path / "again")
    assert compiled.gettext("Read online") == "Read online"
    assert compiled.gettext("Unsubscribe") == "Abmelden"
