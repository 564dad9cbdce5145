"""The issues of the content folder as the API and the dashboard list them, with `check`'s
findings, kept per issue until one of its files (or a template) changes.

    Catalog.issues   every issue: editions offered or not, sent or not, errors and warnings
    Catalog.issue    one, with each finding (file, line, message, fix)

Checking renders every edition, which takes a good part of a second per issue: the findings
are kept for the life of the app, keyed by a fingerprint of the issue's files (name, size,
modification time) and of the theme, so a list of a thousand issues costs a walk of their
folders, not a thousand renders.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from newsletter.config import Project
from newsletter.files import fingerprint
from newsletter.model import Issue, Note


@dataclass(frozen=True)
class EditionLine:
    """One edition: its locale, title, stories, and whether readers of its locale get it."""

    locale: str
    title: str
    stories: int
    offered: bool


@dataclass(frozen=True)
class IssueLine:
    """One issue as lists show it."""

    slug: str
    status: str
    date: datetime | None
    editions: list[EditionLine]
    sent_at: datetime | None
    errors: int
    warnings: int
    notes: list[Note] = field(default_factory=list)


@dataclass
class Catalog:
    """The project's issues with their findings, checked again only when their files change."""

    project: Project
    engine: Engine
    _checked: dict[str, tuple[str, list[Note]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issues(self) -> list[IssueLine]:
        """Every issue of the content folder, in folder order."""
        from newsletter.content.loader import IssueLoader
        from newsletter.deliver.report import sent_issues

        loaded = IssueLoader(self.project.config, self.project.root).load_all(
            self.project.issues_path
        )
        sent = sent_issues(self.engine)
        shared = self._shared()  # The templates and configuration: walked once per list.
        return [self._line(issue, sent.get(issue.slug), shared) for issue in loaded]

    def issue(self, name: str) -> IssueLine:
        """The issue whose slug is `name` (a request's: never a path), with each finding."""
        from newsletter.deliver.report import sent_issues
        from newsletter.sends import load_issue_by_slug

        issue = load_issue_by_slug(self.project, name)
        sent_at = sent_issues(self.engine).get(issue.slug)
        return self._line(issue, sent_at, self._shared(), notes=True)

    def _shared(self) -> str:
        """The fingerprint of what every issue's findings depend on: templates, configuration."""
        source = [self.project.source] if self.project.source else []
        return fingerprint([self.project.root / "templates", *source])

    def _line(
        self, issue: Issue, sent_at: datetime | None, shared: str, notes: bool = False
    ) -> IssueLine:
        from newsletter.content.offers import edition_offers

        found = self._findings(issue, shared + fingerprint(_sources(issue)))
        offers = edition_offers(issue, self.project.config)
        editions = [
            EditionLine(locale, edition.title or issue.slug, len(edition.stories), offers[locale].offered)
            for locale, edition in issue.editions.items()
        ]  # fmt: skip
        return IssueLine(
            slug=issue.slug,
            status=issue.main.status,
            date=issue.main.date,
            editions=editions,
            sent_at=sent_at,
            errors=sum(note.severity == "error" for note in found),
            warnings=sum(note.severity == "warning" for note in found),
            notes=found if notes else [],
        )

    def _findings(self, issue: Issue, print_: str) -> list[Note]:
        from newsletter.check import check_issue
        from newsletter.content.markdown import markdown_parser
        from newsletter.errors import NewsletterError
        from newsletter.render.pipeline import Renderer

        with self._lock:
            kept = self._checked.get(issue.slug)
        if kept is not None and kept[0] == print_:
            return kept[1]
        try:
            found = check_issue(issue, markdown_parser(), Renderer(self.project))
        except NewsletterError as error:  # An edition that does not render is a finding too.
            found = [Note("error", error.message, error.path or issue.path, error.line, error.hint)]
        with self._lock:
            self._checked[issue.slug] = (print_, found)
        return found


def _sources(issue: Issue) -> list[Path]:
    """The files an issue is made of: its Markdown (translations and stories) and its folder."""
    files = [
        source
        for edition in issue.editions.values()
        for source in (edition.source, *(story.source for story in edition.stories))
    ]
    return [*files, issue.path] if issue.path.is_dir() else files
