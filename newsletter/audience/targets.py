"""Who a send is for: a segment given on the command line or named in the configuration.

    target_of('ai and locale = "de"', config)   an expression, parsed
    target_of("acme-readers", config)           a name of the configuration's `segments` table
    topic_target("weekly")                      `--tag weekly`: the subscribers of one topic

A name of the table wins over a topic of the same name. A mistake in a named segment is
reported as the configuration's (segments.NAME), with its position in the expression.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement

from newsletter.audience.compile import segment_condition
from newsletter.audience.segments import Segment, SegmentError, Topic, parse_segment
from newsletter.config import Config
from newsletter.errors import NewsletterError


@dataclass(frozen=True)
class Target:
    """A send's audience: the segment as given, parsed, and the zone its dates are days in."""

    text: str
    segment: Segment
    zone: str

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition that holds for exactly the subscribers of the segment."""
        return segment_condition(self.segment, self.zone)


def target_of(given: str, config: Config, option: str = "--to") -> Target:
    """The audience `given` names: a segment of the configuration, else an expression."""
    named = config.segments.get(given.strip())
    if named is not None:
        try:
            return Target(given.strip(), parse_segment(named), config.timezone)
        except SegmentError as error:
            raise NewsletterError(
                f"segments.{given.strip()} in the configuration: {error.message}",
                hint=error.hint,
            ) from None
    try:
        return Target(given, parse_segment(given), config.timezone)
    except SegmentError as error:
        raise NewsletterError(f"{option}: {error.message}", hint=error.hint) from None


def topic_target(topic: str, config: Config) -> Target:
    """The subscribers of one topic (`--tag`, a schedule's tag)."""
    return Target(topic, Topic(topic), config.timezone)
