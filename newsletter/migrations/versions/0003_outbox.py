"""The outbox: mailings, the editions they send, and one delivery per (mailing, subscriber).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "mailing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue", text(length=200), nullable=False),
        sa.Column("uid", text(length=32), nullable=False),
        sa.Column("commit", text(length=64), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("tag", text(length=100), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue"),
    )
    op.create_table(
        "mailing_edition",
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("locale", text(length=35), nullable=False),
        sa.Column("subject", text(length=500), nullable=False),
        sa.Column("web_url", text(length=2000), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailing.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailing_id", "locale"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("locale", text(length=35), nullable=False),
        sa.Column("state", text(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", moment, nullable=False),
        sa.Column("claimed_by", text(length=100), nullable=False),
        sa.Column("lease_until", moment, nullable=True),
        sa.Column("reply", text(length=1000), nullable=False),
        sa.Column("message_id", text(length=200), nullable=False),
        sa.Column("queued_at", moment, nullable=False),
        sa.Column("sent_at", moment, nullable=True),
        sa.Column("updated_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailing.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailing_id", "subscriber_id"),
    )
    with op.batch_alter_table("delivery") as batch:
        batch.create_index("ix_delivery_claim", ["mailing_id", "state", "not_before"])
        batch.create_index(batch.f("ix_delivery_subscriber_id"), ["subscriber_id"])


def downgrade() -> None:
    op.drop_table("delivery")
    op.drop_table("mailing_edition")
    op.drop_table("mailing")
