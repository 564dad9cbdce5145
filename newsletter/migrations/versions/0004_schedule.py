"""The schedule: APScheduler's job store, one row per firing, and the leader's lease.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import newsletter.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    moment = newsletter.db.UTCDateTime(timezone=True)
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("apscheduler_jobs") as batch:
        batch.create_index(batch.f("ix_apscheduler_jobs_next_run_time"), ["next_run_time"])
    op.create_table(
        "schedule_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", text(length=191), nullable=False),
        sa.Column("wall_time", text(length=19), nullable=False),
        sa.Column("scheduled_at", moment, nullable=False),
        sa.Column("fired_at", moment, nullable=False),
        sa.Column("issue", text(length=200), nullable=False),
        sa.Column("state", text(length=16), nullable=False),
        sa.Column("detail", text(length=1000), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "wall_time"),
    )
    with op.batch_alter_table("schedule_firing") as batch:
        batch.create_index(batch.f("ix_schedule_firing_job_id"), ["job_id"])
    op.create_table(
        "service_lease",
        sa.Column("name", text(length=50), nullable=False),
        sa.Column("holder", text(length=100), nullable=False),
        sa.Column("acquired_at", moment, nullable=False),
        sa.Column("expires_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("service_lease")
    op.drop_table("schedule_firing")
    op.drop_table("apscheduler_jobs")
