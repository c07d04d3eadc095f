"""An error's class beside its (redacted) text; a quarantine task names its entry.

- ``last_error_class`` on the inbox, the outbox, holds and write-offs: what failed, as a
  class name a person or a metric can count by. ``last_error`` keeps a redacted text.
- ``tasks.quarantine_id``: the quarantined message a task of kind ``quarantined`` or
  ``conflict`` is about. The retention purge keeps a quarantined message while its task is
  open, and the entry's state follows its task. Existing tasks are linked to the entry of
  the same Referentienummer or, for a message that had none (not XML, say), to the entry
  whose reason the task gives, created at the same time.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("inbox", "outbox", "holds", "write_offs")
_TASK_PREFIX = "message kept in quarantine: "


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("last_error_class", sa.String(64), nullable=True))
    op.add_column("tasks", sa.Column("quarantine_id", sa.Integer(), nullable=True))
    connection = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id"),
        sa.column("kind"),
        sa.column("referentienummer"),
        sa.column("reason"),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("quarantine_id"),
    )
    quarantine = sa.table(
        "quarantine",
        sa.column("id"),
        sa.column("referentienummer"),
        sa.column("reason"),
        sa.column("received_at", sa.DateTime(timezone=True)),
    )
    entries = [
        (row.id, row.referentienummer, row.reason, row.received_at)
        for row in connection.execute(
            sa.select(
                quarantine.c.id,
                quarantine.c.referentienummer,
                quarantine.c.reason,
                quarantine.c.received_at,
            ).order_by(quarantine.c.id)
        )
    ]
    links: list[dict[str, int]] = []
    taken: set[int] = set()
    for task in connection.execute(
        sa.select(tasks.c.id, tasks.c.referentienummer, tasks.c.reason, tasks.c.created_at)
        .where(tasks.c.kind.in_(("quarantined", "conflict")))
        .order_by(tasks.c.id)
    ):
        reason = (task.reason or "").removeprefix(_TASK_PREFIX)
        for entry_id, referentienummer, entry_reason, received_at in entries:
            if entry_id in taken:
                continue
            if task.referentienummer is not None:
                fits = referentienummer == task.referentienummer
            else:
                fits = (
                    referentienummer is None
                    and entry_reason[:1000] == reason[:1000]
                    and abs(received_at - task.created_at) <= timedelta(minutes=1)
                )
            if fits:
                taken.add(entry_id)
                links.append({"task": task.id, "entry": entry_id})
                break
    if links:
        connection.execute(
            tasks.update()
            .where(tasks.c.id == sa.bindparam("task"))
            .values(quarantine_id=sa.bindparam("entry")),
            links,
        )


def downgrade() -> None:
    op.drop_column("tasks", "quarantine_id")
    for table in reversed(_TABLES):
        op.drop_column(table, "last_error_class")
