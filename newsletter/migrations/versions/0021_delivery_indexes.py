"""Three indexes on `delivery` where there were four (issue 18).

A delivery's row is written three times in a send: queued, claimed and given its outcome.
On PostgreSQL both updates change an indexed column (the state), so each writes a new
version of the row into every index of the table: index insertions took a third of the
server's time in a send. The index on `subscriber_id` alone (0003) repeated the unique
constraint on (mailing_id, subscriber_id) with its columns the other way round. The unique
constraint now leads with the subscriber, and serves both: the deliveries of a subscriber
(their history, forgetting them) and the one delivery of a subscriber in a mailing. The
deliveries of a mailing are found by ix_delivery_claim, which leads with the mailing; whether
a part of an audience may go in by COPY is read from the tally (deliver/audience.py), not
from a range of the old index.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newsletter.errors import NewsletterError

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_NAMES = {"uq": "%(table_name)s_%(column_0_N_name)s_key"}
"""PostgreSQL's own names for unique constraints; SQLite's unnamed one gets this one too, so
that the copy of the table can leave it out."""


def upgrade() -> None:
    _unique_on(
        "delivery", drop=["mailing_id", "subscriber_id"], make=["subscriber_id", "mailing_id"]
    )
    op.drop_index("ix_delivery_subscriber_id", table_name="delivery")


def downgrade() -> None:
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id"])
    _unique_on(
        "delivery", drop=["subscriber_id", "mailing_id"], make=["mailing_id", "subscriber_id"]
    )


def _unique_on(table: str, *, drop: list[str], make: list[str]) -> None:
    """The unique constraint on `drop` replaced by one on `make` (the same columns, in the
    order that an index on them serves best)."""
    found = sa.inspect(op.get_bind()).get_unique_constraints(table)
    names = [one["name"] for one in found if one["column_names"] == drop]
    if not names:
        raise NewsletterError(
            f"the table {table} has no UNIQUE ({', '.join(drop)}) to replace: its schema is not "
            "the one this migration was written for",
            hint="restore the database from a backup made by this program, then upgrade it",
        )
    name = names[0]
    with op.batch_alter_table(table, naming_convention=_NAMES) as batch:
        batch.drop_constraint(name or f"{table}_{'_'.join(drop)}_key", type_="unique")
        batch.create_unique_constraint(f"{table}_{'_'.join(make)}_key", make)
