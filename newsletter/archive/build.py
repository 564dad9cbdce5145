"""`newsletter archive`: the static archive site, rebuilt only where its inputs changed.

    issue files -> records (changed issues read again) -> published issues' pages and files
      -> index pages, feeds -> sitemap, robots.txt, 404
      -> the files whose bytes changed are written, those no longer made are removed

An issue is published once it was sent: a send of it is recorded in the database, or its front
matter says `status: sent` (an issue sent before the newsletter moved here). A full build and
an incremental one make the same bytes: both run this code, the second skips only the issues
whose files did not change.
"""

from __future__ import annotations

import fcntl
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from newsletter.archive import layout, sitemap
from newsletter.archive.feeds import FeedInfo, FeedItem, feeds
from newsletter.archive.issues import IssuePages, Job, make_all
from newsletter.archive.navigation import TEMPLATE as NAVIGATION_TEMPLATE
from newsletter.archive.navigation import fill, navigations
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
from newsletter.archive.state import IssueRecord, State
from newsletter.config import Config, Project
from newsletter.content.loader import slug_taken
from newsletter.content.slugs import make_slug
from newsletter.content.source import discover_issue_paths, file_names, split_name
from newsletter.errors import NewsletterError
from newsletter.render.i18n import N_

LOCK_FILE = ".newsletter-archive.lock"


def build_archive(
    project: Project,
    out: Path,
    *,
    sent: dict[str, datetime] | None = None,
    base_url: str | None = None,
    workers: int = 1,
) -> Report:
    """Build the archive of `project` into `out`: everything on the first build, then only what
    changed. `sent`: the issues whose send started, by slug, with the time it started.
    `workers` processes render when many issues changed (fork: only from a single thread)."""
    if base_url:
        project = replace(project, config=_with_base_url(project.config, base_url))
    try:
        out.mkdir(parents=True, exist_ok=True)
        # One build at a time per folder: `newsletter run` processes sharing it, or a command.
        with (out / LOCK_FILE).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _Build(project, out.resolve(), sent or {}, workers).run()
    except OSError as error:
        raise NewsletterError(
            f"cannot write the archive: {error.strerror or error}",
            path=error.filename or out,
            hint="give --out a folder you may write to",
        ) from error


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
    """An issue as this build found it: its record, or the job of reading it again."""

    key: str
    path: Path
    record: IssueRecord | None
    job: Job


@dataclass
class _Build:
    project: Project
    out: Path
    sent: dict[str, datetime]
    workers: int
    found: list[_Issue] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    fresh: dict[str, bytes] = field(default_factory=dict)
    """Issue pages rendered by this build (their navigation not filled in yet)."""
    by_slug: dict[str, _Issue] = field(default_factory=dict)
    """The published issues."""

    def __post_init__(self) -> None:
        self.config = self.project.config
        self.base = self.config.base_url
        self.root = self.project.root.absolute()
        self.state = State.load(self.out, shared_inputs(self.project, self.base))
        self.output = Output(self.out, self.state.files)
        self.issues = IssuePages(self.project, self.root, self.sent)

    def run(self) -> Report:
        self._scan()
        rendered = self._issue_pages()
        chosen = self._published()
        zone = ZoneInfo(self.config.timezone)
        published = [
            Published(record, self.sent.get(record.slug), path, zone) for path, record in chosen
        ]
        self.paths = {record.slug: path for path, record in chosen}
        pages = Pages(self.project, self.issues.renderer, published, self.issues.logo_file)
        for path, key, make in pages.all(self.state.inputs):
            self.output.make(path, key, make)
        self._navigation(pages)
        self._logo()
        articles = self._feeds(pages)
        self.output.put("sitemap.xml", sitemap.sitemap(pages.sitemap()))
        self.output.put("robots.txt", sitemap.robots(self.base))
        self.state.files, report = self.output.commit()
        self.state.issues = {i.key: i.record for i in self.found if i.record is not None}
        self.state.articles = articles
        self.state.save(self.out)
        report.issues, report.rendered, report.skipped = len(published), rendered, self.skipped
        return report

    def _scan(self) -> None:
        """Every issue, with its record when none of its files changed."""
        issues_dir = self.project.issues_path
        names = file_names(issues_dir)
        locales = self.config.locales
        for path in discover_issue_paths(issues_dir, locales):
            key = path.relative_to(issues_dir).as_posix()
            sources = issue_sources(path, names, locales)
            source_keys = sorted(relative_key(source, self.root) for source in sources)
            before = self.state.issues.get(key)
            record = None
            if before is not None and before.sources == source_keys:
                linked = [self.root / name for name in before.files if name not in source_keys]
                files = fingerprint([*sources, *linked], self.root, before.files)
                if same_content(files, before.files):
                    record = replace(before, files=files)
            job = Job(
                path,
                sources,
                source_keys,
                known=before.files if before else {},
                published_before=before is not None and self.issues.published(before),
                name_slug=make_slug(split_name(path, locales).base),
            )
            self.found.append(_Issue(key, path, record, job))

    def _issue_pages(self) -> int:
        """Stage the pages and files of the published issues: kept when unchanged, else
        rendered (in parallel when there are many); how many issues were rendered."""
        todo = []
        for issue in self.found:
            record = issue.record
            if record is None or (self.issues.published(record) and not self._intact(record)):
                todo.append(issue)
            elif self.issues.published(record):
                for path in record.outputs:
                    self.output.keep(path)
        made = make_all(self.issues, [issue.job for issue in todo], self.workers)
        for issue, rendered in zip(todo, made, strict=True):
            issue.record = rendered.record
            if rendered.skipped:
                self.skipped.append(rendered.skipped)
            for path, html in rendered.pages.items():
                self.output.put(path, html)
                self.fresh[path] = html
            for path, (source, digest) in rendered.files.items():
                self.output.copy(path, source, digest)
        return sum(1 for rendered in made if rendered.pages)

    def _intact(self, record: IssueRecord) -> bool:
        """Whether the pages and files of an unchanged issue are still as written."""
        return bool(record.entries and record.outputs) and all(
            self.output.intact(path) for path in record.outputs
        )

    def _published(self) -> list[tuple[Path, IssueRecord]]:
        """The issues of the archive, with their slugs checked."""
        published: list[tuple[Path, IssueRecord]] = []
        seen: dict[str, _Issue] = {}
        for issue in self.found:
            record = issue.record
            if record is None or not self.issues.published(record):
                continue
            if record.slug in seen:
                raise slug_taken(record.slug, seen[record.slug].key, issue.path)
            seen[record.slug] = issue
            self.by_slug[record.slug] = issue
            layout.check_slug(record.slug, self.config.locales, issue.path)
            published.append((issue.path, record))
        return published

    def _navigation(self, pages: Pages) -> None:
        """Fill in the previous/next navigation of the issue pages rendered now, and of those
        whose neighbours changed (in the page as written: it is intact, or it was rendered)."""
        keys: dict[str, dict[str, str]] = {}
        for navigation in navigations(pages.by_locale):
            record = self.by_slug[navigation.slug].record
            assert record is not None
            key = navigation.key
            keys.setdefault(navigation.slug, {})[navigation.locale] = key
            page = self.fresh.get(navigation.path)
            if page is None:
                if record.navigation.get(navigation.locale) == key:
                    continue
                page = (self.out / navigation.path).read_bytes()
            html = self.issues.renderer.render_page(
                navigation.locale,
                NAVIGATION_TEMPLATE,
                {**navigation.context(), "locale": pages.locale_layout(navigation.locale)},
            )
            self.output.put(navigation.path, fill(page, html))
        for slug, issue in self.by_slug.items():
            assert issue.record is not None
            if issue.record.navigation != keys.get(slug, {}):
                issue.record = replace(issue.record, navigation=keys.get(slug, {}))

    def _logo(self) -> None:
        """Publish the logo file (if the logo is one) under its name and its hashed name."""
        logo = self.issues.renderer.logo
        if logo is not None and logo.source is not None:
            digest = file_hash(logo.source)
            for path in (logo.path, self.issues.logo_file):
                self.output.copy(path, logo.source, digest)

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
                    cached = [digest, self.issues.article(self.paths[entry.slug], locale)]
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
            localizer = self.issues.renderer.localizer(locale)
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
            shown = [
                [vars(i.entry), i.url, i.published.isoformat(), i.updated.isoformat(), i.content]
                for i in items
            ]
            key = digest_of([self.state.inputs, json.dumps([vars(info), shown])])
            documents = functools.cache(functools.partial(feeds, info, items))
            for kind in layout.FEEDS:
                self.output.make(
                    layout.feed_file(locale, kind), key, functools.partial(_one, documents, kind)
                )
        return articles


def _one(documents: Callable[[], dict[str, bytes]], kind: str) -> bytes:
    """One of the documents made together (the Atom and RSS feeds of a locale)."""
    return documents()[kind]
