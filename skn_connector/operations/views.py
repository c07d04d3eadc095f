"""The reads behind the console's pages and their command-line twins: lists with filters a
page at a time, a task with what each choice will do, a debtor's holds with why, a
conversation as one thread, the quarantine, the audit trail, the policy as data.

Every list reads one page (``PAGE_SIZE`` rows, newest or most urgent first) through an
index, so that a page stays quick with 100,000 messages in the store (bench/console.py).
Personal data is masked as ``queries.show_message`` masks it; what is shown in clear
(codes, identifiers, amounts, dates of the process) is what the masking's whitelist shows.
Nothing here writes, except the audit entry of a reveal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import JSON, and_, case, cast, func, or_, select, text, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from ..actor import Actor
from ..config import Settings
from ..engine.deadlines import WorkingDays
from ..engine.policy import EventRule, Policy
from ..engine.sources import Source
from ..redaction import redact
from ..store import Store
from ..store.schema import (
    AUDIT_ACTIONS,
    AuditEntry,
    Conversation,
    HoldRecord,
    InboxMessage,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)
from ..store.statements import find_conversation
from ..store.status import HoldStatus, QuarantineStatus, TaskKind, TaskStatus
from . import queries
from .status import AMSTERDAM, DUE_SOON_WORKING_DAYS

PAGE_SIZE: Final = 50
#: The deepest page a list offers: past it, narrow the filters.
MAX_PAGE: Final = 200


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, and whether there is a next."""

    rows: list[dict[str, Any]]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _page_number(page: int) -> int:
    return min(max(1, page), MAX_PAGE)


def _cut(rows: list[dict[str, Any]], page: int) -> Page:
    start = (page - 1) * PAGE_SIZE
    return Page(rows[start : start + PAGE_SIZE], page, len(rows) > start + PAGE_SIZE)


def day_start(day: date) -> datetime:
    """Midnight of a Dutch day, in UTC: the lists' date filters are Dutch days."""
    return datetime.combine(day, time(0), AMSTERDAM).astimezone(UTC)


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# -- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFilter:
    kind: str | None = None
    #: open, resolved, or None for both
    state: str | None = TaskStatus.OPEN
    #: overdue (before today), soon (today up to 2 working days on), or None
    due: str | None = None


def _task_row(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "conversation_id": t.conversation_id,
        "referentienummer": t.referentienummer,
        "hold_id": t.hold_id,
        "quarantine_id": t.quarantine_id,
        "reason": t.reason,
        "created_at": _iso(t.created_at),
        "due": _iso(t.due),
        "status": t.status,
        "resolution": t.resolution,
        "resolved_at": _iso(t.resolved_at),
        "resolved_by": t.resolved_by,
    }


def list_tasks(
    store: Store, settings: Settings, filters: TaskFilter, *, page: int = 1, today: date
) -> Page:
    """Tasks, those due first (then the oldest), one page."""
    page = _page_number(page)
    query = select(Task)
    if filters.kind:
        query = query.where(Task.kind == filters.kind)
    if filters.state:
        query = query.where(Task.status == filters.state)
    if filters.due == "overdue":
        query = query.where(Task.due < today)
    elif filters.due == "soon":
        soon = WorkingDays(good_friday=settings.policy.good_friday).add(
            today, DUE_SOON_WORKING_DAYS
        )
        query = query.where(Task.due >= today, Task.due <= soon)
    query = query.order_by(Task.due.is_(None), Task.due, Task.id).limit(page * PAGE_SIZE + 1)
    with store.transaction() as session:
        rows = [_task_row(t) for t in session.scalars(query)]
    return _cut(rows, page)


class TaskNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Choice:
    """What a person may decide on a task, and what it will do."""

    #: the value ``resolve_task`` takes (accept, reject, schone_lei, done, ...)
    value: str
    #: the answer that goes out (its Berichttype and Antwoord), if any
    answer: str | None = None
    antwoord: str | None = None
    #: the note becomes the answer's Reden (reject) or Toelichting (accept)
    note_as: str | None = None
    #: the holds that end (hold_type, event, claims of each), and the rules of those that start
    ends: tuple[dict[str, Any], ...] = ()
    starts: tuple[dict[str, Any], ...] = ()
    write_off: bool = False
    revives: bool = False
    #: the quarantined message it is about is marked handled with it
    handles_quarantine: bool = False
    #: the answer waiting for approval goes out (approve) or never does (withhold)
    releases_answer: str | None = None
    withholds_answer: str | None = None
    note_required: bool = False


@dataclass(frozen=True)
class TaskDetail:
    task: dict[str, Any]
    conversation: dict[str, Any] | None
    #: the message the task is about, with its thread, masked (None: the task has none)
    message: dict[str, Any] | None
    #: the policy's part: the event the message is, its rule, the criteria it applies
    advice: dict[str, Any]
    choices: tuple[Choice, ...]
    holds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return bool(self.task["status"] == TaskStatus.OPEN)


def rule_view(rule: EventRule, policy: Policy) -> dict[str, Any]:
    """An event's rule as data: what it stops, how long, on what ground."""
    return {
        "event": rule.event,
        "title": rule.title,
        "hold_type": rule.hold_type,
        "basis": rule.basis,
        "months": rule.months,
        "until": rule.until,
        "active": rule.active,
        "releases_all": rule.releases_all,
        "write_off": rule.write_off,
        "task": rule.task,
        "effects": dict(rule.effects),
        "measures": {g: sorted(policy.groups[g]) for g in rule.effects},
        "notes": [
            {"layer": c.layer, "note": c.note, "sources": [source_view(s) for s in c.sources]}
            for c in rule.citations
        ],
        "sources": [source_view(s) for s in rule.sources],
    }


def source_view(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "title": source.title,
        "where": source.where,
        "url": source.url,
        "version": source.version,
        "interpretation": source.interpretation,
    }


def task_detail(store: Store, policy: Policy, task_id: int) -> TaskDetail:
    """A task with its message (masked), the policy's advice, and each choice with what it
    will do. TaskNotFound when there is no such task."""
    with store.transaction() as session:
        task = session.get(Task, task_id)
        if task is None:
            raise TaskNotFound(task_id)
        row = _task_row(task)
        conversation = (
            find_conversation(session, task.conversation_id) if task.conversation_id else None
        )
        conversation_row = _conversation_row(conversation) if conversation else None
        holds = (
            [
                _hold_row(h)
                for h in session.scalars(
                    select(HoldRecord)
                    .where(HoldRecord.conversation_id == conversation.id)
                    .order_by(HoldRecord.id)
                )
            ]
            if conversation
            else []
        )
    message = None
    if task.referentienummer:
        try:
            message = queries.show_message(store, task.referentienummer)
        except queries.MessageNotFound:
            message = None
    module = conversation_row["module"] if conversation_row else None
    if module is None and message is not None:
        module = _module_of(message, task.referentienummer)
    advice, choices = _advice(task.kind, module, policy, holds, row, message)
    return TaskDetail(row, conversation_row, message, advice, choices, holds)


def _module_of(message: dict[str, Any], referentienummer: str | None) -> str | None:
    for entry in message.get("thread", []):
        if entry.get("Referentienummer") == referentienummer:
            header = entry.get("message", {}).get("Berichtheader", {})
            module = header.get("Module")
            return str(module) if module else None
    return None


def _answer_type(message: dict[str, Any] | None, referentienummer: str | None) -> str | None:
    for entry in (message or {}).get("thread", []):
        if entry.get("Referentienummer") == referentienummer:
            return str(entry.get("Berichttype")) if entry.get("Berichttype") else None
    return None


def _ending(hold: dict[str, Any]) -> dict[str, Any]:
    return {"hold_type": hold["hold_type"], "event": hold["event"], "claims": hold["claims"]}


def _advice(
    kind: str,
    module: str | None,
    policy: Policy,
    holds: list[dict[str, Any]],
    task: dict[str, Any],
    message: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], tuple[Choice, ...]]:
    active = [h for h in holds if h["status"] in HoldStatus.active()]
    if kind == TaskKind.BEOORDELING:
        event = "E05" if module == "Betalingsregeling" else "E07"
        rule = policy.rule(event)
        deciding = tuple(_ending(h) for h in active if h["hold_type"] == "H_PROPOSAL")
        starts: tuple[dict[str, Any], ...] = ()
        if module == "Betalingsregeling":
            starts = (rule_view(policy.rule("E06"), policy),)
        advice = {
            "kind": "proposal",
            "event": rule_view(rule, policy),
            "max_term_months": policy.settings.max_term_months,
            "preferent_factor": policy.settings.preferent_factor,
            "covenant": policy.covenant,
            "reason": task["reason"],
        }
        return advice, (
            Choice(
                "accept",
                answer="BetaalvoorstelAntwoord",
                antwoord="AKKOORD",
                note_as="Toelichting",
                ends=deciding,
                starts=starts,
            ),
            Choice(
                "reject",
                answer="BetaalvoorstelAntwoord",
                antwoord="NIET_AKKOORD",
                note_as="Reden",
                ends=deciding,
                note_required=True,
            ),
        )
    if kind == TaskKind.WSNP_EINDE:
        wsnp = tuple(_ending(h) for h in active if h["hold_type"] == "H_WSNP")
        return (
            {
                "kind": "wsnp_end",
                "schone_lei": rule_view(policy.rule("E15"), policy),
                "zonder": rule_view(policy.rule("E15F"), policy),
                "reason": task["reason"],
            },
            (
                Choice("schone_lei", ends=wsnp, write_off=True),
                Choice("zonder_schone_lei", ends=wsnp, revives=True),
            ),
        )
    if kind == TaskKind.APPROVE_ANSWER:
        berichttype = _answer_type(message, task["referentienummer"]) or "antwoord"
        return (
            {"kind": "approval", "berichttype": berichttype, "reason": task["reason"]},
            (
                Choice("approve", releases_answer=berichttype),
                Choice("withhold", withholds_answer=berichttype, note_required=True),
            ),
        )
    if task.get("quarantine_id") is not None:
        return (
            {"kind": "quarantine", "reason": task["reason"]},
            (Choice("done", handles_quarantine=True, note_required=True),),
        )
    return {"kind": "other", "reason": task["reason"]}, (Choice("done"),)


# -- holds ------------------------------------------------------------------------------------


def _hold_row(h: HoldRecord) -> dict[str, Any]:
    return {
        "hold_id": h.hold_id,
        "hold_type": h.hold_type,
        "event": h.event,
        "conversation_id": h.conversation_id,
        "adapter": h.adapter,
        "debtor_id": h.debtor_id,
        "claims": sorted(json.loads(h.factuurnummers)),
        "measures": sorted(json.loads(h.measures)),
        "lift": sorted(json.loads(h.lift)),
        "basis": h.basis,
        "starts": _iso(h.starts),
        "ends": _iso(h.ends),
        "status": h.status,
        "release_reason": h.release_reason,
        "last_error": h.last_error,
        "applied_at": _iso(h.applied_at),
        "released_at": _iso(h.released_at),
    }


def holds_by_debtor(store: Store, *, page: int = 1, klantnummer: str | None = None) -> Page:
    """The debtors (by KlantnummerSE) with holds in force or waiting for the back-office:
    how many, since when, until when at the latest (None: until an event)."""
    page = _page_number(page)
    states = (*HoldStatus.active(), HoldStatus.TO_RELEASE, HoldStatus.FAILED)

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    query = select(
        Conversation.klantnummer_se,
        func.count(HoldRecord.id).label("holds"),
        func.min(HoldRecord.starts).label("since"),
        func.max(HoldRecord.ends).label("until"),
        count(HoldRecord.ends.is_(None)).label("open_ended"),
        count(HoldRecord.status.in_(HoldStatus.due())).label("waiting"),
        count(HoldRecord.status == HoldStatus.FAILED).label("refused"),
    )
    query = (
        query.join(Conversation, Conversation.id == HoldRecord.conversation_id)
        .where(HoldRecord.status.in_(states))
        .group_by(Conversation.klantnummer_se)
        .order_by(Conversation.klantnummer_se)
    )
    if klantnummer:
        query = query.where(Conversation.klantnummer_se == klantnummer)
    query = query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    with store.transaction() as session:
        rows = [
            {
                "klantnummer_se": r.klantnummer_se,
                "holds": int(r.holds),
                "since": _iso(r.since),
                "until": None if r.open_ended else _iso(r.until),
                "waiting": int(r.waiting),
                "refused": int(r.refused),
            }
            for r in session.execute(query)
        ]
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


def debtor_holds(
    store: Store, policy: Policy, klantnummer: str, *, include_released: bool = True
) -> dict[str, Any]:
    """What is stopped for one debtor (by KlantnummerSE): every hold of their conversations
    and the holds on the same back-office debtor (a Wsnp outlives its conversation), each
    with its claims, dates, the effective end of the stop on its claims, and why (the event,
    its rule and sources)."""
    with store.transaction() as session:
        conversations = list(
            session.scalars(select(Conversation).where(Conversation.klantnummer_se == klantnummer))
        )
        ids = [c.id for c in conversations]
        records = (
            list(
                session.scalars(
                    select(HoldRecord)
                    .where(HoldRecord.conversation_id.in_(ids))
                    .order_by(HoldRecord.starts, HoldRecord.id)
                )
            )
            if ids
            else []
        )
        debtors = {(r.adapter, r.debtor_id) for r in records}
        if debtors:
            others = session.scalars(
                select(HoldRecord)
                .where(
                    or_(
                        *(
                            and_(HoldRecord.adapter == a, HoldRecord.debtor_id == d)
                            for a, d in debtors
                        )
                    ),
                    HoldRecord.conversation_id.not_in(ids),
                )
                .order_by(HoldRecord.starts, HoldRecord.id)
            )
            records += list(others)
    rows = [_hold_row(r) for r in records]
    active = [r for r in rows if r["status"] in HoldStatus.active()]
    for row in rows:
        stacked = [
            o
            for o in active
            if o["adapter"] == row["adapter"]
            and o["debtor_id"] == row["debtor_id"]
            and set(o["claims"]) & set(row["claims"])
        ]
        ends = [o["ends"] for o in stacked]
        row["effective_end"] = (
            None if not stacked or any(e is None for e in ends) else max(e for e in ends if e)
        )
        rule = policy.rules.get(row["event"])
        row["rule"] = rule_view(rule, policy) if rule is not None else None
    if not include_released:
        rows = [r for r in rows if r["status"] != HoldStatus.RELEASED]
    return {
        "klantnummer_se": klantnummer,
        "conversations": [_conversation_row(c) for c in conversations],
        "holds": rows,
        "stopped": sorted({m for r in active for m in r["measures"]}),
        "claims": sorted({c for r in active for c in r["claims"]}),
    }


# -- messages and conversations ---------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    berichttype: str | None = None
    #: pending, done, failed, unexpected (received); pending, sent, failed (sent)
    status: str | None = None
    #: in, out or None for both
    direction: str | None = None
    since: date | None = None
    until: date | None = None
    conversation_id: str | None = None
    referentienummer: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


def _filtered(query: Any, table: Any, moment: Any, filters: MessageFilter) -> Any:
    if filters.berichttype:
        query = query.where(table.berichttype == filters.berichttype)
    if filters.status:
        query = query.where(table.status == filters.status)
    if filters.conversation_id:
        query = query.where(table.conversation_id == filters.conversation_id)
    if filters.referentienummer:
        query = query.where(
            or_(
                table.referentienummer == filters.referentienummer,
                table.cross_referentienummer == filters.referentienummer,
            )
        )
    if filters.since:
        query = query.where(moment >= day_start(filters.since))
    if filters.until:
        query = query.where(moment < day_start(filters.until + timedelta(days=1)))
    return query


def list_messages(store: Store, filters: MessageFilter, *, page: int = 1) -> Page:
    """Messages received and sent, newest first, one page; the filters narrow both lists."""
    page = _page_number(page)
    want = page * PAGE_SIZE + 1
    rows: list[dict[str, Any]] = []
    with store.transaction() as session:
        if filters.direction in (None, "", "in"):
            inbox = _filtered(
                select(
                    InboxMessage.referentienummer,
                    InboxMessage.cross_referentienummer,
                    InboxMessage.berichttype,
                    InboxMessage.conversation_id,
                    InboxMessage.status,
                    InboxMessage.received_at,
                    InboxMessage.answer_due,
                    InboxMessage.attempts,
                    InboxMessage.last_error,
                    InboxMessage.channel,
                ),
                InboxMessage,
                InboxMessage.received_at,
                filters,
            )
            for m in session.execute(inbox.order_by(InboxMessage.id.desc()).limit(want)):
                rows.append(
                    {
                        "direction": "in",
                        "referentienummer": m.referentienummer,
                        "cross_referentienummer": m.cross_referentienummer,
                        "berichttype": m.berichttype,
                        "conversation_id": m.conversation_id,
                        "status": m.status,
                        "at": m.received_at.isoformat(),
                        "answer_due": _iso(m.answer_due),
                        "attempts": m.attempts,
                        "last_error": m.last_error,
                        "channel": m.channel,
                    }
                )
        if filters.direction in (None, "", "out"):
            outbox = _filtered(
                select(
                    OutboxMessage.referentienummer,
                    OutboxMessage.cross_referentienummer,
                    OutboxMessage.berichttype,
                    OutboxMessage.conversation_id,
                    OutboxMessage.status,
                    OutboxMessage.created_at,
                    OutboxMessage.sent_at,
                    OutboxMessage.attempts,
                    OutboxMessage.last_error,
                    OutboxMessage.channel,
                ),
                OutboxMessage,
                OutboxMessage.created_at,
                filters,
            )
            for o in session.execute(outbox.order_by(OutboxMessage.id.desc()).limit(want)):
                rows.append(
                    {
                        "direction": "out",
                        "referentienummer": o.referentienummer,
                        "cross_referentienummer": o.cross_referentienummer,
                        "berichttype": o.berichttype,
                        "conversation_id": o.conversation_id,
                        "status": o.status,
                        "at": (o.sent_at or o.created_at).isoformat(),
                        "answer_due": None,
                        "attempts": o.attempts,
                        "last_error": o.last_error,
                        "channel": o.channel,
                    }
                )
    rows.sort(key=lambda r: r["at"], reverse=True)
    return _cut(rows, page)


class ConversationNotFound(LookupError):
    pass


def _conversation_row(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "module": c.module,
        "state": c.state,
        "klantnummer_se": c.klantnummer_se,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }


def conversation(
    store: Store,
    policy: Policy,
    conversation_id: str,
    *,
    reveal: Actor | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A conversation as one thread: every message received and sent (questions and their
    answers, oldest first), its holds and its tasks; masked unless ``reveal`` names the
    person who asks, with ``reason`` (audited, the reason redacted)."""
    with store.transaction() as session:
        row = find_conversation(session, conversation_id)
        messages = queries._conversation_messages(session, conversation_id)
        if row is None and not messages:
            raise ConversationNotFound(conversation_id)
        holds = [
            _hold_row(h)
            for h in session.scalars(
                select(HoldRecord)
                .where(HoldRecord.conversation_id == conversation_id)
                .order_by(HoldRecord.id)
            )
        ]
        tasks = [
            _task_row(t)
            for t in session.scalars(
                select(Task).where(Task.conversation_id == conversation_id).order_by(Task.id)
            )
        ]
        if reveal is not None:
            _audit_reveal(store, session, reveal, reason, conversation_id=conversation_id)
    for hold in holds:
        rule = policy.rules.get(hold["event"])
        hold["rule"] = rule_view(rule, policy) if rule is not None else None
    messages.sort(key=lambda m: m.at)
    return {
        "id": conversation_id,
        "conversation": _conversation_row(row) if row is not None else None,
        "thread": [queries._shown(m, reveal=reveal is not None) for m in messages],
        "holds": holds,
        "tasks": tasks,
        "revealed": reveal is not None,
    }


def _audit_reveal(
    store: Store,
    session: Session,
    actor: Actor,
    reason: str | None,
    *,
    conversation_id: str | None = None,
    referentienummer: str | None = None,
) -> None:
    why = (reason or "").strip()
    if not why:
        raise RevealRefused("say why the personal data is needed (a reason is required)")
    store.audit(
        session,
        "personal_data_revealed",
        conversation_id=conversation_id,
        referentienummer=referentienummer,
        actor=actor.audit(),
        # the reason is the person's own text: kept, with what looks personal masked
        reason=redact(why)[:500],
    )


class RevealRefused(ValueError):
    """Personal data is shown in clear only with a reason."""


# -- the quarantine ---------------------------------------------------------------------------


def _quarantine_row(q: QuarantinedMessage) -> dict[str, Any]:
    return {
        "id": q.id,
        "received_at": _iso(q.received_at),
        "referentienummer": q.referentienummer,
        "node_message_id": q.node_message_id,
        "sha256": q.sha256,
        "reason": q.reason,
        "status": q.status,
        "occurrences": q.occurrences,
    }


def list_quarantine(
    store: Store, *, state: str | None = QuarantineStatus.OPEN, page: int = 1
) -> Page:
    page = _page_number(page)
    query = select(QuarantinedMessage).order_by(QuarantinedMessage.id.desc())
    if state:
        query = query.where(QuarantinedMessage.status == state)
    with store.transaction() as session:
        rows = [
            _quarantine_row(q)
            for q in session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
        ]
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


class QuarantineNotFound(LookupError):
    pass


def quarantine_entry(store: Store, quarantine_id: int) -> dict[str, Any]:
    """A quarantined message: why, how often, and its tasks (never its bytes: they could
    not be read as a message, and may hold anything)."""
    with store.transaction() as session:
        kept = session.get(QuarantinedMessage, quarantine_id)
        if kept is None:
            raise QuarantineNotFound(quarantine_id)
        row = _quarantine_row(kept)
        row["size"] = len(kept.raw)
        row["tasks"] = [
            _task_row(t)
            for t in session.scalars(
                select(Task).where(Task.quarantine_id == quarantine_id).order_by(Task.id)
            )
        ]
    return row


# -- the audit trail --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    #: the account name of the person whose actions to show
    person: str | None = None
    since: date | None = None
    until: date | None = None
    #: the deployment's own trail (the console's accounts and logins), not the creditor's
    deployment: bool = False


def _actor_name(store: Store) -> Any:
    """The audit detail's ``actor.name``, read by the database (the detail is JSON text)."""
    if store.engine.dialect.name == "postgresql":
        detail: Any = cast(AuditEntry.detail, JSONB)
    else:
        detail = type_coerce(AuditEntry.detail, JSON)
    return detail["actor"]["name"].as_string()


def list_audit(store: Store, filters: AuditFilter, *, page: int = 1) -> Page:
    """The audit trail, newest first, one page; by person reads the entries of a person's
    action alone (the partial index ix_audit_actions)."""
    page = _page_number(page)
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if filters.person:
        # the index's condition word for word, then the actor's name itself: a detail that
        # names the person elsewhere (an adapter, an account) is not their action
        query = query.where(text(AUDIT_ACTIONS)).where(
            AuditEntry.detail.contains(json.dumps(filters.person)),
            _actor_name(store) == filters.person,
        )
    if filters.since:
        query = query.where(AuditEntry.at >= day_start(filters.since))
    if filters.until:
        query = query.where(AuditEntry.at < day_start(filters.until + timedelta(days=1)))
    rows: list[dict[str, Any]] = []
    with store.transaction() as session:
        for entry in session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)):
            detail = json.loads(entry.detail)
            actor = detail.pop("actor", None)
            rows.append(
                {
                    "id": entry.id,
                    "at": _iso(entry.at),
                    "event": entry.event,
                    "conversation_id": entry.conversation_id,
                    "referentienummer": entry.referentienummer,
                    "actor": actor,
                    "detail": detail,
                }
            )
    return Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


# -- the policy -------------------------------------------------------------------------------


def policy_view(policy: Policy) -> dict[str, Any]:
    """The policy in force as data: the measure groups and their measures, each event's rule
    with its notes and sources, and the settings it applies."""
    return {
        "kind": policy.kind,
        "covenant": policy.covenant,
        "groups": {g: sorted(codes) for g, codes in policy.groups.items()},
        "precedence": list(policy.precedence),
        "events": [rule_view(rule, policy) for rule in policy.rules.values()],
        "settings": {
            "max_term_months": policy.settings.max_term_months,
            "preferent_factor": policy.settings.preferent_factor,
            "answer_within_working_days": policy.settings.answer_within_working_days,
            "warn_at_working_days": policy.settings.warn_at_working_days,
            "pause_without_covenant": policy.settings.pause_without_covenant,
            "good_friday": policy.settings.good_friday,
        },
    }


# -- the overview -----------------------------------------------------------------------------


def holds_refused(store: Store) -> int:
    """Holds the back-office refused for good (a person must act on them)."""
    with store.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(HoldRecord)
                .where(HoldRecord.status == HoldStatus.FAILED)
            )
            or 0
        )


def answers_due(
    store: Store, settings: Settings, today: date, *, limit: int = 10
) -> list[dict[str, Any]]:
    """The questions waiting for their answer whose deadline is at most 2 working days
    away or past, the most urgent first (at most ``limit``): those not yet worked and those
    a person decides."""
    soon = WorkingDays(good_friday=settings.policy.good_friday).add(today, DUE_SOON_WORKING_DAYS)
    with store.transaction() as session:
        pending = session.execute(
            select(
                InboxMessage.referentienummer,
                InboxMessage.berichttype,
                InboxMessage.conversation_id,
                InboxMessage.answer_due,
                InboxMessage.status,
            )
            .where(text("status = 'pending'"), InboxMessage.answer_due <= soon)
            .order_by(InboxMessage.answer_due)
            .limit(limit)
        ).all()
        deciding = session.execute(
            select(
                InboxMessage.referentienummer,
                InboxMessage.berichttype,
                InboxMessage.conversation_id,
                InboxMessage.answer_due,
                InboxMessage.status,
                Task.id,
            )
            .join(Task, Task.referentienummer == InboxMessage.referentienummer)
            .where(
                Task.status == TaskStatus.OPEN,
                Task.kind.in_((TaskKind.BEOORDELING, TaskKind.PROCESSING_FAILED)),
                InboxMessage.answer_due <= soon,
            )
            .order_by(InboxMessage.answer_due)
            .limit(limit)
        ).all()
    rows = [
        {
            "referentienummer": r.referentienummer,
            "berichttype": r.berichttype,
            "conversation_id": r.conversation_id,
            "answer_due": _iso(r.answer_due),
            "overdue": r.answer_due is not None and r.answer_due < today,
            "task": getattr(r, "id", None),
        }
        for r in (*deciding, *pending)
    ]
    rows.sort(key=lambda r: r["answer_due"] or "")
    return rows[:limit]


def message_types() -> list[str]:
    """Every Berichttype of the catalog, for a filter's choices."""
    from ..messages import CATALOG

    return sorted(CATALOG)
