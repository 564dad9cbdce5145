"""One issue in the archive: read from its files and rendered into its pages and files.

Rendering is the bulk of a full build, so when many issues changed they are rendered by
worker processes (forked: they start with the loader, renderer and templates of the build).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from newsletter.archive import layout
from newsletter.archive.navigation import SLOT
from newsletter.archive.sources import digest_of, file_hash, fingerprint
from newsletter.archive.state import Entry, IssueRecord
from newsletter.config import Project
from newsletter.content.loader import IssueLoader
from newsletter.content.offers import offered_locales
from newsletter.errors import NewsletterError
from newsletter.model import Issue
from newsletter.render.pipeline import Renderer
from newsletter.render.urls import PageLinks

PARALLEL_FROM = 64
"""Issues to render before worker processes pay for themselves."""


@dataclass
class Job:
    """An issue to read (and render, when it is published)."""

    path: Path
    sources: list[Path]
    source_keys: list[str]
    known: dict[str, list[Any]]
    """The files recorded for it by the last build, whose hashes are reused."""
    published_before: bool = False
    """The last build published it: if it no longer reads, that is an error, not a skip."""
    name_slug: str = ""
    """The slug its file or folder name gives (its send, if any, is recorded under it)."""


@dataclass
class Rendered:
    """What reading and rendering one issue produced."""

    record: IssueRecord | None
    """None when the issue does not read and was never published: skipped, not fatal."""
    pages: dict[str, bytes]
    """Archive path -> the HTML of one of its pages."""
    files: dict[str, tuple[Path, str]]
    """Archive path -> (the local file to copy there, its content hash)."""
    skipped: str = ""
    """Why it was skipped."""


class IssuePages:
    """Reads issues and renders the pages and files of the published ones."""

    def __init__(self, project: Project, root: Path, sent: Collection[str]) -> None:
        self.project = project
        self.base = project.config.base_url
        self.root = root
        self.sent = sent
        self.loader = IssueLoader(project.config, project.root)
        self.renderer = Renderer(project)
        self.hashes: dict[Path, str] = {}
        logo = self.renderer.logo
        self.logo_file = (
            layout.hashed_name(logo.path, self._hash(logo.source))
            if logo is not None and logo.source is not None
            else ""
        )
        """The logo's content-hashed path in the archive, which pages link ("": none, or a URL)."""

    def published(self, record: IssueRecord) -> bool:
        """Whether the issue belongs in the archive: sent here, or marked sent."""
        return record.status == "sent" or record.slug in self.sent

    def make(self, job: Job) -> Rendered:
        """The issue's record, and its pages and files when it is published.

        An issue that does not read is skipped when nothing says it was published (a draft
        being written must not keep a new send off the site); otherwise its error stops the
        build, which then writes nothing.
        """
        try:
            issue = self.loader.load(job.path)
        except NewsletterError as error:
            if job.published_before or job.name_slug in self.sent:
                raise
            return Rendered(None, {}, {}, skipped=str(error))
        record = IssueRecord(
            slug=issue.slug,
            status=issue.main.status,
            digest="",
            files=fingerprint(job.sources, self.root, job.known),
            sources=job.source_keys,
            entries=[],
        )
        if not self.published(record):
            return Rendered(record, {}, {})
        layout.check_slug(issue.slug, self.project.config.locales, job.path)
        pages, entries = {}, []
        assets: dict[Path, str] = {}
        missing: set[Path] = set()
        # Editions held back by the translation policy are not published (content/offers.py).
        for locale in offered_locales(issue, self.project.config):
            path = layout.issue_page(locale, issue.slug)
            page = self.renderer.render_web(issue, locale, self._links(issue, locale, path))
            pages[path] = page.html.encode("utf-8")
            assets.update(page.assets)
            missing |= page.missing
            entries.append(_entry(issue, locale, page.issue, page.image))
        files = {}
        for source, inside in sorted(assets.items()):
            digest = self._hash(source)
            for name in (inside, layout.hashed_name(inside, digest)):
                files[layout.issue_file(issue.slug, name)] = (source, digest)
        # Linked files that are missing are watched too: when one appears, the issue changed.
        linked = fingerprint([*assets, *sorted(missing)], self.root, job.known, self.hashes)
        read = {**record.files, **linked}
        record = replace(
            record,
            files=read,
            entries=entries,
            outputs=sorted([*pages, *files]),
            digest=digest_of(f"{name}:{info[2]}" for name, info in sorted(read.items())),
        )
        return Rendered(record, pages, files)

    def article(self, path: Path, locale: str) -> str:
        """A feed entry's content: the issue's text in `locale` with absolute URLs."""
        return self.renderer.render_article(self.loader.load(path), locale)

    def _links(self, issue: Issue, locale: str, page: str) -> PageLinks:
        def published_name(source: Path, inside: str) -> str:
            return layout.hashed_name(inside, self._hash(source))

        return PageLinks(
            home=layout.link(page, layout.index_page(locale, 1)),
            subscribe=f"{self.base}/subscribe",
            alternates={
                code: layout.link(page, layout.issue_page(code, issue.slug))
                for code in offered_locales(issue, self.project.config)
            },
            files=layout.link(page, layout.issue_file(issue.slug, layout.INDEX)),
            published=published_name,
            feeds={
                kind: layout.url_of(self.base, layout.feed_file(locale, kind))
                for kind in layout.FEEDS
            },
            logo=layout.link(page, self.logo_file) if self.logo_file else "",
            navigation=SLOT,
        )

    def _hash(self, path: Path) -> str:
        if path not in self.hashes:
            self.hashes[path] = file_hash(path)
        return self.hashes[path]


def make_all(issues: IssuePages, jobs: Sequence[Job], workers: int) -> list[Rendered]:
    """Every job done, in order; by `workers` processes when there are enough jobs."""
    if workers < 2 or len(jobs) < PARALLEL_FROM:
        return [issues.make(job) for job in jobs]
    # Forked workers inherit `issues` (and its compiled templates) instead of unpickling it.
    context = multiprocessing.get_context("fork")
    # The objects of the parent (modules, templates) are frozen for the fork, as Python's gc
    # documentation advises: the workers' collections then never walk them, which would
    # copy their memory pages (copy-on-write) and cost each worker time (docs/benchmarks.md).
    gc.freeze()
    try:
        pool = context.Pool(workers, initializer=_adopt, initargs=(issues,))
    finally:
        # The parent (`newsletter run` builds again and again) collects as before; what the
        # command's start-up froze (cli/context.project_of) goes back to the collector too.
        gc.unfreeze()
    with pool:
        return pool.map(_make, jobs, chunksize=max(1, len(jobs) // (workers * 8)))


_worker_issues: IssuePages | None = None
"""The IssuePages of a worker process (set once, when the pool forks it)."""


def _adopt(issues: IssuePages) -> None:
    global _worker_issues
    _worker_issues = issues


def _make(job: Job) -> Rendered:
    assert _worker_issues is not None
    return _worker_issues.make(job)


def _entry(issue: Issue, locale: str, meta: dict[str, Any], image: str) -> Entry:
    """What the indexes and feeds show of `issue` in `locale`."""
    edition = issue.editions[locale]
    return Entry(
        slug=issue.slug,
        locale=locale,
        title=meta["title"],
        summary=meta["preheader"],
        date=edition.date.isoformat() if edition.date else None,
        updated=edition.updated.isoformat() if edition.updated else None,
        authors=list(edition.authors),
        tags=list(edition.tags),
        image=image,
        minutes=meta["reading_minutes"],
    )
