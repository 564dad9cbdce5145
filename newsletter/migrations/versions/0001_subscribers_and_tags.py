"""Subscribers and their tags.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", text(length=320), nullable=False),
        sa.Column("email_key", text(length=320), nullable=False),
        sa.Column("name", text(length=200), nullable=False),
        sa.Column("locale", text(length=35), nullable=False),
        sa.Column("timezone", text(length=64), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("consent_at", moment, nullable=True),
        sa.Column("consent_method", text(length=32), nullable=False),
        sa.Column("consent_source", text(length=500), nullable=False),
        sa.Column("confirmed_at", moment, nullable=True),
        sa.Column("unsubscribed_at", moment, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_key"),
    )
    with op.batch_alter_table("subscriber") as batch:
        batch.create_index(batch.f("ix_subscriber_status"), ["status"], unique=False)
    op.create_table(
        "tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", text(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "subscriber_tag",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "tag_id"),
    )
    with op.batch_alter_table("subscriber_tag") as batch:
        batch.create_index(batch.f("ix_subscriber_tag_tag_id"), ["tag_id"], unique=False)


def downgrade() -> None:
    op.drop_table("subscriber_tag")
    op.drop_table("tag")
    op.drop_table("subscriber")
