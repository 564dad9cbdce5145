"""The steps of each sequence, read from `sequences/NAME/NN-slug.md` (translations beside).

Each step is a single-file issue with two more front matter keys:

    after: 3 days        how long after a subscriber enters the sequence the step is due
                         (minutes, hours, days or weeks; `0 days`: at once)
    to: 'plan = "pro"'   optional: only subscribers of this segment get the step

Steps go out in the order of their numbers. A step's version is the bytes of its files: an
edited step is a new version, sent to those who have not reached the step yet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from newsletter.audience.targets import Target, target_of
from newsletter.config import Project
from newsletter.content.loader import IssueLoader
from newsletter.content.source import file_names, is_markdown, split_name
from newsletter.deliver.models import STEP_MAILINGS
from newsletter.errors import ContentError, NewsletterError, NotFoundError
from newsletter.model import Issue

SEQUENCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
STEP_NAME = re.compile(r"(\d{1,4})-[a-z0-9][a-z0-9_-]{0,79}")
_AFTER = re.compile(r"\s*(\d{1,5})\s*(minute|hour|day|week)s?\s*", re.IGNORECASE)
_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
AFTER_HINT = (
    "write `after: 0 days` (at once), `after: 3 days`, `after: 12 hours` or `after: 2 weeks`"
)
STEP_SLUG_PREFIX = "sequence-"
"""A step's issue has the slug `sequence-NAME-STEP` (the preview lists it under that name)."""
MAILING_PREFIX = STEP_MAILINGS
"""Mailings of sequence steps are named `sequence:NAME/STEP@VERSION`: no issue slug has a colon."""


@dataclass(frozen=True)
class Step:
    """One step of a sequence, as its files say now."""

    sequence: str
    key: str
    """Its file name without locale and suffix (`01-welcome`): the same across edits."""
    number: int
    after: timedelta
    to: str
    """The segment it is limited to, as written ("" for every member)."""
    target: Target | None
    issue: Issue
    version: str
    """A digest of its files' bytes: a new version when any of them changes."""

    @property
    def mailing_name(self) -> str:
        """The name of the mailing that sends this version of the step."""
        return f"{MAILING_PREFIX}{self.sequence}/{self.key}@{self.version}"

    @property
    def draft(self) -> bool:
        """Its front matter says `status: draft`: it waits, and so do the members due for it."""
        return self.issue.main.own_status == "draft"


@dataclass(frozen=True)
class Sequence:
    """A sequence and its steps in order."""

    name: str
    folder: Path
    steps: tuple[Step, ...]

    def later_than(self, step: Step) -> list[str]:
        """The keys of the steps after `step`: a member sent one of them has passed `step`."""
        return [later.key for later in self.steps if later.number > step.number]


def sequence_names(project: Project) -> list[str]:
    """The sequences of the project: the folders under sequences_dir, sorted."""
    root = project.sequences_path
    return [
        name
        for name in file_names(root)
        if not name.startswith((".", "_")) and (root / name).is_dir()
    ]


def load_sequences(project: Project) -> list[Sequence]:
    """Every sequence of the project; ContentError for the first broken one."""
    return [load_sequence(project, name) for name in sequence_names(project)]


def load_sequence(project: Project, name: str) -> Sequence:
    """The sequence `name` with its steps in order; ContentError naming the file and the fix."""
    folder = project.sequences_path / name
    # The name first: a given one (`../issues`) never leads to a folder outside sequences/.
    if not SEQUENCE_NAME.fullmatch(name):
        raise ContentError(
            "a sequence's folder name is lowercase letters, digits, - and _ (at most 60)",
            path=folder,
            hint="rename the folder, such as sequences/welcome",
        )
    if not folder.is_dir():
        raise NotFoundError(
            f"no sequence {name!r}",
            path=project.sequences_path,
            hint="run `newsletter sequence status` to see the sequences",
        )
    loader = IssueLoader(project.config, project.root)
    locales = project.config.locales
    steps: list[Step] = []
    for file_name in file_names(folder):
        path = folder / file_name
        if file_name.startswith((".", "_")) or not is_markdown(path) or not path.is_file():
            continue
        if split_name(path, locales).locale is not None:
            continue  # A translation: read with its step.
        steps.append(_step(project, loader, name, path))
    steps.sort(key=lambda step: step.number)
    for before, step in itertools.pairwise(steps):
        if before.number == step.number:
            raise ContentError(
                f"steps {before.key} and {step.key} have the same number",
                path=step.issue.path,
                hint="number each step of a sequence once: 01-, 02-, 03- ...",
            )
    return Sequence(name, folder, tuple(steps))


def _step(project: Project, loader: IssueLoader, sequence: str, path: Path) -> Step:
    key = split_name(path, project.config.locales).base
    named = STEP_NAME.fullmatch(key)
    if not named:
        raise ContentError(
            "a step's file name is its number, a dash and a name in lowercase",
            path=path,
            hint="rename it like 01-welcome.md (translations: 01-welcome.de.md)",
        )
    # Its own slug: steps of two sequences may share a file name, and an issue its slug.
    issue = dataclasses.replace(loader.load(path), slug=f"{STEP_SLUG_PREFIX}{sequence}-{key}")
    main = issue.main
    after = parse_after(main.extra.get("after"), main.source)
    to = main.extra.get("to") or ""
    if not isinstance(to, str):
        raise ContentError(
            "to: must be a segment in quotes",
            path=main.source,
            line=front_matter_line(main.source, "to"),
            hint="""write the segment as text, such as to: 'plan = "pro"'""",
        )
    target = None
    if to.strip():
        try:
            target = target_of(to, project.config, option="to")
        except NewsletterError as error:
            raise ContentError(
                error.message, path=main.source, line=front_matter_line(main.source, "to"),
                hint=error.hint,
            ) from None  # fmt: skip
    return Step(
        sequence=sequence,
        key=key,
        number=int(named.group(1)),
        after=after,
        to=to.strip(),
        target=target,
        issue=issue,
        version=_version(issue),
    )


def parse_after(value: object, source: Path) -> timedelta:
    """The delay `after:` gives; ContentError naming the file and line when it is missing or
    not a number of minutes, hours, days or weeks."""
    line = front_matter_line(source, "after")
    if value is None:
        raise ContentError(
            "a step needs `after:`: when it is due after a subscriber enters the sequence",
            path=source,
            line=1,
            hint=AFTER_HINT,
        )
    matched = _AFTER.fullmatch(str(value)) if isinstance(value, str | int) else None
    if isinstance(value, int) and not isinstance(value, bool):
        matched = None  # A bare number says no unit.
    if matched is None:
        raise ContentError(
            f"after: {value!r} is not a delay", path=source, line=line, hint=AFTER_HINT
        )
    return timedelta(seconds=int(matched.group(1)) * _UNITS[matched.group(2).lower()])


def front_matter_line(source: Path, key: str) -> int | None:
    """The line of `key:` (YAML) or `key =` (TOML) in the file's front matter, if it is there."""
    pattern = re.compile(rf"\s*{re.escape(key)}\s*[:=]")
    try:
        lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines[:200], start=1):
        if pattern.match(line):
            return number
    return None


def _version(issue: Issue) -> str:
    digest = hashlib.sha256()
    for edition in issue.editions.values():
        digest.update(edition.source.name.encode() + b"\0")
        digest.update(edition.source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
