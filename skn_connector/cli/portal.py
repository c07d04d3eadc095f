"""The web-portal CSV files: ``portal import`` and ``portal export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import portal_app
from .common import EXIT_USAGE, ConfigOption, CreditorOption, fail, operations


@portal_app.command("import")
def portal_import(
    file: Annotated[
        Path, typer.Argument(help="A Saldoverzoeken download from the web portal (.csv).")
    ],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Answer a portal download with the same adapters and policy as the system link."""
    from ..actor import Actor
    from ..wire.portal_csv import PortalCsvError

    with operations(config, creditor) as ops:
        try:
            imported = ops.import_portal(file, actor=Actor.at_the_command_line())
        except PortalCsvError as exc:
            typer.echo(f"skn-connector: {file} is refused whole:", err=True)
            for error in exc.errors:
                typer.echo(f"  {error}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except (OSError, ValueError) as exc:
            fail(f"{file}: {exc}")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(imported.outcomes.items()))
    if imported.answered_now:
        typer.echo(f"{file}: {counts}; export the answers with 'skn-connector portal export'")
    else:
        typer.echo(
            f"{file}: {counts}; the instance working this store answers them at its next "
            "round, then export the answers with 'skn-connector portal export'"
        )


@portal_app.command("export")
def portal_export(
    out: Annotated[Path, typer.Option("--out", help="The upload file to write (.csv).")],
    message_type: Annotated[
        str, typer.Option("--type", help="The portal file type; only SaldoverzoekAntwoord.")
    ] = "SaldoverzoekAntwoord",
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Write the answers waiting for the web portal to an upload file."""
    from ..actor import Actor

    if message_type != "SaldoverzoekAntwoord":
        fail(f"--type {message_type} is not a portal file type we write; use SaldoverzoekAntwoord")
    with operations(config, creditor) as ops:
        try:
            count = ops.export_portal(out, actor=Actor.at_the_command_line())
        except ValueError as exc:
            fail(f"{out}: {exc}")
    typer.echo(f"{out}: {count} answer(s) written; upload it in the web portal")
