"""`newsletter preview`: the editor's server, with live reload and local images."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from newsletter.config import load_project
from newsletter.web.preview import create_app

from .conftest import ROOT

ORIGIN = "http://127.0.0.1:8000"
SLUG = "2024-05-07-this-month-in-ai"


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A project holding a copy of one sample issue, free to edit."""
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "newsletter.toml", tmp_path / "config" / "newsletter.toml")
    shutil.copytree(ROOT / "issues" / SLUG, tmp_path / "issues" / SLUG)
    return tmp_path


@pytest.fixture
def client(project_copy: Path) -> TestClient:
    project = load_project(project_copy / "config" / "newsletter.toml", environ={})
    return TestClient(create_app(project, ORIGIN))


def test_index_lists_issues_and_their_locales(client: TestClient) -> None:
    page = client.get("/").text
    assert "This Month in AI - April 2024" in page
    assert f'href="/{SLUG}/en/"' in page and f'href="/{SLUG}/ar/"' in page


def test_shell_shows_both_widths_a_locale_switcher_and_reloads(client: TestClient) -> None:
    page = client.get(f"/{SLUG}/ar/").text
    assert 'class="desktop" src="email.html"' in page and 'class="mobile" src="email.html"' in page
    assert f'<a href="/{SLUG}/en/">en</a>' in page and "<span>ar</span>" in page
    assert 'fetch("/__version"' in page


def test_email_text_and_web_are_served_with_local_files(client: TestClient) -> None:
    email = client.get(f"/{SLUG}/en/email.html").text
    assert email.startswith("<!doctype html>")
    assert f'src="{ORIGIN}/{SLUG}/images/stargate.png"' in email
    assert "reader@example.org" in email and "%%nl_" not in email
    text = client.get(f"/{SLUG}/en/email.txt")
    assert text.headers["content-type"].startswith("text/plain") and "This Month in AI" in text.text
    web = client.get(f"/{SLUG}/en/web/").text
    assert 'src="images/stargate.png"' in web
    image = client.get(f"/{SLUG}/en/web/images/stargate.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert client.get(f"/{SLUG}/images/stargate.png").content == image.content


@pytest.mark.parametrize("page", ["", "email.html", "email.txt", "web/"])
@pytest.mark.parametrize(
    "where", [f"{SLUG}/xx", f"{SLUG}/de", f"{SLUG}/EN", f"{SLUG}/zz-QQ", "no-such-issue/en"]
)
def test_an_edition_or_issue_that_does_not_exist_is_not_found(
    project_copy: Path, where: str, page: str
) -> None:
    project = load_project(project_copy / "config" / "newsletter.toml", environ={})
    client = TestClient(create_app(project, ORIGIN), raise_server_exceptions=False)
    response = client.get(f"/{where}/{page}")
    assert response.status_code == 404, response.text
    assert "/" in response.text and "Traceback" not in response.text


def test_files_outside_the_issue_are_not_served(client: TestClient) -> None:
    assert client.get(f"/{SLUG}/..%2F..%2Fconfig%2Fnewsletter.toml").status_code == 404
    assert client.get(f"/{SLUG}/images/missing.png").status_code == 404
    assert client.get("/no-such-issue/images/x.png").status_code == 404


def test_an_edit_changes_the_version_and_the_rendering(
    client: TestClient, project_copy: Path
) -> None:
    before = client.get("/__version").json()["version"]
    assert client.get("/__version").json()["version"] == before  # Stable while nothing changes.
    lead = project_copy / "issues" / SLUG / "issue.md"
    lead.write_text(
        lead.read_text(encoding="utf-8").replace("April 2024 marked", "EDITED: April 2024 marked"),
        encoding="utf-8",
    )
    os.utime(lead, (time.time() + 5, time.time() + 5))
    assert client.get("/__version").json()["version"] != before
    assert "EDITED: April 2024 marked" in client.get(f"/{SLUG}/en/email.html").text


def test_a_broken_file_shows_the_error_and_recovers(client: TestClient, project_copy: Path) -> None:
    issue = project_copy / "issues" / SLUG / "issue.md"
    good = issue.read_text(encoding="utf-8")
    issue.write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    page = client.get(f"/{SLUG}/en/")
    assert page.status_code == 500
    assert "invalid YAML front matter" in page.text and 'fetch("/__version"' in page.text
    issue.write_text(good, encoding="utf-8")
    assert client.get(f"/{SLUG}/en/").status_code == 200


def test_the_page_shows_what_check_finds_and_follows_edits(tmp_path: Path) -> None:
    slug = "2024-03-10-ai-revolution-accelerates"
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "newsletter.toml", tmp_path / "config" / "newsletter.toml")
    shutil.copytree(ROOT / "issues" / slug, tmp_path / "issues" / slug)
    project = load_project(tmp_path / "config" / "newsletter.toml", environ={})
    client = TestClient(create_app(project, ORIGIN))
    page = client.get(f"/{slug}/zh/").text  # Findings of every edition, whichever is shown.
    assert "newsletter check: 0 errors, 2 warnings" in page
    assert f"issues/{slug}/issue.md:2</code>: <bdi>en: subject is 87 characters" in page
    assert "en: preheader is 259 characters; inboxes show 30 to 150" in page
    assert "fix: <bdi>shorten the title</bdi>" in page

    lead = tmp_path / "issues" / slug / "issue.md"
    _edit(lead, "title: 'The AI Revolution Accelerates: A Week", "title: 'A Week")
    page = client.get(f"/{slug}/zh/").text
    assert "subject is" not in page and "newsletter check: 0 errors, 1 warning" in page
    _edit(
        lead,
        "preheader: Explore the transformative",
        "preheader: Sora makes video, Claude 3 reads.\nx-old:",
    )
    page = client.get(f"/{slug}/en/").text
    assert "newsletter check: 0 errors, 0 warnings" in page

    story = next((tmp_path / "issues" / slug / "stories").glob("*.md"))
    _edit(story, "\n\n", "\n\n![A chart](images/missing-chart.png)\n\n")
    page = client.get(f"/{slug}/en/").text
    assert "newsletter check: 1 error, 0 warnings" in page
    assert f"issues/{slug}/stories/{story.name}:" in page and "missing-chart.png" in page


def _edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in `path`, with a modification time the preview notices."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    later = time.time() + 10 + len(text) % 7
    os.utime(path, (later, later))
