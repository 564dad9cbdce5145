"""Raw HTML, autolinks and bare URLs in a story's Markdown, as the text part shows them.

The text part treats an `<a href>` written in HTML like a Markdown link (its label, a number,
the URL in the list of links), shows an `<img>` by its alt text and never shows a tag. A URL
written as text (a bare URL, an autolink, a link labelled with its own URL) is never left in
the running text: its host stands there with the number, the URL in the list.

Each message is sent for real (SMTP to 127.0.0.1) and read back with Python's `email` package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.config import Project
from newsletter.render.text_html import text_urls

from .conftest import SmtpServer
from .test_delivery import make_project, newsletter, parsed
from .test_text_links import OWN_LINE, URL

SLUG = "2024-07-01-raw-html"
LONG = "https://long.example/" + "/".join(f"segment-{n}-of-a-very-long-path" for n in range(4))
STORY = f"""---
title: Raw HTML week
date: 2024-07-01
lang: en
status: ready
---

Intro with an inline <a href="https://inline.example/a?x=1&amp;y=2">inline label</a> link
and a line<br>break, and <A HREF='https://upper.example/u'>upper case</A> tags.

<p>See <a href="https://block.example/b">the block link</a> and
<img src="https://img.example/c.png" alt="a chart"> here.</p>

<div class="note">
  <a href=https://unquoted.example/q>unquoted</a><br/>
  <img src="https://img.example/noalt.png">
  <script>alert("never")</script>
  <ul><li>first <a href="https://li.example/1">item</a></li><li>second</li></ul>
</div>

An autolink <https://auto.example/d> and a bare URL https://bare.example/e?x=1 in text,
an endpoint in code `https://api.example/v1` and a command `curl -s https://get.example`.
A [link labelled with itself](https://self.example/s) and [https://self.example/t](https://self.example/t).

A [reference link][ref] and a [long one]({LONG}).

[ref]: https://ref.example/f

| Name | Link |
|---|---|
| Tool | [site](https://table.example/g) and <a href="https://tablehtml.example/h">raw</a> |
| Bare | https://tablebare.example/x |

- item with <a href="https://list.example/i">a link</a>
- bare https://listbare.example/j, then text

> quoted <a href="https://quote.example/k">link</a> and https://quotebare.example/l
>
> <p>quoted block <a href="https://quoteblock.example/m">here</a></p>

<pre class="wp-block-code"><code>def main():
    print("a &lt; b")   # kept
</code></pre>

<iframe src="https://www.youtube.com/embed/abc123?rel=0" title="The demo video"></iframe>

<a href="javascript:alert(1)">no script</a> and <a href="#top">an anchor</a>.
"""

EXPECTED = {
    "inline label": "https://inline.example/a?x=1&y=2",
    "upper case": "https://upper.example/u",
    "the block link": "https://block.example/b",
    "unquoted": "https://unquoted.example/q",
    "item": "https://li.example/1",
    "auto.example": "https://auto.example/d",
    "bare.example": "https://bare.example/e?x=1",
    "api.example": "https://api.example/v1",
    "link labelled with itself": "https://self.example/s",
    "self.example": "https://self.example/t",
    "reference link": "https://ref.example/f",
    "long one": LONG,
    "site": "https://table.example/g",
    "raw": "https://tablehtml.example/h",
    "tablebare.example": "https://tablebare.example/x",
    "a link": "https://list.example/i",
    "listbare.example": "https://listbare.example/j",
    "quoted link": "https://quote.example/k",
    "quotebare.example": "https://quotebare.example/l",
    "here": "https://quoteblock.example/m",
    "The demo video": "https://www.youtube.com/watch?v=abc123",
}


@pytest.fixture
def text(tmp_path: Path, smtp_server: SmtpServer) -> str:
    project: Project = make_project(
        tmp_path,
        f"{smtp_server.url}?connections=1",
        readers=[("ada@example.org", "Ada", "en")],
        tracking='"off"',  # The links as written (tests/test_tracking_links.py: tracked).
    )
    (project.root / "issues" / f"{SLUG}.md").write_text(STORY, encoding="utf-8")
    code, output = newsletter(project, "send", SLUG)
    assert code == 0, output
    [received] = smtp_server.received
    part = parsed(received.data).get_body(("plain",))
    assert part is not None
    assert part["Content-Transfer-Encoding"] == "quoted-printable"  # The long URL is split.
    assert f"] {LONG}".encode() not in received.data
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_raw_html_in_a_story_shows_no_tag_in_the_text_part(text: str) -> None:
    assert not re.search(r"</?[a-zA-Z][^>]*>", text), text
    assert "alert" not in text
    assert "[a chart]" in text
    assert "no script" in text and "an anchor" in text
    assert '\n    def main():\n        print("a < b")   # kept\n' in text


def test_every_link_of_a_story_is_numbered_and_its_url_stands_on_its_own_line(text: str) -> None:
    body, _, listing = text.partition("\nLinks\n")
    listed = dict(re.findall(r"^\[(\d+)\] (\S+)$", listing, re.MULTILINE))
    for line in text.splitlines():
        if URL.search(line):
            # Code keeps what it says: a command that holds a URL is copied as it is.
            assert OWN_LINE.fullmatch(line) or "`curl -s https://get.example`" in line, line
    flat = " ".join(body.replace(">", " ").split())
    for label, url in EXPECTED.items():
        found = re.search(rf"(?<![\w.]){re.escape(label)} \[(\d+)\]", flat)
        assert found, f"{label!r} has no number in {flat!r}"
        assert listed[found[1]] == url, (label, listed[found[1]])
    assert "javascript" not in text
    assert len(set(listed.values())) == len(listed)


def test_urls_written_in_titles_and_summaries_are_numbered_too(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(
        tmp_path,
        f"{smtp_server.url}?connections=1",
        readers=[("ada@example.org", "Ada", "en")],
        tracking='"off"',  # The links as written (tests/test_tracking_links.py: tracked).
    )
    folder = project.root / "issues" / "2024-07-03-fields"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\ntitle: Notes from https://conf.example/2024\nsubtitle: Slides at "
        "https://slides.example/s.\ndate: 2024-07-03\nlang: en\nstatus: ready\n"
        "cta: {text: 'Register at https://reg.example/now', url: 'https://cta.example/go'}\n"
        "footer: 'Sponsored by [Acme](https://acme.example/).'\n---\n\nThe lead.\n",
        encoding="utf-8",
    )
    (folder / "stories" / "01-mirror.md").write_text(
        "---\ntitle: A mirror at https://mirror.example/m\nurl: https://story.example/s\n"
        "summary: Source https://summary.example/x?y=1, via a friend.\n---\n\nThe body.\n",
        encoding="utf-8",
    )
    code, output = newsletter(project, "send", folder.name)
    assert code == 0, output
    [received] = smtp_server.received
    part = parsed(received.data).get_body(("plain",))
    assert part is not None
    text = str(part.get_content()).replace("\r\n", "\n")
    for line in text.splitlines():
        if URL.search(line):
            assert OWN_LINE.fullmatch(line), f"a URL shares its line: {line!r}"
    listed = dict(re.findall(r"^\[(\d+)\] (\S+)$", text.partition("\nLinks\n")[2], re.MULTILINE))
    for label, url in {
        "Notes from conf.example": "https://conf.example/2024",
        "Slides at slides.example": "https://slides.example/s",
        "A mirror at mirror.example": "https://mirror.example/m",
        "Source summary.example": "https://summary.example/x?y=1",
        "Register at reg.example": "https://reg.example/now",
        "Acme": "https://acme.example/",
    }.items():
        found = re.search(rf"{re.escape(label)} \[(\d+)\]", text)
        assert found, (label, text)
        assert listed[found[1]] == url
    assert "via a friend." in text
    # Numbers follow the reading order: the call to action's link, then the footer's.
    assert re.search(r"reg\.example \[(\d+)\] \[(\d+)\]", text)
    numbers = [int(n) for n in re.findall(r"(?<=\S) \[(\d+)\]", text)]
    assert numbers == sorted(numbers), numbers


@pytest.mark.parametrize(
    ("text", "shown", "url"),
    [
        ("See https://x.example/a.", "See x.example [1].", "https://x.example/a"),
        ("(at https://x.example/a_(b))", "(at x.example [1])", "https://x.example/a_(b)"),
        ("详见https://x.example/a，然后", "详见x.example [1]，然后", "https://x.example/a"),
        ("「https://x.example/jp」です", "「x.example [1]」です", "https://x.example/jp"),
        ("https://www.example.org/p?q=1!", "example.org [1]!", "https://www.example.org/p?q=1"),
        (
            "Type https://. then https://x.example",
            "Type https://. then x.example [1]",
            "https://x.example",
        ),
    ],
)
def test_a_url_in_running_text_ends_where_the_sentence_goes_on(
    text: str, shown: str, url: str
) -> None:
    urls: list[str] = []

    def reference(found: str) -> str:
        urls.append(found)
        return f" [{len(urls)}]"

    assert text_urls(text, reference) == shown
    assert urls == [url]
