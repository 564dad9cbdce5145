"""A send killed with SIGKILL in the middle, then resumed: nobody is lost, few get it twice.

At most one message per connection goes out twice: each worker journals every outcome before
its next message (deliver/journal.py) and `--resume` records the journals before requeueing,
so only a message whose reply the worker had not read yet is sent again (bench/crash.py
measures it over many kills).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import Delivery
from newsletter.deliver.worker import CLAIMS_PER_RECORD, RECORD_EVERY

from .conftest import SmtpServer
from .test_delivery import ISSUE, READERS, SECRET, import_readers, make_project, newsletter

RECIPIENTS = 800  # Four claims of 200: every connection sends.
KILL_AFTER = (5, 300, 700)
"""Messages received before the kill: as the send starts, early, near the end."""
CONNECTIONS = 4  # The default.


def send_in_background(
    tmp_path: Path,
    smtp_server: SmtpServer,
    recipients: int,
    received: int,
    *,
    database: str = "sqlite:///news.db",
    rate: str = "",
    **popen: Any,
) -> tuple[Project, subprocess.Popen[bytes]]:
    """A project with `recipients` readers in `database` and its `newsletter send` running in
    a process of its own (four worker processes, at `rate` messages a second if given), once
    the server has received `received` messages. Its output goes nowhere unless `popen` says."""
    pace = f"&rate={rate}" if rate else ""
    transport = f"{smtp_server.url}?connections={CONNECTIONS}{pace}"
    project = make_project(tmp_path, transport, database=database)
    import_readers(project, recipients - len(READERS))
    sender = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(project.source), "send", ISSUE],
        env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
        **{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen},
    )
    deadline = time.monotonic() + 120
    while len(smtp_server.received) < received:
        assert sender.poll() is None, "the send ended before it could be killed"
        assert time.monotonic() < deadline, "the send is too slow"
        time.sleep(0.01)
    return project, sender


@pytest.mark.parametrize("kill_after", KILL_AFTER)
def test_kill_9_of_a_whole_send_then_resume_repeats_at_most_one_message_per_connection(
    tmp_path: Path, smtp_server: SmtpServer, kill_after: int
) -> None:
    # The send and its worker processes, in a process group of their own, all killed at once.
    project, sender = send_in_background(
        tmp_path, smtp_server, RECIPIENTS, kill_after, start_new_session=True
    )
    os.killpg(sender.pid, signal.SIGKILL)
    sender.wait()
    time.sleep(0.3)  # Let the server finish any message whose last bytes were already sent.
    received_before = len(smtp_server.received)
    with Session(create_db_engine(database_url(project))) as session:
        states = Counter(d.state for d in session.exec(select(Delivery)))
    in_flight = states["sending"]  # Claimed, outcome not recorded: only the journals know.
    assert in_flight > 0 and states["sent"] < RECIPIENTS
    assert in_flight <= CONNECTIONS * CLAIMS_PER_RECORD * RECORD_EVERY  # Each worker's claims.
    journals = project.root / ".newsletter" / "journal"
    assert 0 < len(list(journals.iterdir())) <= CONNECTIONS  # The killed workers' journals.

    code, output = newsletter(project, "send", ISSUE, "--resume")
    assert code == 0, output

    per_address = Counter(r.recipients[0] for r in smtp_server.received)
    duplicates = sum(count - 1 for count in per_address.values())
    assert len(per_address) == RECIPIENTS  # Everyone got the issue...
    assert duplicates <= CONNECTIONS  # ...and at most one message per connection went twice.
    with Session(create_db_engine(database_url(project))) as session:
        final = Counter(d.state for d in session.exec(select(Delivery)))
    assert final == {"sent": RECIPIENTS}
    assert list(journals.iterdir()) == []  # Read, then removed; the resume's own too.
    print(  # Reported in the closing note (run with -s).
        f"\nkill -9 after {received_before} messages received; {states['sent']} recorded sent, "
        f"{in_flight} in flight; after --resume: {len(smtp_server.received)} received, "
        f"{len(per_address)} addresses, {duplicates} repeated"
    )


def test_workers_stop_cleanly_when_only_the_sending_process_is_killed(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project, sender = send_in_background(tmp_path, smtp_server, 600, 150)
    sender.kill()  # The parent only: its worker processes notice, record what they sent, stop.
    sender.wait()
    engine = create_db_engine(database_url(project))
    deadline = time.monotonic() + 30
    while True:
        with Session(engine) as session:
            states = Counter(d.state for d in session.exec(select(Delivery)))
        if states["sending"] == 0:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    stopped_at = len(smtp_server.received)
    time.sleep(0.5)
    assert len(smtp_server.received) == stopped_at < 600  # Nobody is sending any more.
    assert states["sent"] == stopped_at

    assert newsletter(project, "send", ISSUE, "--resume")[0] == 0
    per_address = Counter(r.recipients[0] for r in smtp_server.received)
    assert len(per_address) == 600 and set(per_address.values()) == {1}  # No duplicates at all.
