"""The security part: ``doctor``, ``secrets set``, ``audit verify``, ``retention purge``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .app import app, audit_app, retention_app, secrets_app
from .common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    ConfigOption,
    CreditorOption,
    InsecureDevOption,
    JsonOption,
    config_path,
    fail,
    operations,
    print_json,
)

_MARK = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


# -- doctor ---------------------------------------------------------------------------------


@app.command("doctor")
def doctor_command(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    insecure_dev: InsecureDevOption = False,
) -> None:
    """Check settings, credentials, certificates, the node, the store and every adapter.

    Exit 0 when nothing failed (warnings are shown), 1 when a check failed.
    """
    from ..operations.doctor import run_doctor

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
    from ..secrets import (
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
    creditor: CreditorOption = None,
    as_json: JsonOption = False,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="ID:HASH of a head written down earlier; it must still be in the trail.",
        ),
    ] = None,
) -> None:
    """Recompute the audit trail's hash chain; exit 1 naming the first entry that fails.
    Without --creditor, a deployment of several creditors has every chain checked: each
    creditor's and the deployment's own (the console's accounts and logins)."""
    from ..store.audit import AuditHead

    anchor = None
    if expect_head is not None:
        try:
            anchor = AuditHead.parse(expect_head)
        except ValueError as exc:
            fail(f"--expect-head: {exc}")
    with operations(config, creditor, whole_deployment=True) as ops:
        if creditor is None and not ops.settings.sole:
            if anchor is not None:  # a head is one chain's: which one, the user says
                fail("--expect-head is the head of one creditor's audit chain; add --creditor")
            report = ops.verify_every_audit()
        else:
            report = ops.verify_audit(expected_head=anchor)
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
    creditor: CreditorOption = None,
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
    from ..actor import Actor
    from ..engine.retention import DEFAULT_RETENTION_MONTHS

    with operations(config, creditor) as ops:
        retention = getattr(ops.settings, "retention", None)
        months = older_than_months or int(
            getattr(retention, "personal_data_months", DEFAULT_RETENTION_MONTHS)
        )
        report = ops.purge_personal_data(
            older_than_months=months, dry_run=dry_run, actor=Actor.at_the_command_line()
        )
    if as_json:
        print_json({**report.to_json(), "months": months})
    else:
        typer.echo(report.summary())
