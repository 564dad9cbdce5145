"""Consent events (the audit trail of each subscriber's consent) and the suppression list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", text(length=32), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("method", text(length=32), nullable=False),
        sa.Column("source", text(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_event") as batch:
        batch.create_index(
            batch.f("ix_consent_event_subscriber_id"), ["subscriber_id"], unique=False
        )
    op.create_table(
        "suppression",
        sa.Column("email_hash", text(length=64), nullable=False),
        sa.Column("reason", text(length=16), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.PrimaryKeyConstraint("email_hash"),
    )
    # Addresses that unsubscribed, bounced or complained before this table existed stay suppressed.
    # The hash is written out here (not imported from the code) so this migration never changes.
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT email_key, status, updated_at FROM subscriber WHERE status IN ('unsubscribed', 'bounced', 'complained')"
            )
        )
        .fetchall()
    )
    if rows:
        table = sa.table(
            "suppression", sa.column("email_hash"), sa.column("reason"), sa.column("at")
        )
        op.bulk_insert(
            table,
            [
                {
                    "email_hash": hashlib.sha256(key.encode("utf-8")).hexdigest(),
                    "reason": status,
                    "at": at,
                }
                for key, status, at in rows
            ],
        )


def downgrade() -> None:
    op.drop_table("suppression")
    op.drop_table("consent_event")
