"""Welcome and onboarding sequences: who enters, which step is due, each step once per member."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.sequences.queue import queue_due_steps
from newsletter.subscribers import registry
from newsletter.subscribers.models import SUBSCRIBER

from .sequence_files import STEPS, write_sequence
from .test_delivery import add_reader, make_project, newsletter

DAY = timedelta(days=1)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[])
    write_sequence(made.root)
    return made


@pytest.fixture
def engine(project: Project) -> Engine:
    return create_db_engine(database_url(project))


def queued(engine: Engine) -> list[tuple[str, str, str]]:
    """(address, step mailing without its version, locale) of every delivery, in order."""
    query = (
        select(SUBSCRIBER.c.email, MAILING.c.issue, DELIVERY.c.locale)
        .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id)
        .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
        .order_by(DELIVERY.c.id)
    )
    with engine.connect() as connection:
        return [
            (email, issue.split("@")[0], locale)
            for email, issue, locale in connection.execute(query)
        ]


def steps_of(engine: Engine, email: str) -> list[str]:
    return [step for address, step, _ in queued(engine) if address == email]


def test_a_confirmed_reader_gets_each_step_once_in_their_language_when_it_is_due(
    project: Project, engine: Engine
) -> None:
    start = utcnow()
    queue_due_steps(project, engine, start)  # The sequence is seen before anyone confirms.
    add_reader(project, "ana@example.org", "Ana", "de")
    add_reader(project, "bob@example.org", "Bob", "en")
    now = utcnow()
    queue_due_steps(project, engine, now)
    queue_due_steps(project, engine, now + DAY)  # Nothing more is due yet, nothing twice.
    assert queued(engine) == [
        ("ana@example.org", "sequence:welcome/01-welcome", "de"),
        ("bob@example.org", "sequence:welcome/01-welcome", "en"),
    ]
    queue_due_steps(project, engine, now + 3 * DAY + timedelta(minutes=1))
    queue_due_steps(project, engine, now + 4 * DAY)
    assert steps_of(engine, "ana@example.org") == [
        "sequence:welcome/01-welcome",
        "sequence:welcome/02-how-we-work",
    ]
    assert [locale for _, _, locale in queued(engine)] == ["de", "en", "de", "en"]
    with engine.connect() as connection:  # Rendered without a link to a web version.
        html = connection.execute(select(MAILING.c.id)).all()
    assert len(html) == 2


def test_an_unsubscribed_reader_leaves_and_gets_no_later_step(
    project: Project, engine: Engine
) -> None:
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "de")
    add_reader(project, "bob@example.org", "Bob", "en")
    now = utcnow()
    queue_due_steps(project, engine, now)
    with Session(engine) as session:
        bob = registry.find(session, "bob@example.org")
        assert bob is not None
        registry.unsubscribe(session, bob, method="test", source="test", now=now)
        session.commit()
    queue_due_steps(project, engine, now + 3 * DAY + timedelta(minutes=1))
    assert steps_of(engine, "bob@example.org") == ["sequence:welcome/01-welcome"]
    assert len(steps_of(engine, "ana@example.org")) == 2
    code, output = newsletter(project, "sequence", "status", "--json")
    assert code == 0, output
    status = json.loads(output)["sequences"][0]
    assert (status["members"], status["left"], status["waiting"]) == (1, 1, 0)
    assert [step["reached"] for step in status["steps"]] == [0, 1]


def test_an_edited_step_goes_to_those_who_have_not_reached_it_and_never_again_to_the_rest(
    project: Project, engine: Engine
) -> None:
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "en")
    now = utcnow()
    queue_due_steps(project, engine, now)
    (project.root / "sequences" / "welcome" / "01-welcome.md").write_text(
        "---\ntitle: Welcome, new edition\nafter: 0 days\n---\nHello again.\n", encoding="utf-8"
    )
    add_reader(project, "cy@example.org", "Cy", "en")
    queue_due_steps(project, engine, utcnow())
    with engine.connect() as connection:
        versions = dict(
            iter(
                connection.execute(
                    select(SUBSCRIBER.c.email, MAILING.c.issue)
                    .join(DELIVERY, DELIVERY.c.subscriber_id == SUBSCRIBER.c.id)
                    .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
                )
            )
        )
    assert steps_of(engine, "ana@example.org") == ["sequence:welcome/01-welcome"]  # Not twice.
    assert versions["ana@example.org"] != versions["cy@example.org"]  # Cy got the new version.


def test_a_step_added_later_skips_members_whose_time_for_it_passed_long_ago(
    project: Project, engine: Engine
) -> None:
    start = utcnow()
    queue_due_steps(project, engine, start)
    add_reader(project, "ana@example.org", "Ana", "en")
    queue_due_steps(project, engine, start + timedelta(minutes=1))
    write_sequence(
        project.root,
        {"03-later.md": "---\ntitle: One more\nafter: 1 day\n---\nMore.\n"},
    )
    queue_due_steps(project, engine, start + 10 * DAY)  # Step 03 first seen now: too late for Ana.
    assert steps_of(engine, "ana@example.org") == [
        "sequence:welcome/01-welcome",
        "sequence:welcome/02-how-we-work",
    ]
    add_reader(project, "cy@example.org", "Cy", "en")
    cy = start + 10 * DAY + timedelta(minutes=1)  # Cy confirms after step 03 appeared.
    with engine.begin() as connection:
        connection.execute(
            SUBSCRIBER.update()
            .where(SUBSCRIBER.c.email == "cy@example.org")
            .values(confirmed_at=cy)
        )
    queue_due_steps(project, engine, cy + timedelta(minutes=1))
    queue_due_steps(project, engine, cy + 4 * DAY)
    assert steps_of(engine, "cy@example.org") == [
        "sequence:welcome/01-welcome",
        "sequence:welcome/02-how-we-work",
        "sequence:welcome/03-later",
    ]


def test_subscribers_who_confirmed_before_the_sequence_existed_do_not_enter_it(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[("old@example.org", "", "en")])
    engine = create_db_engine(database_url(project))
    with engine.begin() as connection:  # Confirmed a month ago.
        connection.execute(SUBSCRIBER.update().values(confirmed_at=utcnow() - 30 * DAY))
    write_sequence(project.root)
    queue_due_steps(project, engine, utcnow())
    assert queued(engine) == []
    code, output = newsletter(project, "sequence", "enter", "welcome", "--to", 'locale = "en"')
    assert code == 0 and "1 subscribers entered welcome" in output, output
    queue_due_steps(project, engine, utcnow())
    assert steps_of(engine, "old@example.org") == ["sequence:welcome/01-welcome"]


def test_a_step_for_a_segment_reaches_only_its_members(project: Project, engine: Engine) -> None:
    write_sequence(
        project.root,
        {
            "01-welcome.md": "---\ntitle: Pro welcome\nafter: 0 days\nto: 'plan = \"pro\"'\n---\nPro.\n",
        },
        name="pro",
    )
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "en")
    add_reader(project, "bob@example.org", "Bob", "en")
    with Session(engine) as session:
        ana = registry.find(session, "ana@example.org")
        assert ana is not None
        ana.attributes = {"plan": "pro"}
        session.add(ana)
        session.commit()
    queue_due_steps(project, engine, utcnow())
    assert "sequence:pro/01-welcome" in steps_of(engine, "ana@example.org")
    assert "sequence:pro/01-welcome" not in steps_of(engine, "bob@example.org")


def test_an_import_with_sequence_puts_the_created_subscribers_in(
    project: Project, engine: Engine
) -> None:
    add_reader(project, "before@example.org", "", "en")
    rows = project.root / "people.csv"
    rows.write_text("email,name,locale\nnew@example.org,New,de\n", encoding="utf-8")
    code, output = newsletter(project, "subscribers", "import", str(rows), "--sequence", "welcome")
    assert code == 0 and "1 entered the sequence welcome" in output, output
    code, output = newsletter(project, "subscribers", "import", str(rows), "--sequence", "nope")
    assert code == 1 and "no sequence 'nope'" in output, output
    queue_due_steps(project, engine, utcnow())
    assert ("new@example.org", "sequence:welcome/01-welcome", "de") in queued(engine)


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        ("03-x.md", "---\ntitle: X\n---\nx\n", "03-x.md:1: a step needs `after:`"),
        (
            "03-x.md",
            "---\ntitle: X\nafter: soon\n---\nx\n",
            "03-x.md:3: after: 'soon' is not a delay",
        ),
        ("03-x.md", "---\ntitle: X\nafter: 3\n---\nx\n", "03-x.md:3: after: 3 is not a delay"),
        (
            "03-x.md",
            "---\ntitle: X\nafter: 1 day\nto: 'plan = pro'\n---\nx\n",
            "03-x.md:4: to: segment 'plan = pro': at 8: expected a quoted value",
        ),
        ("02-again.md", "---\ntitle: X\nafter: 1 day\n---\nx\n", "have the same number"),
        ("Welcome.md", "---\ntitle: X\nafter: 1 day\n---\nx\n", "Welcome.md: a step's file name"),
    ],
)
def test_a_broken_step_is_named_with_its_line_and_fix_and_nothing_is_queued(
    project: Project, engine: Engine, file_name: str, text: str, expected: str
) -> None:
    write_sequence(project.root, {file_name: text})
    add_reader(project, "ana@example.org", "Ana", "en")
    for command in (("check",), ("sequence", "status")):
        code, output = newsletter(project, *command)
        assert code == 1 and expected in " ".join(output.split()), output
        assert "Traceback" not in output
    with pytest.raises(Exception, match="welcome"):
        queue_due_steps(project, engine, utcnow())
    assert queued(engine) == []


def test_status_names_each_steps_mailing_and_newsletter_status_shows_it(
    project: Project, engine: Engine
) -> None:
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "de")
    queue_due_steps(project, engine, utcnow())
    code, output = newsletter(project, "sequence", "status", "welcome")
    assert code == 0 and "1 in it" in output and "02-how-we-work" in output, output
    code, output = newsletter(project, "status", "sequence:welcome/01-welcome")
    assert code == 0 and "queued" in output and "de" in output, output
    code, output = newsletter(project, "status", "sequence:welcome/02-how-we-work")
    assert code == 1 and "no send of" in output, output


def test_steps_are_never_published_in_the_archive(project: Project, engine: Engine) -> None:
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "en")
    queue_due_steps(project, engine, utcnow())
    out = project.root / "site"
    code, output = newsletter(project, "archive", "--out", str(out))
    assert code == 0, output
    published = "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in out.rglob("*")
        if path.is_file()
    )
    assert "Welcome aboard" not in published and "Hello and welcome" not in published
    assert STEPS  # The sample sequence is the one written.


def test_a_suppressed_address_gets_no_step_even_while_its_subscriber_is_active(
    project: Project, engine: Engine
) -> None:
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "en")
    add_reader(project, "bob@example.org", "Bob", "en")
    with Session(engine) as session:
        bob = registry.find(session, "bob@example.org")
        assert bob is not None and bob.status == "active"
        registry.suppress(session, bob.email_key, "hard-bounce", utcnow())
        session.commit()
    queue_due_steps(project, engine, utcnow())
    assert steps_of(engine, "ana@example.org") == ["sequence:welcome/01-welcome"]
    assert steps_of(engine, "bob@example.org") == []


def test_the_service_reads_the_steps_again_only_when_a_file_changes(
    project: Project, engine: Engine
) -> None:
    from newsletter.sequences.queue import Passes

    passes = Passes(project, engine, utcnow)
    passes.tick(0.0)
    first = passes.read[1]
    passes.tick(10.0)
    assert passes.read[1] is first  # Nothing changed: not read again.
    (project.root / "sequences" / "welcome" / "02-how-we-work.md").write_text(
        "---\ntitle: How we work now\nafter: soon\n---\nx\n", encoding="utf-8"
    )
    passes.tick(20.0)
    assert passes.read[1] is first and "after: 'soon'" in passes.problem  # Broken: kept, said.
    (project.root / "sequences" / "welcome" / "02-how-we-work.md").write_text(
        "---\ntitle: How we work now\nafter: 4 days\n---\nx\n", encoding="utf-8"
    )
    passes.tick(30.0)
    assert passes.problem == "" and passes.read[1][0].steps[1].after == 4 * DAY


def test_a_sequence_name_that_leads_out_of_the_folder_is_refused(project: Project) -> None:
    code, output = newsletter(project, "sequence", "status", "../issues")
    assert code == 1 and "folder name is lowercase letters" in output, output
