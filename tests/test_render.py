"""The rendering pipeline: email HTML as inboxes need it, the text part, the web page, themes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.errors import NewsletterError
from newsletter.render.build import build_issue
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

MONTHLY = "2024-05-07-this-month-in-ai"
DIGEST = "2024-03-27-ai-deca-show"


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    return load_project()


def _render(
    project: Project, slug: str, locale: str, inliner: str = "premailer", theme: str | None = None
):  # type: ignore[no-untyped-def]
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    return Renderer(project, inliner=inliner, theme=theme).render(issue, locale)


@pytest.mark.parametrize("inliner", ["premailer", "css-inline"])
def test_email_keeps_doctype_media_rules_and_gets_inline_styles(
    project: Project, inliner: str
) -> None:
    html = _render(project, MONTHLY, "en", inliner).email_html
    assert html.startswith("<!doctype html>")
    head = html[: html.index("</head>")]
    assert (
        "@media (max-width:480px)" in head.replace(" ", "") or "@media (max-width: 480px)" in head
    )
    assert "prefers-color-scheme: dark" in head or "prefers-color-scheme:dark" in head
    body = html[html.index("<body") :]
    for tag in ("p", "h1", "a"):
        assert re.search(rf"<{tag}\b[^>]*\bstyle=\"[^\"]*color", body), (
            f"no inline colour on <{tag}>"
        )
    assert '<html lang="en" dir="ltr"' in html
    assert "<title>This Month in AI - April 2024</title>" in html


def test_arabic_edition_is_right_to_left_and_translated(project: Project) -> None:
    rendered = _render(project, MONTHLY, "ar")
    assert '<html lang="ar" dir="rtl"' in rendered.email_html
    assert '<html lang="ar" dir="rtl">' in rendered.web_html
    assert "إلغاء الاشتراك" in rendered.email_html and "إلغاء الاشتراك" in rendered.text
    assert "text-align:right" in rendered.email_html.replace(" ", "")
    assert (
        "٧" not in rendered.text and "7 مايو 2024" in rendered.text
    )  # Babel's Arabic uses Latin digits.


def test_every_image_has_alt_and_local_files_become_absolute_in_email(project: Project) -> None:
    rendered = _render(project, MONTHLY, "en")
    for html in (rendered.email_html, rendered.web_html):
        images = re.findall(r"<img\b[^>]*>", html)
        assert images and all(re.search(r"\balt=", image) for image in images)
    assert (
        'src="https://news.example.org/2024-05-07-this-month-in-ai/images/stargate.png"'
        in rendered.email_html
    )
    assert 'src="images/stargate.png"' in rendered.web_html
    assert {path.name for path in rendered.assets} >= {"stargate.png", "Poster.png"}
    assert not re.search(r'(?:href|src)="(?!https?://|mailto:|#|%%nl_)', rendered.email_html)


def test_build_copies_the_web_page_images_beside_it(project: Project, tmp_path: Path) -> None:
    issue = IssueLoader(project.config).load(project.issues_path / MONTHLY)
    (built,) = build_issue(Renderer(project), issue, ["en"], tmp_path)
    assert (built.folder / "web" / "images" / "stargate.png").is_file()
    email = (built.folder / "email.html").read_text(encoding="utf-8")
    assert "%%nl_" not in email and "reader@example.org" in email


def test_raw_html_is_sanitized_for_email(project: Project, tmp_path: Path) -> None:
    post = tmp_path / "issues" / "unsafe.md"
    post.parent.mkdir()
    post.write_text(
        "---\ntitle: Unsafe\n---\n\nLead.\n\n## Story\n\n<script>alert(1)</script>\n\n"
        '<p onclick="steal()">Click <a href="javascript:alert(1)">here</a></p>\n\n'
        '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ?rel=0" title="The video"></iframe>\n',
        encoding="utf-8",
    )
    issue = IssueLoader(project.config).load(post)
    rendered = Renderer(project).render(issue, "en")
    for html in (rendered.email_html, rendered.web_html):
        assert "<script" not in html.replace("<script type=", "") and "alert(1)" not in html
        assert "onclick" not in html and "javascript:" not in html
        assert "<iframe" not in html
        assert (
            '<a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"' in html and "The video" in html
        )


def test_fallback_stories_carry_their_own_language(project: Project) -> None:
    rendered = _render(project, DIGEST, "en")
    assert '<html lang="en"' in rendered.email_html
    assert 'lang="zh"' in rendered.email_html and 'lang="zh"' in rendered.web_html
    assert "Top News" in rendered.email_html  # Translated section names.


def test_chinese_text_part_keeps_words_whole_and_lists_links(project: Project) -> None:
    text = _render(project, DIGEST, "zh").text
    lead = "导读：苹果分享了其多模态模型的详情，Cerebras推出迄今为止最大的人工智能芯片，微软“收购”了Inflection AI，Stability AI首席执行官辞职，等等！"
    assert lead in text.split("\n")  # One line: never broken inside.
    story = next(
        line
        for line in text.split("\n")
        if line.startswith("英伟达在其GTC开发者大会上推出了GR00T，")
    )
    assert story.endswith("链接 [1]")
    assert "[1] https://spectrum.ieee.org/nvidia-gr00t-ros" in text.split("\n")
    assert "热点新闻\n========" in text
    assert "退订: %%nl_unsubscribe_url%%" in text


def test_text_part_wraps_spaced_scripts_at_72_columns(project: Project, tmp_path: Path) -> None:
    issue = IssueLoader(project.config).load(project.issues_path / MONTHLY)
    (built,) = build_issue(Renderer(project), issue, ["en"], tmp_path)
    body = (built.folder / "email.txt").read_text(encoding="utf-8").split("\n")
    # Headings and lines holding a URL are never broken.
    assert max(len(line) for line in body if not line.startswith("##") and "://" not in line) <= 72


def test_a_project_overrides_single_templates(project: Project, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'issues_dir = "issues"\n', encoding="utf-8"
    )
    theme = tmp_path / "templates" / "default"
    theme.mkdir(parents=True)
    (theme / "text.txt.j2").write_text("OVERRIDDEN {{ issue.title }}\n", encoding="utf-8")
    own = load_project(tmp_path / "config" / "newsletter.toml", environ={})
    issue = IssueLoader(own.config).load(project.issues_path / MONTHLY)
    rendered = Renderer(own).render(issue, "en")
    assert rendered.text == "OVERRIDDEN This Month in AI - April 2024\n"
    assert rendered.email_html.startswith(
        "<!doctype html>"
    )  # The rest comes from the built-in theme.


def test_digest_theme_lists_stories_and_shares_the_web_page(project: Project) -> None:
    digest = _render(project, DIGEST, "zh", theme="digest")
    default = _render(project, DIGEST, "zh")
    assert "本期内容" in digest.email_html  # "In this issue", with a table of contents.
    assert digest.email_html.count('class="nl-digest"') == 6
    assert len(digest.email_html) < len(default.email_html)
    assert digest.web_html == default.web_html


def test_missing_theme_and_unknown_inliner_are_errors(project: Project, tmp_path: Path) -> None:
    with pytest.raises(NewsletterError, match="unknown CSS inliner"):
        _render(project, MONTHLY, "en", inliner="magic")
    with pytest.raises(NewsletterError, match="has no de edition"):
        _render(project, MONTHLY, "de")


def test_a_story_link_is_left_out_only_when_the_body_links_the_same_url(
    project: Project, tmp_path: Path
) -> None:
    """The body's parsed links decide, after resolution: a longer URL that starts with the
    story's (a substring), or the URL as text or code, does not stand for the story's link."""
    folder = tmp_path / "issues" / "2024-06-04-links"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text("---\ntitle: Links\n---\n\nLead.\n", encoding="utf-8")
    stories = {
        "01-prefix": (
            "https://example.com/report",
            "See [part two](https://example.com/report/2).",
        ),
        "02-code": ("https://example.com/code", "Run `curl https://example.com/code` now."),
        "03-linked": ("https://example.com/linked", "Read [the post](https://example.com/linked)."),
        "04-relative": ("/about", "More [about us](https://news.example.org/about)."),
        "05-html": (
            "https://example.com/html",
            '<p>See <a href="https://example.com/html">it</a></p>',
        ),
    }
    for name, (url, body) in stories.items():
        (folder / "stories" / f"{name}.md").write_text(
            f"---\ntitle: Story {name}\nurl: {url}\n---\n\n{body}\n", encoding="utf-8"
        )
    issue = IssueLoader(project.config).load(folder)
    rendered = Renderer(project).render(issue, "en")
    links = dict(re.findall(r"^\[(\d+)\] (\S+)$", rendered.text, re.MULTILINE))
    titles = dict(re.findall(r"^## Story (\S+?)(?: \[(\d+)\])?$", rendered.text, re.MULTILINE))
    own = {"01-prefix", "02-code"}  # Stories whose own link the reader would otherwise miss.
    for name, (url, _) in stories.items():
        absolute = f"https://news.example.org{url}" if url.startswith("/") else url
        assert (links.get(titles[name]) == absolute) == (name in own), (name, rendered.text)
        for html in (rendered.email_html, rendered.web_html):
            # The story's part of the page: from its title to the next story's.
            story = next(
                c for c in re.split(r"(?=Story 0\d-)", html) if c.startswith(f"Story {name}")
            )
            read_more = re.search(rf'<a class="nl-link" href="{re.escape(absolute)}"', story)
            assert bool(read_more) == (name in own), (name, story)


def test_html_renderers_set_up_their_shared_parser_once(project: Project) -> None:
    """Every render makes HtmlRenderers on the Renderer's one parser: the first sets its rules,
    later ones leave them alone (a parser in use by another render is never changed)."""
    from newsletter.content.markdown import markdown_parser
    from newsletter.render.html import HtmlRenderer
    from newsletter.render.urls import AssetMap

    parser = markdown_parser()
    assets = AssetMap(ROOT, "https://news.example.org", "https://news.example.org/x/")
    first = HtmlRenderer(parser, assets)
    rules = dict(parser.renderer.rules)
    HtmlRenderer(parser, assets, footnote_links=True)
    assert all(parser.renderer.rules[name] is rule for name, rule in rules.items())
    html = first.render("Text.[^1]\n\n[^1]: A note.\n\n```\ncode\n```\n", ROOT / "x.md")
    assert '<sup class="footnote-ref">[1]</sup>' in html and "<pre><code>code" in html
