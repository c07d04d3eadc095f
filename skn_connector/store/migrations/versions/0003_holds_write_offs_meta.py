"""Holds on enforcement, write-offs, and a small key-value table.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hold_id", sa.String(36), nullable=False, unique=True),
        sa.Column("hold_type", sa.String(32), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False, index=True),
        sa.Column("adapter", sa.String(64), nullable=False),
        sa.Column("debtor_id", sa.String(128), nullable=False, index=True),
        sa.Column("factuurnummers", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("lift", sa.Text(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("ends", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("release_reason", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("applied_at", TZ, nullable=True),
        sa.Column("released_at", TZ, nullable=True),
    )
    op.create_table(
        "write_offs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("write_off_id", sa.String(36), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(36), nullable=False, index=True),
        sa.Column("adapter", sa.String(64), nullable=False),
        sa.Column("debtor_id", sa.String(128), nullable=False),
        sa.Column("factuurnummers", sa.Text(), nullable=False),
        sa.Column("excluded", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("datum", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "write_offs", "holds"):
        op.drop_table(table)
