"""Inbound messages and their events: bounces, complaints, mailto unsubscribes (issue 14).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", text(length=64), nullable=False),
        sa.Column("source", text(length=500), nullable=False),
        sa.Column("kinds", text(length=200), nullable=False),
        sa.Column("problem", text(length=500), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("received_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_table(
        "inbound_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("kind", text(length=16), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("mailing_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("recipient_hash", text(length=64), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("diagnostic", text(length=500), nullable=False),
        sa.Column("matched_by", text(length=16), nullable=False),
        sa.Column("reason", text(length=200), nullable=False),
        sa.Column("action", text(length=32), nullable=False),
        sa.Column("source", text(length=500), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["inbound_message.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailing.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbound_event") as batch:
        batch.create_index(batch.f("ix_inbound_event_message_id"), ["message_id"])
        batch.create_index(batch.f("ix_inbound_event_delivery_id"), ["delivery_id"])
        batch.create_index("ix_inbound_event_mailing", ["mailing_id", "kind"])
        batch.create_index("ix_inbound_event_subscriber", ["subscriber_id", "at"])
        batch.create_index("ix_inbound_event_at", ["at"])


def downgrade() -> None:
    op.drop_table("inbound_event")
    op.drop_table("inbound_message")
