"""Each creditor's totals kept in a row of their own: messages received, quarantined and
answers sent.

The metrics' counters (``skn_messages_received_total``, ``skn_messages_quarantined_total``,
``skn_answers_sent_total``) were counts of a creditor's rows at every scrape: one index entry
read per message in its history, a million a creditor a year at 4,000 messages a working
day, so that a scrape of a deployment of 500 creditors grew with their history to far
beyond Prometheus' timeout. ``totals`` holds one row a creditor, and the store itself keeps
it: a trigger on each counted table adds one in the transaction that writes the row it
counts (an inbox row, a quarantined message, an answer becoming ``sent``). Triggers rather
than the connector's code, so that every way a row is written counts (the fetch, the receive
endpoint, the portal import, the ORM and the Core paths, a connector of an older release in a
rolling upgrade) and a total is never out of step with its rows. The triggers are made first
and the totals then counted from the rows, in one transaction: on PostgreSQL a trigger's
creation waits for, and then holds off, the writers of its table, so no row is counted twice
or missed.

A later migration that makes one of these tables again on SQLite (``batch_alter_table`` with
``recreate``) loses its triggers with the old table and must make them again (``doctor``
fails on a store that lacks one: ``store.totals.missing_triggers``).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: (trigger, table, total, event, condition): the rows each total counts
_COUNTED = (
    ("totals_inbox_received", "inbox", "received", "INSERT", None),
    ("totals_quarantine_kept", "quarantine", "quarantined", "INSERT", None),
    ("totals_outbox_sent", "outbox", "sent", "UPDATE OF status", "OLD.status <> 'sent'"),
    ("totals_outbox_inserted_sent", "outbox", "sent", "INSERT", None),
)
_SENT = "NEW.status = 'sent'"

_RECOUNT = """
INSERT INTO totals (creditor_id, received, quarantined, sent)
SELECT creditor_id, sum(received), sum(quarantined), sum(sent) FROM (
    SELECT creditor_id, count(*) AS received, 0 AS quarantined, 0 AS sent
      FROM inbox GROUP BY creditor_id
    UNION ALL
    SELECT creditor_id, 0, count(*), 0 FROM quarantine GROUP BY creditor_id
    UNION ALL
    SELECT creditor_id, 0, 0, count(*) FROM outbox WHERE status = 'sent' GROUP BY creditor_id
) AS counted
GROUP BY creditor_id
"""

#: PostgreSQL: one function for the triggers, the total named by the trigger's argument
_PG_FUNCTION = """
CREATE FUNCTION skn_count_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[0] = 'received' THEN
        INSERT INTO totals AS t (creditor_id, received, quarantined, sent)
        VALUES (NEW.creditor_id, 1, 0, 0)
        ON CONFLICT (creditor_id) DO UPDATE SET received = t.received + 1;
    ELSIF TG_ARGV[0] = 'quarantined' THEN
        INSERT INTO totals AS t (creditor_id, received, quarantined, sent)
        VALUES (NEW.creditor_id, 0, 1, 0)
        ON CONFLICT (creditor_id) DO UPDATE SET quarantined = t.quarantined + 1;
    ELSE
        INSERT INTO totals AS t (creditor_id, received, quarantined, sent)
        VALUES (NEW.creditor_id, 0, 0, 1)
        ON CONFLICT (creditor_id) DO UPDATE SET sent = t.sent + 1;
    END IF;
    RETURN NULL;
END
$$
"""


def _values(total: str) -> str:
    return ", ".join("1" if name == total else "0" for name in ("received", "quarantined", "sent"))


def _sqlite_trigger(name: str, table: str, total: str, event: str, condition: str | None) -> str:
    when = " AND ".join(c for c in (_SENT if total == "sent" else None, condition) if c)
    # the names and conditions are this module's constants, not input
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table}"  # noqa: S608
        + (f" WHEN {when}" if when else "")
        + " BEGIN INSERT INTO totals (creditor_id, received, quarantined, sent)"
        + f" VALUES (NEW.creditor_id, {_values(total)})"
        + f" ON CONFLICT (creditor_id) DO UPDATE SET {total} = {total} + 1; END"
    )


def _pg_trigger(name: str, table: str, total: str, event: str, condition: str | None) -> str:
    when = " AND ".join(c for c in (_SENT if total == "sent" else None, condition) if c)
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
        + (f" WHEN ({when})" if when else "")
        + f" EXECUTE FUNCTION skn_count_total('{total}')"
    )


def upgrade() -> None:
    op.create_table(
        "totals",
        sa.Column("creditor_id", sa.String(36), primary_key=True),
        sa.Column("received", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("quarantined", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sent", sa.BigInteger(), nullable=False, server_default="0"),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(_PG_FUNCTION)
    for counted in _COUNTED:
        op.execute(_sqlite_trigger(*counted) if sqlite else _pg_trigger(*counted))
    op.execute(_RECOUNT)


def downgrade() -> None:
    for name, table, *_ in _COUNTED:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if _sqlite() else f" ON {table}"))
    if not _sqlite():
        op.execute("DROP FUNCTION IF EXISTS skn_count_total()")
    op.drop_table("totals")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"
