"""API keys and the answers to requests with an Idempotency-Key (issue 17).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", text(length=16), nullable=False),
        sa.Column("digest", text(length=64), nullable=False),
        sa.Column("name", text(length=100), nullable=False),
        sa.Column("scopes", text(length=500), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("last_used_at", moment, nullable=True),
        sa.Column("revoked_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
        sa.UniqueConstraint("digest"),
    )
    op.create_table(
        "api_request",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", text(length=200), nullable=False),
        sa.Column("digest", text(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("api_key_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("api_request")
    op.drop_table("api_key")
