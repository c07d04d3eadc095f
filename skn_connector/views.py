"""Read-only views of the store for the command line and monitoring (personal data masked)."""

from __future__ import annotations

import getpass
import json
from typing import Any

from sqlalchemy import select

from .security import is_purged
from .store import Store
from .store.schema import HoldRecord, InboxMessage, OutboxMessage, QuarantinedMessage, Task
from .wire.soap import decode_message

#: Element names whose values are personal data of the client or partner.
PERSONAL_KEYS = frozenset(
    {
        # free text may name anyone or anything: masked too
        "Toelichting",
        "Reden",
        "Omschrijving",
        "Voorletters",
        "Voornamen",
        "Voorvoegsel",
        "Achternaam",
        "Geboortedatum",
        "Bsn",
        "Straatnaam",
        "Huisnummer",
        "Huisletter",
        "Huisnummertoevoeging",
        "AanduidingBijHuisnummer",
        "Postcode",
        "Woonplaats",
        "Woonbootverwijzing",
        "Woonwagenverwijzing",
        "Document",
    }
)
MASK = "***"


class MessageNotFound(LookupError):
    pass


def mask_personal_data(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            key: MASK if key in PERSONAL_KEYS else mask_personal_data(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [mask_personal_data(item) for item in document]
    return document


def list_messages(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with store.transaction() as session:
        for m in session.scalars(
            select(InboxMessage).order_by(InboxMessage.id.desc()).limit(limit)
        ):
            rows.append(
                {
                    "direction": "in",
                    "bericht_id": m.bericht_id,
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
                    "bericht_id": o.bericht_id,
                    "berichttype": o.berichttype,
                    "conversation_id": o.conversation_id,
                    "status": o.status,
                    "at": (o.sent_at or o.created_at).isoformat(),
                    "in_reply_to": o.in_reply_to,
                    "attempts": o.attempts,
                    "last_error": o.last_error,
                }
            )
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:limit]


def show_message(store: Store, bericht_id: str, *, reveal: bool = False) -> dict[str, Any]:
    with store.transaction() as session:
        inbox = session.scalars(
            select(InboxMessage).where(InboxMessage.bericht_id == bericht_id)
        ).first()
        outbox = session.scalars(
            select(OutboxMessage).where(OutboxMessage.bericht_id == bericht_id)
        ).first()
        raw = inbox.raw if inbox is not None else outbox.payload if outbox is not None else None
        if raw is None:
            raise MessageNotFound(bericht_id)
        if reveal:
            store.audit(
                session, "personal_data_revealed", bericht_id=bericht_id, user=getpass.getuser()
            )
    if is_purged(raw):
        # the retention purge replaced the message by its references
        return {"BerichtId": bericht_id, "purged": raw.decode("utf-8", "replace").splitlines()}
    document = decode_message(raw).to_json()
    masked: dict[str, Any] = mask_personal_data(document)
    return document if reveal else masked


def list_quarantine(store: Store) -> list[dict[str, Any]]:
    with store.transaction() as session:
        return [
            {
                "id": q.id,
                "received_at": q.received_at.isoformat(),
                "bericht_id": q.bericht_id,
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
            query = query.where(Task.status == "open")
        return [
            {
                "id": t.id,
                "kind": t.kind,
                "conversation_id": t.conversation_id,
                "bericht_id": t.bericht_id,
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
    active = [r for r in records if r.status in {"to_apply", "applied"}]
    rows = []
    for r in records:
        if not include_released and r.status in {"released"}:
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
