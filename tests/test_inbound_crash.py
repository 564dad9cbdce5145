"""A processing pass killed with SIGKILL mid-batch, then run again: every message exactly once.

Each message's outcome is stored in one transaction before the message is moved (a rename), so
a kill leaves each message either unprocessed, or stored and not yet moved (found by its digest
next time: a duplicate, moved then), or stored and moved.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .conftest import ROOT
from .inbound_mail import bounce_message
from .test_inbound_processor import READERS, SECRET, Newsletter, make_newsletter
from .test_inbound_sources import files, make_maildir

MESSAGES = 300
KINDS = ("delay", "autoreply", "policy", "soft", "hard")

# The pass as `newsletter inbound process` runs it (process_source over the Maildir), with
# the stand-in reader of tests/inbound_mail.py in place of the bounce parser.
PASS = """
import sys
from pathlib import Path
from newsletter.config import load_project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.inbound.processor import InboundSettings, process_source
from newsletter.inbound.sources import open_source
from tests.inbound_mail import read_test_message

project = load_project(Path(sys.argv[1]))
engine = create_db_engine(database_url(project))
source = open_source(sys.argv[2], project.secrets, project.root)
process_source(
    engine, source, settings=InboundSettings.of(project), now=utcnow, read=read_test_message,
    batch=10,
)
"""


def stored(news: Newsletter, table: str) -> int:
    with sqlite3.connect(news.project.root / "news.db", timeout=10) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def start_pass(news: Newsletter, inbox: Path) -> subprocess.Popen[bytes]:
    assert news.project.source is not None
    return subprocess.Popen(
        [sys.executable, "-c", PASS, str(news.project.source), f"maildir:{inbox}"],
        cwd=ROOT,
        env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_after(news: Newsletter, inbox: Path, messages: int) -> int:
    """Start a pass, SIGKILL it once `messages` more are processed (stored, then moved); how
    many were stored then.

    The pass is stopped (SIGSTOP) while each look is taken: on a busy machine a look may come
    a second late, and a pass left running meanwhile finished the whole Maildir before it
    could be killed (seen in `make test`). The look counts the moved files, not the database's
    rows: a read of a database whose writer is stopped could wait for its lock.
    """
    before = len(files(inbox / ".Processed" / "cur"))
    runner = start_pass(news, inbox)
    deadline = time.monotonic() + 60
    try:
        while True:
            os.killpg(runner.pid, signal.SIGSTOP)
            if len(files(inbox / ".Processed" / "cur")) >= before + messages:
                break
            assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
            assert time.monotonic() < deadline, "the pass is too slow"
            os.killpg(runner.pid, signal.SIGCONT)
            time.sleep(0.005)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        assert runner.stderr is not None
        runner.stderr.close()
    return stored(news, "inbound_message")


def test_kill_9_mid_batch_then_run_again_processes_every_message_once(tmp_path: Path) -> None:
    news = make_newsletter(tmp_path / "project")
    messages = [
        bounce_message(n, KINDS[n % len(KINDS)], verp=news.verp(READERS[n % len(READERS)]))
        for n in range(MESSAGES)
    ]
    inbox = make_maildir(tmp_path / "bounces", messages)
    names = set(files(inbox / "new"))

    first = kill_after(news, inbox, 30)
    second = kill_after(news, inbox, 30)
    assert 30 <= first < second < MESSAGES, "the pass ended before it could be killed"
    print(f"\nkilled after {first} and {second} of {MESSAGES} messages stored")
    runner = start_pass(news, inbox)
    _, errors = runner.communicate(timeout=120)
    assert runner.returncode == 0, errors

    assert stored(news, "inbound_message") == MESSAGES
    assert stored(news, "inbound_event") == MESSAGES  # One notice each, stored once.
    # Every message moved exactly once, none left behind, none copied, none lost.
    assert files(inbox / "new") == [] and files(inbox / "cur") == []
    moved = files(inbox / ".Processed" / "cur")
    assert len(moved) == MESSAGES
    assert {name.partition(":")[0] for name in moved} == names
    with sqlite3.connect(news.project.root / "news.db") as connection:
        kinds = Counter(kind for (kind,) in connection.execute("SELECT kind FROM inbound_event"))
    assert kinds == {kind: MESSAGES // len(KINDS) for kind in KINDS}
    # The hard bounces suppressed their subscribers, once each.
    assert {news.subscriber(address).status for address in READERS} == {"bounced"}
