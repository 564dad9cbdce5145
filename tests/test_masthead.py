"""The masthead: the newsletter's name, or its logo, at the top of every email (both themes), web
page and archive page; configured once (`logo`, `logo_alt`, `logo_width`), its alt text per
locale, its file published by the archive and linked only from the newsletter's own host."""

from __future__ import annotations

import re
import shutil
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from newsletter.archive.build import build_archive
from newsletter.archive.layout import check_slug
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.errors import ConfigError, ContentError
from newsletter.render.pipeline import Renderer
from newsletter.web.preview import create_app

from .conftest import ROOT
from .test_archive import local_target, tree

BASE = "https://news.example.org"
SLUG = "2024-03-10-ai-revolution-accelerates"  # In English and Chinese.
RTL_SLUG = "2024-05-07-this-month-in-ai"  # In English and Arabic.
THEMES = ["default", "digest"]


def png(colour: str) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (240, 60), colour).save(buffer, "PNG")
    return buffer.getvalue()


def project_with(root: Path, **settings: str) -> Project:
    """The sample project under `root`, with `settings` (TOML values) in its configuration and
    a logo at assets/logo.png."""
    shutil.copytree(ROOT / "config", root / "config")
    shutil.copytree(ROOT / "issues", root / "issues")
    (root / "assets").mkdir()
    (root / "assets" / "logo.png").write_bytes(png("#0a58ca"))
    path = root / "config" / "newsletter.toml"
    text = path.read_text("utf-8")
    for key, value in settings.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    path.write_text(text, "utf-8")
    return load_project(path, environ={})


def emails(project: Project, slug: str, locale: str) -> dict[str, str]:
    """The email of `slug` in `locale` in each theme, and its web page."""
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    found = {}
    for theme in THEMES:
        rendered = Renderer(project, theme=theme).render(issue, locale)
        found[theme] = rendered.email_html
        found["web"] = rendered.web_html
    return found


def test_without_a_logo_the_name_heads_every_email_and_page(tmp_path: Path) -> None:
    project = load_project(ROOT / "config" / "newsletter.toml", environ={})
    for theme, html in emails(project, RTL_SLUG, "ar").items():
        masthead = re.search(
            r'class="nl-masthead".*?<a href="([^"]+)"[^>]*>AI Weekly</a>', html, re.S
        )
        if theme == "web":
            masthead = re.search(r'<a class="nl-masthead" href="([^"]+)">AI Weekly</a>', html)
        assert masthead, f"{theme}: no masthead naming the newsletter"
        assert masthead.group(1) == f"{BASE}/ar/"
        assert masthead.start() < html.index("<h1"), f"{theme}: the masthead is not on top"
        assert "<img" not in html[: masthead.end()] or theme != "web"
    out = tmp_path / "archive"
    build_archive(project, out)
    for page, home in (("en/index.html", "./"), (f"en/{SLUG}/index.html", "../")):
        html = (out / page).read_text("utf-8")
        assert f'<a class="nl-masthead" href="{home}">AI Weekly</a>' in html, page


def test_a_logo_file_is_linked_with_alt_text_per_locale_and_published_by_the_archive(
    tmp_path: Path,
) -> None:
    project = project_with(
        tmp_path / "project",
        logo='"assets/logo.png"',
        logo_alt='{ en = "AI Weekly logo", zh = "AI 周刊" }',
        logo_width="120",
    )
    editions = (
        (SLUG, "en", "AI Weekly logo"),
        (SLUG, "zh", "AI 周刊"),
        (RTL_SLUG, "ar", "AI Weekly"),
    )
    for slug, locale, alt in editions:
        for kind, html in emails(project, slug, locale).items():
            home, logo = f"{BASE}/{locale}/", f"{BASE}/static/logo.png"
            if kind == "web":
                pattern = f'<a class="nl-masthead" href="{home}"><img src="{logo}" alt="{alt}" width="120">'
            else:  # MJML sizes the cell around the image.
                pattern = f'width="120"><a href="{home}"[^>]*><img alt="{alt}"[^>]*src="{logo}"'
            image = re.search(pattern, html)
            assert image, f"{kind} {locale}: no logo linking home with its alt text"
            assert image.start() < html.index("<h1"), f"{kind}: the logo is not on top"
            assert ">AI Weekly</a>" not in html[: html.index("<h1")], "the name and the logo"

    out = tmp_path / "archive"
    build_archive(project, out)
    files = tree(out)
    assert files["static/logo.png"] == (project.root / "assets" / "logo.png").read_bytes()
    (hashed,) = [name for name in files if re.fullmatch(r"static/logo\.[0-9a-f]{10}\.png", name)]
    for page in (
        "en/index.html",
        f"zh/{SLUG}/index.html",
        f"ar/{RTL_SLUG}/index.html",
        "index.html",
    ):
        html = files[page].decode("utf-8")
        source = re.search(r'<a class="nl-masthead"[^>]*><img src="([^"]+)" alt="([^"]+)"', html)
        assert source, page
        target, _ = local_target(out, page, source.group(1))
        assert target == out / hashed, f"{page} links {source.group(1)}"
    assert '<img src="/static/logo.' in files["404.html"].decode("utf-8")  # From the root.

    # A new logo: a new content-hashed name on every page, the old one gone.
    (project.root / "assets" / "logo.png").write_bytes(png("#b3261e"))
    report = build_archive(project, out)
    assert hashed in report.removed and "static/logo.png" in report.written
    assert hashed not in (out / "en" / "index.html").read_text("utf-8")
    assert tree(out) == tree(_full_build(project, tmp_path / "full"))


def _full_build(project: Project, out: Path) -> Path:
    build_archive(project, out)
    return out


def test_a_logo_url_on_base_url_is_linked_as_it_is_and_nothing_is_published(
    tmp_path: Path,
) -> None:
    url = f"{BASE}/brand/logo.png"
    project = project_with(tmp_path / "project", logo=f'"{url}"')
    for theme, html in emails(project, SLUG, "en").items():
        assert re.search(f'<img [^>]*src="{url}"', html), theme
    out = tmp_path / "archive"
    build_archive(project, out)
    assert not (out / "static").exists()
    assert f'<img src="{url}"' in (out / "en" / "index.html").read_text("utf-8")


@pytest.mark.parametrize(
    ("logo", "message"),
    [
        ('"https://cdn.example.com/logo.png"', "on another host than base_url"),
        ('"//cdn.example.com/logo.png"', "on another host than base_url"),
        ('"../logo.png"', "a path inside the project folder"),
        ('"/srv/logo.png"', "a path inside the project folder"),
        ('"assets/logo.txt"', "must be an image"),
    ],
)
def test_a_logo_from_elsewhere_is_refused_when_the_configuration_loads(
    tmp_path: Path, logo: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"newsletter.toml:[0-9]+: logo: .*{message}"):
        project_with(tmp_path, logo=logo)


def test_a_missing_logo_or_one_outside_the_project_is_refused_when_rendering(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="logo_alt: 'ko' is not one of locales"):
        project_with(tmp_path / "alt", logo_alt='{ ko = "로고" }')
    project = project_with(tmp_path / "missing", logo='"assets/missing.png"')
    with pytest.raises(ConfigError, match=r"logo: assets/missing\.png is not a file") as raised:
        Renderer(project)
    assert raised.value.path == project.source and raised.value.hint
    outside = tmp_path / "outside.png"
    outside.write_bytes(png("#000000"))
    project = project_with(tmp_path / "linked", logo='"assets/link.png"')
    (project.root / "assets" / "link.png").symlink_to(outside)
    with pytest.raises(ConfigError, match="is outside the project folder"):
        build_archive(project, tmp_path / "out")
    assert not (tmp_path / "out" / "static").exists()


def test_no_issue_may_take_the_logo_folder_for_its_slug() -> None:
    with pytest.raises(ContentError, match="'static' is taken"):
        check_slug("static", ["en"], Path("issues/static.md"))


def test_the_preview_serves_the_logo(tmp_path: Path) -> None:
    project = project_with(tmp_path, logo='"assets/logo.png"')
    client = TestClient(create_app(project, "http://127.0.0.1:8000"))
    email = client.get(f"/{SLUG}/en/email.html").text
    assert 'src="http://127.0.0.1:8000/static/logo.png"' in email
    image = client.get("/static/logo.png")
    assert image.status_code == 200 and image.content == png("#0a58ca")
    assert client.get("/static/other.png").status_code == 404
