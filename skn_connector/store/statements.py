"""The statements of the message path, built once.

Every message goes through these. Built per call, SQLAlchemy spends more time on making
and keying a statement than SQLite spends on running it; built once (with bound
parameters, ``expanding`` for IN lists), a statement's compiled form is cached and
reused. Writes of a batch go as one ``executemany``. Rare paths keep the ORM.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from .schema import (
    Conversation,
    HoldRecord,
    InboxMessage,
    OutboxMessage,
    QuarantinedMessage,
    WriteOffRecord,
)
from .status import Channel, HoldStatus, InboxStatus, OutboxStatus, WriteOffStatus

inbox = cast(Table, InboxMessage.__table__)
quarantine = cast(Table, QuarantinedMessage.__table__)
conversations = cast(Table, Conversation.__table__)
outbox = cast(Table, OutboxMessage.__table__)
holds = cast(Table, HoldRecord.__table__)
write_offs = cast(Table, WriteOffRecord.__table__)

# -- intake -----------------------------------------------------------------------------------

INBOX_HANDLES = select(inbox.c.node_message_id, inbox.c.sha256).where(
    inbox.c.node_message_id.in_(bindparam("handles", expanding=True))
)
QUARANTINE_HANDLES = select(quarantine.c.node_message_id, quarantine.c.sha256).where(
    quarantine.c.node_message_id.in_(bindparam("handles", expanding=True))
)
STORED_BY_REFERENTIENUMMER = select(
    inbox.c.referentienummer, inbox.c.sha256, inbox.c.conversation_id
).where(inbox.c.referentienummer.in_(bindparam("referentienummers", expanding=True)))
#: The three above as one statement, for a batch of a few (the receive endpoint's): rows of
#: (key, sha256, conversation_id, kind); kind "handle" is a handle stored before (inbox or
#: quarantine), "stored" an inbox message by its Referentienummer.
KNOWN_TO_INTAKE = union_all(
    INBOX_HANDLES.add_columns(null(), literal_column("'handle'")),
    QUARANTINE_HANDLES.add_columns(null(), literal_column("'handle'")),
    STORED_BY_REFERENTIENUMMER.add_columns(literal_column("'stored'")),
)
INSERT_INBOX = insert(inbox)
COUNT_DUPLICATE = (
    update(inbox)
    .where(inbox.c.referentienummer == bindparam("duplicate_of"))
    .values(duplicates=inbox.c.duplicates + 1)
)

# -- deciding ---------------------------------------------------------------------------------

INBOX_TO_DECIDE = select(
    inbox.c.id, inbox.c.raw, inbox.c.referentienummer, inbox.c.conversation_id, inbox.c.status
).where(inbox.c.id.in_(bindparam("ids", expanding=True)))
#: the messages a group of decisions is about to mark done, locked until the decisions commit
#: (PostgreSQL; SQLite has one writer at a time): a second instance working the same messages
#: in the window before it stands by (store/lease.py) waits, then finds them done and writes
#: nothing. In id order, so that two such groups lock in the same order and cannot deadlock.
INBOX_TO_MARK = (
    select(inbox.c.id, inbox.c.status, inbox.c.channel, inbox.c.answer_due)
    .where(inbox.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(inbox.c.id)
    .with_for_update()
)
CONVERSATIONS_BY_ID = select(
    conversations.c.id,
    conversations.c.state,
    conversations.c.klantnummer_se,
    conversations.c.debtor_ref,
).where(conversations.c.id.in_(bindparam("ids", expanding=True)))
INSERT_CONVERSATION = insert(conversations)
UPDATE_CONVERSATION = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation"))
    .values(
        state=bindparam("state"),
        updated_at=bindparam("updated_at"),
        klantnummer_se=bindparam("klantnummer_se"),
        debtor_ref=bindparam("debtor_ref"),
    )
)
INSERT_OUTBOX = insert(outbox)
INSERT_HOLD = insert(holds)
#: only a message still pending is marked: another worker may have got there first
MARK_INBOX_DONE = (
    update(inbox)
    .where(inbox.c.id == bindparam("inbox_id"), inbox.c.status == InboxStatus.PENDING)
    .values(status=InboxStatus.DONE, processed_at=bindparam("processed_at"), last_error=None)
)

# -- delivery ---------------------------------------------------------------------------------

OUTBOX_CONVERSATIONS = select(outbox.c.id, outbox.c.conversation_id).where(
    outbox.c.id.in_(bindparam("ids", expanding=True))
)
MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("outbox_id"))
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("sent_at"),
        attempts=outbox.c.attempts + 1,
        last_error=None,
    )
)

# -- holds ------------------------------------------------------------------------------------

HOLDS_TO_CARRY_OUT = select(holds).where(
    holds.c.id.in_(bindparam("ids", expanding=True)),
    holds.c.status.in_(HoldStatus.due()),
)
HOLDS_BY_ID = select(
    holds.c.id,
    holds.c.status,
    holds.c.conversation_id,
    holds.c.hold_id,
    holds.c.hold_type,
    holds.c.adapter,
    holds.c.measures,
    holds.c.release_reason,
).where(holds.c.id.in_(bindparam("ids", expanding=True)))
MARK_APPLIED = (
    update(holds)
    .where(holds.c.id == bindparam("record"), holds.c.status == HoldStatus.TO_APPLY)
    .values(
        status=HoldStatus.APPLIED, applied_at=bindparam("at"), last_error=None, next_attempt_at=None
    )
)
MARK_RELEASED = (
    update(holds)
    .where(holds.c.id == bindparam("record"), holds.c.status == HoldStatus.TO_RELEASE)
    .values(
        status=HoldStatus.RELEASED,
        released_at=bindparam("at"),
        last_error=None,
        next_attempt_at=None,
    )
)
#: applied while it was being released: it is released next round
NOTE_APPLIED = (
    update(holds)
    .where(holds.c.id == bindparam("record"), holds.c.status == HoldStatus.TO_RELEASE)
    .values(applied_at=bindparam("at"))
)


# -- counts -----------------------------------------------------------------------------------

#: (pending inbox messages, answers to deliver, holds to carry out, write-offs to carry out),
#: in one statement: the daemon asks after every round
TO_APPROVE = (
    select(func.count()).select_from(outbox).where(outbox.c.status == OutboxStatus.TO_APPROVE)
)
BACKLOG = select(
    select(func.count())
    .select_from(inbox)
    .where(inbox.c.status == InboxStatus.PENDING)
    .scalar_subquery(),
    select(func.count())
    .select_from(outbox)
    .where(outbox.c.status == OutboxStatus.PENDING, outbox.c.channel == Channel.NODE)
    .scalar_subquery(),
    select(func.count())
    .select_from(holds)
    .where(holds.c.status.in_(HoldStatus.due()))
    .scalar_subquery(),
    select(func.count())
    .select_from(write_offs)
    .where(write_offs.c.status == WriteOffStatus.TO_APPLY)
    .scalar_subquery(),
)


def find_conversation(session: Session, conversation_id: str) -> Conversation | None:
    """The conversation of this id in the session's scope (its key is the id and the
    creditor: ``Session.get`` would need both)."""
    return session.scalars(select(Conversation).where(Conversation.id == conversation_id)).first()
