"""Broken input: every error names the file, the line and the fix, exits non-zero, writes nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.config import Config
from newsletter.content.loader import IssueLoader

BROKEN = "issues/2024-03-10-broken.md"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project in tmp_path (the working directory, so paths print relative to it)."""
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "config" / "newsletter.toml").write_text(
        'issues_dir = "issues"\nlocales = ["en", "zh"]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    (root / "issues").mkdir()
    for variable in [name for name in os.environ if name.startswith("NEWSLETTER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def into(tmp_path: Path) -> Path:
    """An empty folder to import into."""
    folder = tmp_path / "imported"
    folder.mkdir()
    return folder


def newsletter(project: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--config", str(project / "config" / "newsletter.toml"), *args])


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under `root` (hidden ones too) with the files' bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def reported(
    output: str, path: str, message: str, severity: str = "error"
) -> tuple[int | None, str]:
    """The line number and the fix of the `severity: PATH[:LINE]: ...message...` line in `output`."""
    lines = output.splitlines()
    pattern = re.compile(rf"^{severity}: {re.escape(path)}(?::(\d+))?: (.*)$")
    for index, text in enumerate(lines):
        match = pattern.match(text)
        if match and message in match.group(2):
            fix = lines[index + 1] if index + 1 < len(lines) else ""
            assert fix.startswith("  fix: "), f"no fix line after {text!r}:\n{output}"
            return (int(match.group(1)) if match.group(1) else None), fix.removeprefix("  fix: ")
    raise AssertionError(f"no {severity} for {path} saying {message!r} in:\n{output}")


# Single-file issues that cannot be loaded: (content, line, message, fix).
BROKEN_FILES = [
    pytest.param(
        "---\ntitle: Open\ndate: 2024-03-10\n\nThe lead never starts.\n",
        1,
        "YAML front matter opened with '---' is never closed",
        "add a line '---' after the last front matter key",
        id="unterminated-yaml",
    ),
    pytest.param(
        "---\ndate: 2024-03-10\ntitle: [unclosed\n---\n\nBody text.\n",
        3,
        "invalid YAML front matter",
        "fix the YAML on that line",
        id="invalid-yaml-unclosed-list",
    ),
    pytest.param(
        "---\ndate: 2024-03-10\nsubtitle: fine\ntitle: AI: the week\n---\n\nBody text.\n",
        4,
        "invalid YAML front matter: mapping values are not allowed",
        "fix the YAML on that line",
        id="invalid-yaml-colon",
    ),
    pytest.param(
        '+++\ndate = 2024-03-10\ntitle = unquoted\nauthor = "Ann"\n+++\n\nBody text.\n',
        3,
        "invalid TOML front matter",
        'strings need quotes: title = "..."',
        id="invalid-toml",
    ),
    pytest.param(
        "---\ntitle: Dated\nauthor: Ann\ndate: next tuesday\n---\n\nBody text.\n",
        4,
        "date: 'next tuesday' is not a date",
        "write date: 2024-03-10",
        id="date-not-a-date",
    ),
    pytest.param(
        "---\ntitle: Numbered\nnumber: many\n---\n\nBody text.\n",
        3,
        "number: 'many' is not a whole number",
        "write number: 42",
        id="number-not-a-number",
    ),
    pytest.param(
        "---\ndate: 2024-03-10\ntitle: Café news\n---\n\nBody text.\n".encode("latin-1"),
        3,
        "is not UTF-8 text",
        "save the file as UTF-8",
        id="latin-1",
    ),
    pytest.param("", 1, "is empty", "write the issue's front matter and text", id="empty"),
    pytest.param(
        "  \n\n\t\n", 1, "is empty", "write the issue's front matter and text", id="whitespace-only"
    ),
]


@pytest.mark.parametrize(("content", "line", "message", "fix"), BROKEN_FILES)
def test_check_names_file_line_and_fix_of_broken_file(
    project: Path, content: str | bytes, line: int, message: str, fix: str
) -> None:
    write(project / BROKEN, content)
    before = tree(project)

    result = newsletter(project, "check")

    assert result.exit_code == 1, result.output
    got_line, got_fix = reported(result.output, BROKEN, message)
    assert got_line == line
    assert fix in got_fix
    assert "1 issues checked: 1 errors" in result.output
    assert tree(project) == before


@pytest.mark.parametrize(("content", "line", "message", "fix"), BROKEN_FILES)
def test_import_of_broken_file_fails_and_writes_nothing(
    project: Path, into: Path, content: str | bytes, line: int, message: str, fix: str
) -> None:
    source = write(project / BROKEN, content)

    result = newsletter(project, "import", str(source), "--into", str(into))

    assert result.exit_code == 1, result.output
    got_line, got_fix = reported(result.stderr, BROKEN, message)
    assert got_line == line
    assert fix in got_fix
    assert list(into.iterdir()) == []  # Not even a hidden staging folder.


def test_unclosed_yaml_list_is_reported_on_its_own_line(project: Path) -> None:
    write(project / BROKEN, "---\ndate: 2024-03-10\ntitle: [unclosed\nauthor: Ann\n---\n\nBody.\n")

    result = newsletter(project, "check")

    assert result.exit_code == 1
    assert reported(result.output, BROKEN, "invalid YAML front matter")[0] == 3


def test_missing_title_fails_check_and_import_until_given(project: Path, into: Path) -> None:
    source = write(
        project / "issues" / "2024-03-10-untitled.md",
        "---\ndate: 2024-03-10\n---\n\nA lead with no heading above it.\n\n"
        "## First story\n\nStory text.\n",
    )

    check = newsletter(project, "check")
    assert check.exit_code == 1
    line, fix = reported(check.output, "issues/2024-03-10-untitled.md", "issue has no title")
    assert line == 1
    assert "add `title: ...` to the front matter" in fix

    failed = newsletter(project, "import", str(source), "--into", str(into))
    assert failed.exit_code == 1
    line, fix = reported(failed.stderr, "issues/2024-03-10-untitled.md", "issue has no title")
    assert line == 1
    assert 'pass --title "..."' in fix
    assert list(into.iterdir()) == []

    imported = newsletter(project, "import", str(source), "--into", str(into), "--title", "X")
    assert imported.exit_code == 0, imported.output
    assert [entry.name for entry in into.iterdir()] == ["2024-03-10-x"]
    issue_md = (into / "2024-03-10-x" / "issue.md").read_text(encoding="utf-8")
    assert "title: X" in issue_md.split("---")[1].splitlines()
    assert IssueLoader(Config(locales=["en", "zh"])).load(into / "2024-03-10-x").main.title == "X"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_imported_issue_folder_gets_the_usual_permissions(project: Path, into: Path) -> None:
    source = write(project / BROKEN, "---\ntitle: Shared\ndate: 2024-03-10\n---\n\nLead.\n")
    umask = os.umask(0o022)  # The usual umask, so that the expected mode is 0o755 everywhere.
    try:
        result = newsletter(project, "import", str(source), "--into", str(into))
    finally:
        os.umask(umask)

    assert result.exit_code == 0, result.output
    assert (into / "2024-03-10-shared").stat().st_mode & 0o777 == 0o755


def folder_issue(project: Path, name: str, issue_md: str, stories: dict[str, str]) -> Path:
    folder = project / "issues" / name
    write(folder / "issue.md", issue_md)
    for story, text in stories.items():
        write(folder / "stories" / f"{story}.md", text)
    return folder


def test_story_listed_but_missing_names_the_stories_key(project: Path) -> None:
    folder_issue(
        project,
        "2024-03-10-one",
        "---\ntitle: One\ndate: 2024-03-10\nstories:\n  - 01-here\n  - 02-missing\n---\n\nLead.\n",
        {"01-here": "---\ntitle: Here\n---\n\nText.\n"},
    )
    before = tree(project)

    for command in ("check", "list"):
        result = newsletter(project, command)
        assert result.exit_code == 1, result.output
        line, fix = reported(
            result.output, "issues/2024-03-10-one/issue.md", "stories: lists '02-missing'"
        )
        assert line == 4
        assert "create stories/02-missing.md or remove it from the list" in fix
    assert tree(project) == before


STORY_A = "---\ntitle: Story A\nurl: https://example.org/a\nslug: same\n---\n\nText A.\n"
STORY_B = "---\ntitle: Story B\nurl: https://example.org/b\nslug: same\n---\n\nText B.\n"


def test_two_stories_with_one_slug_fail_check(project: Path) -> None:
    folder_issue(
        project,
        "2024-03-10-two",
        "---\ntitle: Two\n---\n\nLead.\n",
        {"01-a": STORY_A, "02-b": STORY_B},
    )
    before = tree(project)

    result = newsletter(project, "check")

    assert result.exit_code == 1
    line, fix = reported(
        result.output,
        "issues/2024-03-10-two/stories/02-b.md",
        "story slug 'same' is also used by 01-a.md",
    )
    assert line == 4  # The `slug:` line of the second story.
    assert "give one of them another `slug:`" in fix
    assert tree(project) == before


def test_two_issues_with_one_slug_fail_check_and_list(project: Path) -> None:
    folder_issue(project, "2024-03-10-one", "---\ntitle: One\nslug: same\n---\n\nLead.\n", {})
    folder_issue(project, "2024-03-17-two", "---\ntitle: Two\nslug: same\n---\n\nLead.\n", {})
    before = tree(project)

    check = newsletter(project, "check")
    assert check.exit_code == 1
    line, fix = reported(
        check.output,
        "issues/2024-03-17-two/issue.md",
        "issue slug 'same' is already used by 2024-03-10-one",
    )
    assert line == 3  # The `slug:` line.
    assert "give one of them another `slug:`" in fix
    assert "2 issues checked: 1 errors" in check.output

    listing = newsletter(project, "list")
    assert listing.exit_code == 1
    line, fix = reported(
        listing.stderr,
        "issues/2024-03-17-two/issue.md",
        "issue slug 'same' is already used by 2024-03-10-one",
    )
    assert line == 3
    assert "give one of them another `slug:`" in fix
    assert tree(project) == before


SECTIONED_ISSUE = "---\ntitle: Three\nsections:\n  - News\n  - Tools\n---\n\nLead.\n"
GOSSIP_STORY = "---\ntitle: A story\nurl: https://example.org/a\nsection: Gossip\n---\n\nText.\n"


def test_story_in_an_undeclared_section_fails_check(project: Path) -> None:
    folder_issue(project, "2024-03-10-three", SECTIONED_ISSUE, {"01-a": GOSSIP_STORY})
    before = tree(project)

    result = newsletter(project, "check")

    assert result.exit_code == 1
    line, fix = reported(
        result.output,
        "issues/2024-03-10-three/stories/01-a.md",
        "section 'Gossip' is not in the issue's sections: list",
    )
    assert line == 4
    assert fix == "use one of: News, Tools"
    assert tree(project) == before


def test_import_into_an_existing_issue_folder_leaves_it_untouched(
    project: Path, into: Path
) -> None:
    source = write(project / BROKEN, "---\ntitle: Existing\ndate: 2024-03-10\n---\n\nLead.\n")
    write(into / "2024-03-10-existing" / "issue.md", "---\ntitle: Keep me\n---\n\nMine.\n")
    before = tree(into)

    result = newsletter(project, "import", str(source), "--into", str(into))

    assert result.exit_code == 1
    _, fix = reported(result.stderr, str(into / "2024-03-10-existing"), "already exists")
    assert "choose another slug" in fix
    assert tree(into) == before  # No hidden staging folder either.


def test_backslash_quote_in_yaml_is_read_with_a_warning(project: Path) -> None:
    write(project / BROKEN, "---\ndate: 2024-03-10\ntitle: 'it\\'s'\n---\n\nBody text.\n")

    result = newsletter(project, "check")

    assert result.exit_code == 0, result.output
    line, fix = reported(result.output, BROKEN, "\\' inside a single-quoted YAML value", "warning")
    assert line == 3
    assert "write the apostrophe as ''" in fix
    assert "0 errors" in result.output
    assert IssueLoader(Config(locales=["en", "zh"])).load(project / BROKEN).main.title == "it's"


@pytest.mark.parametrize(
    ("front", "message", "fix"),
    [
        pytest.param(
            "tags: {x: 1}", "tags: must be text or a list", "write tags: [a, b]", id="fix"
        ),
        pytest.param(
            "date: '[/b] soon'", "date: '[/b] soon' is not a date", "write date:", id="crash"
        ),
    ],
)
def test_check_prints_messages_verbatim(project: Path, front: str, message: str, fix: str) -> None:
    write(project / BROKEN, f"---\ntitle: Brackets\n{front}\n---\n\nBody text.\n")

    result = newsletter(project, "check")

    assert result.exit_code == 1
    line, got_fix = reported(result.output, BROKEN, message)
    assert line == 3
    assert fix in got_fix
