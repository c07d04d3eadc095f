"""Each creditor's running totals (the ``totals`` table, kept by the store's triggers of
migration 0015): what the metrics' counters read, one row a creditor, instead of counting a
creditor's history at every scrape."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, select, text, union_all

from .schema import InboxMessage, OutboxMessage, QuarantinedMessage, Total
from .status import OutboxStatus

#: the triggers that keep the totals (migration 0015)
TRIGGERS = (
    "totals_inbox_received",
    "totals_quarantine_kept",
    "totals_outbox_sent",
    "totals_outbox_inserted_sent",
)

#: the totals of every creditor together (a deployment of one creditor, or no scope)
ALL_TOTALS = select(
    func.coalesce(func.sum(Total.received), 0).label("received"),
    func.coalesce(func.sum(Total.quarantined), 0).label("quarantined"),
    func.coalesce(func.sum(Total.sent), 0).label("sent"),
)


def totals_of(creditor_id: str) -> Any:
    """The statement of one creditor's totals (zeros before its first row)."""
    return ALL_TOTALS.where(Total.creditor_id == creditor_id)


def recount(connection: Connection, creditor_ids: Collection[str]) -> None:
    """Make the totals of ``creditor_ids`` again from their rows: after rows change
    creditor (``scope.adopt_unassigned``), which the triggers do not follow."""
    ids = list(creditor_ids)

    def zero(name: str) -> Any:
        return literal(0).label(name)

    counted = union_all(
        select(InboxMessage.creditor_id, func.count().label("received"), zero("q"), zero("s"))
        .where(InboxMessage.creditor_id.in_(ids))
        .group_by(InboxMessage.creditor_id),
        select(QuarantinedMessage.creditor_id, zero("r"), func.count(), zero("s"))
        .where(QuarantinedMessage.creditor_id.in_(ids))
        .group_by(QuarantinedMessage.creditor_id),
        select(OutboxMessage.creditor_id, zero("r"), zero("q"), func.count())
        .where(OutboxMessage.creditor_id.in_(ids), OutboxMessage.status == OutboxStatus.SENT)
        .group_by(OutboxMessage.creditor_id),
    ).subquery()
    creditor, received, quarantined, sent = counted.c
    sums = select(creditor, func.sum(received), func.sum(quarantined), func.sum(sent)).group_by(
        creditor
    )
    connection.execute(delete(Total).where(Total.creditor_id.in_(ids)))
    connection.execute(
        insert(Total).from_select(["creditor_id", "received", "quarantined", "sent"], sums)
    )


def missing_triggers(connection: Connection) -> list[str]:
    """The triggers of ``TRIGGERS`` the store lacks (a store copied table by table, or a
    table made again without them): its totals no longer follow its rows."""
    if connection.dialect.name == "sqlite":
        names = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        names = text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    present = {str(name) for name in connection.execute(names).scalars()}
    return [name for name in TRIGGERS if name not in present]
