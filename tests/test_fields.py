"""Subscriber fields: `{{ subscriber.KEY | default("...") }}` in issue Markdown and templates,
filled per reader by the merge, escaped per part, checked, and shown as samples or defaults
where there is no reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import Markup

from newsletter.config import Project
from newsletter.content.loader import IssueLoader
from newsletter.content.markdown import markdown_parser
from newsletter.content.shortcodes import find_shortcodes
from newsletter.render.fields import EXPRESSION, Field, SubscriberFields, field_value
from newsletter.render.i18n import Localizer
from newsletter.render.merge import MergeTemplate, personalize
from newsletter.render.pipeline import Renderer
from newsletter.render.templates import template_environment

from .conftest import SmtpServer
from .test_delivery import ISSUE, make_project, newsletter, parsed

GREETING = 'Hello {{ subscriber.first_name | default("there") }}!'
COMPANY = "Your company: {{subscriber.company|default('none given')}}."
EVIL = "<script>alert(1)</script> %%nl_unsubscribe_url%%"


def greet(project: Project, *lines: str) -> None:
    """Put `lines` at the start of the lead of every edition of the sample issue."""
    for path in (project.root / "issues" / ISSUE).glob("issue*.md"):
        head, rule, body = path.read_text(encoding="utf-8").rpartition("---\n")
        path.write_text(head + rule + "\n" + "\n\n".join(lines) + "\n\n" + body, encoding="utf-8")


def test_the_syntax_reads_key_and_default_in_either_quotes_and_spacing() -> None:
    found = [
        (m["key"], m["double"] if m["double"] is not None else m["single"])
        for m in EXPRESSION.finditer(
            '{{ subscriber.first_name | default("there") }} {{subscriber.plan-type}} '
            "{{  subscriber.company|default('') }} {{ subscriber.x | default(there) }}"
        )
    ]
    assert found == [("first_name", "there"), ("plan-type", None), ("company", "")]


def test_a_field_placeholder_carries_key_and_default_and_a_malformed_one_stays_text() -> None:
    field = Field("Plan-Type", 'Zoë "free"')
    assert Field.from_name(field.name) == field
    template = MergeTemplate.compile(f"a {field.placeholder} b %%nl_f_zz%% %%nl_f_636%%")
    assert template.fields == (field.name,)
    assert template.fill({field.name: "pro"}) == "a pro b %%nl_f_zz%% %%nl_f_636%%"


def test_values_come_from_attributes_then_the_name_then_the_default() -> None:
    company, first = Field("company", "friend"), Field("first_name", "there")
    assert field_value(company, "Ann", "a@x", {"Company": "ACME"}) == "ACME"
    assert field_value(company, "Ann", "a@x", {"company": None}) == "friend"
    assert field_value(Field("topics"), "", "a@x", {"topics": ["ai", 3]}) == "ai, 3"
    assert field_value(first, "Ann Smith", "a@x", {}) == "Ann"
    assert field_value(first, "Ann Smith", "a@x", {"first_name": "Annie"}) == "Annie"
    assert field_value(first, "", "a@x", {}) == "there"


def test_templates_get_placeholders_in_email_and_defaults_on_pages(tmp_path: Path) -> None:
    environment = template_environment([tmp_path], Localizer("en"))
    source = 'Hi {{ subscriber.first_name | default("there") }} {{ subscriber.plan }}{{ x | default("y") }}'
    template = environment.from_string(source)
    field = Field("first_name", "there")
    email = template.render(subscriber=SubscriberFields(merge=True))
    assert email == f"Hi {field.placeholder} {Field('plan').placeholder}y"
    assert template.render(subscriber=SubscriberFields(merge=False)) == "Hi there y"
    assert Markup(SubscriberFields(merge=True).company) == Field("company").placeholder


def test_markdown_fields_are_placeholders_in_the_email_and_defaults_on_the_web(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[])
    greet(
        project,
        GREETING,
        'Written as code: `{{ subscriber.company }}`; [site](https://example.org/{{ subscriber.company | default("acme") }})',
        "An author's own %%nl_f_636f6d70616e79%% is text.",
    )
    issue = IssueLoader(project.config, project.root).load(project.issues_path / ISSUE)
    rendered = Renderer(project, inliner="css-inline").render(issue, "en")
    again = Renderer(project, inliner="css-inline").render(issue, "en")
    assert (rendered.email_html, rendered.text) == (again.email_html, again.text)  # No nonce.
    placeholder = Field("first_name", "there").placeholder
    assert f"Hello {placeholder}!" in rendered.email_html
    assert f"Hello {placeholder}!" in rendered.text
    assert "{{ subscriber.company }}</code>" in rendered.email_html
    assert 'href="https://example.org/acme"' in rendered.email_html
    assert MergeTemplate.compile(rendered.email_html).fields.count(Field("company").name) == 0
    web = rendered.web_html
    assert "Hello there!" in web and "%%nl_f_" not in web and "Nlf" not in web
    article = Renderer(project).render_article(issue, "en")
    assert "Hello there!" in article and "%%nl_f_" not in article
    email, text = personalize(rendered.email_html, rendered.text, {})
    assert "Hello there!" in email and "Hello there!" in text  # The preview's samples.


@pytest.fixture
def readers(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", readers=[], fields='["company"]'
    )
    greet(project, GREETING, COMPANY)
    rows = [
        "email,name,locale,company,first_name",
        "ann@example.org,Ann Smith,en,ACME,",
        "bob@example.org,Bob Jones,en,,",
        'eve@example.org,Eve,en,"' + EVIL + '",',
        "wei@example.cn,张伟,zh,ACME,伟",
    ]
    csv = project.root / "readers.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, output = newsletter(
        project, "subscribers", "import", str(csv), "--map", "first_name=attribute"
    )
    assert code == 0, output
    return project


def test_a_send_fills_each_readers_fields_escaped_per_part(
    readers: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(readers, "send", ISSUE)
    assert code == 0, output
    parts = {}
    for received in smtp_server.received:
        message = parsed(received.data)
        html, text = (message.get_body((kind,)) for kind in ("html", "plain"))
        assert html is not None and text is not None
        encodings = {html["Content-Transfer-Encoding"], text["Content-Transfer-Encoding"]}
        parts[received.recipients[0]] = (html.get_content(), text.get_content(), encodings)
    ann_html, ann_text, ann_encoding = parts["ann@example.org"]
    assert "Hello Ann!" in ann_html and "Your company: ACME." in ann_html
    assert "Hello Ann!" in ann_text and "Your company: ACME." in ann_text
    assert ann_encoding == {"quoted-printable"}
    bob_html, bob_text, _ = parts["bob@example.org"]
    assert "Your company: none given." in bob_html and "Your company: none given." in bob_text
    eve_html, eve_text, _ = parts["eve@example.org"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; %%nl_unsubscribe_url%%" in eve_html
    assert "<script>" not in eve_html
    assert f"Your company: {EVIL}." in eve_text.splitlines()  # One line, as given.
    wei_html, wei_text, wei_encoding = parts["wei@example.cn"]
    assert wei_encoding == {"base64"}
    assert "Hello 伟!" in wei_html and "Your company: ACME." in wei_html
    assert "Hello 伟!" in wei_text and "%%nl_" not in wei_text + wei_html


def test_a_test_send_and_a_build_show_sample_values(
    readers: Project, smtp_server: SmtpServer
) -> None:
    greet(readers, "Plan: {{ subscriber.company | default('') }}[{{ subscriber.email }}]")
    code, output = newsletter(readers, "send", ISSUE, "--test", "editor@example.net")
    assert code == 0, output
    text = parsed(smtp_server.received[0].data).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello there!" in text and "Your company: none given." in text
    assert "Plan: [reader@example.org]" in text  # A sample, like the build.
    code, output = newsletter(readers, "build", ISSUE, "--out", str(readers.root / "out"))
    assert code == 0, output
    built = (readers.root / "out" / ISSUE / "en" / "email.txt").read_text(encoding="utf-8")
    assert "Hello there!" in built and "Plan: [reader@example.org]" in built


CHECKED = """---
title: Hi {{ subscriber.first_name | default("you") }}
date: 2024-03-10
---

Hello {{ subscriber.first_name }}.

Your {{ subscriber.compnay | default("firm") }}, {{ subscriber.company | default(firm) }}.

See [the page](https://example.org/?c={{ subscriber.company | default("x") }}).

Fine: {{ subscriber.company | default("x") }}, {{ subscriber.email }}, `{{ subscriber.nope }}`.
"""


def test_check_reports_each_kind_of_field_mistake_at_its_line(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[], fields='["company"]')
    folder = project.root / "issues" / "2024-04-01-fields"
    folder.mkdir()
    (folder / "issue.md").write_text(CHECKED, encoding="utf-8")
    code, output = newsletter(project, "check", "2024-04-01-fields")
    assert code == 1
    flat = " ".join(output.split())
    assert "issue.md:2: the title holds a subscriber field" in flat
    assert "issue.md:6: subscriber.first_name has no default" in flat
    assert "issue.md:8: subscriber.compnay: 'compnay' is not a subscriber field" in flat
    assert "add it to fields in config/newsletter.toml, or correct the spelling" in flat
    assert "issue.md:8: malformed subscriber field" in flat
    assert "issue.md:10: subscriber.company stands in a link or image address" in flat
    assert "issue.md:12" not in flat and "shortcode" not in flat
    assert flat.count("error:") == 5, output


def test_check_names_the_template_of_a_wrong_field(tmp_path: Path, smtp_server: SmtpServer) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[])
    theme = project.root / "templates" / "default"
    theme.mkdir(parents=True)
    builtin = Path(__file__).resolve().parent.parent / "templates" / "default" / "text.txt.j2"
    text = builtin.read_text(encoding="utf-8")
    (theme / "text.txt.j2").write_text("{{ subscriber.plan }}\n" + text, encoding="utf-8")
    code, output = newsletter(project, "check", ISSUE)
    flat = " ".join(output.split())
    assert code == 1
    assert "en: template text.txt.j2: subscriber.plan: 'plan' is not a subscriber field" in flat
    assert "en: template text.txt.j2: subscriber.plan has no default" in flat


def test_shortcodes_leave_subscriber_fields_to_their_own_check() -> None:
    parser = markdown_parser()
    found = find_shortcodes(parser, "{{ site.baseurl }} {{ subscriber.company | default('x') }}")
    assert [shortcode.name for shortcode in found] == ["site.baseurl"]
