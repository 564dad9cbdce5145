"""A mailing says while its audience is being queued (issue 18).

The audience of a send is queued in parts, each committed as it is made, so that the workers
start on the first part at once instead of waiting for the whole audience. Until the last part
is in, `mailing.queueing_since` is set: the send is not done even when every delivery queued so
far is. A queueing that was interrupted leaves it set (before, a send killed while queueing
looked done, with nobody sent). The sends made before were queued whole: nothing to fill.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import newsletter.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing") as batch:
        batch.add_column(
            sa.Column("queueing_since", newsletter.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("mailing") as batch:
        batch.drop_column("queueing_since")
