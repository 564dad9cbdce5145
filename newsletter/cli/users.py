"""`newsletter users`: the people who may log in to the dashboard, /admin/ (docs/admin.md)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from newsletter.cli.context import console, database, project_of, reports_errors

PASSWORD_STDIN = typer.Option(
    False,
    "--password-stdin",
    help="Read the password from the first line of standard input (for scripts) instead of asking.",
)


def register(app: typer.Typer) -> None:
    """Add the users commands to `app`."""
    group = typer.Typer(
        help="Dashboard users: add one with a role, list, remove, change a password, set up TOTP.",
        no_args_is_help=True,
    )
    group.command("add")(reports_errors(add))
    group.command("list")(reports_errors(list_users))
    group.command("remove")(reports_errors(remove))
    group.command("password")(reports_errors(password))
    group.command("totp")(reports_errors(totp))
    app.add_typer(group, name="users")


def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name, such as ana.", show_default=False),
    role: str = typer.Option(
        ...,
        "--role",
        help="admin, editor or viewer (docs/admin.md says what each may do).",
        show_default=False,
    ),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Add a dashboard user with a role; the password (at least 12 characters) is asked for
    twice without being shown, or read from standard input with --password-stdin.

    Example: newsletter users add ana --role editor
    """  # fmt: skip
    from newsletter.access.users import add_user, parse_role
    from newsletter.db import utcnow

    chosen = parse_role(role)
    user = add_user(database(ctx), name, chosen, _password(password_stdin), utcnow())
    console().print(f"added {user.name} ({user.role})", markup=False)


def list_users(ctx: typer.Context) -> None:
    """List the dashboard users: name, role, second factor, when added, removed.

    Example: newsletter users list
    """
    from newsletter.access.users import list_users as users

    table = Table("name", "role", "totp", "created", "removed")
    for user in users(database(ctx)):
        table.add_row(
            user.name,
            user.role,
            "yes" if user.totp_secret else "-",
            f"{user.created_at:%Y-%m-%d %H:%M}",
            f"{user.disabled_at:%Y-%m-%d %H:%M}" if user.disabled_at else "-",
        )
    console().print(table)


def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user's login name.", show_default=False),
) -> None:
    """Remove a dashboard user: they are logged out everywhere at once and cannot log in again
    (their name stays in the audit log, and cannot be given to someone else).

    Example: newsletter users remove ana
    """  # fmt: skip
    from newsletter.access.users import remove_user
    from newsletter.db import utcnow

    user = remove_user(database(ctx), name, utcnow())
    console().print(f"removed {user.name}", markup=False)


def password(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user's login name.", show_default=False),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Give a dashboard user a new password; every session they have ends.

    Example: newsletter users password ana
    """
    from newsletter.access.users import set_password

    user = set_password(database(ctx), name, _password(password_stdin))
    console().print(f"new password for {user.name}; their sessions ended", markup=False)


def totp(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user's login name.", show_default=False),
) -> None:
    """Give a dashboard user a TOTP second factor (replacing any former one) and print its
    otpauth:// URI and secret once, for their authenticator app: logging in then also takes
    the app's current code.

    Example: newsletter users totp ana
    """  # fmt: skip
    from newsletter.access.users import enable_totp

    secret = enable_totp(database(ctx), name, project_of(ctx).config.name)
    out = console()
    out.print(secret.uri, markup=False)
    out.print(f"secret: {secret.secret}", markup=False)
    out.print("Add it to the authenticator app now; it is not shown again.", markup=False)


def _password(from_stdin: bool) -> str:
    """The password typed twice (not shown), or the first line of standard input."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
