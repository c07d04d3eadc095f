"""Commands of the security part: ``doctor``, ``secrets set``, ``audit verify``,
``retention purge``. cli.py registers them; heavy imports happen inside the commands, and
cli.py itself is imported only inside them (it imports this module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

EXIT_FAILURE = 1
EXIT_USAGE = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The TOML configuration (default: $SKN_CONNECTOR_CONFIG or ./skn-connector.toml).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def command_group(help: str) -> typer.Typer:
    """A group of commands with plain help: typer's rich help imports markdown-it, pygments and
    rich's traceback (0.17 to 0.24 s here) on every ``--help`` and usage error; the tables the
    commands print still use rich."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


secrets_app = command_group("Secrets referred to as secret:NAME.")
audit_app = command_group("The hash-chained audit trail.")
retention_app = command_group("The retention of personal data.")

_MARK = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


# -- doctor ---------------------------------------------------------------------------------


def doctor_command(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help=(
                "Allow a plain http:// node URL to a loopback host (127.0.0.0/8, ::1 or "
                "localhost): a local simulator only."
            ),
        ),
    ] = False,
) -> None:
    """Check settings, credentials, certificates, the node, the store and every adapter.

    Exit 0 when nothing failed (warnings are shown), 1 when a check failed.
    """
    from .cli import config_path, print_json
    from .operations.doctor import run_doctor

    report = run_doctor(config_path(config), insecure_dev=insecure_dev)
    if as_json:
        print_json(report.to_json())
    else:
        width = max((len(c.area) for c in report.checks), default=0)
        for check in report.checks:
            typer.echo(f"{_MARK[check.status]}  {check.area:<{width}}  {check.message}")
        verdict = "all checks passed" if report.ok else f"{report.failures} check(s) failed"
        warned = f", {report.warnings} warning(s)" if report.warnings else ""
        typer.echo(f"doctor: {verdict}{warned}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


# -- secrets --------------------------------------------------------------------------------


def _read_secret_value(name: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(
            f"Value of secret {name}", hide_input=True, confirmation_prompt=True
        )
        return value
    return sys.stdin.read().rstrip("\r\n")


@secrets_app.command("set")
def secrets_set(
    name: Annotated[str, typer.Argument(help="The NAME of secret:NAME in the configuration.")],
) -> None:
    """Store a secret in the system keyring; the value is read from standard input
    (prompted without echo on a terminal), never from the command line."""
    from .cli import fail
    from .secrets import (
        SECRET_PREFIX,
        KeyringFailed,
        KeyringUnavailable,
        SecretError,
        secret_name,
        shadowing_source,
        store_secret_in_keyring,
    )

    try:
        secret_name(SECRET_PREFIX + name)
    except SecretError as exc:
        fail(str(exc))
    value = _read_secret_value(name)
    if not value:
        fail(f"no value for secret {name!r} was given on standard input")
    try:
        backend = store_secret_in_keyring(name, value)
    except KeyringUnavailable as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyringFailed as exc:
        fail(str(exc), EXIT_FAILURE)
    typer.echo(
        f"secret {name!r} stored in the system keyring ({backend}); "
        f"the configuration refers to it as secret:{name}"
    )
    shadow = shadowing_source(name)
    if shadow is not None:
        typer.echo(
            f"skn-connector: note: {shadow} is found first and wins over the keyring", err=True
        )


# -- audit ----------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="ID:HASH of a head written down earlier; it must still be in the trail.",
        ),
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain; exit 1 naming the first entry that fails."""
    from .cli import fail, opened_store, print_json
    from .store.audit import AuditHead, verify_audit

    anchor = None
    if expect_head is not None:
        try:
            anchor = AuditHead.parse(expect_head)
        except ValueError as exc:
            fail(f"--expect-head: {exc}")
    with opened_store(config) as store:
        report = verify_audit(store, expected_head=anchor)
    if as_json:
        print_json(report.to_json())
    elif report.ok:
        typer.echo(f"OK: {report.summary()}")
    else:
        typer.echo(f"skn-connector: {report.summary()}", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


# -- retention ------------------------------------------------------------------------------


@retention_app.command("purge")
def retention_purge(
    config: ConfigOption = None,
    older_than_months: Annotated[
        int | None,
        typer.Option(
            "--older-than-months",
            min=1,
            max=120,
            help="Months after a conversation ended (default: retention.personal_data_months, 12).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Replace the personal data of ended conversations and old quarantined messages by
    references (Referentienummer, type, sha256, conversation)."""
    from .cli import load, print_json, user_errors
    from .engine.retention import DEFAULT_RETENTION_MONTHS, purge_personal_data, retention_period
    from .store import open_configured_store

    with user_errors():
        settings = load(config)
        months = older_than_months
        if months is None:
            retention = getattr(settings, "retention", None)
            months = getattr(retention, "personal_data_months", DEFAULT_RETENTION_MONTHS)
        store = open_configured_store(settings.store)
        try:
            report = purge_personal_data(store, retention_period(int(months)), dry_run=dry_run)
        finally:
            store.close()
    if as_json:
        print_json({**report.to_json(), "months": months})
    else:
        typer.echo(report.summary())


__all__ = ["audit_app", "doctor_command", "retention_app", "secrets_app"]
