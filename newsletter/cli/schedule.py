"""`newsletter schedule`: sends at a time, or every week; `newsletter run` fires them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from newsletter.cli.context import console, database, project_of, reports_errors

if TYPE_CHECKING:
    from newsletter.schedule.store import Planned
    from newsletter.schedules import Change

TZ = typer.Option(
    None,
    "--tz",
    help="IANA time zone of the time (default: the configured timezone).",
    show_default=False,
)
TAG = typer.Option("", "--tag", help="Send only to subscribers with this topic (tag).")
TO = typer.Option(
    "",
    "--to",
    help="Send only to a segment: a name of the configuration's segments, or an expression (docs/audience.md).",
)
LOCAL_TIME = typer.Option(
    False, "--local-time", help="Deliver at this wall-clock time in each reader's own time zone."
)
SCHEDULE_ID = typer.Argument(..., help="The schedule's id (see `schedule list`).")
NOT_RUNNING = "no `newsletter run` is running: schedules fire only while one runs"


def register(app: typer.Typer) -> None:
    """Add the schedule commands to `app`."""
    group = typer.Typer(
        help="Schedule sends: one issue at a time, or the next ready issue every week.",
        no_args_is_help=True,
    )
    group.command("add")(reports_errors(add))
    group.command("weekly")(reports_errors(weekly))
    group.command("list")(reports_errors(list_schedules))
    group.command("cancel")(reports_errors(cancel))
    group.command("pause")(reports_errors(pause))
    group.command("resume")(reports_errors(resume))
    app.add_typer(group, name="schedule")


def add(
    ctx: typer.Context,
    issue: str = typer.Argument(..., help="The issue (slug, folder or file).", show_default=False),
    at: str = typer.Option(
        ..., "--at", help='Date and time: "2026-12-01 08:00".', show_default=False
    ),
    tz: str | None = TZ,
    tag: str = TAG,
    to: str = TO,
    local_time: bool = LOCAL_TIME,
) -> None:
    """Send one issue at a date and time.

    The issue is rendered when the schedule fires, so edits until then go out.

    Example: newsletter schedule add 2024-03-10-ai-revolution-accelerates --at "2026-12-01 08:00" --tz Asia/Shanghai
    """
    from newsletter.db import utcnow
    from newsletter.schedules import schedule_once

    project = project_of(ctx)
    item = schedule_once(
        project, database(ctx), issue, at, tz, tag=tag, to=to, local_time=local_time,
        now=utcnow(),
    )  # fmt: skip
    _print_added(item)


def weekly(
    ctx: typer.Context,
    when: str = typer.Argument(
        ..., help='Day(s) and time: "mon 08:00", "mon,thu 07:30".', show_default=False
    ),
    tz: str | None = TZ,
    tag: str = TAG,
    to: str = TO,
    local_time: bool = LOCAL_TIME,
) -> None:
    """Every week, send the oldest issue marked `status: ready` that was not sent yet.

    When no issue is ready, the firing is logged and the editor_address gets a notice.

    Example: newsletter schedule weekly "mon 08:00" --tz Europe/Berlin
    """
    from newsletter.db import utcnow
    from newsletter.schedules import schedule_weekly

    project = project_of(ctx)
    item = schedule_weekly(
        project, database(ctx), when, tz, tag=tag, to=to, local_time=local_time, now=utcnow()
    )
    _print_added(item)


def list_schedules(ctx: typer.Context) -> None:
    """Show the schedules with their next time (in their zone and in UTC) and last firing.

    Example: newsletter schedule list
    """
    from newsletter.db import utcnow
    from newsletter.schedule.leader import leader
    from newsletter.schedules import schedules

    engine = database(ctx)
    found = schedules(project_of(ctx), engine)
    out = console()
    if not found:
        out.print('no schedules; add one with `newsletter schedule weekly "mon 08:00"`')
    for item, fired in found:
        audience = "all subscribers"
        if item.schedule.tag:
            audience = f"subscribers tagged {item.schedule.tag}"
        elif item.schedule.to:
            audience = f"the segment {item.schedule.to}"
        out.print(f"{item.id}: {item.schedule.describe()}, to {audience}", markup=False)
        when = f"{_next(item)} ({_utc(item)})" if item.next_run else "paused"
        before = (
            f"; last: {fired.wall_time[:16]} {fired.state} {fired.issue} {fired.detail}".rstrip()
            if fired
            else ""
        )
        out.print(f"  next: {when}{before}", markup=False)
    holder = leader(engine, utcnow())
    out.print(f"schedule led by {holder}" if holder else NOT_RUNNING, markup=False)


def cancel(
    ctx: typer.Context,
    schedule_id: str = SCHEDULE_ID,
) -> None:
    """Delete a schedule; sends it already started go on.

    Example: newsletter schedule cancel weekly-mon-0800
    """
    from newsletter.schedules import Change

    removed = _edit(ctx, Change.CANCEL, schedule_id)
    console().print(f"cancelled {removed.id}: {removed.schedule.describe()}", markup=False)


def pause(
    ctx: typer.Context,
    schedule_id: str = SCHEDULE_ID,
) -> None:
    """Stop a schedule from firing until it is resumed.

    Example: newsletter schedule pause weekly-mon-0800
    """
    from newsletter.schedules import Change

    paused = _edit(ctx, Change.PAUSE, schedule_id)
    console().print(f"paused {paused.id}", markup=False)


def resume(
    ctx: typer.Context,
    schedule_id: str = SCHEDULE_ID,
) -> None:
    """Let a paused schedule fire again from its next time on (times missed while paused are skipped).

    Example: newsletter schedule resume weekly-mon-0800
    """
    from newsletter.schedules import Change

    resumed = _edit(ctx, Change.RESUME, schedule_id)
    console().print(f"resumed {resumed.id}: next {_next(resumed)}", markup=False)


# -- Steps --------------------------------------------------------------------------------------


def _print_added(item: Planned) -> None:
    out = console()
    out.print(f"scheduled {item.id}: {item.schedule.describe()}", markup=False)
    out.print(f"next: {_next(item)} ({_utc(item)})", markup=False)
    if item.schedule.local_time:
        out.print("readers get it at that time in their own time zone", markup=False)


def _edit(ctx: typer.Context, change: Change, schedule_id: str) -> Planned:
    from newsletter.schedules import change_schedule

    return change_schedule(project_of(ctx), database(ctx), change, schedule_id)


def _next(item: Planned) -> str:
    """The next firing on the schedule's own clock ('paused' while paused); at local time,
    that clock's reading is each reader's."""
    from newsletter.schedule.specs import wall_time

    if item.next_run is None:
        return "paused"
    where = "local" if item.schedule.local_time else item.schedule.zone
    return f"{wall_time(item.schedule, item.next_run):%a %Y-%m-%d %H:%M} {where}"


def _utc(item: Planned) -> str:
    from datetime import UTC

    return f"{item.next_run.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if item.next_run else ""
