"""Notices to the editor from the schedule: no issue ready, a send missed, a send failed."""

from __future__ import annotations

import logging
from datetime import datetime

from newsletter.config import Project
from newsletter.deliver.message import send_notice
from newsletter.deliver.models import DeliveryState
from newsletter.deliver.transports import open_transport
from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)


def notify_editor(project: Project, subject: str, body: str, now: datetime) -> bool:
    """Email a plain-text notice to `editor_address` through the configured transport; whether
    it went out. A notice that cannot be sent is logged, never raised: it reports a problem,
    it must not become one."""
    config = project.config
    if not config.editor_address:
        log.warning("notice not emailed (set editor_address to get it): %s", subject)
        return False
    try:
        outcome = send_notice(
            config,
            lambda: open_transport(config.transport_url, project.secrets, project.root),
            to=config.editor_address,
            subject=f"[{config.name}] {subject}",
            text=body,
            now=now,
        )
    except NewsletterError as error:
        log.error("notice to %s not sent: %s", config.editor_address, error)
        return False
    if outcome.state != DeliveryState.SENT:
        log.error("notice to %s not sent: %s", config.editor_address, outcome.reply)
        return False
    log.info("notice sent to %s: %s", config.editor_address, subject)
    return True
