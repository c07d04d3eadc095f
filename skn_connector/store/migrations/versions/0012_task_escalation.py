"""A task past its due date is escalated once: ``tasks.escalated_at``.

The deadline watch raises a task when an answer runs late; a task of any other kind (a
beschermingsbewind reported, a Wsnp to check, a claim kept from a write-off, a message out
of order) that stays open past its due date is escalated: the watch writes when, logs a
warning and the audit trail records it, and the alert SknTaskOverdue fires on
``skn_tasks_overdue``. The column keeps it to once per task.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("escalated_at")
