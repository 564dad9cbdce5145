"""`newsletter send --to SEGMENT`: readers imported with topics and attributes, the segment's
count per edition in a dry run, a real send through an SMTP server on 127.0.0.1 that reaches
exactly the segment, named segments of the configuration, and mistakes refused in one line
before anyone is queued."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY
from newsletter.schedule.firing import Firer, fire
from newsletter.subscribers.models import SUBSCRIBER

from .conftest import SmtpServer
from .test_delivery import ISSUE, make_project, newsletter
from .test_schedule import the_job
from .test_send_commands import mailings

EXAMPLE = '(ai or research) and not locale = "ar" and company = "ACME"'
READERS = [
    # email, locale, tags, company
    ("ann@example.org", "en", "ai", "ACME"),  # In.
    ("ben@example.org", "zh", "research;weekly", "ACME"),  # In (gets the zh edition).
    ("cai@example.org", "ar", "ai", "ACME"),  # Arabic: out.
    ("dan@example.org", "en", "weekly", "ACME"),  # Neither topic: out.
    ("eva@example.org", "en", "ai", "Initech"),  # Another company: out.
    ("fay@example.org", "de", "research", ""),  # No company: out.
    ("gus@example.org", "de", "ai;research", "ACME"),  # In (gets the en edition).
]
INSIDE = {"ann@example.org", "ben@example.org", "gus@example.org"}


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    made = make_project(
        tmp_path,
        f"{smtp_server.url}?connections=1",
        readers=[],
        segments="{ acme-researchers = '(ai or research) and company = \"ACME\"' }",
    )
    rows = [f"{email},{locale},{tags},{company}" for email, locale, tags, company in READERS]
    csv = made.root / "readers.csv"
    csv.write_text("email,locale,tags,company\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, output = newsletter(made, "subscribers", "import", str(csv))
    assert code == 0, output
    return made


def test_a_dry_run_counts_the_segment_per_edition(project: Project) -> None:
    code, output = newsletter(project, "send", ISSUE, "--dry-run", "--to", EXAMPLE)
    assert code == 0, output
    counts = dict(re.findall(r"│ (en|zh)\s+│ (\d+)", output))
    assert counts == {"en": "2", "zh": "1"}, output
    assert "3 recipients in the segment" in output
    assert mailings(project) == []


def test_a_send_reaches_exactly_the_segment(project: Project, smtp_server: SmtpServer) -> None:
    code, output = newsletter(project, "send", ISSUE, "--to", EXAMPLE)
    assert code == 0, output
    reached = {address for message in smtp_server.received for address in message.recipients}
    assert reached == INSIDE


def test_a_named_segment_of_the_configuration(project: Project, smtp_server: SmtpServer) -> None:
    code, output = newsletter(project, "send", ISSUE, "--to", "acme-researchers")
    assert code == 0, output
    reached = {address for message in smtp_server.received for address in message.recipients}
    assert reached == INSIDE | {"cai@example.org"}


def test_tag_is_the_segment_of_one_topic(project: Project, smtp_server: SmtpServer) -> None:
    code, output = newsletter(project, "send", ISSUE, "--tag", "weekly")
    assert code == 0, output
    reached = {address for message in smtp_server.received for address in message.recipients}
    assert reached == {"ben@example.org", "dan@example.org"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            ["--to", "company = ACME"],
            "error: --to: segment 'company = ACME': at 11: expected a quoted value, found `ACME`\n"
            '  fix: company = "value" or company in ["one", "two"]\n',
        ),
        (
            ["--to", "(ai or research"],
            "error: --to: segment '(ai or research': at 16: a `(` that is not closed\n"
            "  fix: add `)`\n",
        ),
        (
            ["--to", "ai", "--tag", "ai"],
            "error: choose one of --to and --tag\n  fix: --tag NAME is --to 'topic = \"NAME\"'\n",
        ),
        (
            ["--to", "ai", "--resume"],
            "error: --to and --tag go with a new send\n"
            "  fix: --resume and --only-failed keep its audience\n",
        ),
    ],
    ids=["unquoted", "unclosed", "both", "resume"],
)
def test_a_mistake_is_one_line_and_nothing_is_queued(
    project: Project, smtp_server: SmtpServer, given: list[str], expected: str
) -> None:
    code, output = newsletter(project, "send", ISSUE, *given)
    assert (code, output) == (1, expected)
    assert smtp_server.received == [] and mailings(project) == []


def test_a_mistake_in_a_named_segment_names_the_configuration(tmp_path: Path) -> None:
    made = make_project(tmp_path, "null:", readers=[], segments="{ broken = 'ai and' }")
    code, output = newsletter(made, "send", ISSUE, "--dry-run", "--to", "broken")
    assert code == 1
    assert output.startswith(
        "error: segments.broken in the configuration: segment 'ai and': at 7: "
        "expected a test, found the end\n"
    ), output


# -- Schedules -----------------------------------------------------------------------------------


def queued_to(project: Project) -> set[str]:
    """The addresses the outbox holds deliveries for."""
    engine = create_db_engine(database_url(project))
    query = select(SUBSCRIBER.c.email).join(DELIVERY, DELIVERY.c.subscriber_id == SUBSCRIBER.c.id)
    with engine.connect() as connection:
        found = set(connection.execute(query).scalars())
    engine.dispose()
    return found


def test_a_scheduled_send_to_a_segment_queues_exactly_the_segment(project: Project) -> None:
    code, output = newsletter(
        project, "schedule", "add", ISSUE, "--at", "2031-12-01 08:00", "--to", EXAMPLE
    )
    assert code == 0, output
    code, output = newsletter(project, "schedule", "list")
    assert f"to the segment {EXAMPLE}" in output, output
    job = the_job(project, f"send-{ISSUE}")
    due = job.next_run_time
    engine = create_db_engine(database_url(project))
    fired = fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs)
    assert fired.startswith("3 recipients queued"), fired
    engine.dispose()
    assert queued_to(project) == INSIDE


def test_a_weekly_schedule_to_a_named_segment_is_named_after_it(project: Project) -> None:
    code, output = newsletter(
        project, "schedule", "weekly", "mon 08:00", "--to", "acme-researchers"
    )
    assert code == 0, output
    assert the_job(project, "weekly-mon-0800-acme-researchers") is not None


def test_a_schedule_with_a_broken_segment_is_refused_when_it_is_added(project: Project) -> None:
    code, output = newsletter(project, "schedule", "weekly", "mon 08:00", "--to", "ai and")
    assert (code, output) == (
        1,
        "error: --to: segment 'ai and': at 7: expected a test, found the end\n"
        '  fix: a test is a topic (weekly), locale/timezone/status = "...", subscribed '
        'before/after YYYY-MM-DD, exists NAME, or NAME = "value"\n',
    )
    assert "no schedules" in newsletter(project, "schedule", "list")[1]


@pytest.mark.parametrize(
    "written",
    [
        "segments = { fine = 'ai', broken = 'ai and' }\n",
        '\n[segments]\nfine = "ai"\nbroken = "ai and"\n',
    ],
    ids=["inline", "table"],
)
def test_check_reports_a_named_segment_that_does_not_read(tmp_path: Path, written: str) -> None:
    made = make_project(tmp_path, "null:", readers=[])
    source = made.source
    assert source is not None
    # Top-level keys go before any table; a table at the end.
    inline = written.startswith("segments")
    text = source.read_text(encoding="utf-8")
    text = written + text if inline else text + written
    source.write_text(text, encoding="utf-8")
    line = 1 if inline else text.splitlines().index('broken = "ai and"') + 1
    code, output = newsletter(made, "check")
    assert code == 1
    assert (
        f"error: {source}:{line}: segments.broken: segment 'ai and': at 7: expected a test, "
        "found the end"
    ) in " ".join(output.split()), output
