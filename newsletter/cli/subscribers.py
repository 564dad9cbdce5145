"""`newsletter subscribers`: add, remove, list, search, show, import, export, forget."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from newsletter.cli.context import console, database, project_of, reports_errors
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from sqlmodel import Session

    from newsletter.config import Project
    from newsletter.sequences.files import Sequence
    from newsletter.subscribers.csv_import import ImportReport
    from newsletter.subscribers.models import Subscriber


def register(app: typer.Typer) -> None:
    """Add the subscriber commands to `app`."""
    group = typer.Typer(
        help="Manage subscribers: add, import, search, export, unsubscribe, forget.",
        no_args_is_help=True,
    )
    for name, command in (
        ("add", add),
        ("remove", remove),
        ("list", list_subscribers),
        ("search", search),
        ("show", show),
        ("import", import_file),
        ("export", export),
        ("forget", forget),
    ):
        group.command(name)(reports_errors(command))
    app.add_typer(group, name="subscribers")


def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The address.", show_default=False),
    name: str = typer.Option("", "--name", help="The person's name."),
    locale: str | None = typer.Option(
        None,
        "--locale",
        help="Their language (default: the configured default).",
        show_default=False,
    ),
    timezone: str | None = typer.Option(
        None,
        "--timezone",
        help="Their IANA time zone (default: the configured one).",
        show_default=False,
    ),
    tags: list[str] = typer.Option([], "--tag", help="A tag; repeat for several."),
    source: str = typer.Option(
        "cli", "--source", help="Where their consent was given (kept as the consent record)."
    ),
) -> None:
    """Add one subscriber who has already consented (active at once; the consent is recorded).

    Example: newsletter subscribers add ana@example.org --name "Ana Lima" --locale pt_BR --tag weekly
    """
    from sqlmodel import Session

    from newsletter.db import utcnow
    from newsletter.subscribers import registry

    config = project_of(ctx).config
    profile = registry.make_profile(
        email, name, locale, timezone, tags, config.locales, config.default_locale, config.timezone
    )
    with Session(database(ctx)) as session:
        registry.add(session, profile, status="active", method="cli", source=source, now=utcnow())
        session.commit()
    console().print(f"added {profile.address} ({profile.locale}, {profile.timezone})", markup=False)


def remove(
    ctx: typer.Context, email: str = typer.Argument(..., help="The address.", show_default=False)
) -> None:
    """Unsubscribe someone: no more mail, and the address goes on the suppression list.

    Example: newsletter subscribers remove ana@example.org
    """
    from sqlmodel import Session

    from newsletter.db import utcnow
    from newsletter.subscribers import registry

    with Session(database(ctx)) as session:
        subscriber = _found(session, email)
        registry.unsubscribe(session, subscriber, method="cli", source="cli", now=utcnow())
        session.commit()
        console().print(f"unsubscribed {subscriber.email}", markup=False)


def list_subscribers(
    ctx: typer.Context,
    status: str | None = typer.Option(
        None,
        "--status",
        help="pending, active, unsubscribed, bounced or complained.",
        show_default=False,
    ),
    tag: str | None = typer.Option(
        None, "--tag", help="Only subscribers with this tag.", show_default=False
    ),
    locale: str | None = typer.Option(
        None, "--locale", help="Only subscribers in this locale.", show_default=False
    ),
    limit: int = typer.Option(50, "--limit", help="How many to show."),
    offset: int = typer.Option(0, "--offset", help="How many to skip."),
) -> None:
    """List subscribers, oldest first, with filters.

    Example: newsletter subscribers list --status active --locale zh
    """
    _table(ctx, "", status, tag, locale, limit, offset)


def search(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="Part of an address or a name.", show_default=False),
    limit: int = typer.Option(50, "--limit", help="How many to show."),
) -> None:
    """Find subscribers whose address or name contains TEXT (case-insensitive).

    Example: newsletter subscribers search lima
    """
    _table(ctx, text, None, None, None, limit, 0)


def show(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The address.", show_default=False),
    as_json: bool = typer.Option(
        False, "--json", help="Everything stored about the person, as JSON (a GDPR access request)."
    ),
) -> None:
    """Show one subscriber with tags, consent history, the bounces, complaints and replies
    that came back about them, and (with `tracking = "individual"`) the links they followed.

    With --json, also every issue sent to them, with its state and Message-ID.

    Example: newsletter subscribers show ana@example.org --json > ana.json
    """
    from sqlmodel import Session

    from newsletter.deliver.report import deliveries_of
    from newsletter.engagement.people import subscriber_clicks, subscriber_opens
    from newsletter.inbound.report import subscriber_events
    from newsletter.sequences.status import subscriber_sequences
    from newsletter.subscribers import registry

    engine = database(ctx)
    with Session(engine) as session:
        subscriber = _found(session, email)
        data = registry.personal_data(session, subscriber)
        assert subscriber.id is not None
        data["deliveries"] = deliveries_of(engine, subscriber.id)
        data["inbound_events"] = subscriber_events(engine, subscriber.id)
        data["clicks"] = subscriber_clicks(engine, subscriber.id)
        data["opens"] = subscriber_opens(engine, subscriber.id)
        data["sequences"] = subscriber_sequences(engine, subscriber.id)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    _print_person(data)


def _print_person(data: dict[str, Any]) -> None:
    """What `subscribers show` prints of a person's data (`registry.personal_data` and the
    lists the command adds to it)."""
    out = console()
    for key in (
        "email",
        "name",
        "status",
        "locale",
        "timezone",
        "tags",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "consent_at",
        "consent_method",
        "consent_source",
        "attributes",
    ):
        value = data.get(key)
        out.print(
            f"{key:16} {', '.join(value) if isinstance(value, list) else value if value not in (None, '', {}) else '-'}",
            markup=False,
        )
    for event in data["consent_events"]:
        out.print(
            f"  {event['at']}  {event['kind']:12} {event['method']:10} {event['source']}",
            markup=False,
        )
    if data["inbound_events"]:
        out.print("bounces, complaints and replies:", markup=False)
    for event in data["inbound_events"]:
        out.print(
            f"  {event['at']}  {event['kind']:12} {event['status'] or '-':7} "
            f"{event['issue'] or '-'}  {event['action'] or '-'}  {event['diagnostic']}",
            markup=False,
        )
    if data["clicks"] or data["opens"]:
        out.print("links followed and opens (tracking = individual):", markup=False)
    for click in data["clicks"]:
        story = f" [{click['story']}]" if click["story"] else ""
        out.print(
            f"  {click['at']}  {click['issue']} ({click['locale']})  {click['agent']:7} "
            f"{click['url']}  {click['label'] or '-'}{story}",
            markup=False,
        )
    for opened in data["opens"]:
        out.print(
            f"  {opened['at']}  {opened['issue']} ({opened['locale']})  {opened['agent']:7} opened",
            markup=False,
        )
    for joined in data["sequences"]:
        left = f", left {joined['left_at']}" if joined["left_at"] else ""
        out.print(
            f"sequence {joined['sequence']}: entered {joined['entered_at']} ({joined['how']}){left}",
            markup=False,
        )
        for step in joined["steps"]:
            out.print(f"  {step['queued_at']}  {step['step']}  {step['state']}", markup=False)


def import_file(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A CSV file with a header row.", show_default=False),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Text encoding when not UTF-8 or UTF-16 (e.g. latin-1, cp1252).",
        show_default=False,
    ),
    delimiter: str | None = typer.Option(
        None,
        "--delimiter",
        help="Field separator (default: detected from , ; or tab).",
        show_default=False,
    ),
    mapping: list[str] = typer.Option(
        [], "--map", help='Column to field, e.g. --map "E-Mail-Adresse=email"; repeat.'
    ),
    tags: list[str] = typer.Option(
        [], "--tag", help="A tag for every imported subscriber; repeat for several."
    ),
    sequence: str | None = typer.Option(
        None,
        "--sequence",
        help="The subscribers the import creates enter this sequence (sequences/NAME).",
        show_default=False,
    ),
) -> None:
    """Import subscribers from CSV: duplicates merged, invalid rows reported by line, suppressed
    addresses never re-activated. Re-importing the same file changes nothing.

    Example: newsletter subscribers import members.csv --encoding cp1252 --tag imported
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from newsletter.db import utcnow
    from newsletter.sequences.status import enter_created
    from newsletter.subscribers.csv_import import import_csv

    project = project_of(ctx)
    config = project.config
    fields = _column_map(mapping)
    if not file.is_file():
        raise NewsletterError("file not found", path=file, hint="check the path")
    joins = _sequence(project, sequence)  # Checked before anything is imported.
    started = utcnow()
    with file.open("rb") as lines:
        total = max(sum(1 for _ in lines) - 1, 0)
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console(),
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=total, rate="")

        def advance(rows: int) -> None:
            progress.advance(task, rows)
            elapsed = progress.tasks[0].elapsed or 0
            progress.update(
                task, rate=f"{progress.tasks[0].completed / elapsed:,.0f} rows/s" if elapsed else ""
            )

        report = import_csv(
            database(ctx), file, locales=config.locales, default_locale=config.default_locale, default_timezone=config.timezone,
            encoding=encoding, delimiter=delimiter, mapping=fields or None, tags=tags, progress=advance,
        )  # fmt: skip
    entered = enter_created(database(ctx), joins, started, utcnow()) if joins else None
    _print_import(report, file, entered, joins.name if joins else "")


def _print_import(report: ImportReport, file: Path, entered: int | None, sequence: str) -> None:
    """What an import did: its counts, who entered the sequence, the first invalid rows."""
    out = console()
    rate = report.rows / report.seconds if report.seconds else 0
    out.print(
        f"{report.rows:,} rows in {report.seconds:.1f} s ({rate:,.0f} rows/s): {report.created:,} created, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.duplicates:,} duplicates merged, {report.suppressed:,} suppressed, {len(report.invalid):,} invalid",
        markup=False,
    )
    if entered is not None:
        out.print(f"{entered:,} entered the sequence {sequence}", markup=False)
    for row in report.invalid[:100]:
        out.print(f"[yellow]skipped[/]: {file}:{row.line}: " + row.reason.replace("[", "\\["))
    if len(report.invalid) > 100:
        out.print(f"... and {len(report.invalid) - 100:,} more invalid rows", markup=False)


def _sequence(project: Project, name: str | None) -> Sequence | None:
    """The sequence --sequence names (NotFoundError for none of the project's)."""
    if name is None:
        return None
    from newsletter.sequences.files import load_sequence

    return load_sequence(project, name)


def _column_map(mapping: list[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {column: field}."""
    fields = {}
    for pair in mapping:
        column, separator, field = pair.partition("=")
        if not separator or not column or not field:
            raise NewsletterError(
                f"--map {pair!r} is not COLUMN=FIELD", hint='write it like --map "E-Mail=email"'
            )
        fields[column] = field
    return fields


def export(
    ctx: typer.Context,
    file: Path | None = typer.Argument(
        None, help="CSV file to write (default: standard output).", show_default=False
    ),
    status: str | None = typer.Option(
        None, "--status", help="Only subscribers with this status.", show_default=False
    ),
) -> None:
    """Export subscribers as CSV (the format `import` reads).

    Example: newsletter subscribers export subscribers.csv --status active
    """
    from sqlmodel import Session

    from newsletter.files import atomic_write_text
    from newsletter.subscribers.export import export_csv

    with Session(database(ctx)) as session:
        if file is None:
            export_csv(session, sys.stdout, status=status)
            return
        import io

        buffer = io.StringIO()
        count = export_csv(session, buffer, status=status)
    atomic_write_text(file, buffer.getvalue(), private=True)
    console().print(f"exported {count:,} subscribers to {file}", markup=False)


def forget(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The address.", show_default=False),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete everything stored about one person (a GDPR erasure request). Only a hash of the
    address stays on the suppression list, so they are never mailed again; the links they
    followed stay in the issues' counts, tied to nobody.

    Example: newsletter subscribers forget ana@example.org --yes
    """
    from sqlmodel import Session

    from newsletter.db import utcnow
    from newsletter.engagement.people import forget_person

    with Session(database(ctx)) as session:
        subscriber = _found(session, email)
        if not yes and not typer.confirm(f"Delete all data about {subscriber.email}?"):
            raise typer.Exit(1)
        untied = forget_person(session, subscriber, utcnow())
        session.commit()
    clicks = f"; {untied:,} clicks and opens kept as counts only" if untied else ""
    console().print(
        f"forgot {email}: subscriber, tags and consent history deleted{clicks}; "
        "the address stays suppressed",
        markup=False,
    )


def _found(session: Session, email: str) -> Subscriber:
    from newsletter.subscribers import registry

    subscriber = registry.find(session, email)
    if subscriber is None:
        raise NewsletterError(
            f"no subscriber {email}",
            hint="check the address, or `newsletter subscribers search` for it",
        )
    return subscriber


def _table(
    ctx: typer.Context,
    text: str,
    status: str | None,
    tag: str | None,
    locale: str | None,
    limit: int,
    offset: int,
) -> None:
    from rich.markup import escape
    from rich.table import Table
    from sqlmodel import Session

    from newsletter.subscribers import registry

    with Session(database(ctx)) as session:
        rows = registry.search(
            session, text, status=status, tag=tag, locale=locale, limit=limit, offset=offset
        )
        table = Table()
        for column in ("email", "name", "status", "locale", "timezone", "tags", "since"):
            table.add_column(column)
        for row in rows:
            tags = ", ".join(registry.tags_of(session, row))
            table.add_row(
                escape(row.email),
                escape(row.name),
                row.status,
                row.locale,
                row.timezone,
                escape(tags),
                f"{row.created_at:%Y-%m-%d}",
            )
    console().print(table)
    console().print(f"{len(rows)} shown", markup=False)
