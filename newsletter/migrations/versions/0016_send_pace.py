"""One rate limit for the whole installation: the send_pace table (issue 18).

`rate=` in the transport URL was per worker process; it now means messages per second across
every worker of every process and host sharing the database. Each worker reserves its next
slots from this table's row (deliver/pacing.py), made at the first paced send.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_pace",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("send_pace")
