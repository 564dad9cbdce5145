"""Control characters and terminal output: never in the email, web page or text part; colours
of terminal output as spans; an email MJML refuses is blamed on the story and line at fault."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.errors import NewsletterError
from newsletter.render.controls import strip_controls, terminal_html
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

ESC = "\x1b"
# What `pytest --color=yes` prints: bold, colours, a reset, erase-line, a hyperlink (OSC 8),
# a charset switch, 256-colour and RGB colours.
TERMINAL = (
    f"{ESC}[1m===== test session starts ====={ESC}[0m\n"
    f"tests/test_a.py {ESC}[32m.{ESC}[0m{ESC}[31mF{ESC}[0m{ESC}[2K\n"
    f"{ESC}]8;;https://example.com/docs{ESC}\\docs{ESC}]8;;{ESC}\\ {ESC}(Bplain\n"
    f"{ESC}[38;5;208mwarning{ESC}[39m {ESC}[38;2;0;0;255mblue{ESC}[0m {ESC}[1;91mFAILED{ESC}[22m done\n"
)
INVALID = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0010ffff]"
)


def _project(root: Path) -> Project:
    (root / "config").mkdir()
    (root / "config" / "newsletter.toml").write_text(
        'name = "Test Weekly"\nbase_url = "https://news.example.org"\nlocales = ["en"]\n'
        'issues_dir = "issues"\n',
        encoding="utf-8",
    )
    return load_project(root / "config" / "newsletter.toml", environ={})


def _terminal_issue(root: Path) -> Path:
    folder = root / "issues" / "2024-06-04-terminal"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\ntitle: Terminal output\nstatus: ready\n---\n\nWhat the tests said.\n",
        encoding="utf-8",
    )
    fenced = "\n".join(f"    {line}" for line in TERMINAL.splitlines())
    (folder / "stories" / "01-tests.md").write_text(
        "---\ntitle: The test run\nurl: https://example.com/run\n---\n\n"
        f"Fenced:\n\n```console\n{TERMINAL}```\n\nIndented:\n\n{fenced}\n\n"
        f"> Quoted:\n>\n> ```\n> {ESC}[33mcareful{ESC}[0m\n> ```\n",
        encoding="utf-8",
    )
    return folder


def _newsletter(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(project.source), *args])
    return result.exit_code, result.output


def test_check_passes_and_build_renders_terminal_colours(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _terminal_issue(tmp_path)
    code, output = _newsletter(project, "check", "2024-06-04-terminal")
    assert code == 0, output
    assert "0 errors" in output
    code, output = _newsletter(
        project, "build", "2024-06-04-terminal", "--out", str(tmp_path / "out")
    )
    assert code == 0, output
    folder = tmp_path / "out" / "2024-06-04-terminal" / "en"
    email = (folder / "email.html").read_text(encoding="utf-8")
    web = (folder / "web" / "index.html").read_text(encoding="utf-8")
    text = (folder / "email.txt").read_text(encoding="utf-8")
    for page in (email, web):
        assert not INVALID.search(page)
        assert "[0m" not in page and "[31m" not in page and "8;;" not in page
        assert page.count('class="nl-terminal"') == 3  # Fenced, indented, quoted.
        assert re.search(r'<span class="nl-ansi-2"[^>]*>\.</span>', page)
        assert re.search(r'<span class="nl-ansi-1"[^>]*>F</span>', page)
        assert re.search(r'<span class="nl-ansi-9 nl-ansi-bold"[^>]*>FAILED</span>', page)
        assert "docs (Bplain" not in page and "docs plain" in page
    assert 'style="color:#ff7b72' in email.replace("; ", ";")  # Inlined for mail clients.
    assert not INVALID.search(text) and "[0m" not in text and "8;;" not in text
    assert "    tests/test_a.py .F" in text and "    warning blue FAILED done" in text


def test_no_part_of_an_issue_gets_a_control_character_through(tmp_path: Path) -> None:
    project = _project(tmp_path)
    folder = tmp_path / "issues" / "2024-06-05-controls"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        '---\ntitle: "Bell\\a and \\x1b[1mbold\\x1b[0m title"\n'
        'subtitle: "Sub\\x7ftitle \\x85"\npreheader: "Pre\\x0cheader for inboxes, long enough here"\n'
        'authors: ["Ada\\x00 Lovelace"]\ntags: ["t\\x01ag"]\n'
        'cta: {text: "Read\\x1b[31m now", url: "https://example.com/\\x1b[0m"}\n'
        'sponsor: "Acme\\x08 Inc \\ufdd0 \\U0010FFFF"\nstatus: ready\n---\n\n'
        f"Lead with {ESC}[31mcolour{ESC}[0m and &#27;[32mentities&#x7f; &#xFFFE; \x0b.\n",
        encoding="utf-8",
    )
    (folder / "stories" / "01-story.md").write_text(
        '---\ntitle: "Story \\x1b]0;window title\\a title"\nurl: https://example.com/s\n---\n\n'
        f"Body {ESC}[1mbold{ESC}[0m text\x00 and `code {ESC}[31minline{ESC}[0m`.\n",
        encoding="utf-8",
    )
    # JSON front matter can even hold a lone surrogate (which no UTF-8 file can).
    (folder / "stories" / "02-json.md").write_text(
        '{"title": "JSON story", "summary": "Summary \\ud800 with a lone surrogate \\u009b31m"}\n\n'
        "Body.\n",
        encoding="utf-8",
    )
    issue = IssueLoader(project.config).load(folder)
    rendered = Renderer(project).render(issue, "en")
    for output in (rendered.email_html, rendered.web_html, rendered.text, rendered.preheader):
        assert not INVALID.search(output), INVALID.findall(output)
        assert "[1m" not in output and "[31m" not in output  # (`&#27;[32m` is text as written.)
    assert rendered.subject == "Bell and bold title"
    assert "Body bold text and" in rendered.text and "code inline" in rendered.text
    assert "Story  title" in rendered.email_html and "window title" not in rendered.email_html
    assert "Acme Inc" in strip_controls("Acme\x08 Inc")


def test_characters_beyond_the_basic_plane_are_kept_but_noncharacters() -> None:
    """Names in CJK Extension B (𠀀, U+20000) and emoji are text; U+1FFFE and U+10FFFF are not."""
    text = "王𠀀明 😀 \U0001fffe\U0002ffff\U0010ffff ok\tnow\n"
    assert strip_controls(text) == "王𠀀明 😀  ok\tnow\n"
    assert strip_controls("𠀀" * 3) == "𠀀" * 3


def test_terminal_colours_and_sequences_become_spans_or_nothing() -> None:
    assert (
        terminal_html(f"{ESC}[31mred{ESC}[0m plain") == '<span class="nl-ansi-1">red</span> plain'
    )
    assert terminal_html(f"{ESC}[1;34mbold blue{ESC}[22m blue{ESC}[39m") == (
        '<span class="nl-ansi-4 nl-ansi-bold">bold blue</span><span class="nl-ansi-4"> blue</span>'
    )
    assert terminal_html(f"{ESC}[38;5;196mx{ESC}[38;5;21my{ESC}[38;5;250mz") == (
        '<span class="nl-ansi-9">x</span><span class="nl-ansi-4">y</span>'
        '<span class="nl-ansi-7">z</span>'
    )
    assert terminal_html(f"{ESC}[38;2;0;205;0;1mg{ESC}[48;5;1m<b>{ESC}[m") == (
        '<span class="nl-ansi-2 nl-ansi-bold">g</span>'
        '<span class="nl-ansi-2 nl-ansi-bold">&lt;b&gt;</span>'
    )


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS `rgb(r, g, b)` colours."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_terminal_colours_are_readable_in_both_colour_schemes(
    tmp_path: Path, browser: Browser, scheme: str
) -> None:
    project = _project(tmp_path)
    _terminal_issue(tmp_path)
    (tmp_path / "issues" / "2024-06-04-terminal" / "stories" / "02-palette.md").write_text(
        "---\ntitle: Every colour\n---\n\n```\n"
        + "".join(
            f"{ESC}[{code}mcolour {code}{ESC}[0m\n" for code in [*range(30, 38), *range(90, 98)]
        )
        + "```\n",
        encoding="utf-8",
    )
    issue = IssueLoader(project.config).load(tmp_path / "issues" / "2024-06-04-terminal")
    rendered = Renderer(project).render(issue, "en")
    page = browser.new_page(color_scheme=scheme)  # type: ignore[arg-type]
    try:
        for html in (rendered.email_html, rendered.web_html):
            page.set_content(html)
            pairs = page.eval_on_selector_all(
                "pre.nl-terminal span",
                """spans => spans.map(span => {
                    let box = span;
                    while (box && getComputedStyle(box).backgroundColor === 'rgba(0, 0, 0, 0)') box = box.parentElement;
                    return [span.textContent, getComputedStyle(span).color, getComputedStyle(box).backgroundColor];
                })""",
            )
            colours = {colour for _, colour, _ in pairs}
            assert len(colours) >= 16, colours  # The 16 colours (and 256/RGB ones mapped).
            for text, colour, background in pairs:
                assert _contrast(colour, background) >= 4.5, (scheme, text, colour, background)
    finally:
        page.close()


def test_an_email_mjml_refuses_names_the_story_and_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    folder = _terminal_issue(tmp_path)
    (folder / "stories" / "02-html-summary.md").write_text(
        "---\ntitle: A summary with markup\nurl: https://example.com/x\n"
        "summary: Costs <b>less than you think\n---\n\nBody.\n",
        encoding="utf-8",
    )
    theme = tmp_path / "templates" / "default"
    theme.mkdir(parents=True)
    # A project theme that lets summaries carry HTML: an unclosed tag then breaks the MJML.
    original = (ROOT / "templates" / "default" / "email.mjml.j2").read_text(encoding="utf-8")
    (theme / "email.mjml.j2").write_text(
        original.replace("{{ story.summary }}", "{{ story.summary | safe }}"), encoding="utf-8"
    )
    issue = IssueLoader(project.config).load(folder)
    with pytest.raises(NewsletterError) as raised:
        Renderer(project).render(issue, "en")
    error = raised.value
    assert error.path == folder / "stories" / "02-html-summary.md" and error.line == 4
    assert "story's summary" in error.message
    code, output = _newsletter(
        project, "build", "2024-06-04-terminal", "--out", str(tmp_path / "o")
    )
    assert code == 1 and "02-html-summary.md:4" in output and "Traceback" not in output

    # A theme whose own tags are broken is still blamed on the theme.
    (theme / "email.mjml.j2").write_text(original.replace("</mj-wrapper>", ""), encoding="utf-8")
    with pytest.raises(NewsletterError, match="check the theme's MJML tags") as raised:
        Renderer(project).render(IssueLoader(project.config).load(folder), "en")
    assert raised.value.path is None


def test_a_theme_file_copied_from_the_samples_still_renders(tmp_path: Path) -> None:
    """The sample issues, whose code blocks hold no escapes, render exactly as before."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "issues", tmp_path / "issues")
    project = load_project(tmp_path / "config" / "newsletter.toml", environ={})
    for folder in sorted((tmp_path / "issues").iterdir()):
        issue = IssueLoader(project.config).load(folder)
        assert "nl-terminal" not in Renderer(project).render(issue, issue.default_locale).email_html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Price\x9bHello world", "PriceHello world"),  # U+009B alone: not a CSI eating "H".
        ("Menu \x9b31m text", "Menu 31m text"),
        ("It\x92s a \x93quote\x94 \x96 fine", "Its a quote  fine"),  # cp1252 read as Latin-1.
        ("OSC\x9d rest of the line", "OSC rest of the line"),
        ("DCS\x90 rest\x9c after", "DCS rest after"),
        (f"{ESC}[31mred{ESC}[0m and {ESC}]0;title{ESC}\\ gone", "red and  gone"),
    ],
)
def test_a_c1_control_is_removed_alone_and_escape_sequences_whole(text: str, expected: str) -> None:
    assert strip_controls(text) == expected


def test_check_judges_the_text_the_build_renders(tmp_path: Path) -> None:
    project = _project(tmp_path)
    folder = tmp_path / "issues" / "2024-06-06-cleaned"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        '---\ntitle: "Build \\x1b[1mbold\\x1b[0m\\a title \\x9b done"\nstatus: ready\n'
        'preheader: "A preheader\\x00 that the build cleans, long enough for inboxes"\n---\n\n'
        f"Lead with {ESC}[31mcolour{ESC}[0m outside code and \x9bCSI alone.\n"
        "A note that is nowhere.[^nope]\n",
        encoding="utf-8",
    )
    (folder / "stories" / "01-story.md").write_text(
        f'---\ntitle: "Story\\x85 title"\nurl: "https://example.com/s\\x1b[0m"\n---\n\n'
        f"See [the docs](https://example.com/docs{ESC}[0m) and ![a chart{ESC}[1m](chart.png).\n",
        encoding="utf-8",
    )
    shutil.copy(
        ROOT / "issues" / "2024-05-07-this-month-in-ai" / "images" / "amazon.png",
        folder / "stories" / "chart.png",
    )
    code, output = _newsletter(project, "check", "2024-06-06-cleaned")
    assert code == 0, output
    assert "0 errors" in output and "control" not in output, output
    assert "issues/2024-06-06-cleaned/issue.md:8: footnote [^nope]" in output, output
    code, output = _newsletter(
        project, "build", "2024-06-06-cleaned", "--out", str(tmp_path / "out")
    )
    assert code == 0, output
    text = (tmp_path / "out" / "2024-06-06-cleaned" / "en" / "email.txt").read_text("utf-8")
    assert "Build bold title  done" in text and "CSI alone" in text and "[31m" not in text
    assert "https://example.com/docs\n" in text

    (folder / "stories" / "01-story.md").write_text(
        '---\ntitle: "Story\\r\\ntitle"\n---\n\nText.\n', encoding="utf-8"
    )
    code, output = _newsletter(project, "check", "2024-06-06-cleaned")
    assert code == 1, output
    assert "01-story.md:2: the story title holds a carriage return (CR)" in output, output
