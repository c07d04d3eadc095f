"""The console's accounts: ``users add|list|disable|enable|passwd|role``.

A password is read from a prompt (twice, without echo) or, when standard input is not a
terminal, from its first line; never from the command line, where other users of the
machine and the shell's history would see it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .app import users_app
from .common import (
    ConfigOption,
    JsonOption,
    fail,
    load_deployment,
    local_time,
    operations,
    print_json,
    table,
    user_errors,
)

if TYPE_CHECKING:
    from ..operations import AccountRole

RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="viewer (reads masked data), handler (also decides tasks and the quarantine) or "
        "admin (also manages accounts and may reveal personal data, with a reason).",
    ),
]


def _role(value: str) -> AccountRole:
    from ..operations import AccountRole

    try:
        return AccountRole(value)
    except ValueError:
        fail(f"--role {value!r}: choose viewer, handler or admin")


def _read_password(username: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(
            f"Password for {username}", hide_input=True, confirmation_prompt=True
        )
        return value
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The user name, as they log in.")],
    role: RoleOption = "viewer",
    config: ConfigOption = None,
    creditor: Annotated[
        list[str] | None,
        typer.Option(
            "--creditor",
            help="A creditor whose work the account may see (its name or participant id); "
            "repeat for more; default: every creditor of the configuration.",
        ),
    ] = None,
) -> None:
    """Add an account; the password is read from a prompt or from standard input."""
    from ..actor import Actor
    from ..operations import AccountError

    chosen = _role(role)
    with user_errors():  # an unknown creditor is refused before the password is asked
        deployment = load_deployment(config)
        creditors = [deployment.select(c).creditor_id for c in creditor] if creditor else None
    password = _read_password(username)
    with operations(config, whole_deployment=True) as ops:
        try:
            account = ops.add_user(
                username,
                role=chosen,
                password=password,
                actor=Actor.at_the_command_line(),
                creditors=creditors,
            )
        except AccountError as exc:
            fail(str(exc))
    typer.echo(f"account {account.username} added ({account.role})")


@users_app.command("list")
def users_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every account, its role and whether it may log in."""
    with operations(config, whole_deployment=True) as ops:
        rows = ops.users()
    if as_json:
        print_json(
            [
                {
                    "username": a.username,
                    "role": a.role.value,
                    "enabled": a.enabled,
                    "locked_until": a.locked_until.isoformat() if a.locked_until else None,
                    "created_at": a.created_at.isoformat(),
                    "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
                    "creditors": list(a.creditors) if a.creditors is not None else "*",
                }
                for a in rows
            ]
        )
        return
    table(
        "Accounts",
        ["user", "role", "enabled", "last login", "creditors"],
        [
            [
                a.username,
                a.role.value,
                "yes" if a.enabled else "no",
                local_time(a.last_login_at.isoformat() if a.last_login_at else None),
                ", ".join(a.creditors) if a.creditors is not None else "all",
            ]
            for a in rows
        ],
    )


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The account to disable.")],
    config: ConfigOption = None,
) -> None:
    """Disable an account: it can no longer log in, and its sessions end."""
    from ..actor import Actor
    from ..operations import AccountError

    with operations(config, whole_deployment=True) as ops:
        try:
            ops.disable_user(username, actor=Actor.at_the_command_line())
        except AccountError as exc:
            fail(str(exc))
    typer.echo(f"account {username} disabled")


@users_app.command("enable")
def users_enable(
    username: Annotated[str, typer.Argument(help="The account to enable again.")],
    config: ConfigOption = None,
) -> None:
    """Enable a disabled account again (and lift a lock after failed logins)."""
    from ..actor import Actor
    from ..operations import AccountError

    with operations(config, whole_deployment=True) as ops:
        try:
            ops.enable_user(username, actor=Actor.at_the_command_line())
        except AccountError as exc:
            fail(str(exc))
    typer.echo(f"account {username} enabled")


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="The account whose password to set.")],
    config: ConfigOption = None,
) -> None:
    """Set an account's password (from a prompt or standard input); its sessions end."""
    from ..actor import Actor
    from ..operations import AccountError

    password = _read_password(username)
    with operations(config, whole_deployment=True) as ops:
        try:
            ops.set_password(username, password=password, actor=Actor.at_the_command_line())
        except AccountError as exc:
            fail(str(exc))
    typer.echo(f"password of {username} set")


@users_app.command("role")
def users_role(
    username: Annotated[str, typer.Argument(help="The account whose role to set.")],
    role: RoleOption = "viewer",
    config: ConfigOption = None,
) -> None:
    """Give an account another role; it applies from its next request."""
    from ..actor import Actor
    from ..operations import AccountError

    chosen = _role(role)
    with operations(config, whole_deployment=True) as ops:
        try:
            ops.set_role(username, role=chosen, actor=Actor.at_the_command_line())
        except AccountError as exc:
            fail(str(exc))
    typer.echo(f"account {username} is now {chosen.value}")
