"""Tasks for people; the channel (node or portal) of inbox and outbox messages.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=True, index=True),
        sa.Column("bericht_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
    )
    for table in ("inbox", "outbox"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("channel", sa.String(8), nullable=False, server_default="node")
            )


def downgrade() -> None:
    for table in ("outbox", "inbox"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("channel")
    op.drop_table("tasks")
