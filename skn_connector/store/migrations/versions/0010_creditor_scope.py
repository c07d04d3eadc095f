"""Every row of the work belongs to a creditor: ``creditor_id`` (its participant id) on
inbox, quarantine, conversations, outbox, tasks, holds, write_offs and audit.

The rows already stored are the single creditor's the store was made for: the store is
opened by a configuration with one creditor, which the migration is given
(``sole_creditor``, its participant id) and writes into every row; without it (a
configuration with several creditors, or the store opened without one) the rows are left
to no creditor (``''``) and become the sole creditor's when one opens it
(``store.scope.adopt_unassigned``). No row is removed or changed otherwise.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: the rows of no creditor (store.schema.UNASSIGNED_ROWS)
_UNASSIGNED = "creditor_id = ''"
TABLES = ("inbox", "quarantine", "conversations", "outbox", "tasks", "holds", "write_offs", "audit")


def upgrade() -> None:
    creditor = context.config.attributes.get("sole_creditor") or ""
    for table in TABLES:
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.add_column(
                sa.Column("creditor_id", sa.String(36), nullable=False, server_default="")
            )
        if creditor:
            rows = sa.table(table, sa.column("creditor_id"))
            op.execute(rows.update().values(creditor_id=creditor))
        # the rows of no creditor alone (those the sole creditor is given at its next open)
        op.create_index(
            f"ix_{table}_unassigned",
            table,
            ["creditor_id"],
            sqlite_where=sa.text(_UNASSIGNED),
            postgresql_where=sa.text(_UNASSIGNED),
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_unassigned", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("creditor_id")
