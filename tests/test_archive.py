"""The static archive (`newsletter archive`): links, feeds, incremental builds, what gets published,
what must never be in it, bad input, and the same pages served by the web app.

The HTML checker and axe-core run over the same archive in test_archive_quality.py.
"""

from __future__ import annotations

import gc
import logging
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import feedparser
import pytest
from fastapi.testclient import TestClient

from newsletter.archive.build import build_archive
from newsletter.archive.layout import WEB_APP_ROUTES
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.errors import ContentError
from newsletter.render.merge import PLACEHOLDERS
from newsletter.web.app import create_app

from .conftest import ROOT
from .test_delivery import ISSUE, READERS, make_project, newsletter

BASE = "https://news.example.org"
SAMPLES = sorted(path.name for path in (ROOT / "issues").iterdir() if path.is_dir())
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def sample_project(root: Path) -> Project:
    """The sample issues (all three marked `status: sent`) with the sample configuration."""
    shutil.copytree(ROOT / "config", root / "config")
    shutil.copytree(ROOT / "issues", root / "issues")
    return load_project(root / "config" / "newsletter.toml", environ={})


def tree(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder but the build's own dot files, by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


class _Links(HTMLParser):
    """The URLs a page links to or loads, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for name in ("href", "src"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "meta" and found.get("property") in ("og:url", "og:image"):
            self.urls.append(str(found["content"]))


def links_of(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def local_target(out: Path, page: str, url: str) -> tuple[Path | None, str]:
    """The file of the archive `url` (on `page`) points to, and its fragment; None when the
    URL is outside the archive."""
    if url.startswith(BASE + "/"):
        url = "/" + url.removeprefix(BASE + "/")
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None, ""
    path = unquote(urlsplit(urljoin("/" + page, url)).path).lstrip("/")
    target = out / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    return target, parts.fragment


@pytest.fixture(scope="module")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = sample_project(tmp_path_factory.mktemp("samples"))
    out = project.root / "public"
    build_archive(project, out)
    return out


def test_every_internal_link_and_asset_of_the_sample_archive_resolves(sample_archive: Path) -> None:
    files = tree(sample_archive)
    pages = [path for path in files if path.endswith(".html")]
    for locale, slugs in (("en", SAMPLES[::2]), ("zh", SAMPLES[:2]), ("ar", SAMPLES[2:])):
        assert f"{locale}/index.html" in pages
        for slug in slugs:
            assert f"{locale}/{slug}/index.html" in pages
    # The Chinese weekly's English edition translates none of its stories: held back.
    assert f"en/{SAMPLES[1]}/index.html" not in pages
    checked = 0
    for page in pages:
        found = links_of(files[page].decode("utf-8"))
        for url in found.urls:
            if url.startswith(("mailto:", "tel:")):
                continue
            if url.startswith("#"):
                assert url[1:] in found.ids, f"{page}: no element with id {url}"
                continue
            target, fragment = local_target(sample_archive, page, url)
            if target is None:
                continue  # A story's link to the web, or a hotlinked image.
            route = target.relative_to(sample_archive).parts[0]
            if route in WEB_APP_ROUTES:
                continue  # /subscribe is the web app's (test_archive_is_served_by_the_web_app).
            assert target.is_file(), f"{page}: {url} leads to nothing"
            if fragment and target.suffix == ".html":
                assert fragment in links_of(target.read_text("utf-8")).ids, f"{page}: {url}"
            checked += 1
    assert checked > 100
    # Pages link images by content-hashed names; emails sent earlier keep working on the old ones.
    images = [path for path in files if path.startswith(f"{SAMPLES[2]}/images/")]
    assert f"{SAMPLES[2]}/images/Poster.png" in images
    assert any(re.fullmatch(rf"{SAMPLES[2]}/images/Poster\.[0-9a-f]{{10}}\.png", p) for p in images)
    assert not any(path.endswith(".md") for path in files)  # The sources are not published.
    for url in re.findall(r"<loc>([^<]+)</loc>|href=\"([^\"]+)\"", files["sitemap.xml"].decode()):
        target, _ = local_target(sample_archive, "sitemap.xml", url[0] or url[1])
        assert target is not None and target.is_file(), url
    assert f"Sitemap: {BASE}/sitemap.xml" in files["robots.txt"].decode()
    assert b'<meta name="robots" content="noindex">' in files["404.html"]


def test_pages_carry_language_alternates_and_social_cards(sample_archive: Path) -> None:
    page = (sample_archive / "ar" / SAMPLES[2] / "index.html").read_text("utf-8")
    assert '<html lang="ar" dir="rtl">' in page
    for lang in ("en", "ar"):
        url = f"{BASE}/{lang}/{SAMPLES[2]}/"
        assert f'<link rel="alternate" hreflang="{lang}" href="{url}">' in page
    assert f'<link rel="canonical" href="{BASE}/ar/{SAMPLES[2]}/">' in page
    assert f'<meta property="og:image" content="{BASE}/{SAMPLES[2]}/images/Poster.png">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert f'href="../../en/{SAMPLES[2]}/" hreflang="en"' in page  # The language switcher.
    index = (sample_archive / "zh" / "index.html").read_text("utf-8")
    assert '<link rel="alternate" hreflang="x-default" href="https://news.example.org/">' in index
    assert (
        f'type="application/atom+xml" title="AI Weekly (ATOM)" href="{BASE}/zh/atom.xml"' in index
    )
    assert "往期全部" in index and '<meta property="og:type" content="website">' in index


def test_feeds_parse_and_hold_each_issue_once_with_absolute_urls_and_rfc3339_dates(
    sample_archive: Path,
) -> None:
    expected = {"en": SAMPLES[::2], "zh": SAMPLES[:2], "ar": SAMPLES[2:]}  # No English DECA.
    for locale, slugs in expected.items():
        for kind in ("atom", "rss"):
            data = (sample_archive / locale / f"{kind}.xml").read_bytes()
            feed = feedparser.parse(data)
            assert not feed.bozo, f"{locale}/{kind}: {feed.get('bozo_exception')}"
            links = [entry.link for entry in feed.entries]
            assert sorted(links) == sorted(f"{BASE}/{locale}/{slug}/" for slug in slugs)
            assert len({entry.id for entry in feed.entries}) == len(slugs)
            # Newest first, each with its full text, whose links are absolute.
            dates = [entry.published_parsed for entry in feed.entries]
            assert dates == sorted(dates, reverse=True)
            for entry in feed.entries:
                assert entry.id == entry.link
                content = entry.content[0].value
                assert len(content) > 500
                for url in links_of(content).urls:
                    assert url.startswith(("https://", "http://", "#", "mailto:")), url
            assert feed.feed.link == f"{BASE}/{locale}/"
        atom = (sample_archive / locale / "atom.xml").read_text("utf-8")
        stamps = re.findall(r"<(?:updated|published)>([^<]+)<", atom)
        assert len(stamps) == 1 + 2 * len(slugs)
        assert all(RFC3339.match(stamp) for stamp in stamps), stamps


def test_a_rebuild_rewrites_only_what_depends_on_the_change_and_equals_a_full_build(
    tmp_path: Path,
) -> None:
    project = sample_project(tmp_path / "project")
    out = tmp_path / "public"
    first = build_archive(project, out)
    assert first.issues == 3 and first.rendered == 3
    again = build_archive(project, out)
    assert (again.written, again.removed, again.rendered) == ([], [], 0)

    # A file touched but not changed is not a change.
    translation = project.issues_path / SAMPLES[0] / "issue.zh.md"
    translation.touch()
    assert build_archive(project, out).written == []

    # An edited title: that page, the index and feeds listing it, and the page of the next
    # issue in Chinese, which links it by its title (without being rendered again); nothing in
    # English.
    text = translation.read_text("utf-8")
    translation.write_text(text.replace("title: ", "title: 更新：", 1), "utf-8")
    edited = build_archive(project, out)
    assert edited.rendered == 1
    assert set(edited.written) == {
        f"zh/{SAMPLES[0]}/index.html",
        f"zh/{SAMPLES[1]}/index.html",
        "zh/index.html",
        "zh/atom.xml",
        "zh/rss.xml",
    }
    assert "更新：" in (out / "zh" / "index.html").read_text("utf-8")
    assert tree(out) == tree(_full_build(project, tmp_path / "full-1"))

    # A removed issue takes its pages and files with it; a new one adds its own.
    shutil.rmtree(project.issues_path / SAMPLES[2])
    removed = build_archive(project, out)
    assert f"ar/{SAMPLES[2]}/index.html" in removed.removed
    assert f"{SAMPLES[2]}/images/Poster.png" in removed.removed
    assert not (out / "ar").exists() and not (out / SAMPLES[2]).exists()
    assert tree(out) == tree(_full_build(project, tmp_path / "full-2"))

    # A page changed or deleted by hand is put back.
    (out / "en" / "index.html").write_text("changed", "utf-8")
    (out / "zh" / SAMPLES[0] / "index.html").unlink()
    repaired = build_archive(project, out)
    assert set(repaired.written) == {"en/index.html", f"zh/{SAMPLES[0]}/index.html"}
    assert tree(out) == tree(_full_build(project, tmp_path / "full-3"))


def _full_build(project: Project, out: Path) -> Path:
    report = build_archive(project, out)
    assert report.rendered == report.issues
    return out


def test_only_sent_issues_are_published_and_no_subscriber_data_is(tmp_path: Path) -> None:
    project = make_project(tmp_path, f"eml:{tmp_path / 'outbox'}")
    main = project.issues_path / ISSUE / "issue.md"
    main.write_text(main.read_text("utf-8").replace("status: sent\n", "status: ready\n"), "utf-8")
    code, output = newsletter(project, "archive")
    assert code == 0, output
    out = project.archive_path
    assert "archive: 0 issues" in output
    assert not (out / "en" / ISSUE).exists()
    assert "No issues have been published yet." in (out / "en" / "index.html").read_text("utf-8")

    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    code, output = newsletter(project, "archive")
    assert code == 0 and "archive: 1 issues (1 rendered)" in output, output
    assert (out / "en" / ISSUE / "index.html").is_file()
    assert (out / "zh" / ISSUE / "index.html").is_file()

    # Nothing about the readers, no merge fields, no tokens, no scripts, no tracking pixels.
    everything = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file())
    text = everything.decode("utf-8", "replace")
    for email, name, _ in READERS:
        assert email not in text and name not in text
    for placeholder in PLACEHOLDERS.values():
        assert str(placeholder) not in text
    for marker in ("/unsubscribe/", "/preferences/", "<script", 'width="1"', "utm_"):
        assert marker not in text, marker


def test_bad_input_is_refused_with_one_line_and_nothing_written(tmp_path: Path) -> None:
    project = sample_project(tmp_path)
    out = tmp_path / "public"
    # An issue marked sent without any date, and no send of it recorded.
    (project.issues_path / "notes.md").write_text(
        "---\ntitle: Notes\nstatus: sent\n---\n\nSome notes.\n", "utf-8"
    )
    code, output = newsletter(project, "archive", "--out", str(out))
    assert code == 1
    assert "notes.md" in output and "has no date" in output and "add `date: YYYY-MM-DD`" in output
    assert not (out / "en").exists()

    # A slug that would take the place of a language folder.
    (project.issues_path / "notes.md").write_text(
        "---\ntitle: Notes\nslug: zh\ndate: 2024-06-01\nstatus: sent\n---\n\nSome notes.\n",
        "utf-8",
    )
    code, output = newsletter(project, "archive", "--out", str(out))
    assert code == 1 and "the issue slug 'zh' is taken" in output, output
    assert not (out / "en").exists()

    # Two published issues with one slug: the error `newsletter check` gives, naming both.
    (project.issues_path / "notes.md").write_text(
        f"---\ntitle: Notes\nslug: {SAMPLES[0]}\ndate: 2024-06-01\nstatus: sent\n---\n\nHi.\n",
        "utf-8",
    )
    code, output = newsletter(project, "archive", "--out", str(out))
    assert code == 1, output
    assert f"issue slug '{SAMPLES[0]}' is already used by {SAMPLES[0]}" in output
    assert not (out / "en").exists()

    (project.issues_path / "notes.md").unlink()
    code, output = newsletter(project, "archive", "--out", str(out), "--base-url", "example.org")
    assert code == 1 and "--base-url 'example.org': must be an absolute http(s) URL" in output
    code, output = newsletter(project, "archive", "--out", str(out), "--base-url", "http://x.test")
    assert code == 0, output
    assert '<link rel="canonical" href="http://x.test/en/">' in (out / "en/index.html").read_text()


def test_the_web_app_serves_the_same_archive_and_keeps_it_current(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project(tmp_path, "null:")
    clock = [0.0]
    client = TestClient(create_app(project, monotonic=lambda: clock[0]))
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "exported"))
    assert code == 0, output
    exported = tmp_path / "exported"

    page = client.get(f"/en/{ISSUE}/")
    assert page.status_code == 200
    assert page.content == (exported / "en" / ISSUE / "index.html").read_bytes()
    assert page.headers["cache-control"] == "public, no-cache"
    assert client.get("/").content == (exported / "index.html").read_bytes()
    assert client.get("/zh/atom.xml").content == (exported / "zh" / "atom.xml").read_bytes()
    assert client.get(f"/en/{ISSUE}").status_code == 200  # Redirected to the folder's URL.
    missing = client.get("/en/no-such-issue/")
    assert missing.status_code == 404 and b"Page not found" in missing.content
    assert client.get("/.newsletter-archive.json").status_code == 404
    assert client.get("/subscribe").status_code == 200  # The app's own pages come first.
    slash = client.get("/subscribe/", follow_redirects=False)
    assert slash.status_code == 308 and slash.headers["location"] == "/subscribe"

    # A broken edit is logged and the pages online stay as they were.
    main = project.issues_path / ISSUE / "issue.md"
    original = main.read_text("utf-8")
    main.write_text(original.replace("title: ", "title: Edited: ", 1), "utf-8")
    clock[0] += 3
    with caplog.at_level(logging.ERROR, "newsletter.web.archive"):
        assert client.get("/en/").content == (exported / "en" / "index.html").read_bytes()
    assert "the archive was not updated" in caplog.text and "issue.md:2" in caplog.text

    # A good edit shows once the refresh interval has passed, not before.
    main.write_text(original.replace("title: '", "title: 'Edited: ", 1), "utf-8")
    assert b"Edited: " not in client.get("/en/").content
    clock[0] += 3
    assert b"Edited: The AI Revolution" in client.get("/en/").content


def test_content_hashed_files_are_cached_for_good(tmp_path: Path) -> None:
    project = make_project(tmp_path, "null:")
    main = project.issues_path / ISSUE / "issue.md"
    main.write_text(
        main.read_text("utf-8")
        + "\n![A chart](images/chart.png) [The report](images/report.2024010112.pdf)\n",
        "utf-8",
    )
    (project.issues_path / ISSUE / "images").mkdir()
    (project.issues_path / ISSUE / "images" / "chart.png").write_bytes(b"\x89PNG chart")
    (project.issues_path / ISSUE / "images" / "report.2024010112.pdf").write_bytes(b"%PDF")
    client = TestClient(create_app(project, engine=create_db_engine(database_url(project))))
    page = client.get(f"/en/{ISSUE}/").text
    [hashed] = re.findall(rf"\.\./\.\./{ISSUE}/(images/chart\.[0-9a-f]{{10}}\.png)", page)
    image = client.get(f"/{ISSUE}/{hashed}")
    assert image.status_code == 200 and image.content == b"\x89PNG chart"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/{ISSUE}/images/chart.png").content == b"\x89PNG chart"  # For emails.
    # A name that only looks hashed is not cached for good: its content may change.
    report = client.get(f"/{ISSUE}/images/report.2024010112.pdf")
    assert report.status_code == 200 and report.headers["cache-control"] == "public, no-cache"


def many_issues(root: Path, count: int) -> Project:
    """A project of `count` short single-file issues, one a week, all marked sent."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "newsletter.toml").write_text(
        f'name = "Weekly"\nbase_url = "{BASE}"\nlocales = ["en", "de"]\n', "utf-8"
    )
    (root / "issues").mkdir()
    for number in range(count):
        (root / "issues" / f"issue-{number:03}.md").write_text(
            f"---\ntitle: Issue {number}\ndate: 2020-01-{1 + number % 28:02}\nstatus: sent\n---\n\n"
            f"Lead of issue {number}.\n\n## News\n\n### Story {number}\n\nA [link](https://example.org/{number}).\n",
            "utf-8",
        )
    (root / "issues" / "issue-007.de.md").write_text(
        "---\ntitle: Ausgabe 7\n---\n\nDer Anfang.\n\n## Neues\n\n### Geschichte\n\nText.\n",
        "utf-8",
    )
    return load_project(root / "config" / "newsletter.toml", environ={})


def test_worker_processes_build_the_same_archive_and_report_errors_whole(tmp_path: Path) -> None:
    project = many_issues(tmp_path / "project", 70)
    parallel = build_archive(project, tmp_path / "parallel", workers=2)
    assert parallel.rendered == 70
    assert gc.get_freeze_count() == 0  # Frozen for the fork only: `run` keeps collecting.
    build_archive(project, tmp_path / "serial", workers=1)
    assert tree(tmp_path / "parallel") == tree(tmp_path / "serial")
    assert len(list((tmp_path / "parallel" / "en").glob("page/*/index.html"))) == 3  # 70 / 20
    assert (tmp_path / "parallel" / "de" / "issue-007" / "index.html").is_file()

    broken = project.issues_path / "issue-042.md"
    broken.write_text("---\ntitle: [unclosed\n---\n\nText.\n", "utf-8")
    sent = {"issue-042": datetime(2024, 1, 1, tzinfo=UTC)}  # Sent, so not a draft to skip.
    with pytest.raises(ContentError) as raised:
        build_archive(project, tmp_path / "fresh", workers=2, sent=sent)
    assert raised.value.path == broken and raised.value.line == 2
    assert not (tmp_path / "fresh" / "en").exists()


def test_what_an_issue_links_is_published_only_when_it_is_media_inside_the_site(
    tmp_path: Path,
) -> None:
    project = many_issues(tmp_path / "project", 2)
    issues = project.issues_path
    (issues / "2024-07-01-draft.md").write_text("---\ntitle: Secret draft\n---\n\nSoon.\n")
    (tmp_path / "project" / "newsletter.db").write_bytes(b"SQLite format 3\0 subscribers")
    text = (issues / "issue-001.md").read_text("utf-8")
    (issues / "issue-001.md").write_text(
        text + "\n[Next](2024-07-01-draft.md) [db](../newsletter.db) ![Chart](chart.png)\n"
    )
    out = tmp_path / "public"
    build_archive(project, out)
    published = tree(out)
    assert not any("draft" in path or path.endswith(".db") for path in published)
    assert b"Secret draft" not in b"".join(published.values())

    # The chart was missing; once it is there, a rebuild publishes it as a full build does.
    (issues / "chart.png").write_bytes(b"\x89PNG chart")
    assert build_archive(project, out).rendered == 1
    assert "issue-001/chart.png" in tree(out)
    assert tree(out) == tree(_full_build(project, tmp_path / "full"))


def test_unsafe_slugs_control_characters_and_foreign_folders(tmp_path: Path) -> None:
    project = many_issues(tmp_path / "project", 1)
    rocket = project.issues_path / "rocket.md"
    rocket.write_text(
        "---\ntitle: Launch\nslug: '🚀'\ndate: 2024-07-01\nstatus: sent\n---\n\nGo.\n"
    )
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "out"))
    assert code == 1 and "slug '' cannot name a folder of the archive" in output, output
    assert not (tmp_path / "out" / "en").exists()

    # A vertical tab pasted from a word processor: XML forbids it, the feed leaves it out.
    rocket.write_text("---\ntitle: Launch\ndate: 2024-07-01\nstatus: sent\n---\n\nGo\x0b now.\n")
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert not feedparser.parse((tmp_path / "out" / "en" / "atom.xml").read_bytes()).bozo

    # A folder that holds other files and no archive is not written into (nor cleaned).
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "keep.txt").write_text("mine")
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "site"))
    assert code == 1 and "holds files but no archive built here" in output, output
    assert sorted(p.name for p in (tmp_path / "site").iterdir() if p.name[0] != ".") == ["keep.txt"]
    (tmp_path / "out" / ".newsletter-archive.json").write_text("{not json")
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "out"))
    assert code == 1 and "the state of the last build is unreadable" in output, output


def test_a_broken_draft_is_skipped_but_a_broken_published_issue_stops_the_build(
    tmp_path: Path,
) -> None:
    project = many_issues(tmp_path / "project", 2)
    draft = project.issues_path / "wip.md"
    draft.write_text("---\ntitle: [unclosed\n---\n\nWriting.\n", "utf-8")
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "out"))
    assert code == 0 and "archive: 2 issues" in output, output
    assert "warning: " in output and "wip.md:2: invalid YAML" in output

    published = project.issues_path / "issue-001.md"
    published.write_text("---\ntitle: [unclosed\nstatus: sent\n---\n\nText.\n", "utf-8")
    before = tree(tmp_path / "out")
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "out"))
    assert code == 1 and "issue-001.md:2: invalid YAML" in output, output
    assert tree(tmp_path / "out") == before


def test_an_issue_without_a_date_is_filed_under_the_local_day_its_send_started(
    tmp_path: Path,
) -> None:
    project = many_issues(tmp_path / "project", 1)
    (project.issues_path / "notes.md").write_text("---\ntitle: Notes\n---\n\nSome notes.\n")
    late = datetime(2024, 6, 2, 22, 30, tzinfo=UTC)  # June 3 in Berlin, the configured zone.
    project = replace(
        project, config=project.config.model_copy(update={"timezone": "Europe/Berlin"})
    )
    build_archive(project, tmp_path / "out", sent={"notes": late})
    index = (tmp_path / "out" / "en" / "index.html").read_text("utf-8")
    assert '<time datetime="2024-06-03">June 3, 2024</time>' in index
