"""Which `newsletter run` process leads the schedule: a lease row, renewed while it lives.

Every `run` process tries to take or renew the lease once a second. The holder runs the
scheduler; the others only deliver and serve. A lease that is not renewed for `leader_lease`
seconds ends, and another process takes it: at once when the holder's process is gone from
this host, else when the lease expires. Firings are idempotent (see firing.py), so even two
leaders for a moment (a stalled holder whose lease ran out) send nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.db import lock_for_writing
from newsletter.deliver.outbox import worker_alive
from newsletter.schedule.models import LEASE

SCHEDULER = "scheduler"
ENDED = datetime(1970, 1, 1, tzinfo=UTC)


class Lease:
    """A named lease in the database, held by `holder` (host:pid) for `seconds` at a time."""

    def __init__(self, engine: Engine, holder: str, seconds: float, name: str = SCHEDULER) -> None:
        self.engine, self.holder, self.seconds, self.name = engine, holder, seconds, name

    def hold(self, now: datetime) -> bool:
        """Take the lease or renew it; whether this holder has it until now + seconds."""
        until = now + timedelta(seconds=self.seconds)
        try:
            with self.engine.begin() as connection:
                lock_for_writing(connection)
                row = connection.execute(
                    select(LEASE.c.holder, LEASE.c.expires_at)
                    .where(LEASE.c.name == self.name)
                    .with_for_update()
                ).first()
                if row is None:
                    connection.execute(
                        insert(LEASE).values(
                            name=self.name, holder=self.holder, acquired_at=now, expires_at=until
                        )
                    )
                    return True
                holder, expires = row
                changes: dict[str, object]
                if holder == self.holder:
                    changes = {"expires_at": until}
                elif expires <= now or not worker_alive(holder):
                    changes = {"holder": self.holder, "acquired_at": now, "expires_at": until}
                else:
                    return False
                connection.execute(update(LEASE).where(LEASE.c.name == self.name).values(changes))
                return True
        except IntegrityError:
            return False  # Another process inserted the first lease at the same moment.

    def release(self) -> None:
        """End the lease now if this holder has it, so another process takes over at once."""
        with self.engine.begin() as connection:
            connection.execute(
                update(LEASE)
                .where(LEASE.c.name == self.name, LEASE.c.holder == self.holder)
                .values(expires_at=ENDED)
            )


def leader(engine: Engine, now: datetime, name: str = SCHEDULER) -> str | None:
    """The process leading now (host:pid), or None when no lease is in force."""
    with engine.connect() as connection:
        row = connection.execute(
            select(LEASE.c.holder, LEASE.c.expires_at).where(LEASE.c.name == name)
        ).first()
    if row is None or row.expires_at <= now or not worker_alive(row.holder):
        return None
    return str(row.holder)
