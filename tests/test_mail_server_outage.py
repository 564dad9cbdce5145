"""A send through a restart of its mail server (a Postfix reload, a relay's failover): the
workers that had reached it wait for it to answer again and go on; a server that never
answered is still an error at once (a mistake in transport_url)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller

from .conftest import Recorder, SmtpServer
from .mailservers import free_port
from .test_delivery import ISSUE, make_project, newsletter
from .test_delivery_crash import CONNECTIONS, send_in_background

RECIPIENTS = 1200
STOP_AFTER = 200  # Messages received before the server goes away.
AWAY = 3.0  # Seconds it stays away: the workers' waits of 1 and 2 s run out meanwhile.


@contextmanager
def answering(recorder: Recorder, port: int) -> Iterator[None]:
    """The test SMTP server on `port` until the block ends (then every connection is cut)."""
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def test_a_send_waits_for_its_mail_server_to_come_back(tmp_path: Path) -> None:
    recorder, port = Recorder(), free_port()
    server = SmtpServer("127.0.0.1", port, recorder)
    with answering(recorder, port):
        _, sender = send_in_background(
            tmp_path, server, RECIPIENTS, STOP_AFTER, rate="400",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
    time.sleep(AWAY)
    assert sender.poll() is None, "the send gave up while its server was away"
    with answering(recorder, port):
        output, _ = sender.communicate(timeout=120)
    said = output.decode(errors="replace")
    assert sender.returncode == 0, said[-2000:]
    assert "sending: cannot connect to the SMTP server" in said and "; trying again" in said
    copies = Counter(address for got in recorder.received for address in got.recipients)
    assert len(copies) == RECIPIENTS
    # At most the message each connection had written when the server went: its reply lost,
    # it is sent again (it may or may not have arrived).
    assert sum(copies.values()) - RECIPIENTS <= CONNECTIONS


def test_a_mail_server_that_never_answered_is_an_error_at_once(tmp_path: Path) -> None:
    project = make_project(tmp_path, f"smtp://127.0.0.1:{free_port()}")
    started = time.monotonic()
    code, output = newsletter(project, "send", ISSUE)
    assert code == 1 and "cannot connect to the SMTP server" in output
    assert time.monotonic() - started < 30
