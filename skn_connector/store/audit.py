"""The audit trail: an append-only, hash-chained record of what the connector did (no
personal data), its writer and its checker.

Each entry's hash covers the previous entry's hash, its time, event, conversation, message
and detail; the trail's head is kept in ``meta`` too, so that removing its last entries is
detected. Entries are written in one statement per flush or commit, not one ORM object
each: a message's path adds four.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from .bulk import execute_many
from .schema import ASSIGNED_ROWS, AuditEntry, Meta
from .scope import COLUMN, UNASSIGNED, UNSCOPED, current, meta_key

if TYPE_CHECKING:
    from .db import Store

#: The meta key of the audit trail's head: ``"<id> <hash>"`` or the hash of its last entry.
AUDIT_HEAD_KEY = "audit_head"
GENESIS_HASH = "0" * 64


def append(
    session: Session,
    event_name: str,
    conversation_id: str | None,
    referentienummer: str | None,
    detail: dict[str, Any],
) -> str:
    """Append an entry chained to the previous one, written at the next flush or commit;
    returns its hash. ``detail`` holds no personal data.

    The previous entry's hash is read once per transaction and then remembered in the
    session; entries are written in the order they were added, so the chain holds.
    """
    trail: _PendingAudit | None = session.info.get(_AUDIT_PENDING)
    if trail is None or trail.transaction is not session.get_transaction():
        if session.get_bind().dialect.name == "postgresql":  # one appender at a time
            session.execute(_LOCK_HEAD, {"head_key": meta_key(AUDIT_HEAD_KEY)})
        # each creditor's trail is a chain of its own; a store without a scope writes the
        # chain of no creditor (store.scope.UNASSIGNED)
        last = session.scalar(_head_query())
        trail = _PendingAudit(session.get_transaction(), last or GENESIS_HASH)
        session.info[_AUDIT_PENDING] = trail
    row = _entry(trail.head, event_name, conversation_id, referentienummer, detail)
    trail.rows.append(row)
    trail.head = row["hash"]
    return trail.head


def _entry(
    head: str,
    event_name: str,
    conversation_id: str | None,
    referentienummer: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The row of an entry that follows ``head``."""
    at = datetime.now(UTC)
    body = _DETAIL_JSON.encode(detail)
    return {
        "at": at,
        "event": event_name,
        "conversation_id": conversation_id,
        "referentienummer": referentienummer,
        "detail": body,
        "prev_hash": head,
        "hash": audit_hash(head, at, event_name, conversation_id, referentienummer, body),
    }


class Chain:
    """Audit entries appended on a Core connection, for a transaction without an ORM
    session (the receive endpoint's intake): the same rows, hashes and head as ``append``.
    Read the head (``open``) inside the transaction that writes the entries, after the
    store's lock: the chain holds as ``append``'s does."""

    __slots__ = ("_rows", "head")

    def __init__(self, head: str) -> None:
        self.head = head
        self._rows: list[dict[str, Any]] = []

    @classmethod
    def open(cls, connection: Connection) -> Chain:
        if connection.dialect.name == "postgresql":  # one appender at a time
            connection.execute(_LOCK_HEAD, {"head_key": meta_key(AUDIT_HEAD_KEY)})
        last = connection.scalar(_head_query())
        return cls(last or GENESIS_HASH)

    def add(
        self,
        event_name: str,
        *,
        conversation_id: str | None = None,
        referentienummer: str | None = None,
        **detail: Any,
    ) -> None:
        """Append an entry (written by ``write``); ``detail`` holds no personal data."""
        row = _entry(self.head, event_name, conversation_id, referentienummer, detail)
        self._rows.append(row)
        self.head = row["hash"]

    def write(self, connection: Connection) -> None:
        """Write the entries added, in order, and the trail's head."""
        if self._rows:
            rows, self._rows = self._rows, []
            execute_many(connection, _INSERT_AUDIT, rows)
            _write_head(connection, self.head)


class _PendingAudit:
    """The audit entries a transaction has added but not yet written, and the trail's head."""

    __slots__ = ("head", "head_written", "rows", "transaction")

    def __init__(self, transaction: object, head: str) -> None:
        self.transaction = transaction
        self.head = head
        self.rows: list[dict[str, Any]] = []
        self.head_written: str | None = None


_AUDIT_PENDING = "skn_audit_pending"
#: the audit detail's JSON (one encoder, not one a call: 3.5 entries a message)
_DETAIL_JSON = json.JSONEncoder(sort_keys=True, default=str)
_LOCK_HEAD = select(Meta).where(Meta.key == bindparam("head_key")).with_for_update()
_NEWEST_HASH = select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
#: the head of a creditor's chain, in its scope: the condition of the partial index
#: ix_audit_creditor (creditor_id, id) word for word (every row of a scope meets it); else
#: the head is looked for by going back over the other creditors' entries, all of them for
#: a creditor whose chain has not begun
_LAST_HASH = _NEWEST_HASH.where(text(ASSIGNED_ROWS))
_LAST_UNASSIGNED_HASH = _NEWEST_HASH.where(AuditEntry.creditor_id == UNASSIGNED)
_INSERT_AUDIT = insert(AuditEntry)


def _head_query() -> Any:
    """The statement that finds the head of the current scope's chain: a creditor's (its
    rows meet ASSIGNED_ROWS), or the chain of no creditor, which is the deployment's own
    (scope ``''``) and that of a store opened without a scope."""
    return _LAST_HASH if current() else _LAST_UNASSIGNED_HASH


_UPDATE_HEAD = (
    update(Meta).where(Meta.key == bindparam("head_key")).values(value=bindparam("head_value"))
)


def write_pending(session: Session, *_args: Any) -> None:
    """Write a transaction's pending audit entries (in order) and the trail's head."""
    trail: _PendingAudit | None = session.info.get(_AUDIT_PENDING)
    if trail is None or trail.transaction is not session.get_transaction():
        return
    connection = session.connection()
    if trail.rows:
        rows, trail.rows = trail.rows, []
        execute_many(connection, _INSERT_AUDIT, rows)
    if trail.head_written != trail.head:
        _write_head(connection, trail.head)
        trail.head_written = trail.head


def _write_head(connection: Connection, head: str) -> None:
    # the head of the trail, so that removing its last entries is detected too
    updated = connection.execute(
        _UPDATE_HEAD, {"head_key": meta_key(AUDIT_HEAD_KEY), "head_value": head}
    )
    if updated.rowcount == 0:
        connection.execute(insert(Meta), {"key": meta_key(AUDIT_HEAD_KEY), "value": head})


def audit_hash(
    prev_hash: str,
    at: datetime,
    event_name: str,
    conversation_id: str | None,
    referentienummer: str | None,
    detail: str,
) -> str:
    material = "\x1f".join(
        [
            prev_hash,
            at.astimezone(UTC).isoformat(),
            event_name,
            conversation_id or "",
            referentienummer or "",
            detail,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# -- the audit trail ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditHead:
    """The last entry of the trail: its id and hash (write it down elsewhere to anchor it)."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> AuditHead:
        match = re.fullmatch(r"\s*(\d+)[:\s]([0-9a-fA-F]{64})\s*", value)
        if not match:
            raise ValueError("an audit head is ID:HASH, e.g. 1234:3f2a…, as 'audit verify' prints")
        return cls(int(match.group(1)), match.group(2).lower())


@dataclass(frozen=True)
class AuditReport:
    """The verdict on the audit trail: ``first_bad_id`` and ``problem`` name the first entry
    that does not verify, if any."""

    count: int
    head: AuditHead | None
    first_bad_id: int | None = None
    problem: str | None = None
    #: the recorded head (meta ``audit_head``) was there and compared with the last entry
    head_recorded: bool = False
    #: ranges of missing ids whose neighbours still link (normal on PostgreSQL: rolled-back
    #: transactions use up sequence values)
    gaps: tuple[tuple[int, int], ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"the audit trail does not verify: {self.problem}"
        if self.head is None:
            return "the audit trail is empty"
        anchored = "" if self.head_recorded else " (no recorded head to compare the end with)"
        return (
            f"the audit trail verifies: {self.count} entries, head {self.head.id}:{self.head.hash}"
            f"{anchored}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head": str(self.head) if self.head else None,
            "first_bad_id": self.first_bad_id,
            "problem": self.problem,
            "head_recorded": self.head_recorded,
            "gaps": [list(g) for g in self.gaps],
        }


def _broken_link(session: Any, entry: AuditEntry, previous: AuditEntry | None) -> str:
    """Why ``entry`` does not follow ``previous``: a removal or a reordering."""
    if previous is None:
        return (
            f"entry {entry.id} is the first entry but does not start the chain: "
            "the entries before it were removed"
        )
    linked = session.scalars(
        select(AuditEntry.id).where(AuditEntry.hash == entry.prev_hash).limit(1)
    ).first()
    if linked is not None and linked > entry.id:
        return (
            f"entry {entry.id} follows entry {linked}, which comes after it: "
            "the entries were reordered"
        )
    if linked is not None and linked < previous.id:
        return (
            f"entry {entry.id} follows entry {linked}, not entry {previous.id}: "
            f"the entries after {linked} were reordered or inserted"
        )
    if entry.id - previous.id > 1:
        missing = (
            str(previous.id + 1)
            if entry.id - previous.id == 2
            else f"{previous.id + 1}-{entry.id - 1}"
        )
        return f"entry {entry.id} does not follow entry {previous.id}: entry {missing} was removed"
    return (
        f"entry {entry.id} does not follow entry {previous.id}: an entry between them was "
        f"removed, or entry {previous.id} was changed and its hash recomputed"
    )


def _recorded_head(session: Any) -> tuple[int | None, str] | None:
    """The head ``Store.audit`` keeps in meta: ``"<id> <hash>"`` or just ``"<hash>"``."""
    row = session.get(Meta, meta_key(AUDIT_HEAD_KEY))
    if row is None:
        return None
    parts = row.value.split()
    if len(parts) == 2 and parts[0].isdigit():
        return int(parts[0]), parts[1].lower()
    return None, (parts[-1].lower() if parts else "")


def _check_recorded_head(
    session: Any, count: int, head: AuditHead | None, recorded: tuple[int | None, str]
) -> AuditReport | None:
    recorded_id, recorded_hash = recorded
    last = head.id if head is not None else 0
    if head is not None and head.hash == recorded_hash:
        return None
    if recorded_id is not None and recorded_id > last:
        return AuditReport(
            count,
            head,
            recorded_id,
            f"the trail ends at entry {last} but its recorded head is entry {recorded_id}: "
            "the last entries were removed",
            head_recorded=True,
        )
    found = session.scalars(
        select(AuditEntry.id).where(AuditEntry.hash == recorded_hash).limit(1)
    ).first()
    if found is None:
        return AuditReport(
            count,
            head,
            last + 1,
            f"the recorded head ({recorded_hash[:12]}…) is not in the trail, which ends at "
            f"entry {last}: the last entries were removed",
            head_recorded=True,
        )
    return AuditReport(
        count,
        head,
        found + 1,
        f"the entries after entry {found}, the recorded head, were added without moving it "
        "(written outside the connector)",
        head_recorded=True,
    )


def verify_audit(store: Store, *, expected_head: AuditHead | None = None) -> AuditReport:
    """Recompute the hash chain in id order and report the first entry that does not verify.

    Detects a changed entry (its hash does not match its content), a removed one (a broken
    ``prev_hash`` link; a gap in the ids on SQLite) and a reordered one. The end of the trail
    is checked against the head ``Store.audit`` records in ``meta`` (when present) and
    against ``expected_head`` (a head written down elsewhere): without either, removing the
    last entries cannot be told from a shorter trail.
    """
    if store.creditor_id is None:
        with store.transaction() as session:
            creditors = list(session.scalars(select(AuditEntry.creditor_id).distinct()))
        if len(creditors) == 1 and creditors[0] != UNASSIGNED:
            return verify_audit(store.scoped(creditors[0]), expected_head=expected_head)
        if len(creditors) > 1:  # one trail each: the first that does not verify, or all do
            reports = [verify_audit(store.scoped(c)) for c in sorted(creditors)]
            failed = [r for r in reports if not r.ok]
            if failed:
                return failed[0]
            return AuditReport(
                sum(r.count for r in reports),
                max((r.head for r in reports if r.head), key=lambda h: h.id, default=None),
                head_recorded=all(r.head_recorded for r in reports),
            )
    with store.transaction() as session:
        # a creditor's entries share the ids with the other creditors': a gap in its ids
        # is evidence of a removal only when the trail is one creditor's alone
        creditors = session.scalar(
            select(func.count(func.distinct(AuditEntry.__table__.c[COLUMN]))).execution_options(
                **UNSCOPED
            )
        )
        dense_ids = store.engine.dialect.name == "sqlite" and (creditors or 0) <= 1
        count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        previous: AuditEntry | None = None
        gaps: list[tuple[int, int]] = []
        anchor_seen = expected_head is None
        query = select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
        for entry in session.scalars(query):
            recomputed = audit_hash(
                entry.prev_hash,
                entry.at,
                entry.event,
                entry.conversation_id,
                entry.referentienummer,
                entry.detail,
            )
            if recomputed != entry.hash:
                return AuditReport(
                    count,
                    None,
                    entry.id,
                    f"entry {entry.id} was changed after it was written "
                    "(its hash does not match its content)",
                )
            expected_prev = previous.hash if previous is not None else GENESIS_HASH
            if entry.prev_hash != expected_prev:
                return AuditReport(count, None, entry.id, _broken_link(session, entry, previous))
            if previous is not None and entry.id - previous.id > 1:
                if dense_ids:
                    return AuditReport(
                        count,
                        None,
                        entry.id,
                        f"the ids jump from {previous.id} to {entry.id} while the chain links: "
                        "entries were removed and the chain rewritten",
                    )
                gaps.append((previous.id + 1, entry.id - 1))
            if expected_head is not None and entry.id == expected_head.id:
                if entry.hash != expected_head.hash:
                    return AuditReport(
                        count,
                        None,
                        entry.id,
                        f"entry {entry.id} is not the entry written down as head {expected_head}",
                    )
                anchor_seen = True
            previous = entry
        head = AuditHead(previous.id, previous.hash) if previous is not None else None
        if not anchor_seen:
            assert expected_head is not None
            last = head.id if head else 0
            return AuditReport(
                count,
                head,
                expected_head.id,
                f"entry {expected_head.id}, written down as the head, is missing: the trail "
                f"ends at entry {last}, so its last entries were removed",
            )
        recorded = _recorded_head(session)
        if recorded is not None:
            problem = _check_recorded_head(session, count, head, recorded)
            if problem is not None:
                return problem
        return AuditReport(count, head, head_recorded=recorded is not None, gaps=tuple(gaps))
