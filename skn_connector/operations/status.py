"""The state of the work, read from the store: what the metrics show and doctor reports.

``status(store, settings, now)`` reads it in a handful of statements, each served by an
index, so that a scrape stays cheap however many messages the store holds (the benchmark
``bench/scrape.py`` measures it at 100,000). Every figure comes from the store, not from a
counter in the process: every instance on a store reports the same, also right after a
restart. Nothing here is personal data: counts, dates, task kinds, the lease holder's
process and the certificates' roles and names.

A question waits for its answer while it is not yet worked (pending), while a person
decides it (an open ``beoordeling`` task), while it failed and its task is open, and while
its answer is in the outbox but not delivered (pending, waiting for approval or withheld, or
refused by the node with its task open). Its deadline is the inbox's ``answer_due``, the
last working day to answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from cryptography import x509
from sqlalchemy import Date, and_, bindparam, case, func, or_, select, text, union
from sqlalchemy.engine import Connection

from ..config import Settings
from ..engine.deadlines import WorkingDays
from ..store.db import Store
from ..store.lease import LeaseHolder, lease_holder
from ..store.schema import (
    ASSIGNED_ROWS,
    BACKOFFICE_FAILURES,
    INBOX_PENDING,
    AuditEntry,
    HoldRecord,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)
from ..store.scope import UNSCOPED, meta_key
from ..store.status import TaskKind
from ..store.totals import ALL_TOTALS, totals_of

AMSTERDAM: Final = ZoneInfo("Europe/Amsterdam")
#: Answers whose deadline is at most this many working days away are due soon.
DUE_SOON_WORKING_DAYS: Final = 2
#: The node must be polled (or a message received) at least once a working day.
POLL_WITHIN_WORKING_DAYS: Final = 1

#: The kinds of task the connector raises; a kind not listed is counted as ``other``
#: (labels of metrics come from fixed sets only).
#: every kind of task, a label of skn_tasks_open
TASK_KINDS: Final = tuple(sorted(kind.value for kind in TaskKind))
OTHER_KIND: Final = "other"

#: The audit events of a failed call to a back-office (store.schema.BACKOFFICE_FAILURES):
#: every failed hold, release or write-off, and a message the back-office could not decide
#: (one of the SDK's BackOffice errors).
_BACKOFFICE_CLASS: Final = '%"error_class": "BackOffice%'


class CertificateRole(StrEnum):
    #: our client certificate, node.tls.certificate
    CLIENT = "client"
    #: a CA in node.tls.trust
    TRUST = "trust"


@dataclass(frozen=True)
class CertificateExpiry:
    role: CertificateRole
    #: the certificate's common name (a CA's or our organisation's, never a person's)
    common_name: str
    not_after: datetime


@dataclass(frozen=True)
class Status:
    """The state of the work at ``at``."""

    at: datetime
    #: when the node's messagebox was last listed (meta ``last_poll``; written once a minute)
    last_poll: datetime | None
    #: when the newest message was received (from the node or a portal download)
    last_received: datetime | None
    #: messages received (inbox rows), quarantined (ever), answers delivered: totals
    received: int
    quarantined: int
    answers_sent: int
    #: questions waiting for their answer; of them, due within 2 working days and overdue
    answers_pending: int
    answers_due_soon: int
    answers_overdue: int
    #: when the oldest question still waiting for its answer was received
    oldest_unanswered: datetime | None
    #: quarantined messages a person has not resolved
    quarantine_open: int
    #: open tasks by kind (every kind of TASK_KINDS, and ``other``), and those past their due date
    tasks_open: Mapping[str, int]
    tasks_overdue: int
    #: holds in force in the back-office (applied, or waiting to be released)
    holds_active: int
    #: holds waiting for the back-office: to be applied, to be released
    holds_to_apply: int
    holds_to_release: int
    #: failed calls to a back-office (audited): a total
    backoffice_errors: int
    lease: LeaseHolder
    certificates: tuple[CertificateExpiry, ...]
    #: by when the node must be polled (or a message received) again: the last of the two
    #: plus one working day; None before the first poll
    poll_due: datetime | None

    @property
    def last_activity(self) -> datetime | None:
        return Activity(self.last_poll, self.last_received).last

    @property
    def oldest_unanswered_age(self) -> timedelta | None:
        if self.oldest_unanswered is None:
            return None
        return max(timedelta(0), self.at - self.oldest_unanswered)

    @property
    def poll_overdue(self) -> bool:
        return self.poll_due is not None and self.at > self.poll_due

    @property
    def holds_pending(self) -> int:
        return self.holds_to_apply + self.holds_to_release

    @property
    def tasks_open_total(self) -> int:
        return sum(self.tasks_open.values())


@dataclass(frozen=True)
class Activity:
    """When the node was last polled and the newest message received."""

    last_poll: datetime | None
    last_received: datetime | None

    @property
    def last(self) -> datetime | None:
        moments = [m for m in (self.last_poll, self.last_received) if m is not None]
        return max(moments) if moments else None


def activity(store: Store) -> Activity:
    """Two reads by key: cheap enough for every readiness probe."""
    with store.connect() as connection:
        return Activity(_last_poll(connection), connection.scalar(_LAST_RECEIVED))


def status(store: Store, settings: Settings, now: datetime) -> Status:
    """The state of the work in ``store`` at ``now``. Raises the store's StoreError when it
    cannot be read."""
    working_days = WorkingDays(good_friday=settings.policy.good_friday)
    today = now.astimezone(AMSTERDAM).date()
    soon = working_days.add(today, DUE_SOON_WORKING_DAYS)
    # where every row of the store is this creditor's (a deployment of one creditor), the
    # counts need no creditor filter: with it, they read every row instead of an index
    whole = UNSCOPED if store.holds_one_creditor else {}
    # a creditor's own totals (the row the store keeps for it) and newest message, in its
    # scope, from the partial index of its rows (a store without a scope: every creditor's
    # totals together, of no creditor too, and the newest message of any)
    if store.creditor_id and not whole:
        kept, newest = totals_of(store.creditor_id), _CREDITOR_NEWEST
    else:
        kept, newest = ALL_TOTALS, _LAST_RECEIVED
    with store.connect() as connection:
        counted = connection.execute(_as(_OPEN_COUNTS, whole)).one()
        totals = connection.execute(kept).one()
        seen = Activity(_last_poll(connection), connection.scalar(_as(newest, whole)))
        days = {"today": today, "soon": soon}
        answers = [
            connection.execute(_as(q, whole), days).one()
            for q in (_PENDING_ANSWERS, _OTHER_ANSWERS)
        ]
        tasks, tasks_overdue = _tasks(connection, today, whole)
        holds = {str(state): int(count) for state, count in connection.execute(_as(_HOLDS, whole))}
    return Status(
        at=now,
        last_poll=seen.last_poll,
        last_received=seen.last_received,
        received=int(totals.received),
        quarantined=int(totals.quarantined),
        answers_sent=int(totals.sent),
        answers_pending=sum(int(a.waiting or 0) for a in answers),
        answers_due_soon=sum(int(a.due_soon or 0) for a in answers),
        answers_overdue=sum(int(a.overdue or 0) for a in answers),
        oldest_unanswered=min((a.oldest for a in answers if a.oldest is not None), default=None),
        quarantine_open=int(counted.quarantine_open),
        tasks_open=tasks,
        tasks_overdue=tasks_overdue,
        holds_active=int(holds.get("applied", 0)) + int(holds.get("to_release", 0)),
        holds_to_apply=int(holds.get("to_apply", 0)),
        holds_to_release=int(holds.get("to_release", 0)),
        backoffice_errors=int(counted.backoffice_errors),
        lease=lease_holder(store),
        certificates=certificate_expiries(settings),
        poll_due=poll_due(seen.last, working_days) if seen.last is not None else None,
    )


def poll_due(last: datetime, working_days: WorkingDays) -> datetime:
    """One working day after ``last``, at the same time of day in Amsterdam: the node polled
    on Friday at 17:00 must be polled again by Monday 17:00."""
    local = last.astimezone(AMSTERDAM)
    day = working_days.add(local.date(), POLL_WITHIN_WORKING_DAYS)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), AMSTERDAM).astimezone(UTC)


def certificate_expiries(settings: Settings) -> tuple[CertificateExpiry, ...]:
    """When the client certificate and each CA in ``node.tls.trust`` expire; a file that
    cannot be read is left out (doctor names it)."""
    tls = settings.node.tls
    if tls is None:
        return ()
    found: list[CertificateExpiry] = []
    files = ((CertificateRole.CLIENT, tls.certificate), (CertificateRole.TRUST, tls.trust))
    for role, path in files:
        with contextlib.suppress(OSError, ValueError):
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
            for cert in certificates[:1] if role is CertificateRole.CLIENT else certificates:
                found.append(CertificateExpiry(role, _common_name(cert), cert.not_valid_after_utc))
    return tuple(found)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# -- the statements ---------------------------------------------------------------------------

_count = func.count
#: the newest row by id, not max(received_at): the primary key finds it at once
_LAST_RECEIVED = select(InboxMessage.received_at).order_by(InboxMessage.id.desc()).limit(1)
#: a creditor's newest, in its scope: the condition of the partial index ix_inbox_creditor
#: (creditor_id, id) word for word (every row of a scope meets it), so that it is read from
#: there and not by going back over the other creditors' rows (all of them for a creditor
#: with no message yet)
_CREDITOR_NEWEST = _LAST_RECEIVED.where(text(ASSIGNED_ROWS))


#: what is open now (not a history): the quarantine's open messages, and the back-office's
#: failures in the audit trail (a partial index holds those alone). The totals of a
#: creditor's history are kept by the store (``store.totals``)
_OPEN_COUNTS = select(
    select(_count())
    .select_from(QuarantinedMessage)
    .where(QuarantinedMessage.status == "open")
    .scalar_subquery()
    .label("quarantine_open"),
    # the condition of the partial index ix_audit_backoffice_failures, word for word and
    # without bound values: SQLite uses a partial index only for a query that repeats it
    select(_count())
    .select_from(AuditEntry)
    .where(
        text(BACKOFFICE_FAILURES),
        or_(
            AuditEntry.event == "effect_failed",
            AuditEntry.detail.like(_BACKOFFICE_CLASS),
        ),
    )
    .scalar_subquery()
    .label("backoffice_errors"),
)

_HOLDS = (
    select(HoldRecord.status, _count())
    .where(HoldRecord.status.in_(("applied", "to_apply", "to_release")))
    .group_by(HoldRecord.status)
)


def _with_open_task(*kinds: str) -> Any:
    """The messages an open task of ``kinds`` is about. Asked once per scrape, not once per
    message (a correlated lookup read every open task for each failed message)."""
    return select(Task.referentienummer).where(
        Task.status == "open", Task.kind.in_(kinds), Task.referentienummer.is_not(None)
    )


_TODAY = bindparam("today", type_=Date)
_SOON = bindparam("soon", type_=Date)


def _deadlines(questions: Any) -> Any:
    """(how many, overdue, due soon, the oldest's receipt) of ``questions``."""
    return select(
        _count().label("waiting"),
        func.sum(case((questions.c.answer_due < _TODAY, 1), else_=0)).label("overdue"),
        func.sum(
            case(
                (and_(questions.c.answer_due >= _TODAY, questions.c.answer_due <= _SOON), 1),
                else_=0,
            )
        ).label("due_soon"),
        func.min(questions.c.received_at).label("oldest"),
    )


def _worked_but_unanswered() -> Any:
    """The questions worked but not answered: failed with their task open, waiting for a
    person's decision, or answered in the outbox but not delivered; each once."""
    inbox, question = InboxMessage, InboxMessage.__table__.alias("question")
    failed = select(inbox.id, inbox.received_at, inbox.answer_due).where(
        inbox.status == "failed",
        inbox.referentienummer.in_(_with_open_task("processing_failed")),
    )
    deciding = (
        select(inbox.id, inbox.received_at, inbox.answer_due)
        .join(Task, Task.referentienummer == inbox.referentienummer)
        .where(Task.status == "open", Task.kind == "beoordeling")
    )
    undelivered = (
        select(question.c.id, question.c.received_at, question.c.answer_due)
        .select_from(OutboxMessage)
        .join(question, question.c.referentienummer == OutboxMessage.cross_referentienummer)
        .where(
            or_(
                # waiting to go out, for a person's approval, or withheld by one
                OutboxMessage.status.in_(("pending", "to_approve", "withheld")),
                and_(
                    OutboxMessage.status == "failed",
                    OutboxMessage.referentienummer.in_(_with_open_task("delivery_failed")),
                ),
            )
        )
    )
    return union(failed, deciding, undelivered).subquery()


#: The questions not yet worked, read from the partial index ix_inbox_pending alone (its
#: condition word for word, so SQLite uses it): a backlog's rows are not read. Apart from the
#: others, which are few, so that a backlog is not sorted to remove repeats it cannot have.
_PENDING_ANSWERS = _deadlines(
    select(InboxMessage.received_at, InboxMessage.answer_due).where(text(INBOX_PENDING)).subquery()
)
_OTHER_ANSWERS = _deadlines(_worked_but_unanswered())
_TASKS = (
    select(Task.kind, _count(), func.sum(case((Task.due < _TODAY, 1), else_=0)))
    .where(Task.status == "open")
    .group_by(Task.kind)
)


def _as(statement: Any, options: Mapping[str, Any]) -> Any:
    """``statement`` with ``options``; itself without any: a copy would be a statement the
    scope has not seen, scoped (traversed and compiled) anew at every call, 15 ms for the
    largest, per creditor and per scrape."""
    return statement.execution_options(**options) if options else statement


def _last_poll(connection: Connection) -> datetime | None:
    value = connection.scalar(select(Meta.value).where(Meta.key == meta_key("last_poll")))
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _tasks(
    connection: Connection, today: date, options: Mapping[str, Any]
) -> tuple[dict[str, int], int]:
    counts = dict.fromkeys((*TASK_KINDS, OTHER_KIND), 0)
    overdue = 0
    for kind, number, late in connection.execute(_as(_TASKS, options), {"today": today}):
        counts[kind if kind in counts else OTHER_KIND] += int(number)
        overdue += int(late or 0)
    return counts, overdue
