"""What came back after a send, as the operator reads it: `status` per locale with the rates
mailbox providers judge a sender by, `bounces` listing the events, `subscribers show` with
each subscriber's. The send is real (SMTP on 127.0.0.1); the reports are tied to its
deliveries by their return paths, as the processor ties them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.models import Delivery
from newsletter.deliver.return_path import ReturnPaths
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.processor import InboundSettings, process
from newsletter.inbound.report import complaint_verdict, outcomes
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber

from .conftest import Recorder, serving
from .test_delivery import ISSUE, SECRET, copy_of, make_project, newsletter

BOUNCES = "bounces@bounces.news.example.org"
READERS = [
    (f"reader{n}@example.org", f"Reader {n}", "zh" if n % 4 == 0 else "en") for n in range(40)
]


@pytest.fixture(scope="module")
def sent_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose issue was sent to 40 readers (10 in Chinese), made once per module."""
    with serving(Recorder()) as server:
        root = tmp_path_factory.mktemp("sent")
        project = make_project(root, server.url, readers=READERS, bounce_address=f'"{BOUNCES}"')
        code, output = newsletter(project, "send", ISSUE)
        assert code == 0, output
        assert len(server.received) == len(READERS)
    return root


@pytest.fixture
def sent(tmp_path: Path, sent_once: Path) -> Project:
    """A copy of the sent project, for the test to process its reports into."""
    return copy_of(sent_once, tmp_path / "project")


def _report(project: Project, address: str, kind: Kind, status: str = "", **more: str) -> None:
    """One report about `address`'s delivery, tied to it by its return path, processed."""
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        delivery = session.exec(
            select(Delivery).join(Subscriber).where(Subscriber.email == address)  # type: ignore[arg-type]
        ).one()
    assert delivery.id is not None
    verp = ReturnPaths(SECRET, BOUNCES).for_delivery(delivery.id)
    notice = Notice(kind, recipient=address, status=status, verp=verp, **more)
    reading = Reading(digest_of(repr(notice).encode()), (notice,), source="test:inbox")
    settings = InboundSettings.of(project)
    process(engine, reading, settings=settings, now=utcnow())
    engine.dispose()


def test_status_shows_what_came_back_per_locale_with_the_complaint_rate(sent: Project) -> None:
    _report(sent, "reader1@example.org", Kind.HARD, "5.1.1", diagnostic="smtp; 550 5.1.1 unknown")
    _report(sent, "reader2@example.org", Kind.SOFT, "5.2.2", diagnostic="smtp; 552 5.2.2 full")
    _report(sent, "reader2@example.org", Kind.SOFT, "4.2.2")  # The same delivery: counted once.
    _report(sent, "reader3@example.org", Kind.POLICY, "5.7.1")
    _report(sent, "reader4@example.org", Kind.COMPLAINT)  # A Chinese reader.
    _report(sent, "reader5@example.org", Kind.AUTOREPLY)  # Counted nowhere.
    engine = create_db_engine(database_url(sent))
    with Session(engine) as session:  # Left by the link in the email, after the send.
        leaving = registry.find(session, "reader6@example.org")
        assert leaving is not None
        registry.unsubscribe(
            session, leaving, method="link", source="test", now=utcnow() + timedelta(minutes=1)
        )
        session.commit()
    engine.dispose()
    code, output = newsletter(sent, "status", ISSUE)
    assert code == 0, output
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
    cells = {
        name: [cell.strip() for cell in rows[name].split("│")[2:-1]] for name in ("en", "zh", "all")
    }
    # sent, hard, soft, policy (shares of sent), delivered, complained, complaint rate and
    # unsubscribed (shares of delivered: 27 en, 10 zh).
    assert cells["en"] == [
        "30", "1 (3.3%)", "1 (3.3%)", "1 (3.3%)", "27", "0", "0.00%", "1 (3.7%)",
    ]  # fmt: skip
    assert cells["zh"] == [
        "10",
        "0 (0.0%)",
        "0 (0.0%)",
        "0 (0.0%)",
        "10",
        "1",
        "10.00%",
        "1 (10.0%)",
    ]
    assert cells["all"] == [
        "40",
        "1 (2.5%)",
        "1 (2.5%)",
        "1 (2.5%)",
        "37",
        "1",
        "2.70%",
        "2 (5.4%)",
    ]
    assert "complaint rate 2.70%: over the 0.3% limit" in output


def test_a_delivery_that_bounced_soft_then_hard_counts_once_as_hard(sent: Project) -> None:
    # Each bounced delivery is counted under one kind, its gravest, so the columns add up.
    _report(sent, "reader1@example.org", Kind.SOFT, "4.2.2")
    _report(sent, "reader1@example.org", Kind.HARD, "5.1.1")
    _report(sent, "reader2@example.org", Kind.SOFT, "5.2.2")
    _report(sent, "reader2@example.org", Kind.POLICY, "5.7.1")
    engine = create_db_engine(database_url(sent))
    with Session(engine) as session:
        mailing_id = session.exec(select(Delivery.mailing_id)).first()
    assert mailing_id is not None
    found = outcomes(engine, mailing_id)["en"]
    engine.dispose()
    assert (found.hard, found.soft, found.policy, found.bounced) == (1, 0, 1, 2)
    assert found.delivered == 28


def test_bounces_lists_the_events_and_subscribers_show_includes_them(sent: Project) -> None:
    _report(sent, "reader1@example.org", Kind.HARD, "5.1.1", diagnostic="smtp; 550 5.1.1 unknown")
    _report(sent, "reader4@example.org", Kind.COMPLAINT)
    code, output = newsletter(sent, "bounces", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert [(e["kind"], e["email"], e["issue"], e["matched_by"]) for e in listed] == [
        ("complaint", "reader4@example.org", ISSUE, "verp"),
        ("hard", "reader1@example.org", ISSUE, "verp"),
    ]
    code, output = newsletter(sent, "bounces", "--kind", "hard", "--issue", ISSUE)
    assert code == 0 and "reader1@example.org" in output and "reader4" not in output, output
    assert "550 5.1.1 unknown" in output
    code, output = newsletter(sent, "bounces", "--since", "2999-01-01")
    assert (code, output.strip()) == (0, "no events")
    code, output = newsletter(sent, "subscribers", "show", "reader1@example.org", "--json")
    events = json.loads(output)["inbound_events"]
    assert [(e["kind"], e["status"], e["issue"]) for e in events] == [("hard", "5.1.1", ISSUE)]
    code, output = newsletter(sent, "subscribers", "show", "reader1@example.org")
    assert "bounces, complaints and replies:" in output and "hard" in output


def test_bounces_says_why_an_unmatched_bounce_matched_nothing(sent: Project) -> None:
    # The server's words alone do not tell an operator why a bounce changed nobody.
    forged = "bounces+1-aaaaaaaaaaaaaaaa@bounces.news.example.org"
    notice = Notice(
        Kind.HARD, recipient="reader1@example.org", status="5.1.1", verp=forged,
        diagnostic="smtp; 550 5.1.1 unknown",
    )  # fmt: skip
    engine = create_db_engine(database_url(sent))
    reading = Reading(digest_of(b"forged"), (notice,), source="test:inbox")
    process(engine, reading, settings=InboundSettings.of(sent), now=utcnow())
    engine.dispose()
    code, output = newsletter(sent, "bounces")
    assert code == 0 and "(unmatched)" in output, output
    assert "550 5.1.1 unknown" in output and "forged return path" in output, output


def test_the_consent_history_names_the_source_without_a_dangling_colon(sent: Project) -> None:
    # A complaint or unsubscribe without status or words was recorded as "test:inbox:".
    _report(sent, "reader4@example.org", Kind.COMPLAINT)
    code, output = newsletter(sent, "subscribers", "show", "reader4@example.org", "--json")
    assert code == 0, output
    [withdrawn] = [e for e in json.loads(output)["consent_events"] if e["kind"] == "complained"]
    assert withdrawn["source"] == "test:inbox", withdrawn


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "--since 'last week' is not a date"),
        (["--kind", "bounced"], "--kind 'bounced': no such kind"),
        (["--issue", "never-sent"], "--issue 'never-sent': no send of that issue"),
    ],
)
def test_bounces_refuses_bad_options_in_one_line(
    sent: Project, args: list[str], message: str
) -> None:
    code, output = newsletter(sent, "bounces", *args)
    assert code == 1 and output.startswith(f"error: {message}"), output
    assert "Traceback" not in output


def test_the_complaint_rate_is_judged_against_the_limit_and_the_target() -> None:
    assert complaint_verdict(0.0005) == "under the 0.1% target"
    assert complaint_verdict(0.002).startswith("under the 0.3% limit, over the 0.1% target")
    assert complaint_verdict(0.003).startswith("over the 0.3% limit")
