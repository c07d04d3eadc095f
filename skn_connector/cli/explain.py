"""``explain``: why enforcement stopped or went on, step by step, with the sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .app import app
from .common import (
    ConfigOption,
    CreditorOption,
    JsonOption,
    fail,
    local_time,
    operations,
    print_json,
)

if TYPE_CHECKING:
    from ..operations.explain import Explanation


@app.command("explain")
def explain(
    reference: Annotated[
        str | None,
        typer.Argument(
            help="A hold id, a message's Referentienummer or a conversation id.",
            show_default=False,
        ),
    ] = None,
    debtor: Annotated[
        str | None,
        typer.Option(
            "--debtor", metavar="KLANTNUMMER_SE", help="Every conversation about this debtor."
        ),
    ] = None,
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    as_json: JsonOption = False,
) -> None:
    """The chain from a message to the stop of a measure: message, rule, event and policy
    rule, holds, what the back-office did, answers, deadlines and persons' decisions, each
    step with its sources."""
    from ..operations import ExplainNotFound

    if (reference is None) == (debtor is None):
        fail("give a hold id, a Referentienummer or a conversation id, or --debtor KLANTNUMMER_SE")
    with operations(config, creditor) as ops:
        try:
            found = ops.explain(reference, debtor=debtor)
        except ExplainNotFound as exc:
            fail(str(exc))
    if as_json:
        print_json(found.as_dict())
        return
    _print(found)


def _print(found: Explanation) -> None:
    from datetime import datetime

    typer.echo(f"{found.kind.value} {found.subject}")
    for chain in found.chains:
        typer.echo("")
        typer.echo(
            f"conversation {chain.conversation_id} ({chain.module or '?'}, now "
            f"{chain.state or '?'}) with {chain.counterparty or '?'}"
            + (f", KlantnummerSE {chain.klantnummer_se}" if chain.klantnummer_se else "")
        )
        for step in chain.steps:
            if isinstance(step.at, datetime):
                when = local_time(step.at.isoformat())
            else:
                when = step.at.isoformat() if step.at is not None else ""
            cited = f" [{', '.join(step.sources)}]" if step.sources else ""
            typer.echo(f"  {when:<23}  {step.kind.value:<10}  {step.summary}{cited}")
    if found.sources:
        typer.echo("")
        typer.echo("sources:")
        for source in found.sources.values():
            typer.echo(f"  [{source.id}] {source.cite()}")
