"""`newsletter inbound`: read bounces, complaints and unsubscribe requests from a mailbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from newsletter.cli.context import console, database, project_of, reports_errors
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from sqlmodel import Session

    from newsletter.inbound.matching import Match
    from newsletter.inbound.processor import PassReport


def register(app: typer.Typer) -> None:
    """Add the inbound commands to `app`."""
    group = typer.Typer(
        help="Bounces, spam complaints and mailto unsubscribes: read them, see what they say.",
        no_args_is_help=True,
    )
    group.command("process")(reports_errors(process))
    group.command("classify")(reports_errors(classify))
    app.add_typer(group, name="inbound")


def process(
    ctx: typer.Context,
    source_url: str = typer.Argument(
        ..., help="maildir:DIR or mbox:FILE (relative to the project folder), or imap(s)://."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Process at most this many messages."
    ),
) -> None:
    """Read a mailbox once: each bounce, complaint and unsubscribe request is tied to its
    delivery, stored once and acted on (hard bounces and complaints suppress at once, soft
    bounces at soft_bounce_limit, mailto unsubscribes unsubscribe).

    A Maildir's processed messages move to its .Processed/ folder; those that match none of
    our deliveries or cannot be read stay, flagged, for a human. An mbox file is read only
    (for replaying a mailbox): nothing in it is moved or marked, and messages processed before
    are recognized and change nothing.

    Example: newsletter inbound process maildir:/var/mail/bounces --limit 1000
    """
    from newsletter.db import utcnow
    from newsletter.inbound.processor import InboundSettings, process_source
    from newsletter.inbound.sources import open_source

    project = project_of(ctx)
    engine = database(ctx)
    settings = InboundSettings.of(project)
    source = open_source(source_url, project.secrets, project.root)
    try:
        report = process_source(engine, source, settings=settings, now=utcnow, limit=limit)
    finally:
        source.close()
    for line in summary(report):
        console().print(line, markup=False)


def summary(report: PassReport) -> list[str]:
    """The lines `inbound process` prints about one pass."""
    return report.summary()


def classify(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Messages as files (.eml), raw."),
    as_json: bool = typer.Option(False, "--json", help="A JSON list, one object per notice."),
) -> None:
    """Say what the processor makes of each message, changing nothing: kind (hard, soft,
    policy, complaint, autoreply, delay, unsubscribe, unknown), recipient, status, and the
    delivery it matches (issue, locale, subscriber) and how, or why none.

    Example: newsletter inbound classify bounce.eml --json
    """
    from sqlmodel import Session

    from newsletter.inbound.processor import InboundSettings, reader

    for path in files:
        if path.is_dir():
            raise NewsletterError(
                f"{path}: a folder, not a message file",
                hint=f"give its messages, e.g. {path}/new/* or {path}/cur/* for a Maildir",
            )
        if not path.is_file():
            raise NewsletterError(f"{path}: no such file", hint="give the paths of raw messages")
    matcher = InboundSettings.of(project_of(ctx)).matcher
    read = reader()
    rows: list[dict[str, Any]] = []
    with Session(database(ctx)) as session:
        for path in files:
            try:
                raw = path.read_bytes()
            except OSError as error:
                raise NewsletterError(f"{path}: {error.strerror}") from None
            reading = read(raw, f"file:{path}")
            notices = reading.notices or (None,)
            for notice in notices:
                row: dict[str, Any] = {"file": str(path), "digest": reading.digest}
                row["processed_before"] = _processed(session, reading.digest)
                row["problem"] = reading.problem
                if notice is None:
                    row |= {"kind": "unknown", "recipient": "", "status": "", "diagnostic": ""}
                    row |= {"delivery": None, "matched_by": "none", "reason": "no notice in it"}
                else:
                    match = matcher.match(session, notice)
                    row |= {
                        "kind": notice.kind.value, "recipient": notice.recipient,
                        "status": notice.status, "diagnostic": notice.diagnostic,
                        "delivery": _delivery(session, match), "matched_by": match.matched_by,
                        "reason": match.reason,
                    }  # fmt: skip
                rows.append(row)
            session.rollback()  # Matching reads only; nothing is kept of this transaction.
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    out = console()
    for row in rows:
        out.print(_line(row), markup=False)


def _processed(session: Session, digest: str) -> bool:
    from sqlmodel import select

    from newsletter.inbound.models import InboundMessage

    found = session.exec(select(InboundMessage.id).where(InboundMessage.digest == digest))
    return found.first() is not None


def _delivery(session: Session, match: Match) -> dict[str, Any] | None:
    """The matched delivery as `classify` shows it: id, issue, locale, subscriber."""
    from newsletter.deliver.models import Delivery, Mailing
    from newsletter.subscribers.models import Subscriber

    if match.delivery_id is None:
        return None
    delivery = session.get(Delivery, match.delivery_id)
    if delivery is None:
        return None
    mailing = session.get(Mailing, delivery.mailing_id)
    subscriber = session.get(Subscriber, delivery.subscriber_id) if delivery.subscriber_id else None
    return {
        "id": delivery.id,
        "issue": mailing.issue if mailing else "",
        "locale": delivery.locale,
        "subscriber": subscriber.email if subscriber else None,
        "state": delivery.state,
    }


def _line(row: dict[str, Any]) -> str:
    """One notice on one line; every value from the message shown safely (no control codes)."""
    from newsletter.characters import one_line, visible

    def shown(value: str) -> str:
        return visible(one_line(value))[:200]

    text = f"{shown(row['file'])}: {row['kind']}"
    if row["status"]:
        text += f" {shown(row['status'])}"
    if row["recipient"]:
        text += f" {shown(row['recipient'])}"
    delivery = row["delivery"]
    if delivery:
        who = shown(delivery["subscriber"] or "(forgotten)")
        text += (
            f" -> delivery {delivery['id']} ({shown(delivery['issue'])}, {delivery['locale']},"
            f" {who}) by {row['matched_by']}"
        )
    elif row["matched_by"] == "token":
        text += " -> unsubscribe token valid"
    else:
        text += f" -> no delivery: {shown(row['reason'])}"
    if row["problem"]:
        text += f" [{shown(row['problem'])}]"
    if row["processed_before"]:
        text += " (processed before)"
    return text
