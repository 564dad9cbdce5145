"""Per-recipient fields are filled into rendered output by substitution, escaped per part."""

from __future__ import annotations

import pytest

from newsletter.config import load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.merge import (
    FIELDS,
    MergeTemplate,
    escaped,
    html_escape,
    placeholder,
    text_escape,
)
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

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
