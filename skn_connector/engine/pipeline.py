"""The data path: fetch -> store -> confirm -> decode -> route -> answer -> outbox -> deliver.

Every step reads a durable row, does its work and commits the next row; a
restarted process resumes from the store. The order of effects is the point:
- a message is confirmed at the node only after it is committed (inbox or quarantine);
- an answer is written to the outbox in the same transaction as the conversation
  state and the inbox status it follows from;
- delivery sends the stored bytes, with the same Referentienummer on every retry.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..adapters.api import AdapterError, DebtorQuery
from ..adapters.registry import LoadedAdapter
from ..masking import personal_values
from ..messages import CATALOG, Contactpersoon, GeenMedewerking, Message, SaldoverzoekAntwoord
from ..node.client import (
    FetchedMessage,
    MessageboxEntry,
    NodeError,
    NodeRejected,
    NodeTLSError,
)
from ..redaction import personal_values as in_hand
from ..store import statements as sql
from ..store.bulk import execute_many
from ..store.db import Store
from ..store.schema import (
    Conversation,
    HoldRecord,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)
from ..wire.portal_csv import read_portal_download, saldoverzoek_from_portal, write_answer_csv
from ..wire.soap import DecodeError, WireError, decode_message, encode_message
from .answers import proposal_answer
from .conversations import SAME, Rule, TransitionTable, UnexpectedMessage, event_name
from .crashpoints import crashpoint
from .deadlines import WorkingDays
from .decisions import ConversationContext, CreditorFacts, Decider, Decision
from .effects import EffectRunner
from .failures import Failure, FinalTask, record_failure, store_failure
from .holds import HoldPlan, ReleasePlan, WriteOffPlan, plan_holds, plan_write_offs
from .policy import Policy, load_policy

log = logging.getLogger(__name__)

#: The sender of messages taken from a portal download (the CSV names no sender) (P).
PORTAL_SENDER = uuid.UUID("00000000-0000-4000-8000-00000000504c")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: How often the time of the last poll is written (as meta ``last_poll``). It answers "has
#: the node been polled in the last working days?"; written on every poll it was a commit
#: of its own each round. A clock that went back writes it at once.
LAST_POLL_EVERY = timedelta(seconds=60)


class NodePort(Protocol):
    """What the pipeline needs of the node (node.client.NodeClient, or a test double).

    A node that also has ``fetch_many`` and ``confirm_many`` (and ``send_many``), as
    NodeClient does, is used in batches: fewer calls, and a group commit per batch.
    """

    def list_messages(self, limit: int = 100) -> list[MessageboxEntry]: ...
    def fetch(self, message_id: str) -> FetchedMessage: ...
    def confirm(self, message_id: str) -> None: ...
    def send(self, payload: bytes) -> str: ...


@dataclass(frozen=True)
class CreditorProfile:
    """What the answers need to know about us."""

    participant_id: uuid.UUID
    contact: Contactpersoon
    vooraf_akkoord: bool = False


@dataclass
class RunSummary:
    fetched: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0
    #: holds applied or released and write-offs carried out
    effects: int = 0
    tasks_raised: int = 0
    delivered: int = 0
    delivery_failures: int = 0
    processing_failures: int = 0
    pending_inbox: int = 0
    pending_outbox: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.pending_outbox and not self.pending_inbox


@dataclass
class Delivery:
    """What happened to a batch of answers sent to the node (``Pipeline.send_outbox``)."""

    #: (outbox id, Referentienummer, when): the node took them
    sent: list[tuple[int, str, datetime]] = field(default_factory=list)
    #: (outbox id, why): not taken; retried later unless the error is final
    failed: list[tuple[int, NodeError]] = field(default_factory=list)
    #: why the batch stopped early (the node is down, or TLS failed), if it did
    stopped: NodeError | None = None


@dataclass(frozen=True)
class _Decided:
    """A message decided and checked, waiting for the transaction that commits it."""

    inbox_id: int
    message: Message
    rule: Rule
    decision: Decision
    payload: bytes | None
    referentienummer: str
    conversation_id: str


@dataclass
class _Stored:
    """An inbox message intake has seen: stored before, or (``row``) added in this batch."""

    sha256: str
    conversation_id: str
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def stored(self) -> bool:
        return not self.row


@dataclass
class _DecisionWrites:
    """The rows a group of decisions writes, each kind in one statement."""

    new_conversations: list[dict[str, Any]] = field(default_factory=list)
    conversation_updates: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    inbox_done: list[dict[str, Any]] = field(default_factory=list)

    def execute(self, connection: Any) -> None:
        for statement, rows in (
            (sql.INSERT_CONVERSATION, self.new_conversations),
            (sql.UPDATE_CONVERSATION, self.conversation_updates),
            (sql.INSERT_OUTBOX, self.outbox),
            (sql.INSERT_HOLD, self.holds),
            (sql.MARK_INBOX_DONE, self.inbox_done),
        ):
            if rows:
                execute_many(connection, statement, rows)
                rows.clear()


class TaskError(Exception):
    """A task cannot be resolved as asked; the message says why, in one sentence."""


class PermanentFailure(Exception):
    """Processing cannot succeed by retrying; a person must look."""


def _why_not_sendable(exc: Exception) -> str:
    """A short reason why a person's text cannot travel in a message, without the text."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return "it holds a character that XML cannot carry"


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        node: NodePort,
        adapters: Sequence[LoadedAdapter],
        creditor: CreditorProfile,
        working_days: WorkingDays | None = None,
        answer_within_working_days: int = 10,
        batch_size: int = 100,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        table: TransitionTable | None = None,
        policy: Policy | None = None,
        warn_at_working_days: int = 8,
        outage_task_after: timedelta = timedelta(hours=4),
    ) -> None:
        self.store = store
        self.node = node
        self.adapters = list(adapters)
        self.creditor = creditor
        self.table = table or TransitionTable.load(known_events=CATALOG)
        self.policy = policy or load_policy("overig", "geen")
        self.warn_at = warn_at_working_days
        self.outage_task_after = outage_task_after
        self.decider = Decider(
            self.adapters,
            CreditorFacts(creditor.contact, creditor.vooraf_akkoord),
            clock=clock,
            today=self.today,
            policy=self.policy,
        )
        self.effects = EffectRunner(store, {a.name: a for a in self.adapters}, clock, self.today)
        self.working_days = working_days or WorkingDays()
        self.answer_days = answer_within_working_days
        self.batch_size = batch_size
        self.clock = clock
        self._node_down = False
        self._last_poll_written: datetime | None = None
        #: messages decoded at intake, by Referentienummer, so that processing them soon after need
        #: not decode them again (bounded: the oldest are forgotten; used once)
        self._decoded: OrderedDict[str, tuple[bytes, Message]] = OrderedDict()

    # -- fetch, store, confirm ------------------------------------------------------------

    def poll(self, summary: RunSummary | None = None) -> int:
        """Fetch what waits at the node, store the messages, then confirm them. Returns how many.

        With a node that fetches and confirms several messages per call (``fetch_many``,
        ``confirm_many``), each answer's messages are stored in one transaction (a group
        commit) and confirmed after it; otherwise one message at a time. Either way a
        message is confirmed only after its commit.
        """
        summary = summary if summary is not None else RunSummary()
        entries = self._node_call(self.node.list_messages, self.batch_size)
        polled = self.clock()
        last = self._last_poll_written
        if last is None or not timedelta(0) <= polled - last < LAST_POLL_EVERY:
            self._remember("last_poll", polled.isoformat())
            self._last_poll_written = polled
        fetch_many = getattr(self.node, "fetch_many", None)
        confirm_many = getattr(self.node, "confirm_many", None)
        waiting = [entry.id for entry in entries]
        while waiting:
            if fetch_many is not None and confirm_many is not None:
                fetched: list[FetchedMessage] = self._node_call(fetch_many, waiting)
            else:
                fetched = [self._node_call(self.node.fetch, waiting[0])]
            waiting = waiting[len(fetched) :]
            crashpoint("after_fetch")
            outcomes = self.intake_many([(f.id, f.payload) for f in fetched])
            crashpoint("after_intake_commit")
            for outcome in outcomes:
                summary.fetched += 1
                if outcome == "accepted":
                    summary.accepted += 1
                elif outcome == "duplicate":
                    summary.duplicates += 1
                elif outcome in {"quarantined", "conflict"}:
                    summary.quarantined += 1
            if confirm_many is not None and fetch_many is not None:
                self._node_call(confirm_many, [f.id for f in fetched])
            else:
                self._node_call(self.node.confirm, fetched[0].id)
            crashpoint("after_confirm")
        return len(entries)

    def _node_call(self, operation: Callable[..., Any], *args: Any) -> Any:
        try:
            result = operation(*args)
        except NodeTLSError:
            raise
        except NodeError as exc:
            if not self._node_down:
                log.warning("the node is unavailable: %s", exc)
                self._node_down = True
            raise
        if self._node_down:
            log.info("the node is available again")
            self._node_down = False
        return result

    def intake(self, node_message_id: str, payload: bytes, *, channel: str = "node") -> str:
        """Store one fetched message durably. Returns accepted, duplicate, quarantined,
        conflict (same Referentienummer, other content) or known (this node handle was stored
        before)."""
        return self.intake_many([(node_message_id, payload)], channel=channel)[0]

    def _decode_incoming(
        self, node_message_id: str, payload: bytes
    ) -> tuple[Message | None, str | None]:
        """The message, or None and why it cannot be accepted."""
        try:
            message: Message | None = decode_message(payload)
            reason = None
        except DecodeError as exc:
            message, reason = None, "; ".join(exc.errors)
        except Exception as exc:  # a decoder bug must not lose the message
            log.exception("unexpected error while decoding node message %s", node_message_id)
            message, reason = None, f"unexpected error while decoding: {type(exc).__name__}"
        if message is not None:
            header = message.berichtheader
            if not message.INCOMING:
                reason = f"{message.BERICHTTYPE} is an answer a creditor sends, not one it receives"
            elif header.ontvanger != self.creditor.participant_id:
                reason = "Berichtheader/Ontvanger: the message is addressed to another participant"
        return message, reason

    def intake_many(
        self, fetched: Sequence[tuple[str, bytes]], *, channel: str = "node"
    ) -> list[str]:
        """Store fetched messages (node handle, bytes) durably in one transaction (a group
        commit: one durable write for the lot). Returns each one's outcome, as ``intake``."""
        decoded = [
            (handle, payload, *self._decode_incoming(handle, payload))
            for handle, payload in fetched
        ]
        now = self.clock()
        outcomes: list[str] = []
        with self.store.transaction() as session:
            connection = session.connection()
            known = self._node_handles_known(session, [handle for handle, *_ in decoded])
            referentienummers = [
                str(m.berichtheader.referentienummer) for _, _, m, r in decoded if m and not r
            ]
            stored: dict[str, _Stored] = (
                {
                    row.referentienummer: _Stored(row.sha256, row.conversation_id)
                    for row in connection.execute(
                        sql.STORED_BY_REFERENTIENUMMER, {"referentienummers": referentienummers}
                    )
                }
                if referentienummers
                else {}
            )
            new_rows: list[dict[str, Any]] = []
            for node_message_id, payload, message, reason in decoded:
                outcome = self._intake_one(
                    session,
                    node_message_id,
                    payload,
                    message,
                    reason,
                    known,
                    stored,
                    now,
                    channel,
                    new_rows,
                )
                known.setdefault(node_message_id, set()).add(hashlib.sha256(payload).hexdigest())
                outcomes.append(outcome)
            if new_rows:
                execute_many(connection, sql.INSERT_INBOX, new_rows)
        return outcomes

    def _intake_one(
        self,
        session: Session,
        node_message_id: str,
        payload: bytes,
        message: Message | None,
        reason: str | None,
        known: dict[str, set[str]],
        stored: dict[str, _Stored],
        now: datetime,
        channel: str,
        new_rows: list[dict[str, Any]],
    ) -> str:
        digest = hashlib.sha256(payload).hexdigest()
        if digest in known.get(node_message_id, ()):
            return "known"
        if node_message_id in known:
            # not a redelivery (other bytes under a handle stored before): kept aside, never
            # taken for the message stored first nor dropped
            self._quarantine(
                session,
                node_message_id,
                payload,
                digest,
                "the node's handle was delivered before with other content",
                str(message.berichtheader.referentienummer) if message else None,
                now,
            )
            return "conflict"
        if message is None or reason is not None:
            referentienummer = str(message.berichtheader.referentienummer) if message else None
            self._quarantine(
                session, node_message_id, payload, digest, reason or "", referentienummer, now
            )
            return "quarantined"
        header = message.berichtheader
        referentienummer = str(header.referentienummer)
        existing = stored.get(referentienummer)
        if existing is not None:
            if existing.sha256 == digest:
                if existing.stored:
                    session.connection().execute(
                        sql.COUNT_DUPLICATE, {"duplicate_of": referentienummer}
                    )
                else:
                    existing.row["duplicates"] += 1
                self.store.audit(
                    session,
                    "duplicate_ignored",
                    conversation_id=existing.conversation_id,
                    referentienummer=referentienummer,
                    node_message_id=node_message_id,
                )
                log.info("duplicate delivery of message %s ignored", referentienummer)
                return "duplicate"
            self._quarantine(
                session,
                node_message_id,
                payload,
                digest,
                "Referentienummer was received before with other content (a conflicting duplicate)",
                referentienummer,
                now,
            )
            return "conflict"
        received = now.astimezone(AMSTERDAM).date()
        conversation_id = str(header.conversatie_referentienummer)
        row = {
            "referentienummer": referentienummer,
            "cross_referentienummer": (
                str(header.cross_referentienummer) if header.cross_referentienummer else None
            ),
            "node_message_id": node_message_id,
            "berichttype": message.BERICHTTYPE,
            "module": header.module,
            "conversation_id": conversation_id,
            "afzender": str(header.afzender),
            "raw": payload,
            "sha256": digest,
            "received_at": now,
            "answer_due": self.working_days.add(received, self.answer_days),
            "status": "pending",
            "attempts": 0,
            "duplicates": 0,
            "channel": channel,
        }
        new_rows.append(row)
        stored[referentienummer] = _Stored(digest, conversation_id, row)
        self._remember_decoded(referentienummer, payload, message)
        self.store.audit(
            session,
            "received",
            conversation_id=str(header.conversatie_referentienummer),
            referentienummer=referentienummer,
            berichttype=message.BERICHTTYPE,
        )
        return "accepted"

    def _remember_decoded(self, referentienummer: str, payload: bytes, message: Message) -> None:
        self._decoded[referentienummer] = (payload, message)
        while len(self._decoded) > 2 * self.batch_size:
            self._decoded.popitem(last=False)

    def _recall_decoded(self, referentienummer: str, raw: bytes) -> Message | None:
        """The message as intake decoded it, if these are the same bytes; forgotten after."""
        remembered = self._decoded.pop(referentienummer, None)
        return remembered[1] if remembered is not None and remembered[0] == raw else None

    @staticmethod
    def _node_handles_known(
        session: Session, node_message_ids: Sequence[str]
    ) -> dict[str, set[str]]:
        """Those of the node handles that were stored before (inbox or quarantine), each with
        the sha256 of the bytes stored under it."""
        known: dict[str, set[str]] = {}
        if not node_message_ids:
            return known
        connection = session.connection()
        for statement in (sql.INBOX_HANDLES, sql.QUARANTINE_HANDLES):
            for handle, digest in connection.execute(
                statement, {"handles": list(node_message_ids)}
            ):
                known.setdefault(handle, set()).add(digest)
        return known

    def _quarantine(
        self,
        session: Session,
        node_message_id: str,
        payload: bytes,
        digest: str,
        reason: str,
        referentienummer: str | None,
        now: datetime,
    ) -> None:
        same = session.scalars(
            select(QuarantinedMessage).where(
                QuarantinedMessage.sha256 == digest, QuarantinedMessage.status == "open"
            )
        ).first()
        if same is not None:
            same.occurrences += 1
        else:
            kept = QuarantinedMessage(
                node_message_id=node_message_id,
                referentienummer=referentienummer,
                raw=payload,
                sha256=digest,
                reason=reason,
                received_at=now,
                status="open",
                occurrences=1,
            )
            session.add(kept)
            session.flush()  # the entry's id, for its task
            self._add_task(
                session,
                "conflict" if referentienummer and "conflicting" in reason else "quarantined",
                f"message kept in quarantine: {reason}"[:2000],
                None,
                referentienummer,
                None,
                quarantine_id=kept.id,
            )
        self.store.audit(session, "quarantined", referentienummer=referentienummer, reason=reason)
        log.warning("message %s quarantined: %s", referentienummer or node_message_id, reason)

    # -- decode, route, answer -------------------------------------------------------------

    def process_due(self, summary: RunSummary | None = None) -> int:
        """Work every pending inbox message whose retry time has come. Returns how many.

        Messages of different conversations are decided one by one and committed together
        (``process_many``); a second message of a conversation waits for the first's commit.
        """
        summary = summary if summary is not None else RunSummary()
        now = self.clock()
        with self.store.transaction() as session:
            due = list(
                session.execute(
                    select(InboxMessage.id, InboxMessage.conversation_id)
                    .where(InboxMessage.status == "pending")
                    .where(
                        (InboxMessage.next_attempt_at.is_(None))
                        | (InboxMessage.next_attempt_at <= now)
                    )
                    .order_by(InboxMessage.id)
                    .limit(self.batch_size)
                )
            )
        group: list[int] = []
        conversations: set[str] = set()
        for index, (inbox_id, conversation_id) in enumerate(due):
            if conversation_id in conversations:
                self._tally(summary, self.process_many(group))
                group, conversations = [], set()
            group.append(inbox_id)
            conversations.add(conversation_id)
            if index == len(due) - 1:
                self._tally(summary, self.process_many(group))
        return len(due)

    @staticmethod
    def _tally(summary: RunSummary, outcomes: Sequence[tuple[str, str | None]]) -> None:
        for outcome, answer_type in outcomes:
            if outcome == "answered" and answer_type:
                summary.answered[answer_type] += 1
            elif outcome == "failed":
                summary.processing_failures += 1
            elif outcome == "unexpected":
                summary.unexpected += 1

    def process_one(self, inbox_id: int) -> tuple[str, str | None]:
        """Decide and answer one inbox message by the transition table.

        Returns (outcome, answer Berichttype): outcome is answered (also when the
        table asks no answer), unexpected (no rule fits: kept, marked, a task),
        retry (a retryable error; tried again later), failed (a person must look)
        or skipped (not pending).
        """
        return self.process_many([inbox_id])[0]

    def process_many(self, inbox_ids: Sequence[int]) -> list[tuple[str, str | None]]:
        """Decide and answer inbox messages of different conversations, each as
        ``process_one`` does; then commit every decision in one transaction (a group commit),
        each answer with its own state, holds and inbox status. Returns their outcomes."""
        with self.store.transaction() as session:
            connection = session.connection()
            rows = {
                row.id: row
                for row in connection.execute(sql.INBOX_TO_DECIDE, {"ids": list(inbox_ids)})
            }
            known = {
                c.id: c
                for c in connection.execute(
                    sql.CONVERSATIONS_BY_ID,
                    {"ids": sorted({row.conversation_id for row in rows.values()})},
                )
            }
        results: dict[int, tuple[str, str | None]] = {}
        decided: list[_Decided] = []
        for inbox_id in inbox_ids:
            row = rows.get(inbox_id)
            if row is None or row.status != "pending" or inbox_id in results:
                results[inbox_id] = ("skipped", None)
                continue
            conversation = known.get(row.conversation_id)
            outcome = self._decide(
                inbox_id,
                row.raw,
                row.referentienummer,
                row.conversation_id,
                conversation.state if conversation is not None else None,
                conversation.klantnummer_se if conversation is not None else None,
            )
            if isinstance(outcome, _Decided):
                decided.append(outcome)
                results[inbox_id] = ("skipped", None)  # until committed
            else:
                results[inbox_id] = outcome
        if not decided:
            return [results[inbox_id] for inbox_id in inbox_ids]
        done = self._commit_isolated(decided, results)
        crashpoint("after_decision_commit")
        for item, previous, state in done:
            answer = item.decision.answer
            answer_type = answer.BERICHTTYPE if answer is not None else None
            results[item.inbox_id] = ("answered", answer_type)
            log.info(
                "processed %s %s: state %s -> %s, answer %s",
                item.message.BERICHTTYPE,
                item.referentienummer,
                previous or self.table.initial,
                state,
                answer_type or "none",
            )
        return [results[inbox_id] for inbox_id in inbox_ids]

    def _commit_isolated(
        self, decided: list[_Decided], results: dict[int, tuple[str, str | None]]
    ) -> list[tuple[_Decided, str | None, str]]:
        """Commit a group of decisions together; when that fails for a reason of one of them
        (a bug in recording its effects, a value its row cannot hold), commit them one by one,
        so that only that one fails (with its reason and a task). A failure of the store
        itself is raised: nothing was committed, and every message waits for the next round."""
        try:
            return self._commit_group(decided)
        except Exception as exc:
            if store_failure(exc):
                raise
            if len(decided) == 1:
                item = decided[0]
                with in_hand(lambda: personal_values(item.message.to_json())):
                    log.exception("recording the decision on %s failed", item.referentienummer)
                    self._record_failure(item.inbox_id, Failure.of(exc), retryable=False)
                results[item.inbox_id] = ("failed", None)
                return []
        done = []
        for item in decided:
            done += self._commit_isolated([item], results)
        return done

    def _commit_group(self, decided: list[_Decided]) -> list[tuple[_Decided, str | None, str]]:
        """Write the decisions in one transaction (a group commit). Returns each one written
        with its (previous state, new state)."""
        now = self.clock()
        done: list[tuple[_Decided, str | None, str]] = []
        with self.store.transaction() as session:
            connection = session.connection()
            writable = {
                row.id: row
                for row in connection.execute(
                    sql.INBOX_TO_MARK, {"ids": [d.inbox_id for d in decided]}
                )
            }
            conversations: dict[str, dict[str, Any]] = {
                c.id: dict(c._mapping)
                for c in connection.execute(
                    sql.CONVERSATIONS_BY_ID, {"ids": sorted({d.conversation_id for d in decided})}
                )
            }
            writes = _DecisionWrites()
            for item in decided:
                inbox = writable.get(item.inbox_id)
                if inbox is None or inbox.status != "pending":  # another worker got there first
                    continue
                previous, state = self._commit_decision(
                    session, item, inbox, conversations, now, writes
                )
                done.append((item, previous, state))
            writes.execute(connection)
        return done

    def _decide(
        self,
        inbox_id: int,
        raw: bytes,
        referentienummer: str,
        conversation_id: str,
        state: str | None,
        klantnummer_se: str | None,
    ) -> _Decided | tuple[str, str | None]:
        """Decode, route by the table, ask the adapters, check the decision and encode the
        answer; nothing is committed but a failure or an unexpected message (each in its own
        transaction). Whatever goes wrong with this one message is this message's failure,
        with its reason and a task: it never stops the rest of the batch."""
        try:
            message = self._recall_decoded(referentienummer, raw) or decode_message(raw)
        except Exception as exc:  # stored bytes a newer release no longer reads
            log.warning("stored message %s can no longer be decoded", referentienummer)
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return "failed", None
        with in_hand(lambda: personal_values(message.to_json())):
            return self._decide_message(
                inbox_id, message, referentienummer, conversation_id, state, klantnummer_se
            )

    def _decide_message(
        self,
        inbox_id: int,
        message: Message,
        referentienummer: str,
        conversation_id: str,
        state: str | None,
        klantnummer_se: str | None,
    ) -> _Decided | tuple[str, str | None]:
        module = message.berichtheader.module
        event = event_name(message.BERICHTTYPE, message)
        try:
            rule = self.table.rule_for(event, module, state)
        except UnexpectedMessage as exc:
            self._mark_unexpected(inbox_id, str(exc))
            return "unexpected", None
        try:
            if message.BERICHTTYPE == "SchuldregelingBeeindigd":
                context = self._context(message, conversation_id)
            else:
                context = ConversationContext(conversation_id, klantnummer_se)
            decision = self.decider.decide(message, context)
            self._check(rule, state or self.table.initial, decision)
            crashpoint("after_adapter_calls")
            # an answer built of back-office values that cannot be sent (a control character,
            # an overlong text) fails here, as this message's failure
            payload = encode_message(decision.answer) if decision.answer is not None else None
        except AdapterError as exc:
            self._record_failure(inbox_id, Failure.of(exc), retryable=exc.retryable)
            return ("retry" if exc.retryable else "failed"), None
        except WireError as exc:  # the answer cannot be sent: its reason names the element
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return "failed", None
        except Exception as exc:  # an adapter or rules bug
            if store_failure(exc):
                raise  # the store, not this message: the round stops and the message waits
            log.exception("processing message %s failed unexpectedly", referentienummer)
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return "failed", None
        return _Decided(
            inbox_id, message, rule, decision, payload, referentienummer, conversation_id
        )

    def _commit_decision(
        self,
        session: Session,
        item: _Decided,
        row: Any,
        conversations: dict[str, dict[str, Any]],
        now: datetime,
        writes: _DecisionWrites,
    ) -> tuple[str | None, str]:
        """Write one decision: state, answer in the outbox, tasks, holds, inbox status and
        audit entry, in the caller's transaction (the rows go out together in ``writes``).
        Returns (previous state, new state)."""
        message, decision, conversation_id = item.message, item.decision, item.conversation_id
        conversation = conversations.get(conversation_id)
        previous_state = conversation["state"] if conversation is not None else None
        next_state = previous_state if decision.state == SAME else decision.state
        state = next_state or self.table.initial
        if conversation is None:
            conversation = {
                "id": conversation_id,
                "module": message.berichtheader.module,
                "state": state,
                "counterparty": str(message.berichtheader.afzender),
                "klantnummer_se": decision.klantnummer_se,
                "debtor_ref": decision.debtor_ref,
                "created_at": now,
                "updated_at": now,
            }
            conversations[conversation_id] = conversation
            writes.new_conversations.append(conversation)
        else:
            conversation["state"] = state
            conversation["klantnummer_se"] = (
                decision.klantnummer_se or conversation["klantnummer_se"]
            )
            conversation["debtor_ref"] = decision.debtor_ref or conversation["debtor_ref"]
            writes.conversation_updates.append(
                {
                    "conversation": conversation_id,
                    "state": state,
                    "updated_at": now,
                    "klantnummer_se": conversation["klantnummer_se"],
                    "debtor_ref": conversation["debtor_ref"],
                }
            )
        answer_id = None
        if decision.answer is not None and item.payload is not None:
            answer_id = str(decision.answer.berichtheader.referentienummer)
            writes.outbox.append(
                {
                    "referentienummer": answer_id,
                    "conversation_id": conversation_id,
                    "cross_referentienummer": item.referentienummer,
                    "berichttype": decision.answer.BERICHTTYPE,
                    "payload": item.payload,
                    "created_at": now,
                    "status": "pending",
                    "attempts": 0,
                    "channel": row.channel,
                }
            )
        for task in decision.tasks:
            self._add_task(
                session,
                task.kind,
                task.reason,
                conversation_id,
                item.referentienummer,
                row.answer_due,
            )
        if decision.releases:  # a release looks for holds: those of this group count too
            writes.execute(session.connection())
        self.effects.record(session, conversation_id, decision, pending_holds=writes.holds)
        writes.inbox_done.append({"inbox_id": item.inbox_id, "processed_at": now})
        self.store.audit(
            session,
            "processed",
            conversation_id=conversation_id,
            referentienummer=item.referentienummer,
            berichttype=message.BERICHTTYPE,
            answer=answer_id,
            answer_type=decision.answer.BERICHTTYPE if decision.answer else None,
            state_from=previous_state,
            state_to=state,
            rule=item.rule.number,
            events=list(decision.events),
            holds=len(decision.holds),
            releases=len(decision.releases),
            write_offs=len(decision.write_offs),
        )
        return previous_state, state

    def _context(self, message: Message, conversation_id: str) -> ConversationContext:
        with self.store.transaction() as session:
            conversation = session.get(Conversation, conversation_id)
            arrangement: tuple[str, ...] | None = None
            if message.BERICHTTYPE == "SchuldregelingBeeindigd":
                raw = session.scalars(
                    select(InboxMessage.raw).where(
                        InboxMessage.conversation_id == conversation_id,
                        InboxMessage.berichttype == "SchuldregelingAkkoord",
                        InboxMessage.status == "done",
                    )
                ).first()
                if raw is not None:
                    akkoord = decode_message(raw)
                    arrangement = tuple(
                        v.factuurnummer_se for v in getattr(akkoord, "vorderingen", ())
                    )
            return ConversationContext(
                conversation_id,
                conversation.klantnummer_se if conversation else None,
                arrangement,
            )

    def _check(self, rule: Rule, current: str, decision: Decision) -> None:
        if not rule.allows(current, decision.state):
            raise PermanentFailure(
                f"rule {rule.number} does not allow {current} -> {decision.state}"
            )
        if decision.answer is not None and decision.answer.BERICHTTYPE not in rule.answers:
            raise PermanentFailure(
                f"rule {rule.number} does not allow the answer {decision.answer.BERICHTTYPE}"
            )

    def _mark_unexpected(self, inbox_id: int, reason: str) -> None:
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None:
                return
            row.status = "unexpected"
            row.last_error = reason
            row.processed_at = self.clock()
            self._add_task(
                session,
                "unexpected_message",
                reason,
                row.conversation_id,
                row.referentienummer,
                row.answer_due,
            )
            self.store.audit(
                session,
                "unexpected",
                conversation_id=row.conversation_id,
                referentienummer=row.referentienummer,
                reason=reason,
            )
        log.warning("message %s kept for a person: %s", inbox_id, reason)

    def _add_task(
        self,
        session: Session,
        kind: str,
        reason: str,
        conversation_id: str | None,
        referentienummer: str | None,
        due: date | None,
        *,
        hold_id: str | None = None,
        quarantine_id: int | None = None,
    ) -> None:
        session.add(
            Task(
                kind=kind,
                conversation_id=conversation_id,
                referentienummer=referentienummer,
                hold_id=hold_id,
                quarantine_id=quarantine_id,
                reason=reason,
                created_at=self.clock(),
                due=due,
                status="open",
            )
        )

    def _record_failure(self, inbox_id: int, failure: Failure, *, retryable: bool) -> None:
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None:
                return
            record_failure(
                self.store,
                session,
                row,
                failure,
                retryable=retryable,
                now=self.clock(),
                event="processing_failed",
                task=FinalTask(
                    "processing_failed",
                    f"{row.berichttype} {row.referentienummer} could not be processed; "
                    "fix the cause, then 'messages replay' it",
                    row.answer_due,
                ),
                referentienummer=row.referentienummer,
            )

    def today(self) -> date:
        return self.clock().astimezone(AMSTERDAM).date()

    # -- the web-portal CSV (creditors without a system link) ------------------------------

    def import_portal(self, path: Path) -> dict[str, int]:
        """Take a portal download of Saldoverzoeken into the inbox as the node's messages would
        be; the same adapters and policy answer them. All-or-nothing: a file with an error is
        refused whole (PortalCsvError) before anything is stored."""
        requests = read_portal_download(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        outcomes: Counter[str] = Counter()
        for request in requests:
            message = saldoverzoek_from_portal(
                request, ontvanger=self.creditor.participant_id, afzender=PORTAL_SENDER
            )
            outcomes[
                self.intake(
                    f"portal:{digest}:{request.row}", encode_message(message), channel="portal"
                )
            ] += 1
        return dict(outcomes)

    def export_portal(self, path: Path) -> int:
        """Write the answers waiting for the portal to an upload file; mark them exported only
        after the file is written. Returns how many answers the file holds."""
        with self.store.transaction() as session:
            rows = list(
                session.execute(
                    select(OutboxMessage.id, OutboxMessage.payload, InboxMessage.raw)
                    .join(
                        InboxMessage,
                        InboxMessage.referentienummer == OutboxMessage.cross_referentienummer,
                    )
                    .where(OutboxMessage.status == "pending", OutboxMessage.channel == "portal")
                    .order_by(OutboxMessage.id)
                )
            )
        pairs: list[tuple[Any, Any]] = []
        written: list[int] = []
        left: list[tuple[int, Failure]] = []
        conversations: set[str] = set()
        with tempfile.TemporaryDirectory() as scratch:
            for outbox_id, payload, raw in rows:
                try:
                    pair = self._portal_pair(raw, payload)
                    # a conversation's second answer waits for the next file; an answer the
                    # format cannot carry waits for a person, and the rest are written
                    conversation = str(pair[0].berichtheader.conversatie_referentienummer)
                    if conversation in conversations:
                        continue
                    write_answer_csv([pair], Path(scratch) / "one.csv")
                except (ValueError, DecodeError) as exc:
                    left.append((outbox_id, Failure.of(exc)))
                    continue
                conversations.add(conversation)
                pairs.append(pair)
                written.append(outbox_id)
        write_answer_csv(pairs, path)
        now = self.clock()
        with self.store.transaction() as session:
            for outbox_id in written:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None and row.status == "pending":
                    row.status, row.sent_at = "sent", now
                    self.store.audit(
                        session,
                        "exported",
                        conversation_id=row.conversation_id,
                        referentienummer=row.referentienummer,
                        file=path.name,
                    )
            for outbox_id, failure in left:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None and row.status == "pending":
                    record_failure(
                        self.store,
                        session,
                        row,
                        failure,
                        retryable=False,
                        now=now,
                        event="export_failed",
                        task=FinalTask(
                            "export_failed",
                            f"the answer {row.referentienummer} cannot be written to the "
                            "portal file; answer it in the portal by hand",
                        ),
                        referentienummer=row.referentienummer,
                    )
        return len(pairs)

    def _portal_pair(self, raw: bytes, payload: bytes) -> tuple[Any, Any]:
        """A portal question and its answer as the upload file takes them."""
        request, answer = decode_message(raw), decode_message(payload)
        if isinstance(answer, GeenMedewerking):
            # the portal's layout says "Klant onbekend = Ja" where the system link
            # answers GeenMedewerking KLANT_ONBEKEND
            answer = SaldoverzoekAntwoord(
                berichtheader=answer.berichtheader.model_copy(
                    update={"berichttype": "SaldoverzoekAntwoord"}
                ),
                contactpersoon=answer.contactpersoon,
                klant_onbekend=True,
                standaard_akkoord=False,
                datum=self.today(),
            )
        return request, answer

    # -- holds, write-offs, deadlines ------------------------------------------------------

    def carry_out(self) -> int:
        """Expire holds whose end has passed, then apply, release and write off what is due."""
        self.effects.expire()
        return self.effects.run_due()

    def _remember(self, key: str, value: str) -> None:
        with self.store.transaction() as session:
            row = session.get(Meta, key)
            if row is None:
                session.add(Meta(key=key, value=value))
            else:
                row.value = value

    def watch_deadlines(self) -> int:
        """Raise a task (once) for every question still unanswered ``warn_at`` working days
        after receipt, and when the node has not been polled for 3 working days (it deletes
        what is not fetched and confirmed within 5). Returns how many tasks were raised."""
        today = self.today()
        raised = 0
        with self.store.transaction() as session:
            warned = set(
                session.scalars(select(Task.referentienummer).where(Task.kind == "deadline"))
            )
            waiting = list(
                session.execute(
                    select(
                        InboxMessage.referentienummer,
                        InboxMessage.conversation_id,
                        InboxMessage.received_at,
                        InboxMessage.answer_due,
                    ).where(InboxMessage.status.in_(("pending", "failed")))
                )
            )
            waiting += list(
                session.execute(
                    select(
                        InboxMessage.referentienummer,
                        InboxMessage.conversation_id,
                        InboxMessage.received_at,
                        InboxMessage.answer_due,
                    )
                    .join(Task, Task.referentienummer == InboxMessage.referentienummer)
                    .where(Task.kind == "beoordeling", Task.status == "open")
                )
            )
            for referentienummer, conversation_id, received_at, due in waiting:
                if referentienummer in warned:
                    continue
                received = received_at.astimezone(AMSTERDAM).date()
                if self.working_days.between(received, today) >= self.warn_at:
                    self._add_task(
                        session,
                        "deadline",
                        f"the answer is due on {due}: "
                        f"{self.working_days.between(today, due) if due else 0} working days left",
                        conversation_id,
                        referentienummer,
                        due,
                    )
                    warned.add(referentienummer)
                    raised += 1
            # a hold the back-office has not taken for a working day: enforcement may go on
            # during the pause, so a person must know (retries alone stay silent)
            stuck = list(
                session.execute(
                    select(
                        HoldRecord.hold_id,
                        HoldRecord.conversation_id,
                        HoldRecord.created_at,
                        HoldRecord.adapter,
                        HoldRecord.last_error,
                    ).where(HoldRecord.status == "to_apply")
                )
            )
            flagged = set(
                session.scalars(select(Task.hold_id).where(Task.kind == "hold_not_applied"))
            )
            for hold_id, conversation_id, created_at, adapter, last_error in stuck:
                created = created_at.astimezone(AMSTERDAM).date()
                if hold_id in flagged or self.working_days.between(created, today) < 1:
                    continue
                self._add_task(
                    session,
                    "hold_not_applied",
                    f"the hold planned on {created} is not applied at {adapter} yet"
                    + (f" ({last_error[:200]})" if last_error else "")
                    + "; make sure enforcement is paused by hand",
                    conversation_id,
                    None,
                    None,
                    hold_id=hold_id,
                )
                raised += 1
            raised += self._watch_outages(session)
            last = session.get(Meta, "last_poll")
            if last is not None:
                polled = datetime.fromisoformat(last.value).astimezone(AMSTERDAM).date()
                reason = (
                    f"the node was last polled on {polled}; "
                    "it deletes messages after 5 working days"
                )
                already = session.scalars(
                    select(Task.id).where(Task.kind == "node_not_polled", Task.status == "open")
                ).first()
                if self.working_days.between(polled, today) >= 3 and already is None:
                    self._add_task(
                        session,
                        "node_not_polled",
                        reason,
                        None,
                        None,
                        self.working_days.add(polled, 5),
                    )
                    raised += 1
        return raised

    def _watch_outages(self, session: Session) -> int:
        """A task when the back-office has refused or not answered for longer than
        ``outage_task_after``: holds still waiting to be applied or released after a failed
        try, or messages waiting to be decided after a failed try (the retries go on;
        enforcement may go on meanwhile, so a person must know within hours). Raised once
        per outage: not again while such a task is open. Returns how many were raised."""
        since = self.clock() - self.outage_task_after
        already = session.scalars(
            select(Task.id).where(Task.kind == "backoffice_unavailable", Task.status == "open")
        ).first()
        if already is not None:
            return 0
        holds = list(
            session.execute(
                select(HoldRecord.adapter, HoldRecord.created_at, HoldRecord.last_error).where(
                    HoldRecord.status.in_(("to_apply", "to_release")),
                    HoldRecord.attempts > 0,
                    HoldRecord.created_at <= since,
                )
            )
        )
        messages = list(
            session.execute(
                select(InboxMessage.received_at, InboxMessage.last_error).where(
                    InboxMessage.status == "pending",
                    InboxMessage.attempts > 0,
                    InboxMessage.received_at <= since,
                    InboxMessage.last_error_class.like("BackOffice%"),
                )
            )
        )
        if not holds and not messages:
            return 0
        waiting = [(at, error or "") for _, at, error in holds]
        waiting += [(at, error or "") for at, error in messages]
        oldest, newest_error = min(waiting)[0], max(waiting)[1]
        adapters = sorted({adapter for adapter, _, _ in holds})
        hours = (self.clock() - oldest).total_seconds() / 3600
        self._add_task(
            session,
            "backoffice_unavailable",
            f"the back-office{' of ' + ', '.join(adapters) if adapters else ''} has refused "
            f"or not answered for {hours:.0f} hours: {len(holds)} holds and {len(messages)} "
            f"messages wait for it ({newest_error[:200]}); the retries go on; make sure "
            "enforcement is paused by hand until it is back",
            None,
            None,
            None,
        )
        return 1

    # -- people's decisions ----------------------------------------------------------------

    def resolve_task(self, task_id: int, *, choice: str, note: str | None, actor: Actor) -> str:
        """Resolve a task. For a proposal waiting for a person (kind ``beoordeling``) the
        choice is ``accept`` or ``reject`` and the answer goes to the outbox at once, in the
        same transaction as the state. Returns what was done, in one sentence."""
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None:
                raise TaskError(f"there is no task {task_id}; see 'skn-connector tasks list'")
            if task.status != "open":
                raise TaskError(f"task {task_id} was resolved before ({task.resolution})")
            kind, referentienummer = task.kind, task.referentienummer
            request_raw = None
            if kind == "beoordeling" and referentienummer:
                inbox = session.scalars(
                    select(InboxMessage).where(InboxMessage.referentienummer == referentienummer)
                ).first()
                request_raw = inbox.raw if inbox is not None else None
        if kind == "wsnp_einde":
            return self._end_wsnp(task_id, choice, actor)
        if kind != "beoordeling":
            return self._close_task(task_id, choice, note, actor, None)
        if choice not in {"accept", "reject"}:
            raise TaskError("a proposal is resolved with --choice accept or --choice reject")
        if request_raw is None:
            raise TaskError(f"task {task_id} has no stored proposal to answer")
        request = decode_message(request_raw)
        klantnummer = getattr(request, "klantnummer_se", None)
        if not isinstance(klantnummer, str):
            raise TaskError(f"task {task_id}: the proposal carries no KlantnummerSE")
        try:
            answer = proposal_answer(
                request,
                klantnummer_se=klantnummer,
                accept=choice == "accept",
                reden=note,
                contact=self.creditor.contact,
                now=self.clock(),
            )
            payload = encode_message(answer)
        except (ValidationError, WireError) as exc:
            raise TaskError(
                f"task {task_id}: the note cannot be sent as the answer's "
                f"{'Toelichting' if choice == 'accept' else 'Reden'} ({_why_not_sendable(exc)}); "
                "write it again without control characters"
            ) from None
        return self._close_task(task_id, choice, note, actor, (answer, payload))

    def _agreed_holds(
        self, module: str, resolution: str, klantnummer: str | None
    ) -> tuple[HoldPlan, ...]:
        """A betalingsregeling a person accepts is agreed at once (E06)."""
        if resolution != "accept" or module != "Betalingsregeling" or not klantnummer:
            return ()
        found = self.decider._found(DebtorQuery(klantnummer_se=klantnummer))
        return tuple(plan_holds(self.policy, "E06", found, self.today())[0])

    def _end_wsnp(self, task_id: int, choice: str, actor: Actor) -> str:
        """E15 (schone lei: write off, except criminal sanctions) or E15F (claims revive)."""
        if choice not in {"schone_lei", "zonder_schone_lei"}:
            raise TaskError(
                "the end of a Wsnp is resolved with --choice schone_lei "
                "or --choice zonder_schone_lei"
            )
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            assert task is not None
            conversation = (
                session.get(Conversation, task.conversation_id) if task.conversation_id else None
            )
            klantnummer = conversation.klantnummer_se if conversation else None
            refs = (
                [
                    tuple(r.split(":", 1))
                    for r in (conversation.debtor_ref or "").split(",")
                    if ":" in r
                ]
                if conversation
                else []
            )
        found = self.decider._found(DebtorQuery(klantnummer_se=klantnummer)) if klantnummer else []
        write_offs: tuple[WriteOffPlan, ...] = ()
        notes: list[str] = []
        if choice == "schone_lei":
            plans, notes = plan_write_offs(found, None, "WSNP_SCHONE_LEI", self.today())
            write_offs = tuple(plans)
        decision = Decision(
            None,
            SAME,
            releases=(
                ReleasePlan(
                    f"Wsnp ended ({choice})", None, tuple((a, d) for a, d in refs), ("H_WSNP",)
                ),
            ),
            write_offs=write_offs,
        )
        now = self.clock()
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None or task.status != "open":
                raise TaskError(f"task {task_id} is no longer open")
            self.effects.record(session, task.conversation_id or "", decision)
            for note in notes:
                self._add_task(session, "write_off", note, task.conversation_id, None, None)
            task.status, task.resolution, task.resolved_at, task.resolved_by = (
                "resolved",
                choice,
                now,
                actor.label[:64],
            )
            self.store.audit(
                session,
                "task_resolved",
                conversation_id=task.conversation_id,
                task=task_id,
                kind="wsnp_einde",
                choice=choice,
                actor=actor.audit(),
                event="E15" if choice == "schone_lei" else "E15F",
            )
        return (
            f"task {task_id} resolved: Wsnp holds released ({choice}), "
            f"{len(write_offs)} write-off(s) planned"
        )

    def _close_task(
        self,
        task_id: int,
        choice: str,
        note: str | None,
        actor: Actor,
        answered: tuple[Message, bytes] | None,
    ) -> str:
        resolution = f"{choice}: {note}" if note else choice
        answer, payload = answered if answered is not None else (None, b"")
        now = self.clock()
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None or task.status != "open":
                raise TaskError(f"task {task_id} is no longer open")
            if answer is not None:
                conversation_id = str(answer.berichtheader.conversatie_referentienummer)
                conversation = session.get(Conversation, conversation_id)
                state = conversation.state if conversation else None
                module = answer.berichtheader.module
                try:
                    rule = self.table.rule_for("Beoordeling", module, state)
                except UnexpectedMessage as exc:
                    raise TaskError(f"task {task_id} cannot be answered now: {exc}") from None
                next_state = "AKKOORD_SE" if choice == "accept" else "AFGEWEZEN_SE"
                self._check(rule, state or self.table.initial, Decision(answer, next_state))
                assert conversation is not None  # rule_for found a rule from a real state
                self.effects.record(
                    session,
                    conversation_id,
                    Decision(
                        answer,
                        next_state,
                        releases=(
                            ReleasePlan(
                                "a person decided on the proposal",
                                conversation_id,
                                hold_types=("H_PROPOSAL",),
                            ),
                        ),
                        holds=self._agreed_holds(module, choice, conversation.klantnummer_se),
                    ),
                )
                conversation.state = next_state
                conversation.updated_at = now
                session.add(
                    OutboxMessage(
                        referentienummer=str(answer.berichtheader.referentienummer),
                        conversation_id=conversation_id,
                        cross_referentienummer=task.referentienummer,
                        berichttype=answer.BERICHTTYPE,
                        payload=payload,
                        created_at=now,
                        status="pending",
                        attempts=0,
                        channel="node",
                    )
                )
            task.status = "resolved"
            task.resolution = resolution[:2000]
            task.resolved_at = now
            task.resolved_by = actor.label[:64]
            self.store.audit(
                session,
                "task_resolved",
                conversation_id=task.conversation_id,
                referentienummer=task.referentienummer,
                task=task_id,
                kind=task.kind,
                # the note is free text: kept with the task, never in the audit trail
                choice=choice,
                note=bool(note),
                actor=actor.audit(),
                answer=str(answer.berichtheader.referentienummer) if answer else None,
            )
        if answer is not None:
            return f"task {task_id} resolved: {answer.BERICHTTYPE} ({choice}) is in the outbox"
        return f"task {task_id} resolved"

    # -- deliver ---------------------------------------------------------------------------

    def deliver_due(self, summary: RunSummary | None = None) -> int:
        """Send every pending outbox message whose time has come. Returns how many were sent."""
        summary = summary if summary is not None else RunSummary()
        return self.settle_delivery(self.send_outbox(self.due_outbox()), summary)

    def due_outbox(self) -> list[tuple[int, bytes, str]]:
        """The next batch of answers to send: (outbox id, bytes, Referentienummer), oldest first."""
        now = self.clock()
        with self.store.transaction() as session:
            return [
                (row.id, row.payload, row.referentienummer)
                for row in session.execute(
                    select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.referentienummer)
                    .where(OutboxMessage.status == "pending")
                    .where(OutboxMessage.channel == "node")
                    .where(
                        (OutboxMessage.next_attempt_at.is_(None))
                        | (OutboxMessage.next_attempt_at <= now)
                    )
                    .order_by(OutboxMessage.id)
                    .limit(self.batch_size)
                )
            ]

    def send_outbox(self, due: Sequence[tuple[int, bytes, str]]) -> Delivery:
        """Send a batch to the node; touches no store, so it may run in another thread while
        the next batch is fetched and decided. ``settle_delivery`` records the outcome."""
        delivery = Delivery()
        send_many = getattr(self.node, "send_many", None)
        if send_many is not None and due:
            try:
                results: list[str | NodeError] = self._node_call(
                    send_many, [payload for _, payload, _ in due]
                )
                crashpoint("after_send")
            except NodeTLSError as exc:
                delivery.stopped = exc
                return delivery
            except NodeRejected:
                pass  # the node refused the batch as a whole: send one by one below
            except NodeError as exc:
                delivery.failed.append((due[0][0], exc))
                delivery.stopped = exc  # the node is down: the rest waits for the next round
                return delivery
            else:
                sent_at = self.clock()
                for (outbox_id, _, referentienummer), result in zip(due, results, strict=True):
                    if isinstance(result, NodeError):
                        delivery.failed.append((outbox_id, result))
                    else:
                        delivery.sent.append((outbox_id, referentienummer, sent_at))
                return delivery
        for outbox_id, payload, referentienummer in due:
            try:
                self._node_call(self.node.send, payload)
                crashpoint("after_send")
            except NodeTLSError as exc:
                delivery.stopped = exc
                break
            except NodeError as exc:
                delivery.failed.append((outbox_id, exc))
                if exc.retryable:
                    delivery.stopped = exc  # the node is down: the rest waits for the next round
                    break
                continue
            delivery.sent.append((outbox_id, referentienummer, self.clock()))
        return delivery

    def settle_delivery(self, delivery: Delivery, summary: RunSummary) -> int:
        """Record a sent batch: the answers the node took are marked sent together, in one
        transaction (a crash before that commit sends them again, with the same Referentienummer,
        which the node ignores); each failure is counted and retried later. A TLS failure
        is raised after the rest is recorded. Returns how many were sent."""
        self._mark_sent(delivery.sent)
        for outbox_id, exc in delivery.failed:
            summary.delivery_failures += 1
            self._record_delivery_failure(outbox_id, exc)
        summary.delivered += len(delivery.sent)
        if isinstance(delivery.stopped, NodeTLSError):
            raise delivery.stopped
        return len(delivery.sent)

    def _mark_sent(self, sent: Sequence[tuple[int, str, datetime]]) -> None:
        if not sent:
            return
        with self.store.transaction() as session:
            connection = session.connection()
            conversation_of = {
                row.id: row.conversation_id
                for row in connection.execute(
                    sql.OUTBOX_CONVERSATIONS, {"ids": [i for i, _, _ in sent]}
                )
            }
            marks = []
            for outbox_id, referentienummer, sent_at in sent:
                if outbox_id in conversation_of:
                    marks.append({"outbox_id": outbox_id, "sent_at": sent_at})
                    self.store.audit(
                        session,
                        "delivered",
                        conversation_id=conversation_of[outbox_id],
                        referentienummer=referentienummer,
                    )
            if marks:
                execute_many(connection, sql.MARK_SENT, marks)

    def _record_delivery_failure(self, outbox_id: int, exc: NodeError) -> None:
        with self.store.transaction() as session:
            row = session.get(OutboxMessage, outbox_id)
            if row is None:
                return
            record_failure(
                self.store,
                session,
                row,
                Failure.of(exc),
                retryable=exc.retryable,
                now=self.clock(),
                event="delivery_failed",
                task=FinalTask(
                    "delivery_failed",
                    f"the node refused the {row.berichttype} {row.referentienummer}",
                ),
                referentienummer=row.referentienummer,
            )

    # -- a person's second try --------------------------------------------------------------

    def retry_quarantined(self, quarantine_id: int, *, actor: Actor) -> str:
        """Try a quarantined message again (after a fix of the catalog, the configuration or
        an adapter). Accepted: it goes to the inbox and is worked as if just fetched; not:
        it stays in quarantine with the reason of this try."""
        with self.store.transaction() as session:
            kept = session.get(QuarantinedMessage, quarantine_id)
            if kept is None:
                raise TaskError(
                    f"there is no quarantined message {quarantine_id}; see 'quarantine list'"
                )
            if kept.status != "open":
                raise TaskError(f"quarantined message {quarantine_id} was resolved before")
            raw, handle = kept.raw, kept.node_message_id
        message, reason = self._decode_incoming(handle, raw)
        now = self.clock()
        with self.store.transaction() as session:
            kept = session.get(QuarantinedMessage, quarantine_id)
            assert kept is not None
            if message is None or reason is not None:
                kept.reason = reason or kept.reason
                self.store.audit(
                    session,
                    "quarantine_retry_refused",
                    record=quarantine_id,
                    actor=actor.audit(),
                    reason=kept.reason,
                )
                return (
                    f"quarantined message {quarantine_id} still cannot be accepted: {kept.reason}"
                )
            connection = session.connection()
            stored = {
                row.referentienummer: _Stored(row.sha256, row.conversation_id)
                for row in connection.execute(
                    sql.STORED_BY_REFERENTIENUMMER,
                    {"referentienummers": [str(message.berichtheader.referentienummer)]},
                )
            }
            new_rows: list[dict[str, Any]] = []
            outcome = self._intake_one(
                session,
                f"retry-{quarantine_id}-{handle}"[:64],
                raw,
                message,
                None,
                {},
                stored,
                now,
                "node",
                new_rows,
            )
            if new_rows:
                execute_many(connection, sql.INSERT_INBOX, new_rows)
            kept.status = "resolved"
            self.store.audit(
                session,
                "quarantine_retried",
                record=quarantine_id,
                actor=actor.audit(),
                outcome=outcome,
                referentienummer=str(message.berichtheader.referentienummer),
            )
        return f"quarantined message {quarantine_id}: {outcome}"

    def replay(self, referentienummer: str, *, actor: Actor) -> str:
        """Work a received message again that failed or did not fit: its retry counters are
        reset and it is decided anew. An answered message is never replayed, so a replay
        cannot send a second answer."""
        with self.store.transaction() as session:
            row = session.scalars(
                select(InboxMessage).where(InboxMessage.referentienummer == referentienummer)
            ).first()
            if row is None:
                raise TaskError(f"no received message has Referentienummer {referentienummer!r}")
            if row.status == "done":
                raise TaskError(f"message {referentienummer} was worked (done); it is not replayed")
            previous = row.status
            row.status, row.attempts, row.next_attempt_at = "pending", 0, None
            row.last_error = None
            self.store.audit(
                session,
                "replayed",
                conversation_id=row.conversation_id,
                referentienummer=referentienummer,
                actor=actor.audit(),
                previous=previous,
            )
        return (
            f"message {referentienummer} ({previous}) is pending again; "
            "it is worked at the next run"
        )

    # -- counts ----------------------------------------------------------------------------

    def backlog(self) -> tuple[int, int]:
        """(pending inbox messages, answers to deliver plus holds/write-offs to carry out)."""
        with self.store.engine.connect() as connection:
            inbox, outbox, holds, write_offs = connection.execute(sql.BACKLOG).one()
        return int(inbox), int(outbox) + int(holds) + int(write_offs)
