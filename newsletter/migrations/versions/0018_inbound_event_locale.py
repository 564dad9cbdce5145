"""Each bounce, complaint and unsubscribe event keeps the locale of its delivery (issue 18).

`newsletter status`, the dashboard's send page and the API count a send's bounces and
complaints per locale. The locale was read from each event's delivery: one lookup per bounced
delivery, 0.15 s for 10,000 bounces of a send to a million right after it went out (every
delivery then has dead versions to step over), or a scan of every delivery when PostgreSQL
chose a hash join. The event now carries it (a delivery's locale never changes), filled here
from the deliveries for the events there are.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An event whose delivery is gone (deleted with foreign keys off, as the sqlite3 shell
    # does by default) is an event without one, as ON DELETE SET NULL would have left it: the
    # reports counted it with no delivery before, and the backfill has no locale to give it.
    op.execute(
        "UPDATE inbound_event SET delivery_id = NULL WHERE delivery_id IS NOT NULL AND NOT "
        "EXISTS (SELECT 1 FROM delivery WHERE delivery.id = inbound_event.delivery_id)"
    )
    with op.batch_alter_table("inbound_event") as batch:
        batch.add_column(
            sa.Column("locale", sa.String(length=35), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE inbound_event SET locale = coalesce((SELECT delivery.locale FROM delivery "
        "WHERE delivery.id = inbound_event.delivery_id), '') WHERE delivery_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.drop_column("locale")
