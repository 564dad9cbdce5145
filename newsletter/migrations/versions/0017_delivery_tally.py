"""PostgreSQL counts each mailing's deliveries by locale and state as they change (issue 18).

`newsletter status`, the dashboard and the API counted a mailing's deliveries by reading every
one of them: 0.13 s at a million, 0.3 s right after the send, before autovacuum. The
`delivery_tally` table and the statement triggers that keep it (deliver/tally.py) answer the
same question from a few rows. It is filled here from the deliveries there are, with them
locked against writes until the migration commits, so that no change falls between the count
and the triggers. SQLite keeps no tally (it has no statement triggers) and is left as it is.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from newsletter.deliver.tally import DROP, FILL, POSTGRESQL

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    # SHARE mode lets reads go on and makes writers wait for the commit.
    connection.exec_driver_sql("LOCK TABLE delivery IN SHARE MODE")
    for statement in (*POSTGRESQL, FILL):
        connection.exec_driver_sql(statement)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    for statement in DROP:
        connection.exec_driver_sql(statement)
