"""Indexes by creditor: the counts of the metrics and the message path's lookups by status
read one creditor's rows, not every creditor's.

Since migration 0010 every statement run in a creditor's scope carries
``creditor_id = :scope``; no index held the column, so with several creditors each count
of the metrics and each lookup of the work by status read every creditor's rows (a count
of one creditor's messages read the whole inbox). Here ``creditor_id`` goes into the indexes
those statements are served by, after their equality columns (``status``, ``kind``,
``event``): equality columns may come in any order, and with the status first an index
still serves the counts of a deployment of one creditor, which ask by status alone
(``Store.holds_one_creditor``). A range or order column (the end of a hold, the id of a
person's action) comes after every equality column. The partial indexes keep their
conditions word for word (SQLite uses a partial index only for a query that repeats it).

Two indexes are new, for the totals of one creditor (how many messages it received and
quarantined), which have no other equality column: ``ix_inbox_creditor (creditor_id, id)``
(the id also finds its newest message) and ``ix_quarantine_creditor``. ``ix_holds_status``
is dropped: every lookup it served is served by ``ix_holds_status_ends (status,
creditor_id, ends)``, so a hold's insert and status change write one index less.

No row is changed. On PostgreSQL the indexes are built in the migration's transaction,
which keeps writes to each table waiting while its index is built.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: the conditions of the partial indexes, word for word (store.schema)
_PENDING = "status = 'pending'"
_FAILURES = "event IN ('effect_failed', 'processing_failed')"
_ACTIONS = "detail LIKE '%\"actor\": {%'"
_ASSIGNED = "creditor_id <> ''"

#: (index, table, columns before, columns after, condition): built anew with creditor_id
_WIDENED: tuple[tuple[str, str, list[str], list[str], str | None], ...] = (
    ("ix_inbox_status", "inbox", ["status"], ["status", "creditor_id"], None),
    (
        "ix_inbox_pending",
        "inbox",
        ["status", "answer_due", "received_at"],
        ["status", "creditor_id", "answer_due", "received_at"],
        _PENDING,
    ),
    ("ix_quarantine_status", "quarantine", ["status"], ["status", "creditor_id"], None),
    ("ix_outbox_status", "outbox", ["status"], ["status", "creditor_id"], None),
    ("ix_tasks_status", "tasks", ["status"], ["status", "creditor_id"], None),
    (
        "ix_tasks_kind_status",
        "tasks",
        ["kind", "status"],
        ["kind", "creditor_id", "status"],
        None,
    ),
    (
        "ix_holds_status_ends",
        "holds",
        ["status", "ends"],
        ["status", "creditor_id", "ends"],
        None,
    ),
    ("ix_write_offs_status", "write_offs", ["status"], ["status", "creditor_id"], None),
    (
        "ix_audit_backoffice_failures",
        "audit",
        ["event"],
        ["event", "creditor_id"],
        _FAILURES,
    ),
    ("ix_audit_actions", "audit", ["id"], ["creditor_id", "id"], _ACTIONS),
)
#: (index, table, columns): new, partial on the rows of a creditor
_ADDED = (
    ("ix_inbox_creditor", "inbox", ["creditor_id", "id"]),
    ("ix_quarantine_creditor", "quarantine", ["creditor_id"]),
    ("ix_audit_creditor", "audit", ["creditor_id", "id"]),
)


def _create(name: str, table: str, columns: list[str], where: str | None) -> None:
    if where is None:
        op.create_index(name, table, columns)
    else:
        where_ = sa.text(where)
        op.create_index(name, table, columns, sqlite_where=where_, postgresql_where=where_)


def upgrade() -> None:
    for name, table, _before, after, where in _WIDENED:
        op.drop_index(name, table_name=table)
        _create(name, table, after, where)
    for name, table, columns in _ADDED:
        _create(name, table, columns, _ASSIGNED)
    op.drop_index("ix_holds_status", table_name="holds")


def downgrade() -> None:
    op.create_index("ix_holds_status", "holds", ["status"])
    for name, table, _columns in _ADDED:
        op.drop_index(name, table_name=table)
    for name, table, before, _after, where in _WIDENED:
        op.drop_index(name, table_name=table)
        _create(name, table, before, where)
