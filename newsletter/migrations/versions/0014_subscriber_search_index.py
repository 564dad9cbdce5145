"""An index of trigrams for searching part of an address or a name (issue 17).

A search for text inside an address or a name (`LIKE '%text%'`) read every subscriber: 0.9 s at
a million. With an index of the three-character sequences in the address key and the name, a
search of three characters or more reads only the rows that have all of the text's trigrams.
newsletter/subscribers/search_index.py makes it, filled from the rows there are:

- SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34 or newer), kept in step by
  triggers on `subscriber`;
- PostgreSQL: GIN indexes of the pg_trgm extension on `email_key` and `lower(name)`. Creating
  the extension needs the right to create in the database (pg_trgm is trusted since
  PostgreSQL 13: the database's owner has it) and the extension on the server (Debian's
  postgresql package ships it).

When the index cannot be made the upgrade goes on without it and logs a warning: search finds
the same subscribers, reading every row. `newsletter db upgrade` tries again once the cause is
fixed (docs/subscribers.md, "The search index").

A later migration that rebuilds `subscriber` on SQLite (batch mode copies it to a new table)
drops these triggers with the old table, and must make them again: tests/test_search_index.py
fails when a new subscriber is not found.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import logging

from alembic import op

from newsletter.subscribers.search_index import drop_index, make_index

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    problem = make_index(op.get_bind())
    if problem is not None:
        log.warning(
            "no search index (%s): searching part of an address or a name reads every "
            "subscriber; docs/subscribers.md, `The search index`, says how to add it",
            problem,
        )


def downgrade() -> None:
    drop_index(op.get_bind())
