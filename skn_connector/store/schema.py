"""The tables. Every change goes with an Alembic migration in store/migrations/versions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import (
    DateTime as SaDateTime,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class DateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = SaDateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


#: The audit entries of a failed call to a back-office (a failed hold, release or write-off,
#: or a message it could not decide); the condition of a partial index, written as queries
#: must write it for SQLite to use the index.
BACKOFFICE_FAILURES = "event IN ('effect_failed', 'processing_failed')"
#: The messages still pending: the condition of the partial index ix_inbox_pending.
INBOX_PENDING = "status = 'pending'"
#: The audit entries of a person's action (their detail names an actor): the condition of
#: the partial index ix_audit_actions, word for word as queries must write it.
AUDIT_ACTIONS = "detail LIKE '%\"actor\": {%'"
#: The rows of a creditor (every row the connector's work writes: store.scope): the condition
#: of the partial indexes that lead with creditor_id (ix_inbox_creditor, ix_quarantine_creditor,
#: ix_audit_creditor), word for word as the statements that are to use them write it. Without
#: statistics SQLite takes an index whose first column a statement compares for equality over
#: a better one: were these indexes whole, every statement run in a creditor's scope (which
#: adds ``creditor_id = :scope``) could read one of them instead of, say, the index of the
#: handles it looks up, and so read all of the creditor's rows. Partial, they serve only the
#: statements that repeat the condition: those that read a creditor's rows by creditor alone.
ASSIGNED_ROWS = "creditor_id <> ''"


class InboxMessage(Base):
    """A message fetched from the node, stored (raw bytes) before it is confirmed there."""

    __tablename__ = "inbox"
    #: the deadlines of the messages still pending, for the metrics: partial, so it is as
    #: small as the backlog (migration 0008), and by creditor, so that a creditor's are read
    #: alone (migration 0013)
    __table_args__ = (
        Index(
            "ix_inbox_pending",
            "status",
            "creditor_id",
            "answer_due",
            "received_at",
            sqlite_where=text(INBOX_PENDING),
            postgresql_where=text(INBOX_PENDING),
        ),
        Index("ix_inbox_berichttype", "berichttype", "id"),
        Index("ix_inbox_received_at", "received_at"),
        #: the work by status, a creditor's alone (the status first: the counts of a
        #: deployment of one creditor ask by status alone; migration 0013)
        Index("ix_inbox_status", "status", "creditor_id"),
        #: a creditor's messages: how many, and the newest (by id; migration 0013)
        Index(
            "ix_inbox_creditor",
            "creditor_id",
            "id",
            sqlite_where=text(ASSIGNED_ROWS),
            postgresql_where=text(ASSIGNED_ROWS),
        ),
        # a creditor's own (migration 0014): the same Referentienummer sent to two creditors
        # of one deployment is each one's message, and stops neither
        UniqueConstraint("referentienummer", "creditor_id", name="uq_inbox_referentienummer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    #: the message's Referentienummer: its id, and the key of the duplicate rules (unique
    #: per creditor)
    referentienummer: Mapped[str] = mapped_column(String(36))
    #: the Referentienummer of the message this one answers (one of ours), if any
    cross_referentienummer: Mapped[str | None] = mapped_column(String(36), nullable=True)
    node_message_id: Mapped[str] = mapped_column(String(64), index=True)
    berichttype: Mapped[str] = mapped_column(String(64))
    module: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(36), index=True)
    afzender: Mapped[str] = mapped_column(String(36))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: pending -> done | failed (a person must look) | unexpected (no rule fits; a task)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the last failure, redacted (no personal data), and its class
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: node (the system link) or portal (a web-portal CSV download)
    channel: Mapped[str] = mapped_column(String(8), default="node", server_default="node")


class QuarantinedMessage(Base):
    """A message that could not be accepted, kept with its reason for a person."""

    __tablename__ = "quarantine"
    #: the open entries are counted at every scrape of the metrics (migration 0008), a
    #: creditor's alone; and all of a creditor's (migration 0013)
    __table_args__ = (
        Index("ix_quarantine_status", "status", "creditor_id"),
        Index(
            "ix_quarantine_creditor",
            "creditor_id",
            sqlite_where=text(ASSIGNED_ROWS),
            postgresql_where=text(ASSIGNED_ROWS),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    node_message_id: Mapped[str] = mapped_column(String(64), index=True)
    referentienummer: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: open -> resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    occurrences: Mapped[int] = mapped_column(Integer, default=1)


class Conversation(Base):
    """One ConversatieReferentienummer of one creditor: one SHV, one SE, one client.

    The key is the id and the creditor (migration 0014): a counsellor's software may name one
    conversation for a client's case when it writes to each creditor, and two creditors of a
    deployment then each have a conversation of that id."""

    __tablename__ = "conversations"
    #: the console finds a debtor's holds by KlantnummerSE (migration 0009)
    __table_args__ = (Index("ix_conversations_klantnummer_se", "klantnummer_se"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(
        String(36), primary_key=True, default="", server_default=""
    )
    module: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    counterparty: Mapped[str] = mapped_column(String(36))
    klantnummer_se: Mapped[str | None] = mapped_column(String(64), nullable=True)
    debtor_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """An answer written in the same transaction as the state it follows from."""

    __tablename__ = "outbox"
    #: the console lists answers by type and date (migration 0009); the work and the
    #: answers sent by status, a creditor's alone (migration 0013)
    __table_args__ = (
        Index("ix_outbox_berichttype", "berichttype", "id"),
        Index("ix_outbox_created_at", "created_at"),
        Index("ix_outbox_status", "status", "creditor_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    #: the answer's own Referentienummer (the same on every delivery attempt)
    referentienummer: Mapped[str] = mapped_column(String(36), unique=True)
    conversation_id: Mapped[str] = mapped_column(String(36), index=True)
    #: the Referentienummer of the message it answers (None for a message we start)
    cross_referentienummer: Mapped[str | None] = mapped_column(String(36), nullable=True)
    berichttype: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: pending -> sent | failed (the node refused it; a person must look)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the last failure, redacted (no personal data), and its class
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: node: delivered by the connector; portal: exported to a CSV for the web portal
    channel: Mapped[str] = mapped_column(String(8), default="node", server_default="node")


class Task(Base):
    """Something a person must look at or decide, with a due date where a deadline runs."""

    __tablename__ = "tasks"
    #: the console lists tasks by kind (migration 0009); the open tasks, a creditor's
    #: alone, and a creditor's tasks of a kind in any status (the deadline watch; the
    #: creditor before the status, migration 0013)
    __table_args__ = (
        Index("ix_tasks_kind_status", "kind", "creditor_id", "status"),
        Index("ix_tasks_status", "status", "creditor_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    #: quarantined | conflict | unexpected_message | processing_failed | beoordeling | deadline
    kind: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: the message the task is about, if any
    referentienummer: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: the hold the task is about (hold_not_applied), if any
    hold_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: the quarantined message the task is about (quarantined, conflict), if any
    quarantine_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: open -> resolved
    status: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: when the deadline watch escalated the task, open past its due date (once; migration 0012)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HoldRecord(Base):
    """A hold on enforcement, planned in the same transaction as the decision that asks for it,
    then applied and released through the adapter (idempotent by hold_id)."""

    __tablename__ = "holds"
    #: the holds by status, a creditor's alone, and the daily expiry's applied holds whose
    #: end has passed (the end last: a range after the equalities; migration 0013). It
    #: serves every lookup by status, so there is no index on the status alone.
    __table_args__ = (Index("ix_holds_status_ends", "status", "creditor_id", "ends"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    hold_id: Mapped[str] = mapped_column(String(36), unique=True)
    hold_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(8))
    conversation_id: Mapped[str] = mapped_column(String(36), index=True)
    adapter: Mapped[str] = mapped_column(String(64))
    debtor_id: Mapped[str] = mapped_column(String(128), index=True)
    #: JSON lists
    factuurnummers: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    lift: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(String(16))
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: to_apply -> applied -> to_release -> released
    status: Mapped[str] = mapped_column(String(16))
    release_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the last failure, redacted (no personal data), and its class
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WriteOffRecord(Base):
    """A write-off of remainders after a successful end, carried out through the adapter."""

    __tablename__ = "write_offs"
    #: the write-offs to carry out, a creditor's alone (migration 0013)
    __table_args__ = (Index("ix_write_offs_status", "status", "creditor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    write_off_id: Mapped[str] = mapped_column(String(36), unique=True)
    conversation_id: Mapped[str] = mapped_column(String(36), index=True)
    adapter: Mapped[str] = mapped_column(String(64))
    debtor_id: Mapped[str] = mapped_column(String(128))
    #: JSON: the claims to write off, and the claims kept with the reason
    factuurnummers: Mapped[str] = mapped_column(Text)
    excluded: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    datum: Mapped[date] = mapped_column(Date)
    #: to_apply -> done
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the last failure, redacted (no personal data), and its class
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Meta(Base):
    """Small facts the connector keeps between runs (e.g. the last successful poll)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Total(Base):
    """A creditor's running totals: messages received (inbox rows), quarantined (ever) and
    answers sent. The store's triggers keep them, in the transaction that writes the row
    they count (migration 0015), so that the metrics read one row a creditor instead of
    counting its history; ``store.totals.recount`` makes them again from the rows."""

    __tablename__ = "totals"

    creditor_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEntry(Base):
    """Append-only, hash-chained record of what the connector did (no personal data)."""

    __tablename__ = "audit"
    #: failed calls to a back-office, counted at every scrape of the metrics; partial, so
    #: that the other entries (nearly all) cost their insert nothing more (migration 0008);
    #: a person's actions, newest first. Both by creditor (migration 0013); and the head of
    #: a creditor's chain, read by every transaction that appends to it (migration 0013).
    __table_args__ = (
        Index(
            "ix_audit_creditor",
            "creditor_id",
            "id",
            sqlite_where=text(ASSIGNED_ROWS),
            postgresql_where=text(ASSIGNED_ROWS),
        ),
        Index(
            "ix_audit_backoffice_failures",
            "event",
            "creditor_id",
            sqlite_where=text(BACKOFFICE_FAILURES),
            postgresql_where=text(BACKOFFICE_FAILURES),
        ),
        Index(
            "ix_audit_actions",
            "creditor_id",
            "id",
            sqlite_where=text(AUDIT_ACTIONS),
            postgresql_where=text(AUDIT_ACTIONS),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the creditor the row belongs to: its participant id (store.scope)
    creditor_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(64))
    # not indexed: no query looks entries up by conversation (migration 0005)
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    referentienummer: Mapped[str | None] = mapped_column(String(36), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Account(Base):
    """A person who may use the console: a name, a role and an argon2id hash of the password
    (never the password). ``session_epoch`` goes up when the password changes or the account
    is disabled, which ends the sessions signed before (migration 0009)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: viewer | handler | admin (store.status.AccountRole)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    #: failed logins in a row; at the limit the account is locked until ``locked_until``
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the creditors whose work the account may see: "*" (all) or participant ids,
    #: comma-separated (migration 0011)
    creditors: Mapped[str] = mapped_column(Text, default="*", server_default="*")


#: The rows of no creditor (store.scope.UNASSIGNED): the condition of the partial indexes
#: ix_<table>_unassigned, empty once the sole creditor has them (migration 0010). Since
#: migration 0013 creditor_id follows the equality columns of the indexes by status, kind
#: and event, which so serve a creditor's scope and the whole store of a deployment of one
#: creditor alike. The indexes that lead with it (for a creditor's totals, its newest message
#: and its audit chain's head) are partial on ASSIGNED_ROWS: whole, SQLite would take them
#: over the indexes the other statements are made for (a handle, a status, a deadline).
UNASSIGNED_ROWS = "creditor_id = ''"
for _table in (
    InboxMessage,
    QuarantinedMessage,
    Conversation,
    OutboxMessage,
    Task,
    HoldRecord,
    WriteOffRecord,
    AuditEntry,
):
    Index(
        f"ix_{_table.__tablename__}_unassigned",
        _table.creditor_id,
        sqlite_where=text(UNASSIGNED_ROWS),
        postgresql_where=text(UNASSIGNED_ROWS),
    )
