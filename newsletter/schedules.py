"""Schedules as the CLI and the API make and change them: checked, then stored as jobs.

    schedule_once    one issue at a date and time (checked: not a draft, not sent, a segment
                     that reads, a time to come)
    schedule_weekly  the next ready issue every week
    change_schedule  pause, resume or cancel one
    schedules        every schedule with its next time and its last firing

This module joins content (the issue), audience (the segment) and the schedule's job store, so
`newsletter schedule` and /api/v1/schedules add exactly the same schedules.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from newsletter.config import Project
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.schedule.models import Firing
    from newsletter.schedule.specs import Schedule
    from newsletter.schedule.store import Planned


class Change(StrEnum):
    """What can be done to a schedule."""

    PAUSE = "pause"
    """Stop it from firing until it is resumed."""
    RESUME = "resume"
    """Let it fire again from its next time on (times missed while paused are skipped)."""
    CANCEL = "cancel"
    """Delete it; sends it already started go on."""


def schedule_once(
    project: Project,
    engine: Engine,
    issue: str,
    at: str,
    tz: str | None,
    *,
    tag: str = "",
    to: str = "",
    local_time: bool = False,
    now: datetime,
) -> Planned:
    """Schedule the issue called `issue` at `at` (in `tz`, else the newsletter's zone)."""
    from newsletter.deliver.report import find_mailing
    from newsletter.schedule import specs
    from newsletter.sends import check_not_draft, load_issue

    zone = _checked(project, tz, tag, to)
    loaded = load_issue(project, issue)
    check_not_draft(loaded)
    if find_mailing(engine, loaded.slug) is not None:
        raise NewsletterError(
            f"issue {loaded.slug} has been sent already",
            hint=f"`newsletter send {loaded.slug}` sends it to subscribers who joined since",
        )
    schedule = specs.once(loaded.slug, at, zone, tag=tag, to=to, local_time=local_time)
    return _add(project, engine, schedule, now)


def schedule_weekly(
    project: Project,
    engine: Engine,
    when: str,
    tz: str | None,
    *,
    tag: str = "",
    to: str = "",
    local_time: bool = False,
    now: datetime,
) -> Planned:
    """Every week at `when` (`mon 08:00`), send the oldest ready issue not sent yet."""
    from newsletter.schedule import specs

    zone = _checked(project, tz, tag, to)
    return _add(
        project, engine, specs.weekly(when, zone, tag=tag, to=to, local_time=local_time), now
    )


def change_schedule(project: Project, engine: Engine, change: Change, schedule_id: str) -> Planned:
    """Pause, resume or cancel the schedule `schedule_id`; it as it is now (or was)."""
    from newsletter.schedule import store

    act = {Change.PAUSE: store.pause, Change.RESUME: store.resume, Change.CANCEL: store.remove}
    with store.editing(engine, project.config) as scheduler:
        return act[change](scheduler, schedule_id)


def schedules(project: Project, engine: Engine) -> list[tuple[Planned, Firing | None]]:
    """Every schedule, the next to fire first (paused ones last), with its last firing."""
    from newsletter.schedule.firing import last_firings
    from newsletter.schedule.store import editing, planned

    with editing(engine, project.config) as scheduler:
        found = planned(scheduler)
    last = last_firings(engine, [item.id for item in found])
    return [(item, last.get(item.id)) for item in found]


def check_audience(project: Project, tag: str, to: str) -> None:
    """NewsletterError for a tag with a segment, or a segment that does not read: found when
    the schedule is added, not when it fires."""
    from newsletter.audience.targets import target_of

    if tag and to:
        raise NewsletterError(
            "choose one of --to and --tag", hint="--tag NAME is --to 'topic = \"NAME\"'"
        )
    if to:
        target_of(to, project.config)


def _checked(project: Project, tz: str | None, tag: str, to: str) -> str:
    """The zone a schedule's time is in, once the settings and its audience are checked."""
    project.require_settings("a schedule")
    check_audience(project, tag, to)
    return project.config.timezone if tz is None else tz


def _add(project: Project, engine: Engine, schedule: Schedule, now: datetime) -> Planned:
    from newsletter.schedule.store import add, editing

    with editing(engine, project.config) as scheduler:
        return add(scheduler, schedule, now)
