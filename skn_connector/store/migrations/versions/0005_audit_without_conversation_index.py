"""The audit trail loses its index on conversation_id, which no query uses.

Every message adds four audit entries; their conversation ids are random UUIDs, so the
index put a different page of it into the write-ahead log at every commit (a 100,000-message
backlog wrote it at random places to the end). The trail is read in order (``audit
verify``) or by a person looking into one conversation, for whom a scan is fine.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_conversation_id", table_name="audit")


def downgrade() -> None:
    op.create_index("ix_audit_conversation_id", "audit", ["conversation_id"])
