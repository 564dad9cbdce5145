"""Tracked links, clicks and opens (issue 15).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "tracked_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("locale", text(length=35), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("story", text(length=200), nullable=False),
        sa.Column("story_title", text(length=500), nullable=False),
        sa.Column("label", text(length=200), nullable=False),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailing.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailing_id", "locale", "position"),
    )
    op.create_table(
        "link_click",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("agent", text(length=16), nullable=False),
        sa.Column("client", text(length=32), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["tracked_link.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("link_click") as batch:
        batch.create_index("ix_link_click_link", ["link_id", "at"])
        batch.create_index(batch.f("ix_link_click_delivery_id"), ["delivery_id"])
    op.create_table(
        "edition_open",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("locale", text(length=35), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("agent", text(length=16), nullable=False),
        sa.Column("client", text(length=32), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailing.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("edition_open") as batch:
        batch.create_index("ix_edition_open_mailing", ["mailing_id", "locale", "at"])
        batch.create_index(batch.f("ix_edition_open_delivery_id"), ["delivery_id"])


def downgrade() -> None:
    op.drop_table("edition_open")
    op.drop_table("link_click")
    op.drop_table("tracked_link")
