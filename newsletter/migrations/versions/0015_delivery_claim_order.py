"""Claims found in the order they are taken: ix_delivery_claim gains the id (issue 18).

A claim takes the due deliveries of a mailing (state queued, not_before passed) in the order
they are due, then by id. With the id in the index, PostgreSQL reads them straight from it in
that order, as many as the claim takes. Before, it walked the primary key in id order and
filtered out every delivery already sent: each claim read more rows than the one before, a
million at the end of a send to a million. SQLite's indexes end with the rowid (the id)
already; it gets the same columns.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_claim")
        batch.create_index("ix_delivery_claim", ["mailing_id", "state", "not_before", "id"])


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_claim")
        batch.create_index("ix_delivery_claim", ["mailing_id", "state", "not_before"])
