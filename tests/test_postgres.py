"""The same code on PostgreSQL: a throwaway cluster (initdb + pg_ctl) on a Unix socket.

Debian's PostgreSQL refuses to run as root, so the cluster runs as the `postgres` user in a
temporary folder, one for the session (conftest.py's postgres_cluster), a database per test.
`make test` installs the server with apt-get when it is missing.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select, text
from sqlmodel import SQLModel

from newsletter.db import create_db_engine, utcnow
from newsletter.db_schema import current_revision, head_revision, upgrade
from newsletter.deliver.audience import (
    _nothing_to_skip,
    audience,
    enqueue_audience,
    queue_deliveries,
)
from newsletter.deliver.compose import Content
from newsletter.deliver.models import DELIVERY, MAILING, Delivery
from newsletter.deliver.sending import store_mailing
from newsletter.errors import NewsletterError
from newsletter.subscribers.csv_import import import_csv
from newsletter.subscribers.models import SUBSCRIBER, ConsentEvent, Subscriber, SubscriberTag
from newsletter.subscribers.search_index import has_index
from newsletter.unmodelled import in_models

from .conftest import POSTGRES_BIN, SmtpServer, as_postgres
from .test_delivery import ISSUE, READERS, import_readers, make_project, migrated, newsletter
from .test_subscriber_import import latin1_on_line_402


@pytest.fixture(scope="module")
def cluster(postgres_cluster: Path) -> Path:
    """The session's running PostgreSQL cluster (conftest.py), its socket in this folder."""
    return postgres_cluster


@pytest.fixture
def database(cluster: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a new, empty database for one test."""
    yield new_database(cluster, request)
    for engine in ENGINES:
        engine.dispose()
    ENGINES.clear()


def new_database(cluster: Path, request: pytest.FixtureRequest, template: str = "") -> str:
    """The URL of a new database for the test of `request`, a copy of `template` if given."""
    # The cluster serves the whole session: the test's full id, hashed, keeps names apart
    # across modules; the readable part helps whoever looks into the cluster.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = f"t_{digest}_{readable}"
    assert POSTGRES_BIN is not None
    copy = ["-T", template] if template else []
    as_postgres(str(POSTGRES_BIN / "createdb"), "-h", str(cluster), *copy, name)
    return f"postgresql+psycopg://postgres@/{name}?host={cluster}"


@pytest.fixture(params=["sqlite", "postgresql"], name="engine")
def either_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The fixture `engine`: an engine of a new database at this version's schema, SQLite
    then PostgreSQL (for the modules that test both and import it): a copy of a database the
    migrations made once (test_delivery.migrated(), postgres_template), as `db upgrade` leaves
    it; test_migrations_build_the_models_schema_on_postgresql checks that schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'news.db'}"
        migrated(url)
    else:
        template = request.getfixturevalue("postgres_template")
        url = new_database(request.getfixturevalue("cluster"), request, template)
    made = create_db_engine(url)
    yield made
    made.dispose()


def add_subscribers(
    engine: Engine, count: int, first: int = 0, locales: Sequence[str] = ("en",)
) -> None:
    """`count` active subscribers, r{first}@example.org and on, the n-th in the locale
    locales[n % len(locales)]."""
    with engine.begin() as connection:
        connection.execute(
            SUBSCRIBER.insert(),
            [
                {"email": f"r{n}@example.org", "email_key": f"r{n}@example.org",
                 "locale": locales[n % len(locales)], "timezone": "UTC", "status": "active"}
                for n in range(first, first + count)
            ],
        )  # fmt: skip


ENGINES: list[Engine] = []


def engine_for(url: str) -> Engine:
    """An engine that the test's teardown disposes (psycopg warns about connections left open)."""
    ENGINES.append(create_db_engine(url))
    return ENGINES[-1]


def test_migrations_build_the_models_schema_on_postgresql(database: str) -> None:
    engine = engine_for(database)
    assert upgrade(engine) == (None, head_revision())
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": in_models})
        assert compare_metadata(context, SQLModel.metadata) == []
        assert has_index(connection)  # The server has pg_trgm, and the user may create it.


def test_csv_import_and_reimport_on_postgresql(database: str, tmp_path: Path) -> None:
    engine = engine_for(database)
    upgrade(engine)
    source = tmp_path / "people.csv"
    source.write_text(
        "email,name,language,tags\n"
        "ada@example.org,Ada,en,weekly;beta\n"
        "ADA@example.org,,de,events\n"  # The same person: merged.
        "wei@example.cn,张伟,zh,weekly\n"
        "not-an-address,,en,\n",
        encoding="utf-8",
    )
    options: dict[str, object] = {
        "locales": ["en", "de", "zh"],
        "default_locale": "en",
        "default_timezone": "UTC",
    }
    report = import_csv(engine, source, **options)  # type: ignore[arg-type]
    assert (report.created, report.duplicates, len(report.invalid)) == (2, 1, 1)
    again = import_csv(engine, source, **options)  # type: ignore[arg-type]
    assert (again.created, again.unchanged, again.updated) == (0, 2, 0)
    with engine.connect() as connection:
        locale = connection.execute(
            select(Subscriber.locale).where(Subscriber.email_key == "ada@example.org")  # type: ignore[arg-type]
        ).scalar_one()
        tags = connection.execute(select(func.count()).select_from(SubscriberTag)).scalar_one()
        events = connection.execute(select(func.count()).select_from(ConsentEvent)).scalar_one()
    assert (locale, tags, events) == ("de", 4, 2)


def test_an_import_stopped_while_writing_stops_its_read_ahead_and_writes_nothing(
    database: str, tmp_path: Path
) -> None:
    engine = engine_for(database)
    upgrade(engine)
    source = tmp_path / "long.csv"
    rows = "".join(f"reader{n}@example.com,Reader {n},de\n" for n in range(2000))
    source.write_text("email,name,locale\n" + rows, encoding="utf-8")

    def interrupted(rows: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the first batch was being written.

    kept: list[BaseException] = []
    try:
        options = {"locales": ["en", "de"], "default_locale": "en", "default_timezone": "UTC"}
        import_csv(engine, source, batch_size=50, progress=interrupted, **options)  # type: ignore[arg-type]
    except KeyboardInterrupt as interrupt:
        kept.append(interrupt)  # Its traceback kept, as a log or a caller may keep it.

    assert kept
    # The thread that reads and checks the rows ahead stopped with the import all the same.
    assert [thread for thread in threading.enumerate() if thread.name == "read-ahead"] == []
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Subscriber)).scalar() == 0


def test_a_decoding_error_read_ahead_is_the_same_one_line_and_nothing_is_written(
    database: str, tmp_path: Path
) -> None:
    engine = engine_for(database)
    upgrade(engine)
    source = latin1_on_line_402(tmp_path)
    processed: list[int] = []

    with pytest.raises(NewsletterError) as raised:
        options = {"locales": ["en", "de"], "default_locale": "en", "default_timezone": "UTC"}
        import_csv(engine, source, batch_size=50, progress=processed.append, **options)  # type: ignore[arg-type]

    assert sum(processed) >= 100  # Batches were written before the bad line was read ...
    assert (raised.value.line, raised.value.path) == (402, source)
    assert "bytes eb" in raised.value.message
    with engine.connect() as connection:  # ... and rolled back.
        assert connection.execute(select(func.count()).select_from(Subscriber)).scalar() == 0


def test_a_send_on_postgresql_delivers_each_message_once(
    database: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    url = f"{smtp_server.url}?connections=2"
    project = make_project(tmp_path, url, database=database, readers=[])
    main = project.issues_path / ISSUE / "issue.md"  # Published by its send, read from PostgreSQL.
    main.write_text(main.read_text("utf-8").replace("status: sent\n", "status: ready\n"), "utf-8")
    import_readers(project, 300, ("en", "zh"))
    smtp_server.recorder.next_replies["reader7@example.org"] = ["451 4.7.1 try again later"]
    smtp_server.recorder.replies["reader8@example.org"] = "550 5.1.1 no such user"

    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    received = Counter(r.recipients[0] for r in smtp_server.received)
    assert len(received) == 299 and set(received.values()) == {1}
    engine = engine_for(database)
    with engine.connect() as connection:
        states = dict(
            connection.execute(
                select(Delivery.state, func.count()).group_by(Delivery.state)  # type: ignore[arg-type]
            ).all()
        )
        status = connection.execute(
            text("SELECT status FROM subscriber WHERE email = 'reader8@example.org'")
        ).scalar_one()
    assert states == {"sent": 299, "failed": 1} and status == "bounced"
    # Sending again adds nobody (ON CONFLICT DO NOTHING on the UNIQUE pair).
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0 and "0 recipients added" in output
    code, output = newsletter(project, "archive")
    assert code == 0 and "archive: 1 issues" in output, output
    assert (project.archive_path / "zh" / ISSUE / "index.html").is_file()


def test_after_a_large_import_and_audience_the_planner_knows_the_rows(
    database: str, tmp_path: Path
) -> None:
    """A send that starts right after an import must find each batch's subscribers by their
    primary key: without statistics, PostgreSQL read the whole table for each batch (20,000
    rows for each 200 in bench/send.py --database postgresql)."""
    engine = engine_for(database)
    upgrade(engine)
    source = tmp_path / "readers.csv"
    source.write_text(
        "email\n" + "".join(f"reader{n}@example.org\n" for n in range(3000)), encoding="utf-8"
    )
    import_csv(engine, source, locales=["en"], default_locale="en", default_timezone="UTC")
    with engine.connect() as connection:
        counted = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'subscriber'"
        ).scalar_one()
    assert counted == 3000  # Analyzed (-1: never; autovacuum would come a minute later).
    mailing = store_mailing(
        engine, "x", [Content("en", "Subject", "<p>hi</p>", "hi", "https://e.org/x")],
        commit="", dirty=False, told="", now=utcnow(),
    )  # fmt: skip
    assert enqueue_audience(engine, mailing, default_locale="en", to=None, now=utcnow()) == 3000
    with engine.connect() as connection:
        deliveries = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'delivery'"
        ).scalar_one()
    assert deliveries == 3000


def test_a_second_queueing_of_one_audience_waits_for_the_first_and_adds_only_the_rest(
    database: str,
) -> None:
    """The first audience of a mailing goes into `delivery` by COPY, with nothing to skip: a
    second queueing of the same mailing (two `send` commands at once) must wait until the
    first has committed, then skip what it added, not fail on the UNIQUE pair."""
    engine = engine_for(database)
    upgrade(engine)
    add_subscribers(engine, 3)
    mailing = store_mailing(
        engine, "x", [Content("en", "Subject", "<p>hi</p>", "hi", "https://e.org/x")],
        commit="", dirty=False, told="", now=utcnow(),
    )  # fmt: skip
    assert mailing.id is not None
    added: list[int] = []
    with engine.connect() as other:  # A queueing in progress: it holds the mailing, adds one.
        other.execute(
            select(MAILING.c.id).where(MAILING.c.id == mailing.id).with_for_update(key_share=True)
        )
        queue_deliveries(other, mailing.id, [(1, "en", utcnow())], utcnow())
        second = threading.Thread(
            target=lambda: added.append(
                enqueue_audience(engine, mailing, default_locale="en", to=None, now=utcnow())
            )
        )
        second.start()
        time.sleep(0.5)
        assert second.is_alive()  # Waiting for the first.
        other.commit()
    second.join(10)
    assert added == [2]
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
    assert count == 3


def test_a_part_goes_in_by_copy_only_while_every_delivery_of_the_mailing_is_the_queueings(
    database: str,
) -> None:
    """The check that lets a part of an audience go in by COPY reads the mailing's tally, not
    its deliveries: what other mailings sent (the table's history) does not slow it, and a
    delivery that this queueing did not add (another's, or an earlier send's) turns it off."""
    engine = engine_for(database)
    upgrade(engine)
    add_subscribers(engine, 6)
    made = [
        store_mailing(
            engine, name, [Content("en", "Subject", "<p>hi</p>", "hi", f"https://e.org/{name}")],
            commit="", dirty=False, told="", now=utcnow(),
        )
        for name in ("earlier", "this")
    ]  # fmt: skip
    earlier, this = (mailing.id or 0 for mailing in made)
    with engine.begin() as connection:  # History: another mailing sent to all of them.
        queue_deliveries(connection, earlier, [(n, "en", utcnow()) for n in range(1, 7)], utcnow())
    with engine.begin() as connection:
        assert _nothing_to_skip(connection, this, 0)
        queue_deliveries(connection, this, [(n, "en", utcnow()) for n in (1, 2, 3)], utcnow())
    with engine.begin() as connection:
        assert _nothing_to_skip(connection, this, 3)  # The three it added.
        assert not _nothing_to_skip(connection, this, 2)  # One that it did not add.


def test_the_audience_is_streamed_from_a_server_side_cursor(database: str) -> None:
    """A send to a million must not hold its whole audience in memory: psycopg fetches a
    plain query's every row at once, so the audience comes from a server-side cursor."""
    engine = engine_for(database)
    upgrade(engine)
    add_subscribers(engine, 3)
    with engine.begin() as connection:
        readers = audience(connection, ["en"], default_locale="en", to=None)
        first = next(readers)
        cursors = connection.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one()
        assert [first, *readers] == [(n, "en", "UTC") for n in (1, 2, 3)]
    assert cursors == 1


def test_schedules_firings_and_the_leader_lease_on_postgresql(
    database: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    from datetime import UTC, datetime, timedelta

    from newsletter.schedule.firing import Firer, fire, firings
    from newsletter.schedule.leader import Lease

    from .test_schedule import FIRST, deliver_due, mark_ready, the_job

    project = make_project(tmp_path, smtp_server.url + "?connections=1", database=database)
    mark_ready(project, FIRST)
    assert newsletter(project, "schedule", "weekly", "sun 02:30", "--tz", "Europe/Berlin")[0] == 0
    job = the_job(project, "weekly-sun-0230")
    engine = engine_for(database)
    # The two 02:30s of 25 October 2026 (CEST, then CET): one firing, one send.
    for due in (
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ):
        fire(Firer(project, engine, clock=lambda due=due: due), job.id, due, **job.kwargs)
        deliver_due(project, due + timedelta(seconds=1))
    assert [(f.state, f.issue) for f in firings(engine)] == [("queued", FIRST)]
    assert sorted(r.recipients[0] for r in smtp_server.received) == sorted(
        email for email, _, _ in READERS
    )
    now = datetime(2031, 1, 1, tzinfo=UTC)
    first, second = Lease(engine, "elsewhere:1", 5), Lease(engine, "elsewhere:2", 5)
    assert first.hold(now) and not second.hold(now)
    assert second.hold(now + timedelta(seconds=6)) and not first.hold(now + timedelta(seconds=6))
