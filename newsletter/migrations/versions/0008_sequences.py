"""Welcome and onboarding sequences (issue 16).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "sequence_step",
        sa.Column("sequence", text(length=60), nullable=False),
        sa.Column("step", text(length=90), nullable=False),
        sa.Column("first_seen", moment, nullable=False),
        sa.PrimaryKeyConstraint("sequence", "step"),
    )
    op.create_table(
        "sequence_member",
        sa.Column("sequence", text(length=60), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", moment, nullable=False),
        sa.Column("how", text(length=16), nullable=False),
        sa.Column("left_at", moment, nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sequence", "subscriber_id"),
    )
    with op.batch_alter_table("sequence_member") as batch:
        batch.create_index("ix_sequence_member_entered", ["sequence", "left_at", "entered_at"])
    op.create_table(
        "sequence_delivery",
        sa.Column("sequence", text(length=60), nullable=False),
        sa.Column("step", text(length=90), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("sequence", "step", "subscriber_id"),
    )
    with op.batch_alter_table("sequence_delivery") as batch:
        batch.create_index("ix_sequence_delivery_member", ["subscriber_id", "sequence"])
    # Who confirmed lately is what enters a sequence: found without reading every subscriber.
    with op.batch_alter_table("subscriber") as batch:
        batch.create_index("ix_subscriber_confirmed_at", ["confirmed_at"])


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_index("ix_subscriber_confirmed_at")
    op.drop_table("sequence_delivery")
    op.drop_table("sequence_member")
    op.drop_table("sequence_step")
