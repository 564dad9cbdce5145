"""When subscribers joined and left, found by index: the dashboard's chart of them (issue 17).

Three partial indexes, each holding only the rows it is for: ix_subscriber_confirmed_at (made
in 0008 for every row) now only those who confirmed; ix_subscriber_unconfirmed those who joined
without a confirmation (imported, or added as active: counted from created_at);
ix_subscriber_left those who left (unsubscribed, bounced, complained). With the first partial,
SQLite (no statistics) can no longer take it for `confirmed_at IS NULL` and read every such row
from the table; PostgreSQL finds the second's rows by created_at.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

CONFIRMED = sa.text("confirmed_at IS NOT NULL")
UNCONFIRMED = sa.text("confirmed_at IS NULL")
LEFT = sa.text("unsubscribed_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_index("ix_subscriber_confirmed_at")
        batch.create_index(
            "ix_subscriber_confirmed_at",
            ["confirmed_at"],
            sqlite_where=CONFIRMED,
            postgresql_where=CONFIRMED,
        )
        batch.create_index(
            "ix_subscriber_unconfirmed",
            ["created_at", "status", "confirmed_at"],
            sqlite_where=UNCONFIRMED,
            postgresql_where=UNCONFIRMED,
        )
        batch.create_index(
            "ix_subscriber_left", ["unsubscribed_at"], sqlite_where=LEFT, postgresql_where=LEFT
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_index("ix_subscriber_left")
        batch.drop_index("ix_subscriber_unconfirmed")
        batch.drop_index("ix_subscriber_confirmed_at")
        batch.create_index("ix_subscriber_confirmed_at", ["confirmed_at"])
