"""The translation policy: which editions readers get (`min_translated_share`), and why.

The issue below is written in English; its German edition translates one story of two, its
French edition both, its Japanese one a story but not the issue file. By default (every story
translated) German and Japanese readers get the English edition; at 0.5 German readers get
the German one, with the English story in it marked as English for screen readers and fonts.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.schedule.firing import Firer, fire, firings

from .conftest import ROOT, SmtpServer
from .test_delivery import SECRET, add_reader, make_project, newsletter, parsed
from .test_schedule import the_job

MIXED = "2031-01-05-mixed"
DECA = "2024-03-27-ai-deca-show"  # Chinese, with an English issue file and no English story.
READERS = [
    ("ada@example.org", "Ada", "en"),
    ("jonas@example.de", "Jonas", "de"),
    ("marie@example.fr", "Marie", "fr"),
    ("yuki@example.jp", "Yuki", "ja"),
    ("wei@example.cn", "Wei", "zh"),
]
FILES = {
    "issue.md": "title: Mixed Weekly\nstatus: ready\ndate: 2031-01-05\n---\nThe lead.\n",
    "issue.de.md": "title: Gemischte Woche\n---\nDie Einleitung.\n",
    "issue.fr.md": "title: Hebdo mixte\n---\nL'introduction.\n",
    "stories/01-alpha.md": "title: Alpha news\nurl: https://example.org/alpha\n"
    "image: https://example.org/alpha.png\nimage_alt: A chart of alpha\n---\nAlpha grew.\n",
    "stories/01-alpha.fr.md": "title: Nouvelles alpha\n---\nAlpha a grandi.\n",
    "stories/02-beta.md": "title: Beta news\nurl: https://example.org/beta\n---\nBeta shrank.\n",
    "stories/02-beta.de.md": "title: Beta-Nachrichten\n---\nBeta schrumpfte.\n",
    "stories/02-beta.fr.md": "title: Nouvelles bêta\n---\nBêta a rétréci.\n",
    "stories/02-beta.ja.md": "title: ベータのニュース\n---\nベータは縮小した。\n",
}
HELD_DE = "de: not offered, 1 of 2 stories translated (50%, minimum 100%): de readers get en"
HELD_JA = (
    "ja: not offered, no issue file of its own (title and lead untranslated), 1 of 2 stories "
    "translated (50%, minimum 100%): ja readers get en"
)


def mixed_project(root: Path, transport_url: str, share: float | None = None) -> Project:
    """The mixed issue and the sample Chinese weekly, readers in five languages."""
    # Links as written: these tests find a story's link by where it goes (tracking links are
    # tests/test_tracking_links.py's).
    settings = {"tracking": '"off"'}
    if share is not None:
        settings["min_translated_share"] = str(share)
    made = make_project(root, transport_url, readers=[], **settings)
    config = made.source
    assert config is not None
    text = config.read_text(encoding="utf-8").replace('"zh", "de", "ar"', '"de", "fr", "ja", "zh"')
    config.write_text(text, encoding="utf-8")
    folder = made.issues_path / MIXED
    for name, body in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"---\n{body}", encoding="utf-8")
    shutil.copytree(ROOT / "issues" / DECA, made.issues_path / DECA)
    made = load_project(config, {"NEWSLETTER_SECRET_KEY": SECRET})
    for email, name, locale in READERS:
        add_reader(made, email, name, locale)
    return made


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return mixed_project(tmp_path, f"{smtp_server.url}?connections=1")


@pytest.fixture
def half(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    """The same project with min_translated_share = 0.5."""
    return mixed_project(tmp_path, f"{smtp_server.url}?connections=1", 0.5)


def languages(smtp_server: SmtpServer) -> dict[str, str]:
    """The Content-Language of the message each reader received."""
    return {r.recipients[0]: str(parsed(r.data)["Content-Language"]) for r in smtp_server.received}


def html_of(data: bytes) -> lxml.html.HtmlElement:
    body = parsed(data).get_body(("html",))
    assert body is not None
    return lxml.html.fromstring(body.get_content())


def lang_of(element: lxml.html.HtmlElement) -> str:
    """The language an element is in: its own or its closest ancestor's lang attribute."""
    return str(element.xpath("ancestor-or-self::*[@lang][1]/@lang")[0])


def story_langs(page: lxml.html.HtmlElement, read_more: str) -> Iterator[tuple[str, str]]:
    """(what, language) of the fallback story's title, text and image, and its "read more"."""
    yield "title", lang_of(page.xpath("//a[normalize-space()='Alpha news']")[0])
    yield "text", lang_of(page.xpath("//p[normalize-space()='Alpha grew.']")[0])
    yield "image", lang_of(page.xpath("//img[@alt='A chart of alpha']")[0])
    link = page.xpath(f"//a[contains(., '{read_more}')][@href='https://example.org/alpha']")[0]
    yield "read more", lang_of(link)


def test_a_dry_run_says_which_editions_are_offered_and_why(project: Project) -> None:
    code, output = newsletter(project, "send", MIXED, "--dry-run")
    assert code == 0, output
    assert "en: offered, the original language" in output
    assert "fr: offered, 2 of 2 stories translated (100%, minimum 100%)" in output
    assert HELD_DE in output and HELD_JA in output
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
    assert sorted(rows) == ["en", "fr"]
    assert rows["en"].split("│")[2].strip() == "4"  # ada, jonas, yuki, and wei (no zh edition)
    assert rows["fr"].split("│")[2].strip() == "1"

    code, output = newsletter(project, "send", DECA, "--dry-run")
    assert code == 0, output
    assert (
        "en: not offered, 0 of 29 stories translated (0%, minimum 100%): en readers get zh"
        in output
    )
    assert "5 recipients" in output  # Everyone gets the original, Chinese edition.


def test_readers_of_an_edition_not_offered_get_the_original_language(
    project: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(project, "send", MIXED)
    assert code == 0, output
    assert HELD_DE in output and HELD_JA in output
    assert languages(smtp_server) == {
        "ada@example.org": "en",
        "jonas@example.de": "en",
        "marie@example.fr": "fr",
        "yuki@example.jp": "en",
        "wei@example.cn": "en",
    }
    subjects = {r.recipients[0]: str(r.message["Subject"]) for r in smtp_server.received}
    assert subjects["jonas@example.de"] == "Mixed Weekly"
    assert subjects["marie@example.fr"] == "Hebdo mixte"

    smtp_server.received.clear()
    assert newsletter(project, "send", DECA)[0] == 0
    assert set(languages(smtp_server).values()) == {"zh"}


def test_at_half_the_german_edition_goes_out_with_its_english_story_marked_english(
    half: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(half, "send", MIXED)
    assert code == 0, output
    assert "de: offered, 1 of 2 stories translated (50%, minimum 50%)" in output
    assert "ja: not offered, no issue file of its own" in output  # Its title is English.
    assert languages(smtp_server)["jonas@example.de"] == "de"
    german = next(r for r in smtp_server.received if r.recipients == ["jonas@example.de"])
    page = html_of(german.data)
    assert page.get("lang") == "de"
    assert dict(story_langs(page, "Weiterlesen")) == {
        "title": "en",
        "text": "en",
        "image": "en",
        "read more": "de",  # The link's words are the edition's, not the story's.
    }
    assert lang_of(page.xpath("//p[normalize-space()='Beta schrumpfte.']")[0]) == "de"


def test_the_archive_publishes_only_the_editions_readers_get(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    for share, published in ((None, {"en", "fr"}), (0.5, {"en", "fr", "de"})):
        root = tmp_path / f"share-{share}"
        root.mkdir()
        made = mixed_project(root, f"{smtp_server.url}?connections=1", share)
        (made.issues_path / MIXED / "issue.md").write_text(
            f"---\n{FILES['issue.md'].replace('ready', 'sent')}", encoding="utf-8"
        )
        out = root / "archive"
        code, output = newsletter(made, "archive", "--out", str(out))
        assert code == 0, output
        pages = {p.parent.parent.name for p in out.glob(f"*/{MIXED}/index.html")}
        assert pages == published
        english = lxml.html.parse(str(out / "en" / MIXED / "index.html")).getroot()
        links = english.xpath("//link[@rel='alternate'][@hreflang!='x-default']/@hreflang")
        assert set(links) == published
    german = lxml.html.parse(str(out / "de" / MIXED / "index.html")).getroot()
    assert dict(story_langs(german, "Weiterlesen")) == {
        "title": "en",
        "text": "en",
        "image": "en",
        "read more": "de",
    }


def test_check_list_and_build_name_the_editions_held_back(project: Project) -> None:
    code, output = newsletter(project, "check", MIXED)
    assert code == 0, output
    assert (
        "the de edition is not sent or published: 1 of 2 stories translated (50%, minimum "
        "100%); de readers get the en edition" in output
    )
    assert "fix: add stories/01-alpha.de.md, or lower min_translated_share" in output
    assert "fix: add issue.ja.md, stories/01-alpha.ja.md, or lower min_translated_share" in output
    assert "the en text is used" not in output  # It is not: the edition is not sent.

    code, output = newsletter(project, "list")
    assert code == 0, output
    rows = [line.split("│") for line in output.splitlines() if line.startswith("│")]
    first = next(at for at, cells in enumerate(rows) if cells[1].strip() == MIXED)
    offered = {cells[3].strip(): cells[-2].strip() for cells in rows[first : first + 4]}
    assert offered == {"en": "yes", "de": "no: en", "fr": "yes", "ja": "no: en"}

    out = str(project.root / "build")
    code, output = newsletter(project, "build", MIXED, "--all-locales", "--out", out)
    assert code == 0, output
    lines = {
        found.group(1): line
        for line in output.splitlines()
        if (found := re.match(rf"built .*/{MIXED}/(\w+)/ ", line))
    }
    assert sorted(lines) == ["de", "en", "fr", "ja"]
    assert lines["de"].endswith("(not offered: readers get en)")
    assert "not offered" not in lines["fr"]


def test_a_scheduled_send_logs_the_editions_and_tells_the_editor_which_were_held_back(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = mixed_project(tmp_path, f"{smtp_server.url}?connections=1")
    source = project.source
    assert source is not None
    source.write_text(
        source.read_text(encoding="utf-8") + 'editor_address = "editor@news.example.org"\n',
        encoding="utf-8",
    )
    project = load_project(source, {"NEWSLETTER_SECRET_KEY": SECRET})
    assert newsletter(project, "schedule", "add", MIXED, "--at", "2031-12-01 08:00")[0] == 0
    job = the_job(project, f"send-{MIXED}")
    due = job.next_run_time
    engine = create_db_engine(database_url(project))
    detail = fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs)
    assert "5 recipients queued" in detail and HELD_DE in detail and HELD_JA in detail
    assert HELD_DE in firings(engine)[0].detail
    [notice] = smtp_server.received
    assert notice.recipients == ["editor@news.example.org"]
    assert "went out without some of its translations" in str(notice.message["Subject"])
    body = notice.message.get_body(("plain",))
    assert body is not None and HELD_DE in body.get_content() and HELD_JA in body.get_content()


def test_a_test_send_for_a_locale_sends_what_its_readers_get_and_says_so(
    project: Project, smtp_server: SmtpServer
) -> None:
    test = ("send", MIXED, "--test", "me@example.org")
    code, output = newsletter(project, *test, "--locale", "de", "--locale", "zh")
    assert code == 0, output
    assert HELD_DE in output
    assert "sent [TEST] 2031-01-05-mixed (de, zh readers get the en edition) to me@example.org" in (
        output
    )
    [received] = smtp_server.received  # German and Chinese readers get the same edition.
    assert parsed(received.data)["Content-Language"] == "en"
    assert str(received.message["Subject"]) == "[TEST] Mixed Weekly"

    code, output = newsletter(project, *test, "--locale", "fr")
    assert code == 0 and "[TEST] 2031-01-05-mixed (fr) to me@example.org" in output
    smtp_server.received.clear()
    code, output = newsletter(project, *test)  # Every edition readers get, and why not the rest.
    assert code == 0, output
    assert sorted(languages_of_all(smtp_server)) == ["en", "fr"]
    assert HELD_DE in output and HELD_JA in output

    code, output = newsletter(project, *test, "--locale", "xx")
    assert code == 1
    assert "--locale xx: not a locale of this newsletter" in output
    assert "fix: use one of en, de, fr, ja, zh" in output

    code, output = newsletter(project, "send", DECA, "--test", "me@example.org", "--locale", "en")
    assert code == 0, output
    assert "(en readers get the zh edition)" in output


def test_a_test_send_at_half_sends_the_german_edition(
    half: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(half, "send", MIXED, "--test", "me@example.org", "--locale", "de")
    assert code == 0 and "[TEST] 2031-01-05-mixed (de) to me@example.org" in output
    assert parsed(smtp_server.received[0].data)["Content-Language"] == "de"


def languages_of_all(smtp_server: SmtpServer) -> list[str]:
    return [str(parsed(r.data)["Content-Language"]) for r in smtp_server.received]
