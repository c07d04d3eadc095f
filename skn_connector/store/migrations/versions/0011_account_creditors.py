"""The creditors a console account may see: ``accounts.creditors``, ``*`` (every creditor of
the deployment, what every account made before could see) or their participant ids,
comma-separated. An account sees nothing of a creditor not in it.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.add_column(sa.Column("creditors", sa.Text, nullable=False, server_default="*"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("creditors")
