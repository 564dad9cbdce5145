"""Address keys hold the domain in its Unicode form, however it was written.

Before, `reader@xn--bcher-kva.example` (a domain in IDNA A-labels) and `reader@bücher.example`
had different keys, so the subscriber table could hold both: one person, two rows, two emails.
The key now decodes A-labels; this migration rewrites the keys made before. The addresses stay
as they were written. A row whose new key another row already has keeps its old key (nothing is
deleted or merged without a person deciding): the log names both rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import logging

import idna
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    subscriber = sa.table(
        "subscriber", sa.column("id", sa.Integer), sa.column("email_key", sa.String)
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(subscriber.c.id, subscriber.c.email_key).where(
            subscriber.c.email_key.like("%xn--%")
        )
    ).all()
    for id_, key in rows:
        new = _unicode_key(key)
        if new == key:
            continue
        taken = connection.execute(
            sa.select(subscriber.c.id).where(subscriber.c.email_key == new)
        ).scalar()
        if taken is not None:
            log.warning(
                "subscribers %s and %s are one address (%s): merge them by hand", taken, id_, new
            )
            continue
        connection.execute(
            sa.update(subscriber).where(subscriber.c.id == id_).values(email_key=new)
        )


def downgrade() -> None:
    subscriber = sa.table(
        "subscriber", sa.column("id", sa.Integer), sa.column("email", sa.String),
        sa.column("email_key", sa.String),
    )  # fmt: skip
    connection = op.get_bind()
    for id_, email, key in connection.execute(sa.select(subscriber)).all():
        if email.casefold() != key:
            connection.execute(
                sa.update(subscriber)
                .where(subscriber.c.id == id_)
                .values(email_key=email.casefold())
            )


def _unicode_key(key: str) -> str:
    """The key with its domain's A-labels decoded (as newsletter.subscribers.addresses does)."""
    local, _, domain = key.rpartition("@")
    try:
        return f"{local}@{idna.decode(domain, uts46=True)}"
    except idna.IDNAError:
        return key
