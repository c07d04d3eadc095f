"""An index for the daily expiry of holds (applied holds whose end has passed).

Without it, finding the expired holds reads every applied hold: a cost that grows with
every message ever answered, paid on each round of the pipeline.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_holds_status_ends", "holds", ["status", "ends"])


def downgrade() -> None:
    op.drop_index("ix_holds_status_ends", table_name="holds")
