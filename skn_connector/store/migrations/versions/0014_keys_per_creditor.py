"""The keys of what others name are a creditor's own: a conversation is keyed by its id and
its creditor, a received message's Referentienummer is unique per creditor.

A counsellor's software may name one conversation (ConversatieReferentienummer) for a
client's case when it writes to each of the client's creditors. Two creditors of one
deployment (two municipalities a belastingsamenwerking collects for) then each have a
conversation of that id; keyed by the id alone, the second creditor's question failed on the
first one's row and was never answered. A Referentienummer names one message, which has one
Ontvanger; the same one sent to a second creditor of the deployment (a sender's error, or a
replay) made that creditor's intake fail on every round until a person removed the message
from its messagebox. Now each creditor stores and answers its own, and the duplicate rules
(the same Referentienummer and bytes: no second effect; other bytes: quarantine) hold within
each creditor. Every row is kept as it is.

The ids the connector makes itself (an answer's Referentienummer, a hold's and a
write-off's id: new UUIDs) stay unique across the store.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import warnings

from alembic import op
from sqlalchemy.exc import SAWarning

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: PostgreSQL's names for the keys before this migration; SQLite's are unnamed
_CONVERSATION_KEY = "conversations_pkey"
_OLD_INBOX_KEY = "inbox_referentienummer_key"
#: the inbox's key from now on (its name the same on both)
_INBOX_KEY = "uq_inbox_referentienummer"
#: how Alembic names SQLite's unnamed unique constraint, so that it can be dropped
_NAMING = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot change a table's keys: the table is made again with them, rows copied
    # (SQLAlchemy warns that the copy's key differs from the old table's: it is meant to)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", SAWarning)
        with op.batch_alter_table("conversations", recreate="always" if sqlite else "never") as t:
            if not sqlite:
                t.drop_constraint(_CONVERSATION_KEY, type_="primary")
            t.create_primary_key(_CONVERSATION_KEY, ["id", "creditor_id"])
        with op.batch_alter_table(
            "inbox", recreate="always" if sqlite else "never", naming_convention=_NAMING
        ) as t:
            t.drop_constraint(_OLD_INBOX_KEY, type_="unique")
            t.create_unique_constraint(_INBOX_KEY, ["referentienummer", "creditor_id"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", SAWarning)
        with op.batch_alter_table("inbox", recreate="always" if sqlite else "never") as t:
            t.drop_constraint(_INBOX_KEY, type_="unique")
            t.create_unique_constraint(_OLD_INBOX_KEY, ["referentienummer"])
        with op.batch_alter_table("conversations", recreate="always" if sqlite else "never") as t:
            if not sqlite:
                t.drop_constraint(_CONVERSATION_KEY, type_="primary")
            t.create_primary_key(_CONVERSATION_KEY, ["id"])
