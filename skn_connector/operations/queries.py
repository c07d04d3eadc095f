"""Read-only views of the store for the command line and monitoring (personal data masked)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..actor import Actor
from ..engine.retention import is_purged
from ..masking import mask_personal_data
from ..redaction import redact
from ..store import Store
from ..store.schema import HoldRecord, InboxMessage, OutboxMessage, QuarantinedMessage, Task
from ..store.status import HoldStatus, TaskStatus
from ..wire.soap import decode_message


class MessageNotFound(LookupError):
    pass


def list_messages(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with store.transaction() as session:
        for m in session.scalars(
            select(InboxMessage).order_by(InboxMessage.id.desc()).limit(limit)
        ):
            rows.append(
                {
                    "direction": "in",
                    "referentienummer": m.referentienummer,
                    "cross_referentienummer": m.cross_referentienummer,
                    "berichttype": m.berichttype,
                    "conversation_id": m.conversation_id,
                    "status": m.status,
                    "at": m.received_at.isoformat(),
                    "answer_due": m.answer_due.isoformat() if m.answer_due else None,
                    "attempts": m.attempts,
                    "last_error": m.last_error,
                    "duplicates": m.duplicates,
                }
            )
        for o in session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        ):
            rows.append(
                {
                    "direction": "out",
                    "referentienummer": o.referentienummer,
                    "berichttype": o.berichttype,
                    "conversation_id": o.conversation_id,
                    "status": o.status,
                    "at": (o.sent_at or o.created_at).isoformat(),
                    "cross_referentienummer": o.cross_referentienummer,
                    "attempts": o.attempts,
                    "last_error": o.last_error,
                }
            )
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:limit]


@dataclass(frozen=True)
class _Stored:
    """A message of a conversation as the store holds it, received or sent."""

    direction: str
    referentienummer: str
    cross_referentienummer: str | None
    berichttype: str
    status: str
    at: datetime
    raw: bytes


def _conversation_messages(session: Any, conversation_id: str) -> list[_Stored]:
    received = session.execute(
        select(
            InboxMessage.referentienummer,
            InboxMessage.cross_referentienummer,
            InboxMessage.berichttype,
            InboxMessage.status,
            InboxMessage.received_at,
            InboxMessage.raw,
        ).where(InboxMessage.conversation_id == conversation_id)
    )
    sent = session.execute(
        select(
            OutboxMessage.referentienummer,
            OutboxMessage.cross_referentienummer,
            OutboxMessage.berichttype,
            OutboxMessage.status,
            OutboxMessage.created_at,
            OutboxMessage.payload,
        ).where(OutboxMessage.conversation_id == conversation_id)
    )
    return [_Stored("in", *row) for row in received] + [_Stored("out", *row) for row in sent]


def _thread(messages: list[_Stored], start: str) -> list[_Stored]:
    """The messages joined to ``start`` by CrossReferentienummer (a question and its
    answers, an answer and what answers it), oldest first."""
    neighbours: dict[str, set[str]] = {m.referentienummer: set() for m in messages}
    for m in messages:
        if m.cross_referentienummer in neighbours:
            neighbours[m.referentienummer].add(m.cross_referentienummer)
            neighbours[m.cross_referentienummer].add(m.referentienummer)
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return sorted((m for m in messages if m.referentienummer in seen), key=lambda m: m.at)


def _shown(message: _Stored, *, reveal: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "direction": message.direction,
        "Referentienummer": message.referentienummer,
        "CrossReferentienummer": message.cross_referentienummer,
        "Berichttype": message.berichttype,
        "status": message.status,
        "at": message.at.isoformat(),
    }
    if is_purged(message.raw):
        # the retention purge replaced the message by its references
        entry["purged"] = message.raw.decode("utf-8", "replace").splitlines()
        return entry
    document = decode_message(message.raw).to_json()
    entry["message"] = document if reveal else mask_personal_data(document)
    return entry


def show_message(
    store: Store, referentienummer: str, *, reveal: Actor | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A received or sent message in its JSON form, with its thread: the message it answers
    and the messages that answer it, linked by CrossReferentienummer, oldest first.
    Personal data is masked unless ``reveal`` names the person who asks for it in clear,
    which is written to the audit trail."""
    with store.transaction() as session:
        conversation_id = (
            session.scalars(
                select(InboxMessage.conversation_id).where(
                    InboxMessage.referentienummer == referentienummer
                )
            ).first()
            or session.scalars(
                select(OutboxMessage.conversation_id).where(
                    OutboxMessage.referentienummer == referentienummer
                )
            ).first()
        )
        if conversation_id is None:
            raise MessageNotFound(referentienummer)
        thread = _thread(_conversation_messages(session, conversation_id), referentienummer)
        if reveal is not None:
            why = {"reason": redact(reason.strip())[:500]} if reason and reason.strip() else {}
            store.audit(
                session,
                "personal_data_revealed",
                referentienummer=referentienummer,
                actor=reveal.audit(),
                **why,
            )
    return {
        "Referentienummer": referentienummer,
        "ConversatieReferentienummer": conversation_id,
        "thread": [_shown(m, reveal=reveal is not None) for m in thread],
    }


def list_quarantine(store: Store) -> list[dict[str, Any]]:
    with store.transaction() as session:
        return [
            {
                "id": q.id,
                "received_at": q.received_at.isoformat(),
                "referentienummer": q.referentienummer,
                "node_message_id": q.node_message_id,
                "sha256": q.sha256,
                "reason": q.reason,
                "status": q.status,
                "occurrences": q.occurrences,
                "size": len(q.raw),
            }
            for q in session.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id))
        ]


def list_tasks(store: Store, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    with store.transaction() as session:
        query = select(Task).order_by(Task.due.is_(None), Task.due, Task.id)
        if not include_resolved:
            query = query.where(Task.status == TaskStatus.OPEN)
        return [
            {
                "id": t.id,
                "kind": t.kind,
                "conversation_id": t.conversation_id,
                "referentienummer": t.referentienummer,
                "reason": t.reason,
                "created_at": t.created_at.isoformat(),
                "due": t.due.isoformat() if t.due else None,
                "status": t.status,
                "resolution": t.resolution,
                "resolved_by": t.resolved_by,
            }
            for t in session.scalars(query)
        ]


def list_holds(store: Store, *, include_released: bool = False) -> list[dict[str, Any]]:
    """Holds with, per hold, the effective end of the stop on its claims: stacked holds end
    at the latest end among the active holds on the same claim (None: until an event)."""
    with store.transaction() as session:
        records = list(session.scalars(select(HoldRecord).order_by(HoldRecord.id)))
    active = [r for r in records if r.status in HoldStatus.active()]
    rows = []
    for r in records:
        if not include_released and r.status == HoldStatus.RELEASED:
            continue
        claims = set(json.loads(r.factuurnummers))
        stacked = [
            o
            for o in active
            if o.adapter == r.adapter
            and o.debtor_id == r.debtor_id
            and claims & set(json.loads(o.factuurnummers))
        ]
        ends = [o.ends for o in stacked]
        effective = (
            None if not stacked or any(e is None for e in ends) else max(e for e in ends if e)
        )
        rows.append(
            {
                "hold_id": r.hold_id,
                "hold_type": r.hold_type,
                "event": r.event,
                "conversation_id": r.conversation_id,
                "adapter": r.adapter,
                "debtor_id": r.debtor_id,
                "claims": sorted(claims),
                "measures": json.loads(r.measures),
                "lift": json.loads(r.lift),
                "basis": r.basis,
                "starts": r.starts.isoformat(),
                "ends": r.ends.isoformat() if r.ends else None,
                "effective_end": effective.isoformat() if effective else None,
                "status": r.status,
                "release_reason": r.release_reason,
                "last_error": r.last_error,
            }
        )
    return rows
