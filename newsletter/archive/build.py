"""`newsletter archive`: the static archive site, rebuilt only where its inputs changed.

    issue files -> records (changed issues loaded again) -> published issues
      -> issue pages and files -> index pages, feeds -> sitemap, robots.txt, 404
      -> the files whose bytes changed are written, those no longer made are removed

An issue is published once it was sent: a send of it is recorded in the database, or its front
matter says `status: sent` (an issue sent before the newsletter moved here). A full build and
an incremental one make the same bytes: both run this code, the second skips only the issues
whose files did not change.
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsletter.archive import layout, sitemap
from newsletter.archive.feeds import FeedInfo, FeedItem, feeds
from newsletter.archive.output import Output, Report
from newsletter.archive.pages import Pages, Published
from newsletter.archive.sources import (
    digest_of,
    file_hash,
    fingerprint,
    issue_sources,
    relative_key,
    same_content,
    shared_inputs,
)
from newsletter.archive.state import Entry, IssueRecord, State
from newsletter.config import Config, Project
from newsletter.content.loader import SLUG_HINT, IssueLoader
from newsletter.content.source import discover_issue_paths, file_names
from newsletter.errors import ContentError, NewsletterError
from newsletter.model import Issue
from newsletter.render.i18n import N_
from newsletter.render.pipeline import Renderer
from newsletter.render.urls import PageLinks

LOCK_FILE = ".newsletter-archive.lock"


def build_archive(
    project: Project,
    out: Path,
    *,
    sent: dict[str, datetime] | None = None,
    base_url: str | None = None,
) -> Report:
    """Build the archive of `project` into `out`: everything on the first build, then only what
    changed. `sent`: the issues whose send started, by slug, with the time it started."""
    if base_url:
        project = replace(project, config=_with_base_url(project.config, base_url))
    out.mkdir(parents=True, exist_ok=True)
    # One build at a time per folder: `newsletter run` processes sharing it, or a command.
    with (out / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _Build(project, out.resolve(), sent or {}).run()


def _with_base_url(config: Config, base_url: str) -> Config:
    try:
        return Config.model_validate({**config.model_dump(), "base_url": base_url})
    except ValidationError as error:
        problem = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise NewsletterError(
            f"--base-url {base_url!r}: {problem}", hint="give the URL the archive is served at"
        ) from error


@dataclass
class _Issue:
    """An issue as this build knows it: its record, and the loaded issue when it was read."""

    key: str
    path: Path
    record: IssueRecord
    loaded: Issue | None = None
    changed: bool = False


@dataclass
class _Build:
    project: Project
    out: Path
    sent: dict[str, datetime]
    issues: list[_Issue] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.project.config
        self.base = self.config.base_url
        self.root = self.project.root.resolve()
        self.state = State.load(self.out, shared_inputs(self.project, self.base))
        self.output = Output(self.out, self.state.files)
        self.loader = IssueLoader(self.config)
        self.renderer = Renderer(self.project)
        self.hashes: dict[Path, str] = {}

    def run(self) -> Report:
        self._scan()
        chosen = self._published()
        rendered = sum(self._issue_pages(issue) for issue in chosen)
        published = [
            Published(issue.record, self.sent.get(issue.record.slug), issue.path)
            for issue in chosen
        ]
        self.by_slug = {issue.record.slug: issue for issue in chosen}
        pages = Pages(self.project, self.renderer, published)
        for path, html in pages.all():
            self.output.put(path, html.encode("utf-8"))
        articles = self._feeds(pages)
        self.output.put("sitemap.xml", sitemap.sitemap(pages.sitemap()))
        self.output.put("robots.txt", sitemap.robots(self.base))
        self.state.files, report = self.output.commit()
        self.state.issues = {issue.key: issue.record for issue in self.issues}
        self.state.articles = articles
        self.state.save(self.out)
        report.issues, report.rendered = len(published), rendered
        return report

    def _scan(self) -> None:
        """A record of every issue: kept when its files did not change, else read again."""
        issues_dir = self.project.issues_path
        names = file_names(issues_dir)
        locales = self.config.locales
        for path in discover_issue_paths(issues_dir, locales):
            key = path.relative_to(issues_dir).as_posix()
            sources = issue_sources(path, names, locales)
            source_keys = sorted(relative_key(source, self.root) for source in sources)
            before = self.state.issues.get(key)
            if before is not None and before.sources == source_keys:
                linked = [self.root / name for name in before.files if name not in source_keys]
                files = fingerprint([*sources, *linked], self.root, before.files)
                if same_content(files, before.files):
                    self.issues.append(_Issue(key, path, replace(before, files=files)))
                    continue
            issue = self.loader.load(path)
            record = IssueRecord(
                slug=issue.slug,
                status=issue.main.status,
                digest="",
                files=fingerprint(sources, self.root, before.files if before else {}),
                sources=source_keys,
                entries=[],
            )
            self.issues.append(_Issue(key, path, record, issue, changed=True))

    def _published(self) -> list[_Issue]:
        """The issues of the archive: sent here, or marked sent."""
        published: list[_Issue] = []
        seen: dict[str, _Issue] = {}
        for issue in self.issues:
            record = issue.record
            if record.status != "sent" and record.slug not in self.sent:
                continue
            if record.slug in seen:
                raise ContentError(
                    f"issue slug {record.slug!r} is already used by {seen[record.slug].key}",
                    path=issue.path,
                    hint=SLUG_HINT,
                )
            seen[record.slug] = issue
            layout.check_slug(record.slug, self.config.locales, issue.path)
            published.append(issue)
        return published

    def _issue_pages(self, issue: _Issue) -> bool:
        """Stage the issue's pages and files; whether they had to be rendered."""
        record = issue.record
        if (
            not issue.changed
            and record.entries
            and record.outputs
            and all(self.output.intact(path) for path in record.outputs)
        ):
            for path in record.outputs:
                self.output.keep(path)
            return False
        loaded = self._load(issue)
        outputs, entries = [], []
        assets: dict[Path, str] = {}
        for locale in loaded.locales:
            page_path = layout.issue_page(locale, loaded.slug)
            page = self.renderer.render_web(loaded, locale, self._links(loaded, locale, page_path))
            self.output.put(page_path, page.html.encode("utf-8"))
            outputs.append(page_path)
            assets.update(page.assets)
            entries.append(_entry(loaded, locale, page.issue, page.image))
        for source, inside in sorted(assets.items()):
            digest = self._hash(source)
            for name in (inside, layout.hashed_name(inside, digest)):
                path = layout.issue_file(loaded.slug, name)
                self.output.copy(path, source, digest)
                outputs.append(path)
        sources = [self.root / name for name in record.sources]
        files = fingerprint([*sources, *assets], self.root, record.files)
        issue.record = replace(
            record,
            files=files,
            entries=entries,
            outputs=sorted(set(outputs)),
            digest=digest_of(f"{name}:{info[2]}" for name, info in sorted(files.items())),
        )
        return True

    def _links(self, issue: Issue, locale: str, page: str) -> PageLinks:
        def published_name(source: Path, inside: str) -> str:
            return layout.hashed_name(inside, self._hash(source))

        home = layout.index_page(locale, 1)
        return PageLinks(
            home=layout.link(page, home),
            subscribe=f"{self.base}/subscribe",
            alternates={
                code: layout.link(page, layout.issue_page(code, issue.slug))
                for code in issue.locales
            },
            files=layout.link(page, layout.issue_file(issue.slug, layout.INDEX)),
            published=published_name,
            feeds={
                kind: layout.url_of(self.base, layout.feed_file(locale, kind))
                for kind in layout.FEEDS
            },
        )

    def _feeds(self, pages: Pages) -> dict[str, list[str]]:
        """Stage the feeds of every locale; the feed contents to remember."""
        articles: dict[str, list[str]] = {}
        limit = self.config.feed_entries or None
        for locale, entries in pages.by_locale.items():
            items = []
            for published, entry in entries[:limit]:
                key = f"{entry.slug}/{locale}"
                digest = published.record.digest
                cached = self.state.articles.get(key)
                if cached is None or cached[0] != digest:
                    issue = self._load(self.by_slug[entry.slug])
                    content = self.renderer.render_article(issue, locale)
                    cached = [digest, content]
                articles[key] = cached
                items.append(
                    FeedItem(
                        entry=entry,
                        url=layout.url_of(self.base, layout.issue_page(locale, entry.slug)),
                        published=published.date(entry),
                        updated=published.updated(entry),
                        content=cached[1],
                    )
                )
            localizer = self.renderer.localizer(locale)
            info = FeedInfo(
                title=self.config.name,
                description=localizer.gettext(N_("The newest issues of %(newsletter)s"))
                % {"newsletter": self.config.name},
                locale=locale,
                home=layout.url_of(self.base, layout.index_page(locale, 1)),
                atom=layout.url_of(self.base, layout.feed_file(locale, "atom")),
                rss=layout.url_of(self.base, layout.feed_file(locale, "rss")),
                author=self.config.sender_name or self.config.name,
            )
            for kind, document in feeds(info, items).items():
                self.output.put(layout.feed_file(locale, kind), document)
        return articles

    def _load(self, issue: _Issue) -> Issue:
        if issue.loaded is None:
            issue.loaded = self.loader.load(issue.path)
        return issue.loaded

    def _hash(self, path: Path) -> str:
        if path not in self.hashes:
            self.hashes[path] = file_hash(path)
        return self.hashes[path]


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
