"""The words the dashboard shows for values the database stores: a subscriber's status, a
delivery's or a firing's state, an issue's status, a consent event, a role. Each is a
catalog entry, so it reads in the page's language; a value without one is shown as stored."""

from __future__ import annotations

from collections.abc import Callable

from newsletter.render.i18n import N_, Localizer

LABELS = {
    # A subscriber's status (subscribers/models.py STATUSES).
    "pending": N_("pending confirmation"),
    "active": N_("active"),
    "unsubscribed": N_("unsubscribed"),
    "bounced": N_("bounced"),
    "complained": N_("complained"),
    # A delivery's state (deliver/models.py DeliveryState) and a firing's (FiringState).
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
    "started": N_("started"),
    "no-issue": N_("no issue was ready"),
    "missed": N_("missed"),
    # An issue's status (model.py ISSUE_STATUSES).
    "draft": N_("draft"),
    "ready": N_("ready"),
    "scheduled": N_("scheduled"),
    # What a consent event records (subscribers/registry.py).
    "subscribe": N_("subscribed"),
    "add": N_("added"),
    "confirm": N_("confirmed"),
    "preferences": N_("preferences changed"),
    "update": N_("details changed"),
    # A dashboard user's role (access/users.py Role).
    "admin": N_("admin"),
    "editor": N_("editor"),
    "viewer": N_("viewer"),
}


def labeller(localizer: Localizer) -> Callable[[object], str]:
    """The `label` filter of the dashboard's templates, in `localizer`'s language."""

    def label(value: object) -> str:
        text = str(value)
        return localizer.gettext(LABELS[text]) if text in LABELS else text

    return label
