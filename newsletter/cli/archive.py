"""`newsletter archive`: export the static archive site of the published issues."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from newsletter.cli.context import console, project_of, reports_errors


def register(app: typer.Typer) -> None:
    """Add the archive command to `app`."""
    app.command("archive")(reports_errors(archive))


def archive(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder to write the site to (default: archive_dir, build/archive).",
        show_default=False,
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="URL the site is served at, instead of the configured base_url.",
        show_default=False,
    ),
) -> None:
    """Export the archive: every sent issue's web page in each language, index pages, Atom and
    RSS feeds, sitemap.xml, robots.txt and a 404 page, with the issues' images.

    An issue is in the archive once its send started (recorded in the database) or when its
    front matter says `status: sent`. Run it again after a change: only the pages that depend
    on what changed are written, and what no longer belongs is removed.

    Example: newsletter archive --out public --base-url https://news.example.org
    """
    from newsletter.archive.build import build_archive
    from newsletter.errors import display_path
    from newsletter.sends import project_sent_issues

    project = project_of(ctx)
    folder = out or project.archive_path
    started = time.perf_counter()
    report = build_archive(
        project,
        folder,
        sent=project_sent_issues(project),
        base_url=base_url,
        workers=os.cpu_count() or 1,
    )
    seconds = time.perf_counter() - started
    for problem in report.skipped:
        console().print(
            f"warning: {problem} (skipped: it is not published; `newsletter check` shows it)",
            markup=False,
        )
    console().print(
        f"archive: {report.issues} issues ({report.rendered} rendered), "
        f"{len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed in {seconds:.2f} s -> {display_path(folder)}/",
        markup=False,
    )
