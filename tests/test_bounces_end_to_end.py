"""The loop closed, end to end: a send through a real Postfix relay, the final server refusing
some readers for good (550 5.1.1) and deferring others until Postfix gives up (452), the DSNs
Postfix itself writes delivered to the VERP return paths, then `newsletter inbound process`
over that Maildir: exactly those readers bounced and suppressed, each event tied to its
delivery, and the next send skips them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.inbound.models import INBOUND_EVENT
from newsletter.subscribers.addresses import address_hash, address_key
from newsletter.subscribers.models import SUBSCRIBER, Suppression

from .conftest import ROOT, SmtpServer
from .mailservers import postfix_relay
from .test_delivery import make_project, newsletter

pytestmark = pytest.mark.slow  # Real Postfix or Dovecot: sent out first in a parallel run.

READERS = 1000
GONE = [f"gone{n}@dest.test" for n in range(20)]  # Refused for good: 550 5.1.1.
FULL = [f"full{n}@dest.test" for n in range(10)]  # Deferred until Postfix gives up: 452.
FIRST, SECOND, THIRD = (
    "2024-03-10-ai-revolution-accelerates", "2024-03-27-ai-deca-show",
    "2024-05-07-this-month-in-ai",
)  # fmt: skip


def _project(tmp_path: Path, relay_port: int) -> Project:
    """A project with 1,000 readers on dest.test (the 10 deferred ones tagged `full`), its
    mail relayed by Postfix, its return paths on the bounce domain Postfix delivers locally."""
    project = make_project(
        tmp_path, f"smtp://127.0.0.1:{relay_port}?connections=2", readers=[],
        bounce_address='"bounces@bounces.test"', soft_bounce_limit="2",
    )  # fmt: skip
    for issue in (SECOND, THIRD):
        shutil.copytree(ROOT / "issues" / issue, project.issues_path / issue)
    others = [f"reader{n}@dest.test" for n in range(READERS - len(GONE) - len(FULL))]
    rows = [f"{a},en," for a in others + GONE] + [f"{a},en,full" for a in FULL]
    csv = tmp_path / "readers.csv"
    csv.write_text("email,locale,tags\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, output = newsletter(project, "subscribers", "import", str(csv))
    assert code == 0, output
    return project


def _received(sink: SmtpServer) -> list[str]:
    return [address for message in sink.received for address in message.recipients]


def test_postfix_bounces_are_tied_to_their_deliveries_and_the_next_send_skips_them(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    sink = smtp_server
    sink.recorder.replies = {
        **{address: f"550 5.1.1 <{address}>: User unknown" for address in GONE},
        **dict.fromkeys(FULL, "452 4.2.2 Mailbox full"),
    }
    with postfix_relay(sink.port, dest_domain="dest.test", lifetime="0") as relay:
        project = _project(tmp_path, relay.port)
        inbox = f"maildir:{relay.dsn_maildir}"

        code, output = newsletter(project, "send", FIRST)
        assert code == 0, output
        relay.wait_for_dsns(len(GONE) + len(FULL))
        assert len(set(_received(sink))) == READERS - len(GONE) - len(FULL)
        code, output = newsletter(project, "inbound", "process", inbox)
        assert code == 0, output
        assert _bounced(project) == dict.fromkeys(GONE, "bounced")
        # Each event is tied to the delivery that caused it, by its signed return path.
        events = _events(project)
        assert {(e["address"], e["kind"], e["status"]) for e in events} == {
            *((address, "hard", "5.1.1") for address in GONE),
            *((address, "soft", "4.2.2") for address in FULL),
        }
        assert all(e["matched_by"] == "verp" and e["issue"] == FIRST for e in events)
        assert all(e["delivery_subscriber"] == e["address"] for e in events)

        # The deferred readers' second soft bounce (soft_bounce_limit = 2) suppresses them.
        code, output = newsletter(project, "send", SECOND, "--tag", "full")
        assert code == 0, output
        relay.wait_for_dsns(len(FULL))  # The first ones were moved out of new/.
        code, output = newsletter(project, "inbound", "process", inbox)
        assert code == 0, output
        assert _bounced(project) == dict.fromkeys(GONE + FULL, "bounced")
        with Session(create_db_engine(database_url(project))) as session:
            suppressed = {s.email_hash for s in session.exec(select(Suppression)).scalars()}
        assert {address_hash(address_key(a)) for a in GONE + FULL} <= suppressed

        # Processing the same mailbox again changes nothing; the next send skips all 30 (the
        # dry run counts the audience the send takes, by the same query).
        code, output = newsletter(project, "inbound", "process", inbox)
        assert code == 0 and len(_events(project)) == len(events) + len(FULL), output
        code, output = newsletter(project, "send", THIRD, "--dry-run")
        assert code == 0 and f"{READERS - len(GONE) - len(FULL):,} recipients;" in output, output
        code, output = newsletter(project, "status", FIRST)
        after = [line for line in output.splitlines() if line.startswith("│ all ")][-1]
        cells = [cell.strip() for cell in after.split("│")[2:-1]]
        assert cells[:5] == ["1,000", "20 (2.0%)", "10 (1.0%)", "0 (0.0%)", "970"], output
        code, output = newsletter(project, "bounces", "--json", "--limit", "1000")
        assert len(json.loads(output)) == len(events) + len(FULL)


def _bounced(project: Project) -> dict[str, str]:
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        rows = connection.execute(
            select(SUBSCRIBER.c.email, SUBSCRIBER.c.status).where(SUBSCRIBER.c.status != "active")
        ).all()
    engine.dispose()
    return dict(rows)


def _events(project: Project) -> list[dict[str, str]]:
    engine = create_db_engine(database_url(project))
    named = SUBSCRIBER.alias("named")
    query = (
        select(
            SUBSCRIBER.c.email, INBOUND_EVENT.c.kind, INBOUND_EVENT.c.status,
            INBOUND_EVENT.c.matched_by, MAILING.c.issue, named.c.email,
        )
        .join(SUBSCRIBER, SUBSCRIBER.c.id == INBOUND_EVENT.c.subscriber_id)
        .join(DELIVERY, DELIVERY.c.id == INBOUND_EVENT.c.delivery_id)
        .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
        .join(named, named.c.id == DELIVERY.c.subscriber_id)
        .order_by(INBOUND_EVENT.c.id)
    )  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    engine.dispose()
    keys = ("address", "kind", "status", "matched_by", "issue", "delivery_subscriber")
    return [dict(zip(keys, row, strict=True)) for row in rows]
