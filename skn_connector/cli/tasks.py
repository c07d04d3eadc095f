"""What a person must look at or decide: ``tasks list|resolve``."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import tasks_app
from .common import ConfigOption, CreditorOption, JsonOption, fail, operations, print_json, table


@tasks_app.command("list")
def tasks_list(
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also resolved tasks.")] = False,
) -> None:
    """Open tasks, the most urgent first."""
    with operations(config, creditor) as ops:
        rows = ops.tasks(include_resolved=show_all)
    if as_json:
        print_json(rows)
        return
    table(
        "Tasks",
        ["id", "kind", "due", "conversation", "status", "reason"],
        [
            [
                str(r["id"]),
                r["kind"],
                r["due"] or "",
                (r["conversation_id"] or "")[:8],
                r["status"],
                r["reason"],
            ]
            for r in rows
        ],
    )


@tasks_app.command("show")
def tasks_show(
    task_id: Annotated[int, typer.Argument(help="The task's id (see 'tasks list').")],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """A task with its message (masked), the policy's advice and what each choice does."""
    from dataclasses import asdict

    from ..operations import TaskNotFound

    with operations(config, creditor) as ops:
        try:
            detail = ops.task(task_id)
        except TaskNotFound:
            fail(f"there is no task {task_id}; see 'skn-connector tasks list'")
    print_json(asdict(detail))


@tasks_app.command("resolve")
def tasks_resolve(
    task_id: Annotated[int, typer.Argument(help="The task's id (see 'tasks list').")],
    choice: Annotated[
        str,
        typer.Option(
            help="accept or reject for a proposal; approve or withhold for an answer that "
            "waits for approval; schone_lei or zonder_schone_lei for the end of a Wsnp; "
            "done for other tasks."
        ),
    ] = "done",
    note: Annotated[str | None, typer.Option(help="Why; sent as the reason of a refusal.")] = None,
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Resolve a task; for a proposal, the chosen answer goes out."""
    from ..actor import Actor
    from ..engine.tasks import TaskError

    with operations(config, creditor) as ops:
        try:
            outcome = ops.resolve_task(
                task_id, choice=choice, note=note, actor=Actor.at_the_command_line()
            )
        except TaskError as exc:
            fail(str(exc))
    typer.echo(outcome)
