"""The data path: fetch -> store -> confirm -> decode -> route -> answer -> outbox -> deliver.

Every step reads a durable row, does its work and commits the next row; a
restarted process resumes from the store. The order of effects is the point:
- a message is confirmed at the node only after it is committed (inbox or quarantine);
- an answer is written to the outbox in the same transaction as the conversation
  state and the inbox status it follows from;
- delivery sends the stored bytes, with the same BerichtId on every retry.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..adapters.api import AdapterError, DebtorQuery
from ..adapters.registry import LoadedAdapter
from ..messages import CATALOG, Contactpersoon, GeenMedewerking, Message, SaldoverzoekAntwoord
from ..node.client import FetchedMessage, MessageboxEntry, NodeError, NodeTLSError
from ..store.db import Store
from ..store.schema import (
    Conversation,
    HoldRecord,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
    WriteOffRecord,
)
from ..wire.portal_csv import read_portal_download, saldoverzoek_from_portal, write_answer_csv
from ..wire.soap import DecodeError, decode_message, encode_message
from .answers import proposal_answer
from .conversations import SAME, Rule, TransitionTable, UnexpectedMessage, event_name
from .crashpoints import crashpoint
from .deadlines import WorkingDays
from .decisions import ConversationContext, CreditorFacts, Decider, Decision
from .effects import EffectRunner, backoff
from .holds import HoldPlan, ReleasePlan, WriteOffPlan, plan_holds, plan_write_offs
from .policy import Policy, load_policy

log = logging.getLogger(__name__)

#: The sender of messages taken from a portal download (the CSV names no sender) (P).
PORTAL_SENDER = uuid.UUID("00000000-0000-4000-8000-00000000504c")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class NodePort(Protocol):
    """What the pipeline needs of the node (node.client.NodeClient, or a test double)."""

    def list_messages(self, limit: int = 100) -> list[MessageboxEntry]: ...
    def fetch(self, message_id: str) -> FetchedMessage: ...
    def confirm(self, message_id: str) -> None: ...
    def send(self, payload: bytes) -> str: ...


@dataclass(frozen=True)
class CreditorProfile:
    """What the answers need to know about us."""

    participant_id: uuid.UUID
    referentie: str
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


class TaskError(Exception):
    """A task cannot be resolved as asked; the message says why, in one sentence."""


class PermanentFailure(Exception):
    """Processing cannot succeed by retrying; a person must look."""


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
    ) -> None:
        self.store = store
        self.node = node
        self.adapters = list(adapters)
        self.creditor = creditor
        self.table = table or TransitionTable.load(known_events=CATALOG)
        self.policy = policy or load_policy("overig", "geen")
        self.warn_at = warn_at_working_days
        self.decider = Decider(
            self.adapters,
            CreditorFacts(creditor.referentie, creditor.contact, creditor.vooraf_akkoord),
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

    # -- fetch, store, confirm ------------------------------------------------------------

    def poll(self, summary: RunSummary | None = None) -> int:
        """Fetch what waits at the node, store each message, then confirm it. Returns how many."""
        summary = summary if summary is not None else RunSummary()
        entries = self._node_call(self.node.list_messages, self.batch_size)
        self._remember("last_poll", self.clock().isoformat())
        for entry in entries:
            fetched = self._node_call(self.node.fetch, entry.id)
            crashpoint("after_fetch")
            outcome = self.intake(entry.id, fetched.payload)
            crashpoint("after_intake_commit")
            summary.fetched += 1
            if outcome == "accepted":
                summary.accepted += 1
            elif outcome == "duplicate":
                summary.duplicates += 1
            elif outcome in {"quarantined", "conflict"}:
                summary.quarantined += 1
            self._node_call(self.node.confirm, entry.id)
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
        conflict (same BerichtId, other content) or known (this node handle was stored before)."""
        digest = hashlib.sha256(payload).hexdigest()
        now = self.clock()
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

        with self.store.transaction() as session:
            if self._node_handle_known(session, node_message_id):
                return "known"
            if message is None or reason is not None:
                bericht_id = str(message.berichtheader.bericht_id) if message else None
                self._quarantine(
                    session, node_message_id, payload, digest, reason or "", bericht_id, now
                )
                return "quarantined"
            header = message.berichtheader
            bericht_id = str(header.bericht_id)
            existing = session.scalars(
                select(InboxMessage).where(InboxMessage.bericht_id == bericht_id)
            ).first()
            if existing is not None:
                if existing.sha256 == digest:
                    existing.duplicates += 1
                    self.store.audit(
                        session,
                        "duplicate_ignored",
                        conversation_id=existing.conversation_id,
                        bericht_id=bericht_id,
                        node_message_id=node_message_id,
                    )
                    log.info("duplicate delivery of message %s ignored", bericht_id)
                    return "duplicate"
                self._quarantine(
                    session,
                    node_message_id,
                    payload,
                    digest,
                    "BerichtId was received before with other content (a conflicting duplicate)",
                    bericht_id,
                    now,
                )
                return "conflict"
            received = now.astimezone(AMSTERDAM).date()
            session.add(
                InboxMessage(
                    bericht_id=bericht_id,
                    node_message_id=node_message_id,
                    berichttype=message.BERICHTTYPE,
                    module=header.module,
                    conversation_id=str(header.conversatie_referentienummer),
                    afzender=str(header.afzender),
                    raw=payload,
                    sha256=digest,
                    received_at=now,
                    answer_due=self.working_days.add(received, self.answer_days),
                    status="pending",
                    attempts=0,
                    duplicates=0,
                    channel=channel,
                )
            )
            self.store.audit(
                session,
                "received",
                conversation_id=str(header.conversatie_referentienummer),
                bericht_id=bericht_id,
                berichttype=message.BERICHTTYPE,
            )
        return "accepted"

    @staticmethod
    def _node_handle_known(session: Session, node_message_id: str) -> bool:
        for model in (InboxMessage, QuarantinedMessage):
            found = session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.node_message_id == node_message_id)
            )
            if found:
                return True
        return False

    def _quarantine(
        self,
        session: Session,
        node_message_id: str,
        payload: bytes,
        digest: str,
        reason: str,
        bericht_id: str | None,
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
            session.add(
                QuarantinedMessage(
                    node_message_id=node_message_id,
                    bericht_id=bericht_id,
                    raw=payload,
                    sha256=digest,
                    reason=reason,
                    received_at=now,
                    status="open",
                    occurrences=1,
                )
            )
            self._add_task(
                session,
                "conflict" if bericht_id and "conflicting" in reason else "quarantined",
                f"message kept in quarantine: {reason}"[:2000],
                None,
                bericht_id,
                None,
            )
        self.store.audit(session, "quarantined", bericht_id=bericht_id, reason=reason)
        log.warning("message %s quarantined: %s", bericht_id or node_message_id, reason)

    # -- decode, route, answer -------------------------------------------------------------

    def process_due(self, summary: RunSummary | None = None) -> int:
        """Work every pending inbox message whose retry time has come. Returns how many."""
        summary = summary if summary is not None else RunSummary()
        now = self.clock()
        with self.store.transaction() as session:
            due = list(
                session.scalars(
                    select(InboxMessage.id)
                    .where(InboxMessage.status == "pending")
                    .where(
                        (InboxMessage.next_attempt_at.is_(None))
                        | (InboxMessage.next_attempt_at <= now)
                    )
                    .order_by(InboxMessage.id)
                    .limit(self.batch_size)
                )
            )
        for inbox_id in due:
            outcome, answer_type = self.process_one(inbox_id)
            if outcome == "answered" and answer_type:
                summary.answered[answer_type] += 1
            elif outcome == "failed":
                summary.processing_failures += 1
            elif outcome == "unexpected":
                summary.unexpected += 1
        return len(due)

    def process_one(self, inbox_id: int) -> tuple[str, str | None]:
        """Decide and answer one inbox message by the transition table.

        Returns (outcome, answer Berichttype): outcome is answered (also when the
        table asks no answer), unexpected (no rule fits: kept, marked, a task),
        retry (a retryable error; tried again later), failed (a person must look)
        or skipped (not pending).
        """
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None or row.status != "pending":
                return "skipped", None
            raw, bericht_id, conversation_id = row.raw, row.bericht_id, row.conversation_id
            conversation = session.get(Conversation, conversation_id)
            state = conversation.state if conversation else None
        message = decode_message(raw)
        module = message.berichtheader.module
        event = event_name(message.BERICHTTYPE, message)
        try:
            rule = self.table.rule_for(event, module, state)
        except UnexpectedMessage as exc:
            self._mark_unexpected(inbox_id, str(exc))
            return "unexpected", None
        try:
            context = self._context(message, conversation_id)
            decision = self.decider.decide(message, context)
            self._check(rule, state or self.table.initial, decision)
        except AdapterError as exc:
            self._record_failure(inbox_id, exc, retryable=exc.retryable)
            return ("retry" if exc.retryable else "failed"), None
        except Exception as exc:  # an adapter or rules bug: keep the message for a person
            log.exception("processing message %s failed unexpectedly", bericht_id)
            self._record_failure(inbox_id, exc, retryable=False)
            return "failed", None
        crashpoint("after_adapter_calls")
        payload = encode_message(decision.answer) if decision.answer is not None else None
        now = self.clock()
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None or row.status != "pending":  # another worker got there first
                return "skipped", None
            conversation = session.get(Conversation, conversation_id)
            previous_state = conversation.state if conversation is not None else None
            next_state = previous_state if decision.state == SAME else decision.state
            if conversation is None:
                conversation = Conversation(
                    id=conversation_id,
                    module=module,
                    state=next_state or self.table.initial,
                    counterparty=str(message.berichtheader.afzender),
                    created_at=now,
                    updated_at=now,
                )
                session.add(conversation)
            conversation.state = next_state or self.table.initial
            conversation.updated_at = now
            conversation.klantnummer_se = decision.klantnummer_se or conversation.klantnummer_se
            conversation.debtor_ref = decision.debtor_ref or conversation.debtor_ref
            answer_id = None
            if decision.answer is not None and payload is not None:
                answer_id = str(decision.answer.berichtheader.bericht_id)
                session.add(
                    OutboxMessage(
                        bericht_id=answer_id,
                        conversation_id=conversation_id,
                        in_reply_to=bericht_id,
                        berichttype=decision.answer.BERICHTTYPE,
                        payload=payload,
                        created_at=now,
                        status="pending",
                        attempts=0,
                        channel=row.channel,
                    )
                )
            for task in decision.tasks:
                self._add_task(
                    session, task.kind, task.reason, conversation_id, bericht_id, row.answer_due
                )
            self.effects.record(session, conversation_id, decision)
            row.status = "done"
            row.processed_at = now
            row.last_error = None
            self.store.audit(
                session,
                "processed",
                conversation_id=conversation_id,
                bericht_id=bericht_id,
                berichttype=message.BERICHTTYPE,
                answer=answer_id,
                answer_type=decision.answer.BERICHTTYPE if decision.answer else None,
                state_from=previous_state,
                state_to=conversation.state,
                rule=rule.number,
                events=list(decision.events),
                holds=len(decision.holds),
                releases=len(decision.releases),
                write_offs=len(decision.write_offs),
            )
        crashpoint("after_decision_commit")
        answer_type = decision.answer.BERICHTTYPE if decision.answer is not None else None
        log.info(
            "processed %s %s: state %s -> %s, answer %s",
            message.BERICHTTYPE,
            bericht_id,
            previous_state or self.table.initial,
            conversation.state,
            answer_type or "none",
        )
        return "answered", answer_type

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
                row.bericht_id,
                row.answer_due,
            )
            self.store.audit(
                session,
                "unexpected",
                conversation_id=row.conversation_id,
                bericht_id=row.bericht_id,
                reason=reason,
            )
        log.warning("message %s kept for a person: %s", inbox_id, reason)

    def _add_task(
        self,
        session: Session,
        kind: str,
        reason: str,
        conversation_id: str | None,
        bericht_id: str | None,
        due: date | None,
    ) -> None:
        session.add(
            Task(
                kind=kind,
                conversation_id=conversation_id,
                bericht_id=bericht_id,
                reason=reason,
                created_at=self.clock(),
                due=due,
                status="open",
            )
        )

    def _record_failure(self, inbox_id: int, exc: Exception, *, retryable: bool) -> None:
        now = self.clock()
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = reason
            if retryable:
                row.next_attempt_at = now + backoff(row.attempts)
            else:
                row.status = "failed"
            self.store.audit(
                session,
                "processing_failed",
                conversation_id=row.conversation_id,
                bericht_id=row.bericht_id,
                retryable=retryable,
                attempts=row.attempts,
                error=reason,
            )
        log.warning(
            "message %s not processed (%s): %s",
            inbox_id,
            "will retry" if retryable else "a person must look",
            reason,
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
                    .join(InboxMessage, InboxMessage.bericht_id == OutboxMessage.in_reply_to)
                    .where(OutboxMessage.status == "pending", OutboxMessage.channel == "portal")
                    .order_by(OutboxMessage.id)
                )
            )
        pairs = []
        for _, payload, raw in rows:
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
            pairs.append((request, answer))
        write_answer_csv(pairs, path)  # type: ignore[arg-type]
        now = self.clock()
        with self.store.transaction() as session:
            for outbox_id, _, _ in rows:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None and row.status == "pending":
                    row.status, row.sent_at = "sent", now
                    self.store.audit(
                        session,
                        "exported",
                        conversation_id=row.conversation_id,
                        bericht_id=row.bericht_id,
                        file=path.name,
                    )
        return len(pairs)

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
            warned = set(session.scalars(select(Task.bericht_id).where(Task.kind == "deadline")))
            waiting = list(
                session.execute(
                    select(
                        InboxMessage.bericht_id,
                        InboxMessage.conversation_id,
                        InboxMessage.received_at,
                        InboxMessage.answer_due,
                    ).where(InboxMessage.status.in_(("pending", "failed")))
                )
            )
            waiting += list(
                session.execute(
                    select(
                        InboxMessage.bericht_id,
                        InboxMessage.conversation_id,
                        InboxMessage.received_at,
                        InboxMessage.answer_due,
                    )
                    .join(Task, Task.bericht_id == InboxMessage.bericht_id)
                    .where(Task.kind == "beoordeling", Task.status == "open")
                )
            )
            for bericht_id, conversation_id, received_at, due in waiting:
                if bericht_id in warned:
                    continue
                received = received_at.astimezone(AMSTERDAM).date()
                if self.working_days.between(received, today) >= self.warn_at:
                    self._add_task(
                        session,
                        "deadline",
                        f"the answer is due on {due}: "
                        f"{self.working_days.between(today, due) if due else 0} working days left",
                        conversation_id,
                        bericht_id,
                        due,
                    )
                    warned.add(bericht_id)
                    raised += 1
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

    # -- people's decisions ----------------------------------------------------------------

    def resolve_task(self, task_id: int, *, choice: str, note: str | None, user: str) -> str:
        """Resolve a task. For a proposal waiting for a person (kind ``beoordeling``) the
        choice is ``accept`` or ``reject`` and the answer goes to the outbox at once, in the
        same transaction as the state. Returns what was done, in one sentence."""
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None:
                raise TaskError(f"there is no task {task_id}; see 'skn-connector tasks list'")
            if task.status != "open":
                raise TaskError(f"task {task_id} was resolved before ({task.resolution})")
            kind, bericht_id = task.kind, task.bericht_id
            request_raw = None
            if kind == "beoordeling" and bericht_id:
                inbox = session.scalars(
                    select(InboxMessage).where(InboxMessage.bericht_id == bericht_id)
                ).first()
                request_raw = inbox.raw if inbox is not None else None
        if kind == "wsnp_einde":
            return self._end_wsnp(task_id, choice, user)
        if kind != "beoordeling":
            return self._close_task(task_id, f"{choice}: {note}" if note else choice, user, None)
        if choice not in {"accept", "reject"}:
            raise TaskError("a proposal is resolved with --choice accept or --choice reject")
        if request_raw is None:
            raise TaskError(f"task {task_id} has no stored proposal to answer")
        request = decode_message(request_raw)
        klantnummer = getattr(request, "klantnummer_se", None)
        if not isinstance(klantnummer, str):
            raise TaskError(f"task {task_id}: the proposal carries no KlantnummerSE")
        answer = proposal_answer(
            request,
            klantnummer_se=klantnummer,
            accept=choice == "accept",
            reden=note,
            contact=self.creditor.contact,
            referentie=self.creditor.referentie,
            now=self.clock(),
        )
        return self._close_task(task_id, choice, user, answer)

    def _agreed_holds(
        self, module: str, resolution: str, klantnummer: str | None
    ) -> tuple[HoldPlan, ...]:
        """A betalingsregeling a person accepts is agreed at once (E06)."""
        if resolution != "accept" or module != "Betalingsregeling" or not klantnummer:
            return ()
        found = self.decider._found(DebtorQuery(klantnummer_se=klantnummer))
        return tuple(plan_holds(self.policy, "E06", found, self.today())[0])

    def _end_wsnp(self, task_id: int, choice: str, user: str) -> str:
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
                user[:64],
            )
            self.store.audit(
                session,
                "task_resolved",
                conversation_id=task.conversation_id,
                task=task_id,
                kind="wsnp_einde",
                choice=choice,
                user=user,
                event="E15" if choice == "schone_lei" else "E15F",
            )
        return (
            f"task {task_id} resolved: Wsnp holds released ({choice}), "
            f"{len(write_offs)} write-off(s) planned"
        )

    def _close_task(self, task_id: int, resolution: str, user: str, answer: Message | None) -> str:
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
                next_state = "AKKOORD_SE" if resolution == "accept" else "AFGEWEZEN_SE"
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
                        holds=self._agreed_holds(module, resolution, conversation.klantnummer_se),
                    ),
                )
                conversation.state = next_state
                conversation.updated_at = now
                session.add(
                    OutboxMessage(
                        bericht_id=str(answer.berichtheader.bericht_id),
                        conversation_id=conversation_id,
                        in_reply_to=task.bericht_id,
                        berichttype=answer.BERICHTTYPE,
                        payload=encode_message(answer),
                        created_at=now,
                        status="pending",
                        attempts=0,
                        channel="node",
                    )
                )
            task.status = "resolved"
            task.resolution = resolution[:2000]
            task.resolved_at = now
            task.resolved_by = user[:64]
            self.store.audit(
                session,
                "task_resolved",
                conversation_id=task.conversation_id,
                bericht_id=task.bericht_id,
                task=task_id,
                kind=task.kind,
                choice=resolution,
                user=user,
                answer=str(answer.berichtheader.bericht_id) if answer else None,
            )
        if answer is not None:
            return f"task {task_id} resolved: {answer.BERICHTTYPE} ({resolution}) is in the outbox"
        return f"task {task_id} resolved"

    # -- deliver ---------------------------------------------------------------------------

    def deliver_due(self, summary: RunSummary | None = None) -> int:
        """Send every pending outbox message whose time has come. Returns how many were sent."""
        summary = summary if summary is not None else RunSummary()
        now = self.clock()
        with self.store.transaction() as session:
            due = list(
                session.execute(
                    select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.bericht_id)
                    .where(OutboxMessage.status == "pending")
                    .where(OutboxMessage.channel == "node")
                    .where(
                        (OutboxMessage.next_attempt_at.is_(None))
                        | (OutboxMessage.next_attempt_at <= now)
                    )
                    .order_by(OutboxMessage.id)
                    .limit(self.batch_size)
                )
            )
        sent = 0
        for outbox_id, payload, bericht_id in due:
            try:
                self._node_call(self.node.send, payload)
                crashpoint("after_send")
            except NodeTLSError:
                raise
            except NodeError as exc:
                summary.delivery_failures += 1
                self._record_delivery_failure(outbox_id, exc)
                if exc.retryable:
                    break  # the node is down: the rest waits for the next round
                continue
            with self.store.transaction() as session:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None:
                    row.status = "sent"
                    row.sent_at = self.clock()
                    row.attempts += 1
                    row.last_error = None
                    self.store.audit(
                        session,
                        "delivered",
                        conversation_id=row.conversation_id,
                        bericht_id=bericht_id,
                    )
            sent += 1
        summary.delivered += sent
        return sent

    def _record_delivery_failure(self, outbox_id: int, exc: NodeError) -> None:
        now = self.clock()
        with self.store.transaction() as session:
            row = session.get(OutboxMessage, outbox_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = str(exc)[:2000]
            if exc.retryable:
                row.next_attempt_at = now + backoff(row.attempts)
            else:
                row.status = "failed"
            self.store.audit(
                session,
                "delivery_failed",
                conversation_id=row.conversation_id,
                bericht_id=row.bericht_id,
                retryable=exc.retryable,
                attempts=row.attempts,
                error=str(exc)[:500],
            )

    # -- counts ----------------------------------------------------------------------------

    def backlog(self) -> tuple[int, int]:
        """(pending inbox messages, answers to deliver plus holds/write-offs to carry out)."""
        with self.store.transaction() as session:
            inbox = session.scalar(
                select(func.count())
                .select_from(InboxMessage)
                .where(InboxMessage.status == "pending")
            )
            outbox = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.channel == "node")
            )
            holds = session.scalar(
                select(func.count())
                .select_from(HoldRecord)
                .where(HoldRecord.status.in_(("to_apply", "to_release")))
            )
            write_offs = session.scalar(
                select(func.count())
                .select_from(WriteOffRecord)
                .where(WriteOffRecord.status == "to_apply")
            )
        return int(inbox or 0), int(outbox or 0) + int(holds or 0) + int(write_offs or 0)
