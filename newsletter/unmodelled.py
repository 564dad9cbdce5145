"""What the migrations make that no model describes: the search index (subscribers/
search_index.py) and PostgreSQL's tally of deliveries (deliver/tally.py)."""

from __future__ import annotations

from typing import Any

from newsletter.deliver.tally import TABLE as TALLY
from newsletter.subscribers.search_index import POSTGRESQL_INDEXES, SQLITE_TABLES


def in_models(name: str | None, kind: str, parents: Any) -> bool:
    """False for those tables and indexes: Alembic's comparison of the database with the
    models leaves them out (its `include_name`)."""
    return not (
        (kind == "table" and (name in SQLITE_TABLES or name == TALLY))
        or (kind == "index" and name in POSTGRESQL_INDEXES)
    )
