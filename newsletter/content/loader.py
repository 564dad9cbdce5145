"""Load issues from disk: issue folders with story files, or single Markdown files, in every locale.

issues/2024-03-10-ai-week/issue.md        front matter + lead (+ closing after <!-- stories -->)
issues/2024-03-10-ai-week/issue.zh.md     its translation
issues/2024-03-10-ai-week/stories/*.md    one story each, translations as NAME.LOCALE.md
issues/2024-04-tmai.md                    a single file: sections and stories from headings
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from newsletter.config import Config
from newsletter.content.documents import DocumentReader
from newsletter.content.folder import load_folder
from newsletter.content.local_files import IssueFiles, issue_root
from newsletter.content.markdown import markdown_parser
from newsletter.content.single import load_single_file
from newsletter.content.source import (
    STORIES_DIR,
    discover_issue_paths,
    file_names,
    is_markdown,
    split_name,
    translation_candidates,
)
from newsletter.errors import ContentError, NotFoundError
from newsletter.model import Issue


class IssueLoader:
    """Reads issues with one configuration and one Markdown parser."""

    def __init__(self, config: Config, root: Path | None = None) -> None:
        self.config = config
        self.root = root
        """The project folder: no file of an issue may lead out of it (None: the issue's own
        folder bounds it)."""
        self.parser = markdown_parser()
        self.reader = DocumentReader(config, self.parser)
        self._names: dict[Path, list[str]] = {}
        self._rules: dict[Path, IssueFiles] = {}

    def load(self, path: Path) -> Issue:
        """The issue at `path` (a folder or a Markdown file) with all its translations."""
        sources, rule = self._markdown_of(path), self._rule(path)
        _refuse_links_out(rule, sources)
        if path.is_dir():
            issue = load_folder(self.reader, path)
        elif not path.exists():
            raise NotFoundError(
                "no such issue file or folder",
                path=path,
                hint="run `newsletter list` to see the issues",
            )
        else:
            issue = load_single_file(self.reader, path, self._names_in(path.parent))
        issue.project_root = self.root
        _refuse_files_outside(issue, rule if issue.path == path else None, set(sources))
        return issue

    def load_all(self, issues_dir: Path) -> list[Issue]:
        """Every issue in `issues_dir`, in folder order; ContentError on the first broken one or a duplicate slug."""
        issues = [self.load(path) for path in discover_issue_paths(issues_dir, self.config.locales)]
        for issue, first in duplicate_slugs(issues):
            raise slug_taken(
                issue.slug, first.path.name, issue.main.source, issue.main.meta_lines.get("slug")
            )
        return issues

    def _rule(self, path: Path) -> IssueFiles:
        """The rule for the files of the issue at `path`, made once per folder: single-file
        issues share the issues folder, whose real path (a system call per component of it)
        an archive of a thousand issues would otherwise resolve a thousand times. A loader
        lives for one command or one archive build."""
        root = issue_root(path)
        if root not in self._rules:
            self._rules[root] = IssueFiles(path, self.root)
        return self._rules[root]

    def _markdown_of(self, path: Path) -> list[Path]:
        """The Markdown files loading `path` reads: the file and its translations, or the
        issue folder's own files and its stories."""
        if path.is_dir():
            stories = path / STORIES_DIR
            return [
                folder / name
                for folder in (path, stories)
                for name in file_names(folder)
                if is_markdown(folder / name)
            ]
        if not path.exists():
            return []
        base = split_name(path, self.config.locales).base
        return [path, *translation_candidates(path, base, self._names_in(path.parent))]

    def _names_in(self, folder: Path) -> list[str]:
        """The sorted file names in `folder`, listed once per loader (a loader lives for one
        command or request, so the listing cannot go stale under it)."""
        if folder not in self._names:
            self._names[folder] = file_names(folder)
        return self._names[folder]


def _refuse_links_out(rule: IssueFiles, sources: Iterable[Path]) -> None:
    """ContentError for a Markdown file an issue's loading would read that is a symbolic link
    leading out of the project (by the issue's `rule`), before a byte of it is read: a parse
    error would quote it, and a link to a FIFO or a device would never end."""
    for source in sources:
        if not rule.contains(source):
            raise _linked_out(source, rule)


def _linked_out(source: Path, rule: IssueFiles) -> ContentError:
    return ContentError(
        f"is a symbolic link to a file outside {rule.bound_name} ({source.resolve()}): "
        "it is never read into an issue",
        path=source,
        hint="copy the file into the issue instead of linking to it",
    )


def _refuse_files_outside(issue: Issue, rule: IssueFiles | None, checked: Collection[Path]) -> None:
    """ContentError for a Markdown file of the issue that is a symbolic link leading out of the
    project: its text would be published. `rule`: the issue's rule, which found the files
    `checked` inside (None: none checked yet)."""
    if rule is None:
        rule, checked = IssueFiles(issue.path, issue.project_root), ()
    sources = dict.fromkeys(
        source
        for edition in issue.editions.values()
        for source in (edition.source, *(story.source for story in edition.stories))
    )
    for source in sources:
        if source not in checked and not rule.contains(source):
            raise _linked_out(source, rule)


SLUG_HINT = "give one of them another `slug:` in its front matter, or rename it"


def slug_taken(slug: str, first: str, path: Path, line: int | None = None) -> ContentError:
    """The error for an issue whose slug `first` (a file or folder name) already has."""
    return ContentError(
        f"issue slug {slug!r} is already used by {first}", path=path, line=line, hint=SLUG_HINT
    )


def duplicate_slugs(issues: Iterable[Issue]) -> list[tuple[Issue, Issue]]:
    """(issue, the earlier issue with the same slug) for every slug used twice."""
    seen: dict[str, Issue] = {}
    found = []
    for issue in issues:
        if issue.slug in seen:
            found.append((issue, seen[issue.slug]))
        seen.setdefault(issue.slug, issue)
    return found
