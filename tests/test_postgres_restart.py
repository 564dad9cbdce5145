"""A send through a restart of its PostgreSQL server (an upgrade, a failover, a crash): the
workers wait for the database, record what they sent once it is back, and go on; nobody is
lost and nobody gets the issue twice."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.db import create_db_engine
from newsletter.deliver.models import DELIVERY
from newsletter.web.app import create_app

from .conftest import POSTGRES_BIN, SmtpServer, as_postgres, web_server
from .mailservers import free_port
from .test_delivery import make_project
from .test_delivery_crash import send_in_background

RECIPIENTS = 1200
RESTART_AFTER = 200  # Messages received before the server restarts.


@pytest.fixture
def restartable() -> Iterator[tuple[str, list[str]]]:
    """A cluster of this test's own (the session's serves every other test): the URL of its
    database, and the command that restarts it as a service manager would (`-m fast`: every
    session is cut)."""
    assert POSTGRES_BIN is not None, "PostgreSQL is not installed: run `make test`"
    folder = Path(tempfile.mkdtemp(prefix="newsletter-restart-"))
    shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    as_postgres(str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-k {folder} -h '' -c fsync=off -c full_page_writes=off"
    pg_ctl = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]
    as_postgres(*pg_ctl, "-o", options, "start")
    try:
        as_postgres(str(POSTGRES_BIN / "createdb"), "-h", str(folder), "news")
        restart = ["runuser", "-u", "postgres", "--", *pg_ctl, "-o", options, "-m", "fast"]
        yield f"postgresql+psycopg://postgres@/news?host={folder}", [*restart, "restart"]
    finally:
        as_postgres(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_send_goes_through_a_restart_of_its_database_without_loss_or_repeat(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, list[str]]
) -> None:
    url, restart = restartable
    # Paced, so that the restart comes with most of the send still to go.
    _, sender = send_in_background(
        tmp_path, smtp_server, RECIPIENTS, RESTART_AFTER, database=url, rate="400",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    subprocess.run(restart, check=True, capture_output=True, timeout=60)
    output, _ = sender.communicate(timeout=120)
    assert sender.returncode == 0, output.decode(errors="replace")[-2000:]

    copies = Counter(address for got in smtp_server.received for address in got.recipients)
    assert len(copies) == RECIPIENTS and set(copies.values()) == {1}
    engine = create_db_engine(url)
    with engine.connect() as connection:
        states = connection.execute(
            select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state)
        ).all()
    engine.dispose()
    assert states == [("sent", RECIPIENTS)]


def test_the_web_app_answers_at_once_after_its_database_restarts(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, list[str]]
) -> None:
    """Readers click unsubscribe links whenever they like: the first request after a restart
    must not be the one that finds the pool's connections cut."""
    url, restart = restartable
    project = make_project(tmp_path, smtp_server.url, database=url)
    engine = create_db_engine(url)
    with web_server(create_app(project, engine=engine), free_port()) as origin:
        for _ in range(3):  # Connections into the pool, as a running site has them.
            assert healthz(origin) == 200
        subprocess.run(restart, check=True, capture_output=True, timeout=60)
        assert [healthz(origin) for _ in range(3)] == [200, 200, 200]
    engine.dispose()


def healthz(origin: str) -> int:
    """The status of GET /healthz, which reads the database."""
    try:
        with urllib.request.urlopen(f"{origin}/healthz", timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
