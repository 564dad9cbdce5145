"""The delivery journal: each worker's outcomes on the local disk, one line per message, as
soon as the server has answered; what makes a kill -9 repeat at most one message per connection.

    journal_folder     the folder of the journals (`journal_dir`), made and checked writable
    Journal            one worker's file for one mailing: an outcome appended before the next
                       message goes out, emptied once the outbox has recorded what it holds,
                       removed when the worker is done
    recover_abandoned  the journals of this host's dead workers recorded in the outbox, then
                       the claims of every dead worker queued again (send --resume, `run`)

A worker records its outcomes in the database every RECORD_EVERY messages (deliver/worker.py):
on its own, a kill would repeat the messages sent since the last record. The journal holds
exactly those, so replaying it before the claims are requeued leaves only the message whose
reply the worker had not read yet: one per connection.

Lines are written with one os.write on a file opened with O_APPEND, without fsync: the data of
a write() is the kernel's once the call returns, so a killed process loses none of it. A power
cut or a kernel crash can lose the last lines (the system's page cache), and then the messages
they name go out again, as before the journal: up to RECORD_EVERY per connection.

Journals live on this host's disk and name their worker (host and process id): only the
process of a dead worker on this host is known to be gone, so only those journals are read;
a journal of a live worker is never touched. A worker on another host that died is requeued
when its lease ends, its journal unread (it is on that host's disk).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy import Engine

from newsletter.config import Config
from newsletter.deliver.models import DeliveryState
from newsletter.deliver.outbox import (
    Result,
    RetryPolicy,
    record,
    requeue_abandoned,
    worker_alive,
)
from newsletter.deliver.smtp import DEFERRED
from newsletter.errors import NewsletterError, display_path

log = logging.getLogger(__name__)
PATIENCE = 300.0
"""Seconds a busy database is waited for while a journal is replayed (the messages went out)."""
OUTCOMES = frozenset({DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED, DEFERRED})
_NAME = re.compile(r"mailing-(\d+)-(.+)-(\d+)\.journal")


def journal_folder(root: Path, config: Config) -> Path:
    """The folder of the delivery journals (`journal_dir`, relative to the project folder
    `root`), made if missing; NewsletterError naming it when it cannot be made or written."""
    folder = root / config.journal_dir
    hint = (
        "make that folder writable by this user, or set journal_dir (NEWSLETTER_JOURNAL_DIR) "
        "to a writable folder on this machine's disk"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise NewsletterError(
            f"cannot make the delivery journal folder {display_path(folder)}: "
            f"{error.strerror or error}",
            hint=hint,
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NewsletterError(
            f"the delivery journal folder {display_path(folder)} is not writable", hint=hint
        )
    return folder


def journal_path(folder: Path, mailing_id: int, worker: str) -> Path:
    """Where `worker` (host:pid) journals its outcomes of mailing `mailing_id`: the host
    percent-encoded, so no host name can reach outside `folder` or into another's name."""
    host, _, pid = worker.rpartition(":")
    if not pid.isdigit():
        raise ValueError(f"not a worker name (host:pid): {worker!r}")
    return folder / f"mailing-{mailing_id}-{quote(host, safe='')}-{pid}.journal"


class Journal:
    """A worker's journal of one mailing: open, append each outcome, clear, remove."""

    def __init__(self, folder: Path, mailing_id: int, worker: str) -> None:
        self.path = journal_path(folder, mailing_id, worker)
        self._fd: int | None = None

    def open(self) -> list[Result]:
        """Open the file for appending; the outcomes it already holds (left by a process of
        the same name, its process id reused, or by a record that failed): to record first."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise self._error(error) from None
        try:
            leftover = read_journal(self.path) if os.fstat(fd).st_size else []
        except OSError as error:
            os.close(fd)
            raise self._error(error) from None
        self._fd = fd
        return leftover

    def append(self, result: Result) -> None:
        """Add one outcome, in one write: all of it reaches the file, or none (but a power cut)."""
        assert self._fd is not None, "the journal is not open"
        line = json.dumps(
            [result.id, result.attempts, result.state, result.reply, result.message_id,
             result.suppress],
            ensure_ascii=False, separators=(",", ":"),
        )  # fmt: skip
        try:
            os.write(self._fd, f"{line}\n".encode())
        except OSError as error:
            raise self._error(error) from None

    def clear(self) -> None:
        """Empty the journal: the outbox holds what it said."""
        assert self._fd is not None, "the journal is not open"
        try:
            os.ftruncate(self._fd, 0)
        except OSError as error:
            raise self._error(error) from None

    def close(self, remove: bool) -> None:
        """Close the file; with `remove`, delete it (everything in it was recorded). Nothing
        when it was not open (a journal that could not be opened is left as it is)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if remove:
            self.path.unlink(missing_ok=True)

    def _error(self, error: OSError) -> NewsletterError:
        return NewsletterError(
            f"cannot use the delivery journal {display_path(self.path)}: {error.strerror or error}",
            hint="free space on that disk, or set journal_dir to a folder on one that has it",
        )


def read_journal(path: Path) -> list[Result]:
    """The outcomes a journal holds. A last line without its line end (a write cut by a power
    loss) is left out: its message's fate is unknown, so it is sent again. A line that is not
    an outcome is logged and left out too."""
    with path.open("rb") as file:
        data = file.read()
    lines = data.split(b"\n")
    results = []
    for number, line in enumerate(lines[:-1], start=1):  # The last one has no line end.
        result = _outcome(line)
        if result is None:
            log.warning(
                "%s:%d: not an outcome of the delivery journal, left out (its message may go "
                "out again): %r", display_path(path), number, line[:80],
            )  # fmt: skip
        else:
            results.append(result)
    return results


def _outcome(line: bytes) -> Result | None:
    try:
        fields = json.loads(line)
    except ValueError:
        return None
    if not isinstance(fields, list) or len(fields) != 6:
        return None
    key, attempts, state, reply, message_id, suppress = fields
    types = (int, int, str, str, str, bool)
    if not all(type(value) is kind for value, kind in zip(fields, types, strict=True)):
        return None
    if state not in OUTCOMES:
        return None
    return Result(key, attempts, state, reply, message_id, suppress)


def journals(folder: Path) -> Iterator[tuple[Path, int, str]]:
    """Each journal in `folder`: its path, mailing and worker (host:pid)."""
    try:
        paths = sorted(folder.iterdir())
    except FileNotFoundError:
        return
    for path in paths:
        matched = _NAME.fullmatch(path.name)
        if matched:
            mailing, host, pid = matched.groups()
            yield path, int(mailing), f"{unquote(host)}:{pid}"


def recover_abandoned(
    engine: Engine,
    folder: Path,
    mailing_id: int,
    policy: RetryPolicy,
    now: datetime,
    alive: Callable[[str], bool] = worker_alive,
) -> int:
    """Record the outcomes in the journals of this host's dead workers (of any mailing), then
    queue the mailing's abandoned claims again (outbox.requeue_abandoned); how many.

    Replaying is idempotent: an outcome is recorded only where its worker still holds the
    claim, so a journal read twice (two processes recovering at once, or a kill between a
    record and the clearing of the journal) changes nothing the second time. A dead worker
    whose journal is still there (it died after the journals were read) keeps its claims
    until the next call, so no claim is requeued before its journal was replayed.
    """
    host = socket.gethostname()
    for path, mailing, worker in journals(folder):
        if worker.rpartition(":")[0] != host or alive(worker):
            continue  # Another host's (on a shared disk), or a live worker's own.
        try:
            results = read_journal(path)
        except OSError as error:
            log.error(
                "cannot read the delivery journal %s: %s; its messages may go out again once "
                "their claims expire (remove it to requeue them now)", display_path(path), error,
            )  # fmt: skip
            continue
        # No lease renewed: the dead worker's other claims are queued again below.
        record(engine, mailing, worker, results, policy, now, lease=PATIENCE, renew=False)
        if results:
            log.info("%s: %d outcomes of a stopped worker recorded", path.name, len(results))
        path.unlink(missing_ok=True)

    def abandoned_alive(worker: str) -> bool:
        if alive(worker):
            return True
        _, _, pid = worker.rpartition(":")
        return pid.isdigit() and journal_path(folder, mailing_id, worker).exists()

    return requeue_abandoned(engine, mailing_id, now, abandoned_alive)
