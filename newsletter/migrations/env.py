"""Alembic environment: migrations run on the connection newsletter.db hands over (or on the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import newsletter.access.models
import newsletter.deliver.models  # registers the outbox tables on SQLModel.metadata
import newsletter.engagement.models
import newsletter.inbound.models
import newsletter.schedule.models
import newsletter.sequences.models
import newsletter.subscribers.models  # noqa: F401 - registers the subscriber tables
from newsletter.unmodelled import in_models

target_metadata = SQLModel.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own:
            _migrate(own)
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    # Batch mode lets SQLite (which cannot ALTER most things) run the same migrations as PostgreSQL.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=in_models,  # What no model describes: autogenerate leaves it out.
    )
    with context.begin_transaction():
        context.run_migrations()


run()
