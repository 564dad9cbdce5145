"""A mailing records the audience it queues (issue 18).

The audience of a send is queued in parts (0019). When that is interrupted, `send --resume`
queues the rest with the same audience: the segment as parsed, its time zone and the local
delivery time, recorded as JSON in `mailing.audience`. The mailings made before have none
recorded (""): the rest of such a send is queued by sending it again with its --to or --tag.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing") as batch:
        batch.add_column(sa.Column("audience", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("mailing") as batch:
        batch.drop_column("audience")
