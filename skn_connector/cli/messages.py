"""Messages and the quarantine: ``messages list|show|replay``, ``quarantine list|retry``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from .app import messages_app, quarantine_app
from .common import (
    ConfigOption,
    CreditorOption,
    JsonOption,
    fail,
    local_time,
    operations,
    print_json,
    table,
)


@messages_app.command("list")
def messages_list(
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only the Referentienummers, one a line.")
    ] = False,
    berichttype: Annotated[
        str | None, typer.Option("--type", help="Only this Berichttype, e.g. Saldoverzoek.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: pending, done, failed, unexpected, sent."),
    ] = None,
    direction: Annotated[
        str | None, typer.Option(help="in (received) or out (sent); both by default.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="From this Dutch day on.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Up to this Dutch day.")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option(help="Only this ConversatieReferentienummer.")
    ] = None,
) -> None:
    """Messages received and answers sent, newest first; the options narrow the list."""
    from ..operations import MessageFilter

    if direction not in (None, "in", "out"):
        fail("--direction is in or out")
    filters = MessageFilter(
        berichttype=berichttype,
        status=status,
        direction=direction,
        since=since.date() if since else None,
        until=until.date() if until else None,
        conversation_id=conversation,
    )
    with operations(config, creditor) as ops:
        rows = ops.message_page(filters).rows[:limit] if filters else ops.messages(limit=limit)
    if as_json:
        print_json(rows)
        return
    if quiet:
        for row in rows:
            typer.echo(row["referentienummer"])
        return
    table(
        "Messages",
        ["direction", "Referentienummer", "Berichttype", "conversation", "status", "at", "due"],
        [
            [
                r["direction"],
                r["referentienummer"],
                r["berichttype"],
                r["conversation_id"][:8],
                r["status"],
                local_time(r["at"]),
                r.get("answer_due") or "",
            ]
            for r in rows
        ],
    )


@messages_app.command("show")
def messages_show(
    referentienummer: Annotated[
        str, typer.Argument(help="The Referentienummer of a received or sent message.")
    ],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show personal data in clear (audit-logged).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="With --reveal: why (written to the audit trail).")
    ] = None,
) -> None:
    """A message in its JSON form, with the messages it answers and that answer it (its
    thread); personal data masked unless --reveal."""
    from ..actor import Actor
    from ..operations import MessageNotFound

    with operations(config, creditor) as ops:
        try:
            document = ops.message(
                referentienummer,
                reveal=Actor.at_the_command_line() if reveal else None,
                reason=reason,
            )
        except MessageNotFound:
            fail(
                f"no message with Referentienummer {referentienummer!r}; "
                "see 'skn-connector messages list'"
            )
    print_json(document)


@messages_app.command("replay")
def messages_replay(
    referentienummer: Annotated[
        str, typer.Argument(help="The Referentienummer of a failed message.")
    ],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Work a failed or unexpected message again, with its retry counters reset."""
    from ..actor import Actor
    from ..engine.tasks import TaskError

    with operations(config, creditor) as ops:
        try:
            outcome = ops.replay(referentienummer, actor=Actor.at_the_command_line())
        except TaskError as exc:
            fail(str(exc))
    typer.echo(outcome)


@quarantine_app.command("list")
def quarantine_list(
    config: ConfigOption = None, creditor: CreditorOption = None, as_json: JsonOption = False
) -> None:
    """Messages kept aside with the reason they could not be accepted."""
    with operations(config, creditor) as ops:
        rows = ops.quarantine()
    if as_json:
        print_json(rows)
        return
    table(
        "Quarantine",
        ["id", "received", "Referentienummer", "times", "reason"],
        [
            [
                str(r["id"]),
                local_time(r["received_at"]),
                r["referentienummer"] or "",
                str(r["occurrences"]),
                r["reason"],
            ]
            for r in rows
        ],
    )


@quarantine_app.command("handle")
def quarantine_handle(
    quarantine_id: Annotated[int, typer.Argument(help="The id shown by 'quarantine list'.")],
    reason: Annotated[str, typer.Option(help="Why it is handled without being accepted.")],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Mark a quarantined message handled, with the reason; its task is resolved with it."""
    from ..actor import Actor
    from ..engine.tasks import TaskError

    with operations(config, creditor) as ops:
        try:
            outcome = ops.handle_quarantined(
                quarantine_id, reason=reason, actor=Actor.at_the_command_line()
            )
        except TaskError as exc:
            fail(str(exc))
    typer.echo(outcome)


@quarantine_app.command("retry")
def quarantine_retry(
    quarantine_id: Annotated[int, typer.Argument(help="The id shown by 'quarantine list'.")],
    config: ConfigOption = None,
    creditor: CreditorOption = None,
) -> None:
    """Try a quarantined message again, e.g. after an update; it stays if it still fails."""
    from ..actor import Actor
    from ..engine.tasks import TaskError

    with operations(config, creditor) as ops:
        try:
            outcome = ops.retry_quarantined(quarantine_id, actor=Actor.at_the_command_line())
        except TaskError as exc:
            fail(str(exc))
    typer.echo(outcome)
