"""Holds, the policy and the conversation rules: ``holds list``, ``policy show``,
``conversations rules``."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import conversations_app, holds_app, policy_app
from .common import ConfigOption, JsonOption, operations, print_json, table


@conversations_app.command("rules")
def conversations_rules(as_json: JsonOption = False) -> None:
    """Print the conversation transition table in force."""
    from ..engine.conversations import TransitionTable
    from ..messages import CATALOG

    rows = TransitionTable.load(known_events=CATALOG).rows()
    if as_json:
        print_json(rows)
        return
    columns = ["rule", "on", "modules", "from", "to", "answers", "note"]
    table("Conversation rules", columns, [[r[c] for c in columns] for r in rows])


@holds_app.command("list")
def holds_list(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also released holds.")] = False,
) -> None:
    """Holds on enforcement: what is stopped, on which claims, until when."""
    with operations(config) as ops:
        rows = ops.holds(include_released=show_all)
    if as_json:
        print_json(rows)
        return
    table(
        "Holds",
        [
            "hold",
            "type",
            "adapter",
            "debtor",
            "claims",
            "stops",
            "lifts",
            "basis",
            "from",
            "until",
            "effective end",
            "status",
        ],
        [
            [
                r["hold_id"][:8],
                r["hold_type"],
                r["adapter"],
                r["debtor_id"],
                ", ".join(r["claims"]),
                ", ".join(r["measures"]),
                ", ".join(r["lift"]) or "—",
                r["basis"],
                r["starts"],
                r["ends"] or "an event",
                r["effective_end"] or "an event",
                r["status"] + (f" ({r['release_reason']})" if r["release_reason"] else ""),
            ]
            for r in rows
        ],
    )


@policy_app.command("show")
def policy_show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The effective enforcement policy for this creditor, with the source of each rule."""
    from ..engine.policy import GROUPS

    with operations(config) as ops:
        policy = ops.policy()
    rows = policy.rows()
    if as_json:
        print_json({"kind": policy.kind, "covenant": policy.covenant, "rules": rows})
        return
    columns = [
        "event",
        "title",
        "hold",
        "active",
        "duration",
        *GROUPS,
        "releases",
        "write_off",
        "source",
    ]
    table(
        f"Enforcement policy: {policy.kind}, covenant {policy.covenant}",
        columns,
        [[r[c] for c in columns] for r in rows],
    )
