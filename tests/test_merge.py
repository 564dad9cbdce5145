"""Per-recipient fields are filled into rendered output by substitution, escaped per part."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.merge import (
    FIELDS,
    MergeTemplate,
    escaped,
    header_escape,
    html_escape,
    placeholder,
    text_escape,
)
from newsletter.render.pipeline import Renderer

from .conftest import ROOT, SmtpServer
from .test_delivery import make_project, newsletter, parsed

VALUES = {
    "name": 'Zoë <script>alert("x")</script> & Co',
    "email": "zoe+news@example.org",
    "unsubscribe_url": "https://news.example.org/u/abc?token=1&x=2",
    "preferences_url": "https://news.example.org/p/abc",
    "web_url": "https://news.example.org/en/issue/",
}


def test_fill_replaces_every_placeholder_and_keeps_the_rest() -> None:
    template = MergeTemplate.compile(
        f'Hi {placeholder("name")}! <a href="{placeholder("unsubscribe_url")}">x</a> %%nl_other%% 100%'
    )
    html = template.fill(escaped(VALUES, html_escape))
    assert html == (
        'Hi Zoë &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co! <a href="https://news.example.org/u/abc?token=1&amp;x=2">x</a> %%nl_other%% 100%'
    )
    text = MergeTemplate.compile(f"Hi {placeholder('name')}").fill(
        escaped({**VALUES, "name": "Ann\nBcc: evil"}, text_escape)
    )
    assert text == "Hi Ann Bcc: evil"


def test_rendered_email_is_merged_without_re_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    project = load_project()
    issue = IssueLoader(project.config).load(
        project.issues_path / "2024-03-10-ai-revolution-accelerates"
    )
    rendered = Renderer(project, inliner="css-inline").render(issue, "en")
    html_template = MergeTemplate.compile(rendered.email_html)
    text_template = MergeTemplate.compile(rendered.text)
    assert set(html_template.fields) == {"email", "unsubscribe_url", "preferences_url", "web_url"}
    assert set(text_template.fields) == {"email", "unsubscribe_url", "preferences_url", "web_url"}
    for number in range(3):
        values = {**VALUES, "email": f"reader{number}@example.org"}
        html = html_template.fill(escaped(values, html_escape))
        text = text_template.fill(escaped(values, text_escape))
        assert "%%nl_" not in html and "%%nl_" not in text
        assert f"reader{number}@example.org" in html and f"reader{number}@example.org" in text
        assert 'href="https://news.example.org/u/abc?token=1&amp;x=2"' in html
        assert "https://news.example.org/u/abc?token=1&x=2" in text
    assert set(FIELDS) >= set(html_template.fields)


def test_bytes_templates_merge_into_encoded_output() -> None:
    html = f"<p>{placeholder('email')} · 中文 · {placeholder('web_url')}</p>".encode()
    template = MergeTemplate.compile(html)
    values = {field: value.encode() for field, value in escaped(VALUES, html_escape).items()}
    assert (
        template.fill(values)
        == "<p>zoe+news@example.org · 中文 · https://news.example.org/en/issue/</p>".encode()
    )
    assert template.fields == ("email", "web_url")


def test_header_values_cannot_inject_headers() -> None:
    assert header_escape("Ann\r\nBcc: victim@example.org") == "Ann Bcc: victim@example.org"


STORY_WITH_PLACEHOLDERS = """---
title: "How merging works: %%nl_name%%"
date: 2024-07-02
lang: en
status: ready
---

Our templates write %%nl_email%% and %%nl_unsubscribe_url%% where each reader's values go;
as a character reference: &#37;%nl_preferences_url%%.

A guest link: <a href="https://tracker.example/?e=%%nl_email%%">the survey</a>.

    code: %%nl_name%%
"""


def test_a_story_never_gets_a_readers_values_only_the_template_does(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", readers=[("ada@example.org", "Ada", "en")]
    )
    slug = "2024-07-02-placeholders"
    (project.root / "issues" / f"{slug}.md").write_text(STORY_WITH_PLACEHOLDERS, "utf-8")
    code, output = newsletter(project, "send", slug)
    assert code == 0, output
    [received] = smtp_server.received
    message = parsed(received.data)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        shown = part.replace("\u2060", "")  # What a reader sees.
        assert "Our templates write %%nl_email%% and %%nl_unsubscribe_url%% where" in shown
        assert "%%nl_preferences_url%%." in shown
        assert "code: %%nl_name%%" in shown
        assert "How merging works: %%nl_name%%" in shown
        assert "tracker.example/?e=ada" not in part and "e=ada%40" not in part
        # The template's own placeholders are filled: the footer's links.
        assert "/unsubscribe/" in part and "ada@example.org" in part
