"""What comes back, inside `newsletter run`: the inbound SMTP listener and the inbound poller.

    listener   inbound/listener.py on `inbound_listen`, spooling into `inbound_spool`
    poller     a thread that, every `inbound_poll_seconds`, processes the listener's spool and
               (in the process that leads the schedule only, so that two services never read
               one mailbox at once) every source of `inbound_urls`

A pass over a source stores each message's outcome before the message is moved
(inbound/processor.py), so stopping the service mid-pass loses nothing and processes nothing
twice: the next pass goes on where this one stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from newsletter.config import Project
from newsletter.errors import NewsletterError
from newsletter.inbound.listener import listener_of, spool_of
from newsletter.redaction import shown_url

log = logging.getLogger(__name__)
STOP_WAIT = 30.0
CHECK_EVERY = 1.0  # Seconds between two looks at whether a pass is due (and at the lead).


class Inbound:
    """The listener (when configured) and the poller thread (when there is anything to poll)."""

    def __init__(
        self,
        project: Project,
        engine: Engine,
        clock: Callable[[], datetime],
        leading: Callable[[], bool],
    ) -> None:
        self.project = project
        self.engine = engine
        self.clock = clock
        self.leading = leading
        self.listener = listener_of(project)
        self.spool_url = f"maildir:{spool_of(project)}" if self.listener else ""
        self.urls = list(project.config.inbound_urls)
        self.every = project.config.inbound_poll_seconds
        self._stop = threading.Event()
        self._spool_due = self._urls_due = 0.0
        self._thread = threading.Thread(
            target=self._poll_until_stopped, name="inbound", daemon=True
        )

    @property
    def summary(self) -> str:
        """One phrase for the start-up log line."""
        parts = [f"listener on {self.listener.where}"] if self.listener else []
        if self.urls:
            parts.append(f"{len(self.urls)} source{'s' if len(self.urls) > 1 else ''}")
        return ", ".join(parts) or "off"

    def start(self) -> None:
        """Start listening and polling; NewsletterError when the listener cannot listen."""
        if self.listener:
            self.listener.start()
        if self.listener or self.urls:
            self._thread.start()

    def stop(self) -> None:
        """Stop listening, let the message in progress finish, stop polling."""
        self._stop.set()
        if self.listener:
            self.listener.stop()
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT)

    def poll(self, now: float) -> None:
        """Process each source whose pass is due at `now` (monotonic seconds): the spool every
        `inbound_poll_seconds`, the configured sources as often but only while leading (the
        first pass as soon as this process leads)."""
        urls = []
        if self.spool_url and now >= self._spool_due:
            urls.append(self.spool_url)
            self._spool_due = now + self.every
        if self.urls and now >= self._urls_due and self.leading():
            urls += self.urls
            self._urls_due = now + self.every
        for url in urls:
            if self._stop.is_set():
                return
            try:
                self._process(url)
            except NewsletterError as error:
                log.error("%s", error)  # It names the source and the fix; tried again next pass.
            except Exception:
                # A database error or a bug must not stop the service nor the other sources:
                # logged with its traceback, tried again next pass.
                log.exception("inbound source %s: pass failed", shown_url(url))

    def _poll_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.poll(time.monotonic())
            self._stop.wait(CHECK_EVERY)

    def _process(self, url: str) -> None:
        from newsletter.inbound.processor import (
            InboundSettings,
            process_source,
        )
        from newsletter.inbound.sources import open_source

        source = open_source(url, self.project.secrets, self.project.root)
        try:
            report = process_source(
                self.engine, source, settings=InboundSettings.of(self.project), now=self.clock()
            )
        finally:
            source.close()
        # A pass that found nothing is the rule, every minute: not worth a line at INFO.
        busy = report.processed or report.duplicates or report.failed
        log.log(logging.INFO if busy else logging.DEBUG, "%s", "; ".join(report.summary()))
