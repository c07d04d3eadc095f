"""Holds, the policy and the conversation rules: ``holds list``, ``policy show``,
``conversations rules``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import typer

from .app import conversations_app, holds_app, policy_app
from .common import ConfigOption, CreditorOption, JsonOption, operations, print_json, table


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
    print_sources(
        (f"Rule {r['rule']} ({r['on']})", [{"layer": "", "note": "", "sources": r["sources"]}])
        for r in rows
    )


def print_sources(entries: Iterable[tuple[str, list[Mapping[str, Any]]]]) -> None:
    """Each rule's sources in full, after the table: title, article, version and URL, so
    that the ground of a rule can be read without looking an id up."""
    typer.echo('\nSources (docs/sources.md; "our interpretation" marks the connector\'s reading)')
    for heading, citations in entries:
        typer.echo(f"\n{heading}")
        for citation in citations:
            if citation["layer"]:
                typer.echo(f"  {citation['layer']}: {citation['note']}")
            if not citation["sources"]:
                typer.echo("    (set in this configuration)")
            for source in citation["sources"]:
                mark = "our interpretation: " if source["kind"] == "interpretation" else ""
                typer.echo(
                    f"    [{source['id']}] {mark}{source['title']}, {source['where']} "
                    f"({source['version']})\n      {source['url']}"
                )


@holds_app.command("list")
def holds_list(
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    as_json: JsonOption = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also released holds.")] = False,
) -> None:
    """Holds on enforcement: what is stopped, on which claims, until when."""
    with operations(config, creditor) as ops:
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
def policy_show(
    config: ConfigOption = None, creditor: CreditorOption = None, as_json: JsonOption = False
) -> None:
    """The effective enforcement policy for this creditor, with the source of each rule."""
    from ..engine.policy import GROUPS

    with operations(config, creditor) as ops:
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
        "sources",
    ]
    table(
        f"Enforcement policy: {policy.kind}, covenant {policy.covenant}",
        columns,
        [
            [
                ", ".join(s["id"] for c in r["sources"] for s in c["sources"])
                if c == "sources"
                else r[c]
                for c in columns
            ]
            for r in rows
        ],
    )
    print_sources((f"{r['event']} {r['title']}", r["sources"]) for r in rows)
