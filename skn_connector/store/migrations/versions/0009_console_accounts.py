"""The console's accounts, and the indexes its pages read by.

``accounts`` holds the people who may log in to the console: a name, a role (viewer,
handler, admin) and an argon2id hash of the password, never the password itself; the failed
logins in a row and the lock they lead to; and a session epoch that ends the sessions signed
before a password change or a disable.

The console finds a debtor's holds by KlantnummerSE (``ix_conversations_klantnummer_se``),
lists messages by type and by date (``ix_inbox_berichttype``, ``ix_inbox_received_at``,
``ix_outbox_berichttype``, ``ix_outbox_created_at``) and tasks by kind
(``ix_tasks_kind_status``), newest first, a page at a time, with 100,000 messages in the
store (bench/console.py). The audit trail's entries of a person's action (those naming an
``actor``, a few among the machine's) have a partial index, ``ix_audit_actions``, so that
the trail filtered by person reads those alone; the others cost their insert nothing more.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: the entries of a person's action: their detail names an actor (store.schema.AUDIT_ACTIONS)
_ACTIONS = "detail LIKE '%\"actor\": {%'"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_conversations_klantnummer_se", "conversations", ["klantnummer_se"])
    op.create_index("ix_inbox_berichttype", "inbox", ["berichttype", "id"])
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])
    op.create_index("ix_outbox_berichttype", "outbox", ["berichttype", "id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_tasks_kind_status", "tasks", ["kind", "status"])
    op.create_index(
        "ix_audit_actions",
        "audit",
        ["id"],
        sqlite_where=sa.text(_ACTIONS),
        postgresql_where=sa.text(_ACTIONS),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_actions", table_name="audit")
    op.drop_index("ix_tasks_kind_status", table_name="tasks")
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    op.drop_index("ix_outbox_berichttype", table_name="outbox")
    op.drop_index("ix_inbox_received_at", table_name="inbox")
    op.drop_index("ix_inbox_berichttype", table_name="inbox")
    op.drop_index("ix_conversations_klantnummer_se", table_name="conversations")
    op.drop_table("accounts")
