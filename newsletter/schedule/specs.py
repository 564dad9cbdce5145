"""What a schedule says: send this issue at a time, or every week the oldest ready issue.

    Schedule        a schedule's settings, kept as its job's keyword arguments
    once, weekly    a Schedule from what the user typed (`2026-12-01 08:00`, `mon 08:00`)
    trigger_of      the APScheduler trigger that fires it
    wall_time       the clock reading a firing is for, on the schedule's own clock

A schedule at each reader's local time fires when that time first comes anywhere (UTC+14);
each delivery then waits for the same time in its reader's zone.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from slugify import slugify

from newsletter.errors import NewsletterError
from newsletter.timezones import InvalidTimeZone, time_zone

# The first time zone to reach a wall-clock time (Kiribati, UTC+14 all year; POSIX names have
# the sign reversed).
EARLIEST_ZONE = "Etc/GMT-14"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AT_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Schedule:
    """A schedule's settings: plain values, pickled into its APScheduler job."""

    kind: str
    """`once` (one issue at one time) or `weekly` (the oldest ready issue, every week)."""
    zone: str
    """The time zone its time is in (with local_time: of readers whose zone is unknown)."""
    at: str = ""
    """once: the wall-clock time, `2026-12-01 08:00:00`."""
    issue: str = ""
    """once: the issue's slug."""
    days: str = ""
    """weekly: `mon`, or several: `mon,thu`."""
    time: str = ""
    """weekly: `08:00` or `08:00:30`."""
    tag: str = ""
    """Only subscribers with this tag ("" for all)."""
    to: str = ""
    """Only subscribers of this segment: a name of the configuration's segments or an
    expression (docs/audience.md); "" for all. Checked when the schedule is added, read again
    when it fires."""
    local_time: bool = False
    """Deliver at this wall-clock time in each reader's own time zone."""

    @property
    def job_id(self) -> str:
        """A readable id: `send-ISSUE`, `weekly-mon-0800`, plus the tag when there is one."""
        if self.kind == "once":
            return f"send-{self.issue}"
        when = f"{self.days.replace(',', '-')}-{self.time.replace(':', '')}"
        audience = self.tag or self.to
        return f"weekly-{when}" + (f"-{slugify(audience, max_length=40)}" if audience else "")

    @property
    def clock(self) -> str:
        """The zone its trigger runs on."""
        return EARLIEST_ZONE if self.local_time else self.zone

    def describe(self) -> str:
        """`send ISSUE at 2026-12-01 08:00 Asia/Shanghai` or `every mon 08:00 ...`."""
        where = "each reader's local time" if self.local_time else self.zone
        if self.kind == "once":
            return f"{self.issue} at {self.at[:16]} {where}"
        return f"oldest ready issue every {self.days} {self.time} {where}"

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


def once(
    issue: str, at: str, zone: str, *, tag: str = "", to: str = "", local_time: bool = False
) -> Schedule:
    """A schedule that sends `issue` at the wall-clock time `at` in `zone`."""
    zone = check_zone(zone)
    try:
        moment = datetime.fromisoformat(at.strip())
    except ValueError:
        raise NewsletterError(
            f"--at {at!r} is not a date and time", hint='write it as --at "2026-12-01 08:00"'
        ) from None
    if moment.tzinfo is not None:
        raise NewsletterError(
            f"--at {at!r} carries its own offset", hint="give the zone with --tz instead"
        )
    return Schedule(
        kind="once", zone=zone, at=moment.strftime(AT_FORMAT), issue=issue, tag=tag, to=to,
        local_time=local_time,
    )  # fmt: skip


def weekly(
    when: str, zone: str, *, tag: str = "", to: str = "", local_time: bool = False
) -> Schedule:
    """A schedule from `mon 08:00` (or `mon,thu 08:00:30`) in `zone`."""
    zone = check_zone(zone)
    match = re.fullmatch(r"\s*([a-zA-Z,]+)\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", when)
    days = [day.strip().lower()[:3] for day in match.group(1).split(",")] if match else []
    if not match or not days or any(day not in DAYS for day in days):
        raise NewsletterError(
            f"{when!r} is not a weekly time",
            hint='write a day and a time: "mon 08:00" (days: ' + ", ".join(DAYS) + ")",
        )
    hour, minute, second = int(match.group(2)), int(match.group(3)), int(match.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise NewsletterError(f"{when!r}: no such time of day", hint='write "mon 08:00"')
    clock = f"{hour:02}:{minute:02}" + (f":{second:02}" if second else "")
    ordered = ",".join(day for day in DAYS if day in days)
    return Schedule(
        kind="weekly",
        zone=zone,
        days=ordered,
        time=clock,
        tag=tag,
        to=to,
        local_time=local_time,
    )


def check_zone(zone: str) -> str:
    """The IANA key `zone` names (canonical); NewsletterError naming --tz otherwise."""
    try:
        return time_zone(zone, "--tz")
    except InvalidTimeZone as error:
        raise NewsletterError(str(error), hint="use an IANA name such as Asia/Tokyo") from None


def trigger_of(schedule: Schedule) -> Any:
    """The APScheduler trigger that fires the schedule."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger

    clock = zoneinfo.ZoneInfo(schedule.clock)
    if schedule.kind == "once":
        return DateTrigger(run_date=datetime.strptime(schedule.at, AT_FORMAT), timezone=clock)
    hour, minute, *second = schedule.time.split(":")
    return CronTrigger(
        day_of_week=schedule.days, hour=int(hour), minute=int(minute),
        second=int(second[0]) if second else 0, timezone=clock,
    )  # fmt: skip


def wall_time(schedule: Schedule, scheduled: datetime) -> datetime:
    """The clock reading a firing at `scheduled` is for, naive, on the schedule's clock.

    Both firings of a 02:30 schedule on the night the clocks go back read 02:30.
    """
    return scheduled.astimezone(zoneinfo.ZoneInfo(schedule.clock)).replace(tzinfo=None, fold=0)
