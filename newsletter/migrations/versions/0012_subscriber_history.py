"""When subscribers joined and left, found by index: the dashboard's chart of them (issue 17).

Both indexes hold only the rows they are for: ix_subscriber_unconfirmed those who joined
without a confirmation (imported, or added as active: counted from created_at), with
confirmed_at first so that SQLite takes it over ix_subscriber_confirmed_at for them;
ix_subscriber_left those who left (unsubscribed, bounced, complained).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNCONFIRMED = sa.text("confirmed_at IS NULL")
LEFT = sa.text("unsubscribed_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.create_index(
            "ix_subscriber_unconfirmed",
            ["confirmed_at", "created_at", "status"],
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
