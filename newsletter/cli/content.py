"""Content commands: list, check, import, new, story add."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from newsletter.cli.context import console, project_of, reports_errors, warn_placeholders
from newsletter.errors import ContentError, NewsletterError, display_path

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from newsletter.check.rendered import Renders
    from newsletter.config import Project
    from newsletter.model import Note


def register(app: typer.Typer) -> None:
    """Add the content commands to `app`."""
    app.command("list")(reports_errors(list_issues))
    app.command("check")(reports_errors(check))
    app.command("import")(reports_errors(import_posts))
    app.command("new")(reports_errors(new))
    app.command("build")(reports_errors(build))
    story = typer.Typer(help="Add stories to an issue folder.", no_args_is_help=True)
    story.command("add")(reports_errors(story_add))
    app.add_typer(story, name="story")


def list_issues(ctx: typer.Context) -> None:
    """List every issue and translation: date, locale, sections, stories and length.

    Example: newsletter list
    """
    from rich.table import Table

    from newsletter.content.language import measure_text
    from newsletter.content.loader import IssueLoader
    from newsletter.content.markdown import plain_text
    from newsletter.content.offers import edition_offers

    project = project_of(ctx)
    warn_placeholders(project)
    loader = IssueLoader(project.config, project.root)
    issues = loader.load_all(project.issues_path)
    table = Table(
        title=f"{project.config.name}: {len(issues)} issues in {display_path(project.issues_path)}/"
    )
    for column in ("issue", "date", "locale", "title", "sections", "stories", "length", "offered"):
        numeric = column in ("sections", "stories", "length")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column != "title")
    for issue in issues:
        offers = edition_offers(issue, project.config)
        for locale, edition in issue.editions.items():
            texts = [
                edition.lead,
                edition.closing,
                *(s.title or "" for s in edition.stories),
                *(s.body for s in edition.stories),
            ]
            length = measure_text(plain_text(loader.parser, "\n\n".join(texts)))
            fallbacks = sum(1 for story in edition.stories if story.fallback)
            stories = f"{len(edition.stories)}" + (f" ({fallbacks} fallback)" if fallbacks else "")
            table.add_row(
                escape(issue.slug) if locale == issue.default_locale else "",
                f"{edition.date:%Y-%m-%d}" if edition.date else "-",
                locale,
                escape(_shorten(edition.title or "(no title)", 36)),
                str(len(edition.named_sections)),
                stories,
                str(length),
                "yes" if offers[locale].offered else f"no: {offers[locale].instead}",
            )
    console().print(table)
    console().print(
        "offered: whether readers of the language get that edition (min_translated_share); "
        "`newsletter check` says why not",
        markup=False,
    )


def check(
    ctx: typer.Context,
    issues: list[str] = typer.Argument(
        None, help="Issues to check (folder, file or slug); default: all.", show_default=False
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
) -> None:
    """Check issues: front matter, titles, translations, local links and images, shortcodes;
    the configuration's named segments; without ISSUES, the sequences' steps too (their
    `after:` and `to:` as well).

    Errors (exit status 1) block building and sending; warnings are listed.

    Example: newsletter check 2024-03-10-ai-week
    """
    from newsletter.check import check_duplicate_slugs, check_issue, count
    from newsletter.check.segments import segment_notes
    from newsletter.content.loader import IssueLoader
    from newsletter.content.source import discover_issue_paths, find_issue_path
    from newsletter.model import Issue, Note
    from newsletter.render.pipeline import Renderer

    project = project_of(ctx)
    warn_placeholders(project)
    loader = IssueLoader(project.config, project.root)
    if issues:
        paths = [
            find_issue_path(project.issues_path, name, project.config.locales) for name in issues
        ]
    else:
        paths = discover_issue_paths(project.issues_path, project.config.locales)
    notes: list[Note] = []
    loaded: list[Issue] = []
    renderer = Renderer(project)
    for path in paths:
        try:
            issue = loader.load(path)
        except NewsletterError as error:
            notes.append(Note("error", error.message, error.path or path, error.line, error.hint))
            continue
        loaded.append(issue)
        notes.extend(check_issue(issue, loader.parser, renderer, project.config.fields))
    notes.extend(check_duplicate_slugs(loaded))
    notes.extend(segment_notes(project))
    steps = 0
    if not issues:  # Every issue, and the sequences' steps too.
        steps, found = _sequence_notes(project, loader.parser, renderer)
        notes.extend(found)
    out = console()
    for note in notes:
        where = display_path(note.path) + (f":{note.line}" if note.line else "")
        colour = "red" if note.severity == "error" else "yellow"
        out.print(f"[{colour}]{note.severity}[/]: " + escape(f"{where}: {note.message}"))
        if note.hint:
            out.print(f"  fix: {note.hint}", markup=False)
    errors, warnings = count(notes)
    checked = f"{len(paths)} issues" + (f" and {steps} sequence steps" if steps else "")
    out.print(f"{checked} checked: {errors} errors, {warnings} warnings")
    if errors or (strict and warnings):
        raise typer.Exit(1)


def _sequence_notes(
    project: Project, parser: MarkdownIt, renderer: Renders
) -> tuple[int, list[Note]]:
    """How many sequence steps were checked, and what was found in them (a step that does not
    load: its file, line and fix)."""
    from newsletter.check import check_issue
    from newsletter.model import Note
    from newsletter.sequences.checks import unpublished_files
    from newsletter.sequences.files import load_sequence, sequence_names

    notes: list[Note] = []
    steps = 0
    for name in sequence_names(project):
        try:
            sequence = load_sequence(project, name)
        except NewsletterError as error:
            where = error.path or project.sequences_path / name
            notes.append(Note("error", error.message, where, error.line, error.hint))
            continue
        for step in sequence.steps:
            steps += 1
            notes.extend(check_issue(step.issue, parser, renderer))
            notes.extend(unpublished_files(step, renderer, project.config.base_url))
    return steps, notes


def import_posts(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ...,
        help="Markdown posts to import (Hugo, Jekyll, Zola, Pelican or plain).",
        show_default=False,
    ),
    into: Path | None = typer.Option(
        None,
        "--into",
        help="Folder to create the issues in (default: the configured issues folder).",
        show_default=False,
    ),
    title: str | None = typer.Option(
        None,
        "--title",
        help="Title for a post that has none (or to replace it).",
        show_default=False,
    ),
    date: str | None = typer.Option(
        None, "--date", help="Date for a post that has none, e.g. 2024-03-27.", show_default=False
    ),
    slug: str | None = typer.Option(
        None, "--slug", help="Folder name of the new issue (one file only).", show_default=False
    ),
    site: Path | None = typer.Option(
        None,
        "--site",
        help="Folder the posts' images may be copied from (default: the site folder above each post: the nearest with a Hugo, Jekyll, Zola or Pelican configuration or a .git, else the post's folder). Nothing outside it is copied.",
        show_default=False,
    ),
) -> None:
    """Turn single-file posts into issue folders: issue.md plus one file per story.

    Sections and stories come from the post's headings and link lists; text, links, images,
    footnotes, tables, code, comments and raw HTML are kept. Shortcodes stay visible and are
    listed. Translations next to a post (NAME.LOCALE.md) are imported with it.

    Example: newsletter import content/posts/2024-04-tmai.md --into issues/
    """
    from newsletter.authoring.importer import import_post
    from newsletter.content.loader import IssueLoader

    project = project_of(ctx)
    if slug and len(files) > 1:
        raise NewsletterError(
            "--slug names one issue, but several files were given", hint="import them one at a time"
        )
    when = _date_option(date, project.config.timezone) if date else None
    loader = IssueLoader(project.config, project.root)
    out = console()
    for file in files:
        result = import_post(
            file, into or project.issues_path, loader, title=title, date=when, slug=slug, site=site
        )
        main = result.issue.main
        out.print(
            f"imported {display_path(file)} -> {display_path(result.path)}/: "
            f"{len(main.stories)} stories, {len(main.named_sections)} sections, "
            f"locales {', '.join(result.issue.locales)}",
            markup=False,
        )
        for where, shortcode in result.shortcodes:
            text = f"{where}:{shortcode.line}: {shortcode.dialect} shortcode {shortcode.text!r} kept as text"
            out.print("  [yellow]warning[/]: " + escape(text))
        for url in result.copied:
            out.print(f"  copied {url} -> images/", markup=False)
        for url in result.missing:
            text = f"{url} not found next to {file.name}; copy it into the issue and fix the link"
            out.print("  [yellow]warning[/]: " + escape(text))
        for url, why in result.refused:
            where = display_path(result.site) if result.site else "the site folder"
            text = f"{url} not copied: {why} (copied are media files and documents in {where}/)"
            out.print("  [yellow]warning[/]: " + escape(text))


def build(
    ctx: typer.Context,
    issues: list[str] = typer.Argument(
        None, help="Issues to build (folder, file or slug); default: all.", show_default=False
    ),
    locale: str | None = typer.Option(
        None, "--locale", help="Build this locale only.", show_default=False
    ),
    all_locales: bool = typer.Option(
        False, "--all-locales", help="Build every locale the issue exists in."
    ),
    out: Path = typer.Option(Path("build"), "--out", help="Output folder."),
    theme: str | None = typer.Option(
        None, "--theme", help="Theme to use instead of the configured one.", show_default=False
    ),
) -> None:
    """Render issues to OUT/SLUG/LOCALE/: email.html, email.txt and web/index.html with its images.

    Without --locale or --all-locales, each issue is built in its original language.
    email.html shows the email as a sample reader receives it.

    Example: newsletter build 2024-03-10-ai-revolution-accelerates --all-locales --out build/
    """
    from newsletter.content.loader import IssueLoader
    from newsletter.content.offers import edition_offers
    from newsletter.content.source import discover_issue_paths, find_issue_path
    from newsletter.locales import match_locale
    from newsletter.render.build import build_issue
    from newsletter.render.pipeline import Renderer

    project = project_of(ctx)
    warn_placeholders(project)
    loader = IssueLoader(project.config, project.root)
    locales = project.config.locales
    paths = (
        [find_issue_path(project.issues_path, name, locales) for name in issues]
        if issues
        else discover_issue_paths(project.issues_path, locales)
    )
    renderer = Renderer(project, theme=theme)
    out_console = console()
    for path in paths:
        issue = loader.load(path)
        wanted = (
            issue.locales
            if all_locales
            else [match_locale(locale, locales) if locale else issue.default_locale]
        )
        offers = edition_offers(issue, project.config)
        for built in build_issue(renderer, issue, wanted, out):
            size = f"{built.email_bytes / 1024:.0f} KB"
            offer = offers[built.locale]
            held = "" if offer.offered else f" (not offered: readers get {offer.instead})"
            out_console.print(
                f"built {display_path(built.folder)}/  email.html ({size}), email.txt, "
                f"web/index.html{held}",
                markup=False,
            )


def new(
    ctx: typer.Context,
    title: str = typer.Argument(..., help="Title of the issue.", show_default=False),
    date: str | None = typer.Option(
        None, "--date", help="Publication date (default: today).", show_default=False
    ),
    slug: str | None = typer.Option(
        None,
        "--slug",
        help="Folder name after the date (default: from the title).",
        show_default=False,
    ),
    locale: str | None = typer.Option(
        None,
        "--locale",
        help="Language of the issue (default: the configured default).",
        show_default=False,
    ),
) -> None:
    """Start a new issue folder: issues/DATE-SLUG/issue.md and an empty stories/ folder.

    Example: newsletter new "AI Weekly #12" --date 2024-03-17
    """
    from newsletter.authoring.scaffold import new_issue
    from newsletter.locales import match_locale

    project = project_of(ctx)
    zone = project.config.timezone
    when = _date_option(date, zone) if date else datetime.now(ZoneInfo(zone))
    try:
        language = match_locale(locale, project.config.locales) if locale else None
    except ValueError as error:
        raise NewsletterError(
            f"--locale: {error}", hint="use one of " + ", ".join(project.config.locales)
        ) from error
    folder = new_issue(project.issues_path, title, when, slug=slug, locale=language)
    console().print(
        f"created {display_path(folder)}/issue.md\n"
        f'next: newsletter story add {folder.name} "Story title" --url https://...',
        markup=False,
    )


def story_add(
    ctx: typer.Context,
    issue: str = typer.Argument(
        ..., help="The issue folder (path, folder name or slug).", show_default=False
    ),
    title: str = typer.Argument(..., help="Title of the story.", show_default=False),
    url: str | None = typer.Option(
        None, "--url", help="Link the story is about.", show_default=False
    ),
    section: str | None = typer.Option(
        None, "--section", help="Section heading to file the story under.", show_default=False
    ),
    image: str | None = typer.Option(
        None, "--image", help="Image URL or path relative to the story file.", show_default=False
    ),
    summary: str | None = typer.Option(
        None, "--summary", help="One-line summary.", show_default=False
    ),
) -> None:
    """Add a story file to an issue folder, numbered after the last one.

    Example: newsletter story add 2024-03-17-ai-weekly-12 "Sora opens up" --url https://openai.com/sora --section News
    """
    from newsletter.authoring.scaffold import add_story
    from newsletter.content.source import find_issue_path

    project = project_of(ctx)
    folder = find_issue_path(project.issues_path, issue, project.config.locales)
    if not folder.is_dir():
        raise ContentError(
            "is a single-file issue; stories can be added to issue folders only",
            path=folder,
            hint=f"run `newsletter import {display_path(folder)}` to turn it into a folder",
        )
    path = add_story(folder, title, url=url, section=section, image=image, summary=summary)
    console().print(f"created {display_path(path)}", markup=False)


def _date_option(value: str, timezone: str) -> datetime:
    """A --date value as an aware datetime in the configured zone; NewsletterError if unreadable."""
    from newsletter.content.metadata import parse_datetime

    when = parse_datetime(value, ZoneInfo(timezone))
    if when is None:
        raise NewsletterError(
            f"--date {value!r} is not a date", hint="write it as 2024-03-27 or 2024-03-27 08:00"
        )
    return when


def _shorten(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells (CJK characters take two)."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    while cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"
