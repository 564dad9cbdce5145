"""The service's log on standard error: one line a record, whatever its message holds.

A record's message often carries text from elsewhere: a driver's error (libpq writes three
lines, indented), an SMTP reply, an address or a header a reader or a provider sent. A line
break in it split the record over several lines, which journald and log collectors read as
several records, and let such text write a line of its own that looked like one of ours.
Each run of control characters and line separators in the formatted line becomes one space
(characters.one_line, as for headers). A traceback, which `log.exception` asks for, follows
on its own lines as usual: it is the one thing meant to be read over several.
"""

from __future__ import annotations

import logging

from newsletter.characters import one_line

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """LOG_FORMAT, the message kept on the record's line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))


def configure_logging(level: int) -> None:
    """Log records of `level` and above to standard error, one line each (the service and its
    worker processes)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
