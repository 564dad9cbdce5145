"""Nothing outside the project folder is ever read into output, whatever the links say.

A hostile issue links files outside the project in every way a link can (`../`, a symbolic
link to a file and to a folder, percent-encoding, an absolute path, a `file:` URL, raw HTML,
srcset, a reference definition, front-matter images) and a hidden folder; `import` gets a
post that does the same to its site. `check` names each as an error with file and line;
`build`, `archive` and `import` never read them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app

SECRET = b"\x89PNG\r\n\x1a\nSECRET-OUTSIDE-THE-PROJECT"
PASSWD = "root:x:0:0:SECRET-PASSWD-LINE"
STORY_SECRET = "SECRET-STORY-TEXT-FROM-OUTSIDE"
OK = b"\x89PNG\r\n\x1a\nA-GOOD-IMAGE"
HOSTILE = "2024-06-01-hostile"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/outside/ (secrets), tmp/home/.ssh/id_rsa, and the project in tmp/project/."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(SECRET)
    (outside / "passwd").write_text(PASSWD, encoding="utf-8")
    (outside / "story.md").write_text(f"---\ntitle: Leak\n---\n\n{STORY_SECRET}\n", "utf-8")
    (outside / "issue").mkdir()
    (outside / "issue" / "issue.md").write_text(
        f"---\ntitle: Linked folder\nstatus: sent\n---\n\n{STORY_SECRET}\n", "utf-8"
    )
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / ".ssh" / "id_rsa").write_text("SECRET-PRIVATE-KEY", "utf-8")
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "newsletter.toml").write_text(
        'name = "Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\n',
        encoding="utf-8",
    )
    (project / "issues").mkdir()
    monkeypatch.chdir(project)
    for variable in [name for name in os.environ if name.startswith("NEWSLETTER_")]:
        monkeypatch.delenv(variable)
    return tmp_path


def hostile_issue(world: Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """The hostile issue folder, and each hostile link -> (file inside the issue, line)."""
    outside = world / "outside"
    folder = world / "project" / "issues" / HOSTILE
    (folder / "images").mkdir(parents=True)
    (folder / "stories").mkdir()
    (folder / "images" / "ok.png").write_bytes(OK)
    (folder / "images" / "escape.png").symlink_to(outside / "secret.png")
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "secret.png").write_bytes(SECRET)
    absolute = f"/home/ada{outside / 'secret.png'}"  # A computer's folder, by its string.
    issue = (
        "---\n"
        "title: Hostile\n"
        "image: ../../../outside/secret.png\n"
        "image_alt: A hero\n"
        "status: sent\n"
        "---\n"
        "\n"
        "![up](../../../outside/secret.png)\n"
        "\n"
        "![symlink](images/escape.png)\n"
        "\n"
        "![encoded](..%2F..%2F..%2Foutside%2Fsecret.png)\n"
        "\n"
        f"![file url](file://{absolute})\n"
        "\n"
        f"![absolute]({absolute})\n"
        "\n"
        "[the passwords](../../../outside/passwd) and [a key](../../../home/.ssh/id_rsa)\n"
        "\n"
        '<p><img src="../../../outside/secret.png" alt="raw"></p>\n'
        "\n"
        "![linked folder](linked-dir/secret.png)\n"
        "\n"
        "![hidden](.hidden/secret.png)\n"
        "\n"
        "![by reference][leak]\n"
        "\n"
        '<picture><source srcset="../../../outside/secret.png 2x"><img src="images/ok.png" alt="ok"></picture>\n'
        "\n"
        "![a good image](images/ok.png)\n"
        "\n"
        "[leak]: ../../../outside/secret.png\n"
    )
    (folder / "issue.md").write_text(issue, encoding="utf-8")
    story = (
        "---\ntitle: A story\nimage: ../../../../outside/secret.png\nimage_alt: x\n---\n\nText.\n"
    )
    (folder / "stories" / "01-story.md").write_text(story, encoding="utf-8")

    def line(text: str, of: str = issue) -> int:
        return of[: of.index(text)].count("\n") + 1

    links = {
        "../../../outside/secret.png": ("issue.md", line("image: ../")),
        "images/escape.png": ("issue.md", line("![symlink]")),
        "..%2F..%2F..%2Foutside%2Fsecret.png": ("issue.md", line("![encoded]")),
        f"file://{absolute}": ("issue.md", line("![file url]")),
        f"{absolute}": ("issue.md", line("![absolute]")),
        "../../../outside/passwd": ("issue.md", line("[the passwords]")),
        "../../../home/.ssh/id_rsa": ("issue.md", line("[the passwords]")),
        "linked-dir/secret.png": ("issue.md", line("![linked folder]")),
        ".hidden/secret.png": ("issue.md", line("![hidden]")),
        "../../../../outside/secret.png": ("stories/01-story.md", line("image:", story)),
    }
    return folder, links


def newsletter(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_nothing_from_outside(out: Path) -> None:
    """No file under `out` holds a byte of what lies outside the project."""
    files = [path for path in out.rglob("*") if path.is_file()]
    assert files, f"{out} is empty"
    for path in files:
        assert not path.is_symlink()
        data = path.read_bytes()
        for secret in (SECRET, PASSWD.encode(), STORY_SECRET.encode(), b"SECRET-PRIVATE-KEY"):
            assert secret not in data, f"{path} holds a file from outside the project"
        if path.suffix in (".html", ".xml"):  # No page links a refused file.
            assert not re.search(rb'(src|href|srcset)="[^"]*(passwd|id_rsa|secret)', data), path


def test_check_names_each_link_out_of_the_project_with_file_and_line(world: Path) -> None:
    _, links = hostile_issue(world)

    result = newsletter("check", HOSTILE)

    assert result.exit_code == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    for url, (name, line) in links.items():
        where = f"error: issues/{HOSTILE}/{name}:{line}: "
        found = [error for error in errors if error.startswith(where) and repr(url) in error]
        assert found, f"{url} is not named at {name}:{line}:\n" + "\n".join(errors)
    assert any("is a symbolic link to a file outside the project folder" in e for e in errors)
    assert any("is outside the project folder" in e for e in errors)
    assert any("is a hidden file or folder" in e for e in errors)
    assert any("is a file: URL" in e for e in errors)
    assert any("is a path on a computer, not on the site" in e for e in errors)
    assert not any("images/ok.png" in error for error in errors)


def test_build_publishes_only_files_from_inside_the_project(world: Path) -> None:
    hostile_issue(world)

    result = newsletter("build", HOSTILE, "--all-locales", "--out", "out")

    assert result.exit_code == 0, result.output
    web = world / "project" / "out" / HOSTILE / "en" / "web"
    assert (web / "images" / "ok.png").read_bytes() == OK
    assert_nothing_from_outside(world / "project" / "out")
    page = (web / "index.html").read_text(encoding="utf-8")
    assert page.count('src="images/ok.png"') == 2  # The good image, and the <picture>'s.


def test_the_archive_publishes_only_files_from_inside_the_project(world: Path) -> None:
    hostile_issue(world)

    result = newsletter("archive", "--out", "site")

    assert result.exit_code == 0, result.output
    site = world / "project" / "site"
    assert [p.name for p in site.rglob("ok*.png")], "the good image is published"
    assert_nothing_from_outside(site)


@pytest.mark.parametrize("how", ["story", "folder"])
def test_markdown_linked_in_from_outside_is_refused(world: Path, how: str) -> None:
    """A story file, or the whole issue folder, that is a symbolic link out of the project."""
    issues = world / "project" / "issues"
    if how == "story":
        folder = issues / "2024-06-02-linked-story"
        (folder / "stories").mkdir(parents=True)
        (folder / "issue.md").write_text("---\ntitle: Linked\nstatus: sent\n---\n\nLead.\n")
        (folder / "stories" / "01-leak.md").symlink_to(world / "outside" / "story.md")
        named = f"issues/{folder.name}/stories/01-leak.md"
    else:
        folder = issues / "2024-06-03-linked-folder"
        folder.symlink_to(world / "outside" / "issue", target_is_directory=True)
        named = f"issues/{folder.name}/issue.md"

    checked = newsletter("check", folder.name)
    built = newsletter("build", folder.name, "--out", "out")
    archived = newsletter("archive", "--out", "site")

    # The path is shown as given: relative to the working folder it would lead out of it.
    message = f"{named}: is a symbolic link to a file outside the project folder"
    assert checked.exit_code == 1 and message in checked.stdout
    assert built.exit_code == 1 and built.stderr.startswith("error: ") and message in built.stderr
    assert "Traceback" not in built.output
    assert not (world / "project" / "out").exists()
    assert archived.exit_code == 0 and "is a symbolic link" in archived.stdout
    assert STORY_SECRET not in archived.output
    site = world / "project" / "site"
    for path in site.rglob("*"):
        assert not path.is_file() or STORY_SECRET.encode() not in path.read_bytes()


def make_site(world: Path) -> tuple[Path, Path]:
    """A Hugo site beside the project: config.toml, static/, a post linking out of the site."""
    site = world / "site"
    posts = site / "content" / "posts"
    posts.mkdir(parents=True)
    (site / "config.toml").write_text('title = "Blog"\n', encoding="utf-8")
    (site / "static").mkdir()
    (site / "static" / "ok.png").write_bytes(OK)
    (site / "static" / "escape.png").symlink_to(world / "outside" / "secret.png")
    (site / ".git").mkdir()
    (site / ".git" / "secret.png").write_bytes(SECRET)
    (posts / "notes.md").write_text("SECRET-DRAFT-NOTES", encoding="utf-8")
    post = posts / "2024-06-04-post.md"
    post.write_text(
        "---\ntitle: A post\nimage: ../../../outside/secret.png\n---\n\n"
        "![up](../../../outside/secret.png) ![fine](../../static/ok.png)\n\n"
        "![linked](../../static/escape.png) ![encoded](..%2F..%2F..%2Foutside%2Fsecret.png)\n\n"
        "[passwords](../../../outside/passwd) [key](../../../home/.ssh/id_rsa)\n\n"
        "[repository](../../.git/secret.png) [draft](notes.md)\n\n"
        '<img src="../../../outside/secret.png" alt="raw">\n',
        encoding="utf-8",
    )
    return site, post


def test_import_copies_only_media_from_inside_the_posts_site(world: Path) -> None:
    _, post = make_site(world)

    result = newsletter("import", str(post))

    assert result.exit_code == 0, result.output
    issue = world / "project" / "issues" / "2024-06-04-a-post"
    assert sorted(p.name for p in (issue / "images").iterdir()) == ["ok.png"]
    assert_nothing_from_outside(issue)
    assert b"SECRET-DRAFT-NOTES" not in b"".join(
        p.read_bytes() for p in issue.rglob("*") if p.is_file()
    )
    warnings = result.stdout
    for url, why in [
        ("../../../outside/secret.png", "outside the site folder"),
        ("../../static/escape.png", "a symbolic link to a file outside the site folder"),
        ("..%2F..%2F..%2Foutside%2Fsecret.png", "outside the site folder"),
        ("../../../outside/passwd", "outside the site folder"),
        ("../../../home/.ssh/id_rsa", "outside the site folder"),
        ("../../.git/secret.png", "a hidden file or folder"),
        ("notes.md", "not a media file or document"),
    ]:
        assert f"warning: {url} not copied: {why}" in warnings, url


def test_import_copies_nothing_outside_the_folder_the_user_names(world: Path) -> None:
    _, post = make_site(world)

    result = newsletter("import", str(post), "--site", str(post.parent))

    assert result.exit_code == 0, result.output
    issue = world / "project" / "issues" / "2024-06-04-a-post"
    assert not (issue / "images").exists()
    assert "warning: ../../static/ok.png not copied: outside the site folder" in result.stdout


def test_the_preview_serves_no_file_the_build_would_not_publish(world: Path) -> None:
    from starlette.testclient import TestClient

    from newsletter.config import load_project
    from newsletter.web.preview import create_app

    folder, _ = hostile_issue(world)
    (folder / "notes.md").write_text("draft notes", encoding="utf-8")
    project = load_project(world / "project" / "config" / "newsletter.toml", environ={})
    client = TestClient(create_app(project, "http://127.0.0.1:8000"))

    assert client.get(f"/{HOSTILE}/images/ok.png").content == OK
    assert client.get(f"/{HOSTILE}/en/web/images/ok.png").content == OK
    for path in ["images/escape.png", "linked-dir/secret.png", ".hidden/secret.png", "notes.md"]:
        for url in (f"/{HOSTILE}/{path}", f"/{HOSTILE}/en/web/{path}"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert SECRET not in response.content


def test_an_issue_outside_the_project_is_bound_by_its_own_folder(world: Path) -> None:
    elsewhere = world / "elsewhere" / "2024-06-05-away"
    (elsewhere / "images").mkdir(parents=True)
    (elsewhere / "images" / "ok.png").write_bytes(OK)
    (elsewhere / "issue.md").write_text(
        "---\ntitle: Away\n---\n\n![fine](images/ok.png)\n\n![up](../../outside/secret.png)\n",
        encoding="utf-8",
    )

    checked = newsletter("check", str(elsewhere))
    built = newsletter("build", str(elsewhere), "--out", "out")

    assert "image '../../outside/secret.png' is outside the issue's folder" in checked.stdout
    assert built.exit_code == 0, built.output
    web = world / "project" / "out" / elsewhere.name / "en" / "web"
    assert (web / "images" / "ok.png").read_bytes() == OK
    assert_nothing_from_outside(world / "project" / "out")


@pytest.mark.parametrize(
    ("url", "computer"),
    [
        ("/home", False),  # The site's home page, though the build machine has a /home.
        ("/home/", False),
        ("/home/news", False),
        ("/bin", False),
        ("/etc-files/list", False),
        ("/users/ada", False),  # A profile page on the site.
        ("/about/", False),
        ("/media/images/x.png", False),
        ("/home/ada/chart.png", True),
        ("/Users/ada/Desktop/chart.png", True),  # No such folder on a Linux build machine.
        ("/root/x.png", True),
        ("/tmp/nonexistent-4c1f/chart.png", True),
        ("/etc/passwd", True),
        ("/var/folders/x/chart.png", True),
        ("/Volumes/Disk/chart.png", True),
        ("/C:/Users/ada/chart.png", True),
        ("C:/Users/ada/chart.png", True),
        ("C:\\Users\\ada\\chart.png", True),
    ],
)
def test_a_site_absolute_link_is_judged_by_its_string_never_the_disk(
    world: Path, url: str, computer: bool
) -> None:
    folder = world / "project" / "issues" / "2024-06-09-absolute"
    folder.mkdir()
    (folder / "issue.md").write_text(
        f"---\ntitle: Absolute\nstatus: ready\n---\n\nSee [the link]({url}).\n", "utf-8"
    )
    check = newsletter("check", folder.name)
    build = newsletter("build", folder.name, "--out", "out")
    assert build.exit_code == 0, build.output
    page = (world / "project" / "out" / folder.name / "en" / "email.html").read_text("utf-8")
    if computer:
        assert check.exit_code == 1
        assert re.search(r"issue\.md:6: link '.+' is a path on a computer", check.stdout)
        assert 'href="https://news.example.org/' not in page.split("the link")[0][-200:]
    else:
        assert "path on a computer" not in check.stdout, check.stdout
        assert f'href="https://news.example.org{url}"' in page


@pytest.mark.parametrize("content", ["broken", "not-utf8", "fifo"])
def test_a_story_linked_in_from_outside_is_refused_before_it_is_read(
    world: Path, content: str
) -> None:
    """Its text never reaches a message: a parse error would quote it, a FIFO would hang."""
    outside = world / "outside" / f"{content}.md"
    if content == "broken":
        outside.write_text(f"---\ntitle: [{STORY_SECRET}\n---\n\n{STORY_SECRET}\n", "utf-8")
    elif content == "not-utf8":
        outside.write_bytes(b"---\ntitle: x\n---\n\n\xff\xfe" + STORY_SECRET.encode())
    else:
        os.mkfifo(outside)
    folder = world / "project" / "issues" / "2024-06-04-linked"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text("---\ntitle: Linked\nstatus: sent\n---\n\nLead.\n")
    (folder / "stories" / "01-leak.md").symlink_to(outside)

    checked = newsletter("check", folder.name)
    built = newsletter("build", folder.name, "--out", "out")

    message = f"issues/{folder.name}/stories/01-leak.md: is a symbolic link to a file outside"
    assert checked.exit_code == 1 and message in checked.stdout, checked.output
    assert built.exit_code == 1 and message in built.stderr, built.output
    assert len(built.stderr.strip().splitlines()) == 2, built.stderr
    for output in (checked.output, built.output):
        assert STORY_SECRET not in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("logo", "says"),
    [
        ("assets/linked.png", "is a symbolic link to a file outside the project folder"),
        ("../outside/secret.png", "must be a path inside the project folder"),
        (".hidden/logo.png", "is a hidden file or folder"),
        ("assets/into-hidden.png", "is a hidden file or folder"),
    ],
)
def test_a_logo_is_bound_by_the_rule_of_local_files(world: Path, logo: str, says: str) -> None:
    project = world / "project"
    (project / "assets").mkdir()
    (project / ".hidden").mkdir()
    (project / ".hidden" / "logo.png").write_bytes(SECRET)
    (project / "assets" / "linked.png").symlink_to(world / "outside" / "secret.png")
    (project / "assets" / "into-hidden.png").symlink_to(project / ".hidden" / "logo.png")
    (project / "assets" / "ok.png").write_bytes(OK)
    config = project / "config" / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    for command in (["check"], ["build", "--out", "out"], ["config"]):
        config.write_text(text + f'logo = "{logo}"\n', encoding="utf-8")
        result = newsletter(*command)
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith("error: config/newsletter.toml:4: logo: "), result.stderr
        assert says in result.stderr and "Traceback" not in result.output
    config.write_text(text + 'logo = "assets/ok.png"\n', encoding="utf-8")
    assert newsletter("config").exit_code == 0
