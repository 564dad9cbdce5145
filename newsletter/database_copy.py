"""Copying an installation's data to another database: from SQLite to PostgreSQL as a list
outgrows one box (`newsletter db copy URL`), or back.

Every table of the schema is copied, parents before children, in one transaction on the
target: either all of it is there afterwards or nothing is. The target must be empty (it is
migrated to this version's schema first); the source must be at this version's schema. The
source is read in one transaction, so a copy of a database that is written meanwhile is still
a consistent one, but what is written after it started is not in it: stop `newsletter run`
first. On PostgreSQL, each table's id sequence then starts after the highest id copied. What
is not a table of the schema (SQLite's search index, made from the subscribers) is made by the
target's own migrations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, inspect, select
from sqlmodel import SQLModel

from newsletter.db import converter, insert_many
from newsletter.db_schema import require_current, upgrade
from newsletter.errors import NewsletterError

CHUNK = 5000  # Rows read, converted and written at a time.


@dataclass
class Copied:
    """What a copy wrote: rows by table, in the order they were copied."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_database(source: Engine, target: Engine) -> Copied:
    """Copy every row of `source` into the empty database of `target` (see the module's
    docstring); NewsletterError, and nothing written, when the target holds data."""
    require_current(source)
    tables = _tables()
    with target.connect() as probing:  # Before the migrations: they must not touch its data.
        present = set(inspect(probing).get_table_names())
        filled = [t.name for t in tables if t.name in present and _count(probing, t)]
    if filled:
        raise NewsletterError(
            f"the target database already has data (in {', '.join(filled[:5])})",
            hint="copy into a new, empty database",
        )
    upgrade(target)
    copied = Copied()
    with source.connect() as reading, reading.begin(), target.begin() as writing:
        if reading.dialect.name == "sqlite":
            # The driver begins no transaction for reads: one snapshot for every table.
            reading.exec_driver_sql("BEGIN")
        for table in tables:
            copied.rows[table.name] = _copy_table(reading, writing, table)
        if writing.dialect.name == "postgresql":
            for table in tables:
                _restart_sequence(writing, table)
    return copied


def _tables() -> list[Table]:
    """The schema's tables, each after those it refers to."""
    import newsletter.access.models
    import newsletter.deliver.models
    import newsletter.engagement.models
    import newsletter.inbound.models
    import newsletter.schedule.models
    import newsletter.sequences.models
    import newsletter.subscribers.models  # noqa: F401 - each registers its tables

    return list(SQLModel.metadata.sorted_tables)


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _copy_table(reading: Connection, writing: Connection, table: Table) -> int:
    """Copy `table`'s rows, in primary-key order, CHUNK at a time; how many."""
    names = [column.name for column in table.columns]
    convert = [converter(column.type, writing.dialect) for column in table.columns]
    ordered = select(table).order_by(*table.primary_key.columns)
    result = reading.execution_options(yield_per=CHUNK).execute(ordered)
    count = 0
    for chunk in result.partitions():
        rows = [_converted(row, convert) for row in chunk]
        insert_many(writing, table, names, rows)
        count += len(rows)
    return count


def _converted(row: Any, convert: list[Any]) -> tuple[Any, ...]:
    return tuple(
        None if value is None else to(value) for to, value in zip(convert, row, strict=True)
    )


def _restart_sequence(connection: Connection, table: Table) -> None:
    """On PostgreSQL, the id sequence of `table` (if it has one) after its highest id."""
    for column in table.primary_key.columns:
        sequence = connection.exec_driver_sql(
            "SELECT pg_get_serial_sequence(%(table)s, %(column)s)",
            {"table": table.name, "column": column.name},
        ).scalar_one()
        if sequence is None:
            continue
        highest = connection.execute(select(func.max(column))).scalar_one()
        connection.exec_driver_sql(
            "SELECT setval(%(sequence)s, %(value)s, %(called)s)",
            {"sequence": sequence, "value": highest or 1, "called": highest is not None},
        )
