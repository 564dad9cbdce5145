"""/api/v1/schedules: what `newsletter schedule` does, for programs (newsletter/schedules.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from newsletter.access import audit
from newsletter.access.keys import KeyHolder, Scope
from newsletter.schedule.models import Firing
from newsletter.schedule.store import Planned
from newsletter.schedules import Change, change_schedule, schedule_once, schedule_weekly, schedules
from newsletter.web.api.auth import require
from newsletter.web.api.problems import Refused
from newsletter.web.api.schemas import FiringOut, NewSchedule, ScheduleOut
from newsletter.web.site import Site, current_site

router = APIRouter(tags=["schedules"])
READ = require(Scope.SENDS_READ)
WRITE = require(Scope.SCHEDULES_WRITE)
SITE = Depends(current_site)


@router.get("/schedules", response_model=list[ScheduleOut], summary="List schedules")
def list_schedules(caller: KeyHolder = READ, site: Site = SITE) -> list[ScheduleOut]:
    """Every schedule, the next to fire first (paused ones last), with its last firing."""
    return [_out(item, fired) for item, fired in schedules(site.project, site.engine)]


@router.post("/schedules", response_model=ScheduleOut, status_code=201, summary="Add a schedule")
def add_schedule(new: NewSchedule, caller: KeyHolder = WRITE, site: Site = SITE) -> ScheduleOut:
    """Schedule one issue `at` a time, or the next ready issue `weekly`; checked as the CLI
    checks it (a draft, a sent issue, a segment that does not read, a time gone)."""
    once = new.issue is not None or new.at is not None
    if once == (new.weekly is not None) or (once and not (new.issue and new.at)):
        raise Refused(422, "give `issue` and `at`, or `weekly`", 'such as {"weekly": "mon 08:00"}')
    project, engine, now = site.project, site.engine, site.clock()
    if new.weekly is not None:
        item = schedule_weekly(
            project, engine, new.weekly, new.timezone, tag=new.tag, to=new.to,
            local_time=new.local_time, now=now,
        )  # fmt: skip
    else:
        assert new.issue is not None and new.at is not None
        item = schedule_once(
            project, engine, new.issue, new.at, new.timezone, tag=new.tag, to=new.to,
            local_time=new.local_time, now=now,
        )  # fmt: skip
    audit.record_now(engine, audit.key_actor(caller), "schedule.add", item.id, now)
    return _out(item, None)


@router.post("/schedules/{schedule_id}/pause", response_model=ScheduleOut, summary="Pause")
def pause_schedule(schedule_id: str, caller: KeyHolder = WRITE, site: Site = SITE) -> ScheduleOut:
    """Stop the schedule from firing until it is resumed."""
    return _out(_change(site, caller, Change.PAUSE, schedule_id), None)


@router.post("/schedules/{schedule_id}/resume", response_model=ScheduleOut, summary="Resume")
def resume_schedule(schedule_id: str, caller: KeyHolder = WRITE, site: Site = SITE) -> ScheduleOut:
    """Let it fire again from its next time on (times missed while paused are skipped)."""
    return _out(_change(site, caller, Change.RESUME, schedule_id), None)


@router.delete("/schedules/{schedule_id}", response_model=ScheduleOut, summary="Cancel")
def cancel_schedule(schedule_id: str, caller: KeyHolder = WRITE, site: Site = SITE) -> ScheduleOut:
    """Delete the schedule (sends it already started go on); what it was."""
    return _out(_change(site, caller, Change.CANCEL, schedule_id), None)


def _change(site: Site, caller: KeyHolder, change: Change, schedule_id: str) -> Planned:
    """The schedule changed, and the change in the audit log."""
    changed = change_schedule(site.project, site.engine, change, schedule_id)
    actor = audit.key_actor(caller)
    audit.record_now(site.engine, actor, f"schedule.{change.value}", changed.id, site.clock())
    return changed


def _out(item: Planned, fired: Firing | None) -> ScheduleOut:
    schedule = item.schedule
    return ScheduleOut(
        id=item.id, kind=schedule.kind, description=schedule.describe(), issue=schedule.issue,
        at=schedule.at, days=schedule.days, time=schedule.time, timezone=schedule.zone,
        tag=schedule.tag, to=schedule.to, local_time=schedule.local_time,
        paused=item.next_run is None, next_run=item.next_run,
        last_firing=FiringOut(
            wall_time=fired.wall_time, state=fired.state, issue=fired.issue, detail=fired.detail
        ) if fired else None,
    )  # fmt: skip
