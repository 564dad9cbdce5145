"""Previous, next and all issues below each issue page of the archive: per language, relative
links that resolve, nothing past the ends, and kept right by incremental builds (an issue added,
removed, retitled or redated changes its neighbours' pages, exactly as a full build would)."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.archive.build import build_archive
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.pipeline import Renderer

from .test_archive import BASE, local_target, tree


def weekly(root: Path, weeks: list[int]) -> Project:
    """Single-file issues sent one week apart (`week-NN.md`), in English; week 2 in German too."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "newsletter.toml").write_text(
        f'name = "Weekly"\nbase_url = "{BASE}"\nlocales = ["en", "de"]\n', "utf-8"
    )
    (root / "issues").mkdir()
    for week in weeks:
        add_week(root, week)
    (root / "issues" / "week-02.de.md").write_text(
        "---\ntitle: Woche 2\n---\n\nDer Anfang.\n\n## Neues\n\n### Geschichte\n\nText.\n", "utf-8"
    )
    return load_project(root / "config" / "newsletter.toml", environ={})


def add_week(root: Path, week: int, title: str = "") -> None:
    (root / "issues" / f"week-{week:02}.md").write_text(
        f"---\ntitle: {title or f'Week {week}'}\ndate: 2024-01-{week * 7:02}\nstatus: sent\n---\n\n"
        f"Lead of week {week}.\n\n## News\n\n### Story {week}\n\nText of week {week}.\n",
        "utf-8",
    )


def navigation(out: Path, page: str) -> dict[str, tuple[str, str] | None]:
    """The page's previous, next and all-issues links: (href, text), or None when absent; each
    href checked to resolve to a page of the archive."""
    html = (out / page).read_text("utf-8")
    block = re.search(r'<nav class="nl-issue-nav".*?</nav>', html, re.S)
    assert block, f"{page}: no issue navigation"
    found: dict[str, tuple[str, str] | None] = {}
    for kind in ("older", "all", "newer"):
        link = re.search(rf'<li class="nl-{kind}"><a href="([^"]+)"[^>]*>(.*?)</a>', block.group(0))
        text = " ".join(re.sub(r"<[^>]+>", " ", link.group(2)).split()) if link else ""
        found[kind] = (link.group(1), text) if link else None
        if link:
            target, _ = local_target(out, page, link.group(1))
            assert target is not None and target.is_file(), f"{page}: {link.group(1)}"
            assert not link.group(1).startswith(("/", "http")), "links must be relative"
    return found


def page(week: int, locale: str = "en") -> str:
    return f"{locale}/week-{week:02}/index.html"


def test_each_issue_page_links_the_previous_and_next_issue_of_its_language(
    tmp_path: Path,
) -> None:
    project = weekly(tmp_path / "project", [1, 2, 3])
    out = tmp_path / "public"
    build_archive(project, out)

    oldest, middle, newest = (navigation(out, page(week)) for week in (1, 2, 3))
    assert oldest["older"] is None and newest["newer"] is None  # Nothing past the ends.
    assert oldest["newer"] is not None and oldest["newer"][0] == "../week-02/"
    assert "Next issue" in oldest["newer"][1] and "Week 2" in oldest["newer"][1]
    assert middle["older"] is not None and middle["older"][0] == "../week-01/"
    assert "Previous issue" in middle["older"][1] and "Week 1" in middle["older"][1]
    assert middle["newer"] is not None and middle["newer"][0] == "../week-03/"
    assert newest["older"] is not None and newest["older"][0] == "../week-02/"
    for found in (oldest, middle, newest):
        assert found["all"] == ("../", "All issues")
    # German has one issue: no neighbours there, even though English has some.
    german = navigation(out, page(2, "de"))
    assert german["older"] is None and german["newer"] is None
    assert german["all"] == ("../", "Alle Ausgaben")


def test_issues_added_removed_or_retitled_change_their_neighbours_pages_as_a_full_build(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    project = weekly(root, [1, 2, 3])
    out = tmp_path / "public"
    build_archive(project, out)

    # A new issue: its own pages, and the page of the issue before it, which now has a next.
    add_week(root, 4)
    added = build_archive(project, out)
    assert added.rendered == 1
    assert {page(4), page(3)} <= set(added.written)
    assert not {page(1), page(2), page(2, "de")} & set(added.written)
    newer = navigation(out, page(3))["newer"]
    assert newer is not None and newer[0] == "../week-04/"
    assert tree(out) == tree(full_build(project, tmp_path / "full-1"))

    # A removed issue: its neighbours link each other, without being rendered again.
    (root / "issues" / "week-02.md").unlink()
    (root / "issues" / "week-02.de.md").unlink()
    removed = build_archive(project, out)
    assert removed.rendered == 0
    assert page(2) in removed.removed
    assert {page(1), page(3)} <= set(removed.written)
    assert navigation(out, page(1))["newer"] == ("../week-03/", "Next issue → Week 3")
    older = navigation(out, page(3))["older"]
    assert older is not None and older[0] == "../week-01/"
    assert tree(out) == tree(full_build(project, tmp_path / "full-2"))

    # A retitled issue: its neighbours show the new title.
    add_week(root, 3, title="Week three")
    retitled = build_archive(project, out)
    assert retitled.rendered == 1
    assert {page(1), page(3), page(4)} <= set(retitled.written)
    assert "Week three" in str(navigation(out, page(4))["older"])
    assert tree(out) == tree(full_build(project, tmp_path / "full-3"))

    # An issue moved in time (its date) trades places with its neighbours.
    text = (root / "issues" / "week-01.md").read_text("utf-8")
    (root / "issues" / "week-01.md").write_text(text.replace("2024-01-07", "2024-02-01"), "utf-8")
    build_archive(project, out)
    assert navigation(out, page(1))["newer"] is None
    assert navigation(out, page(3))["older"] is None
    assert tree(out) == tree(full_build(project, tmp_path / "full-4"))

    # A neighbour's page changed by hand is put back whole.
    (out / page(4)).write_text("changed", "utf-8")
    build_archive(project, out)
    assert tree(out) == tree(full_build(project, tmp_path / "full-5"))


def full_build(project: Project, out: Path) -> Path:
    report = build_archive(project, out)
    assert report.rendered == report.issues
    return out


def test_a_web_version_built_alone_has_no_archive_navigation(tmp_path: Path) -> None:
    project = weekly(tmp_path / "project", [1, 2])
    issue = IssueLoader(project.config).load(project.issues_path / "week-01.md")
    html = Renderer(project).render(issue, "en").web_html
    assert '<nav class="nl-issue-nav"' not in html and "newsletter:issue-nav" not in html
