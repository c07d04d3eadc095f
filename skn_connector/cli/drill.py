"""``drill``: a year (or ``--days``) on a fake clock against the simulated node and the three
reference adapters; prints the table, and fails (exit 1) with one line per finding."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import app
from .common import fail


@app.command("drill")
def drill(
    days: Annotated[int, typer.Option("--days", help="How many calendar days to play.")] = 365,
    seed: Annotated[
        int, typer.Option("--seed", help="The seed: the same seed, the same table.")
    ] = 1,
) -> None:
    """Play debt-help traffic for ``--days`` on a fake clock (outages, duplicates, messages
    out of order) and count what must never happen: late or lost answers, holds late or left
    standing, measures on held claims, missing write-offs, tasks past their deadline."""
    if not 1 <= days <= 3660:
        fail(f"--days must be a number of days from 1 to 3660, not {days}")
    if seed < 0:
        fail(f"--seed must be 0 or more, not {seed}")
    from ..drill import DrillOptions, run_drill
    from ..drill.table import table

    report = run_drill(DrillOptions(days=days, seed=seed))
    typer.echo(table(report))
    for finding in report.findings:
        typer.echo(f"FAIL {finding.line()}", err=True)
    if not report.ok:
        raise typer.Exit(1)
