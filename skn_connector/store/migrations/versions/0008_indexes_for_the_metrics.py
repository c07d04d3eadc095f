"""Indexes for the metrics: the open quarantine entries, the failed back-office calls and
the deadlines of the messages still pending.

A scrape of ``/metrics`` counts them every time (operations/status.py); without an index
each count reads its whole table, and a backlog's deadlines were read from the message rows
themselves (their bytes included: 20,000 pending messages took a scrape to 60 ms). Two of the
indexes are partial: ``ix_audit_backoffice_failures`` holds only the audit entries of a failed
call to a back-office, so the other entries, nearly all of them, cost their insert nothing
more; ``ix_inbox_pending`` holds only the messages still pending, so it stays as small as the
backlog.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_FAILURES = "event IN ('effect_failed', 'processing_failed')"
_PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index("ix_quarantine_status", "quarantine", ["status"])
    op.create_index(
        "ix_audit_backoffice_failures",
        "audit",
        ["event"],
        sqlite_where=sa.text(_FAILURES),
        postgresql_where=sa.text(_FAILURES),
    )
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["status", "answer_due", "received_at"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.drop_index("ix_audit_backoffice_failures", table_name="audit")
    op.drop_index("ix_quarantine_status", table_name="quarantine")
