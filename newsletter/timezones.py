"""Time zones as people write them: IANA keys (`Europe/Berlin`), checked by one function.

Every way a time zone comes in (the subscribe and preferences forms, a CSV import,
`subscribers add`, `schedule --tz`, the configuration) passes `time_zone`. `zoneinfo.ZoneInfo`
alone is not the check: it opens any file under the zoneinfo folders, so it takes
`localtime` and `posixrules` (the host's own settings, not zones a reader lives in),
`posix/...` and `right/...` copies, and names whose spaces only the file system tells apart.
The keys are those the tz database lists (`zoneinfo.available_timezones`), in any
capitalization, returned in their own.
"""

from __future__ import annotations

import functools
import zoneinfo

EXAMPLE = "Europe/Berlin"
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the zoneinfo folder that are no place's time: the host's setting, a rules
template, and the zone that means "not set"."""


class InvalidTimeZone(ValueError):
    """A value that is not an IANA time zone; the message names the field and the fix."""

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        self.problem = f"{value!r} is not an IANA time zone such as {EXAMPLE}"
        super().__init__(f"{field}: {self.problem}")


def time_zone(value: str, field: str) -> str:
    """The IANA key `value` names, in its canonical capitalization; InvalidTimeZone naming
    `field` otherwise (paths, `localtime`, empty, surrounding spaces included)."""
    found = _keys().get(value.casefold())
    if found is None:
        raise InvalidTimeZone(field, value)
    return found


def is_time_zone(value: str) -> bool:
    """Whether `time_zone` takes `value`."""
    return value.casefold() in _keys()


def time_zones() -> list[str]:
    """Every IANA key, sorted: the choices of a form."""
    return sorted(_keys().values())


@functools.cache
def _keys() -> dict[str, str]:
    """Folded key -> key, for every zone the tz database lists (read once per process)."""
    return {
        key.casefold(): key
        for key in zoneinfo.available_timezones()
        if key not in NOT_ZONES and key == key.strip()
    }
