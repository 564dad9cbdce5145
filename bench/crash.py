"""Measure what a kill -9 of a whole send repeats: kills at random moments, each resumed.

    .venv/bin/python bench/crash.py [--trials 10] [--recipients 2000] [--connections 4] [--seed 1]

Each trial makes a project with `--recipients` subscribers and one issue of about 20 KB a
message (the one bench/send.py sends), starts a real SMTP server on loopback (aiosmtpd, which
records every message) and `newsletter send` in a process group of its own, with
`transport_url = smtp://127.0.0.1:PORT?connections=N`. Once the server has received a random
number of messages (5% to 95% of them), the whole process group (the send and its worker
processes) is killed with SIGKILL; then `newsletter send --resume` finishes the send.

Per trial it prints the messages received before the kill, the deliveries left `sending`
(claimed, outcome not recorded in the database), the outcomes the killed workers' journals
held, and the messages that arrived twice, with the check that everyone got the issue; then
the maximum, against the bound: one per connection (the message each worker had sent without
reading its reply; deliver/journal.py). Before the journal, the bound was connections x
RECORD_EVERY (deliver/worker.py), the outcomes a worker holds before recording them.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from send import SECRET, free_port, make_project  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from newsletter.db import create_db_engine  # noqa: E402
from newsletter.deliver.journal import journals, read_journal  # noqa: E402
from newsletter.deliver.models import DELIVERY  # noqa: E402
from newsletter.deliver.worker import CLAIMS_PER_RECORD, RECORD_EVERY  # noqa: E402

ISSUE = "2026-11-23-bench-weekly"
NEWSLETTER = ROOT / ".venv" / "bin" / "newsletter"


class Counting:
    """An aiosmtpd handler that counts the messages each address received."""

    def __init__(self) -> None:
        self.per_address: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.per_address.update(envelope.rcpt_tos)
        return "250 OK"

    def received(self) -> int:
        with self.lock:
            return sum(self.per_address.values())


def trial(recipients: int, connections: int, kill_after: int) -> tuple[int, int, int, int, bool]:
    """(received before the kill, left sending, outcomes journaled, arrived twice, everyone got
    it) of one trial."""
    handler = Counting()
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = make_project(folder, port, connections, recipients, dkim=False)
            environment = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}
            command = [str(NEWSLETTER), "--config", str(config), "send", ISSUE]
            sending = subprocess.Popen(
                command, env=environment, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            while handler.received() < kill_after:
                if sending.poll() is not None:
                    raise SystemExit("the send ended before it could be killed: more recipients")
                time.sleep(0.005)
            os.killpg(sending.pid, signal.SIGKILL)
            sending.wait()
            time.sleep(0.5)  # The server finishes any message whose last bytes had arrived.
            before = handler.received()
            engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}")
            with engine.connect() as connection:
                left = connection.execute(
                    select(func.count()).where(DELIVERY.c.state == "sending")
                ).scalar_one()
            engine.dispose()
            folder_of_journals = folder / ".newsletter" / "journal"
            journaled = sum(len(read_journal(path)) for path, _, _ in journals(folder_of_journals))
            subprocess.run(
                [*command, "--resume"], env=environment, check=True, stdout=subprocess.DEVNULL
            )
            twice = sum(count - 1 for count in handler.per_address.values())
            return before, left, journaled, twice, len(handler.per_address) == recipients
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    chance = random.Random(args.seed)
    bound = args.connections
    print(
        f"{args.trials} kills of a send to {args.recipients:,} over {args.connections} "
        f"connections; bound: one per connection = {bound} repeated (without the journal: "
        f"{args.connections} x {RECORD_EVERY} = {args.connections * RECORD_EVERY}), "
        f"{args.connections * CLAIMS_PER_RECORD * RECORD_EVERY} claimed at most"
    )
    worst = 0
    for number in range(1, args.trials + 1):
        kill_after = chance.randint(args.recipients // 20, args.recipients * 19 // 20)
        before, left, journaled, twice, everyone = trial(
            args.recipients, args.connections, kill_after
        )
        worst = max(worst, twice)
        print(
            f"trial {number:2}: killed at {before:5,} received, {left:3} left sending, "
            f"{journaled:3} journaled, {twice:3} arrived twice, everyone once or more: {everyone}"
        )
        assert everyone, "a recipient was lost"
        assert twice <= bound, f"{twice} repeated, more than the bound {bound}"
    print(f"most repeated in one trial: {worst} (bound {bound}, one per connection)")


if __name__ == "__main__":
    main()
