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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..adapters.api import AdapterError
from ..adapters.registry import LoadedAdapter
from ..masking import personal_values
from ..messages import CATALOG, Message
from ..node.client import (
    FetchedMessage,
    NodeError,
    NodeRejected,
    NodeTLSError,
)
from ..redaction import personal_values as in_hand
from ..store import statements as sql
from ..store.bulk import execute_many
from ..store.db import Store
from ..store.schema import (
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
)
from ..store.scope import meta_key
from ..store.status import Channel, InboxStatus, OutboxStatus, QuarantineStatus, TaskKind
from ..wire.soap import WireError, decode_message, encode_message
from .conversations import TransitionTable, UnexpectedMessage, event_name
from .crashpoints import crashpoint
from .deadlines import AMSTERDAM, WorkingDays, dutch_day
from .decisions import ConversationContext, CreditorFacts, Decider, check_decision
from .effects import EffectRunner
from .failures import Failure, FinalTask, record_failure, store_failure
from .intake import Decoded, predecode, store_plain
from .policy import Policy, load_policy
from .portal import PortalDesk
from .quarantine import keep_in_quarantine
from .recording import Decided, DecisionRecorder
from .records import CreditorProfile, Delivery, Intake, NodePort, Outcome, RunSummary
from .tasks import TaskDesk, TaskError, add_task, resolve_quarantine_tasks
from .watch import Watch

log = logging.getLogger(__name__)

#: How often the time of the last poll is written (as meta ``last_poll``). It answers "has
#: the node been polled in the last working days?"; written on every poll it was a commit
#: of its own each round. A clock that went back writes it at once.
LAST_POLL_EVERY = timedelta(seconds=60)
#: Messages decoded at intake that are kept for deciding. A fetched batch is decided at once
#: and takes its own back; the receive endpoint's deliveries wait for a pause in the stream
#: (receive.decide_delay_max: 3 s, some 2,000 deliveries at the benchmark's rate), and a
#: message forgotten meanwhile is decoded again (a quarter of a millisecond). About 7 KB
#: each: at most some 14 MB, held only while such a backlog waits.
DECODED_KEPT = 2048


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
class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        node: NodePort | None,
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
        #: messages decoded at intake, by Referentienummer, so that processing them soon after
        #: need not decode them again (bounded: the oldest are forgotten; used once)
        self._decoded: OrderedDict[str, tuple[bytes, Message]] = OrderedDict()
        self.recorder = DecisionRecorder(
            store=store, effects=self.effects, table=self.table, policy=self.policy, clock=clock
        )
        #: a person's decisions on tasks
        self.tasks = TaskDesk(
            store=store,
            decider=self.decider,
            effects=self.effects,
            table=self.table,
            policy=self.policy,
            contact=creditor.contact,
            clock=clock,
        )
        #: the deadlines and outages watched
        self.watch = Watch(
            store=store,
            working_days=self.working_days,
            warn_at_working_days=warn_at_working_days,
            approval_escalation_at_working_days=(
                self.policy.settings.approval_escalation_at_working_days
            ),
            outage_task_after=outage_task_after,
            clock=clock,
        )
        #: the web-portal CSV: downloads in, upload files out
        self.portal = PortalDesk(
            store=store, participant_id=creditor.participant_id, intake=self.intake, clock=clock
        )

    # -- fetch, store, confirm ------------------------------------------------------------

    def poll(self, summary: RunSummary | None = None) -> int:
        """Fetch what waits at the node, store the messages, then confirm them. Returns how many.

        With a node that fetches and confirms several messages per call (``fetch_many``,
        ``confirm_many``), each answer's messages are stored in one transaction (a group
        commit) and confirmed after it; otherwise one message at a time. Either way a
        message is confirmed only after its commit.
        """
        summary = summary if summary is not None else RunSummary()
        node = self._the_node()
        entries = self._node_call(node.list_messages, self.batch_size)
        polled = self.clock()
        last = self._last_poll_written
        if last is None or not timedelta(0) <= polled - last < LAST_POLL_EVERY:
            self._remember("last_poll", polled.isoformat())
            self._last_poll_written = polled
        fetch_many = getattr(node, "fetch_many", None)
        confirm_many = getattr(node, "confirm_many", None)
        waiting = [entry.id for entry in entries]
        while waiting:
            if fetch_many is not None and confirm_many is not None:
                fetched: list[FetchedMessage] = self._node_call(fetch_many, waiting)
            else:
                fetched = [self._node_call(node.fetch, waiting[0])]
            waiting = waiting[len(fetched) :]
            crashpoint("after_fetch")
            outcomes = self.intake_many([(f.id, f.payload) for f in fetched])
            crashpoint("after_intake_commit")
            for outcome in outcomes:
                summary.fetched += 1
                if outcome == Intake.ACCEPTED:
                    summary.accepted += 1
                elif outcome == Intake.DUPLICATE:
                    summary.duplicates += 1
                elif outcome in {Intake.QUARANTINED, Intake.CONFLICT}:
                    summary.quarantined += 1
            if confirm_many is not None and fetch_many is not None:
                self._node_call(confirm_many, [f.id for f in fetched])
            else:
                self._node_call(node.confirm, fetched[0].id)
            crashpoint("after_confirm")
        return len(entries)

    def _the_node(self) -> NodePort:
        if self.node is None:  # a pipeline for a person's actions decides; it does not fetch
            raise RuntimeError("this pipeline has no node client: it cannot poll or deliver")
        return self.node

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

    def intake(
        self, node_message_id: str, payload: bytes, *, channel: str = Channel.NODE
    ) -> Intake:
        """Store one fetched message durably. Returns accepted, duplicate, quarantined,
        conflict (same Referentienummer, other content) or known (this node handle was stored
        before)."""
        return self.intake_many([(node_message_id, payload)], channel=channel)[0]

    def _decode_incoming(
        self, node_message_id: str, payload: bytes, decoded: Message | str | None = None
    ) -> tuple[Message | None, str | None]:
        """The message, or None and why it cannot be accepted; ``decoded``: what
        ``predecode`` made of ``payload`` already."""
        if decoded is None:
            decoded = predecode(payload, node_message_id)
        message, reason = (None, decoded) if isinstance(decoded, str) else (decoded, None)
        if message is not None:
            header = message.berichtheader
            if not message.INCOMING:
                reason = f"{message.BERICHTTYPE} is an answer a creditor sends, not one it receives"
            elif header.ontvanger != self.creditor.participant_id:
                reason = "Berichtheader/Ontvanger: the message is addressed to another participant"
        return message, reason

    def intake_many(
        self,
        fetched: Sequence[tuple[str, bytes]],
        *,
        channel: str = Channel.NODE,
        decoded: Sequence[Message | str] | None = None,
    ) -> list[Intake]:
        """Store fetched messages (node handle, bytes) durably in one transaction (a group
        commit: one durable write for the lot). Returns each one's outcome, as ``intake``.
        ``decoded``: each one's ``predecode``, when the caller decoded them already."""
        before = decoded if decoded is not None else [None] * len(fetched)
        items = [
            (handle, payload, *self._decode_incoming(handle, payload, done))
            for (handle, payload), done in zip(fetched, before, strict=True)
        ]
        now = self.clock()

        def new_row(
            handle: str, payload: bytes, digest: str, message: Message, now: datetime
        ) -> dict[str, Any]:
            return self._inbox_row(handle, payload, digest, message, now, channel)

        plain = store_plain(self.store, items, now, new_row, self._remember_decoded)
        if plain is not None:
            return plain
        return self._intake_with_quarantine(items, now, channel)

    def _intake_with_quarantine(
        self, decoded: Sequence[Decoded], now: datetime, channel: str
    ) -> list[Intake]:
        """``intake_many`` through the ORM, for a batch with something to quarantine."""
        outcomes: list[Intake] = []
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
    ) -> Intake:
        digest = hashlib.sha256(payload).hexdigest()
        if digest in known.get(node_message_id, ()):
            return Intake.KNOWN
        conflict = node_message_id in known
        if conflict or message is None or reason is not None:
            # a handle stored before with other bytes is not a redelivery: kept aside, never
            # taken for the message stored first nor dropped
            keep_in_quarantine(
                self.store,
                self.clock(),
                session,
                node_message_id,
                payload,
                digest,
                "the node's handle was delivered before with other content"
                if conflict
                else reason or "",
                str(message.berichtheader.referentienummer) if message else None,
                now,
            )
            return Intake.CONFLICT if conflict else Intake.QUARANTINED
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
                log.debug("duplicate delivery of message %s ignored", referentienummer)
                return Intake.DUPLICATE
            keep_in_quarantine(
                self.store,
                self.clock(),
                session,
                node_message_id,
                payload,
                digest,
                "Referentienummer was received before with other content (a conflicting duplicate)",
                referentienummer,
                now,
            )
            return Intake.CONFLICT
        row = self._inbox_row(node_message_id, payload, digest, message, now, channel)
        new_rows.append(row)
        stored[referentienummer] = _Stored(digest, row["conversation_id"], row)
        self._remember_decoded(referentienummer, payload, message)
        self.store.audit(
            session,
            "received",
            conversation_id=str(header.conversatie_referentienummer),
            referentienummer=referentienummer,
            berichttype=message.BERICHTTYPE,
        )
        return Intake.ACCEPTED

    def _inbox_row(
        self,
        node_message_id: str,
        payload: bytes,
        digest: str,
        message: Message,
        now: datetime,
        channel: str,
    ) -> dict[str, Any]:
        """A new message's inbox row."""
        header = message.berichtheader
        received = now.astimezone(AMSTERDAM).date()
        return {
            "referentienummer": str(header.referentienummer),
            "cross_referentienummer": (
                str(header.cross_referentienummer) if header.cross_referentienummer else None
            ),
            "node_message_id": node_message_id,
            "berichttype": message.BERICHTTYPE,
            "module": header.module,
            "conversation_id": str(header.conversatie_referentienummer),
            "afzender": str(header.afzender),
            "raw": payload,
            "sha256": digest,
            "received_at": now,
            "answer_due": self.working_days.add(received, self.answer_days),
            "status": InboxStatus.PENDING,
            "attempts": 0,
            "duplicates": 0,
            "channel": channel,
        }

    def _remember_decoded(self, referentienummer: str, payload: bytes, message: Message) -> None:
        self._decoded[referentienummer] = (payload, message)
        while len(self._decoded) > max(2 * self.batch_size, DECODED_KEPT):
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
                    .where(InboxMessage.status == InboxStatus.PENDING)
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
    def _tally(summary: RunSummary, outcomes: Sequence[tuple[Outcome, str | None]]) -> None:
        for outcome, answer_type in outcomes:
            if outcome == Outcome.ANSWERED and answer_type:
                summary.answered[answer_type] += 1
            elif outcome == Outcome.FAILED:
                summary.processing_failures += 1
            elif outcome == Outcome.UNEXPECTED:
                summary.unexpected += 1

    def process_one(self, inbox_id: int) -> tuple[Outcome, str | None]:
        """Decide and answer one inbox message by the transition table.

        Returns (outcome, answer Berichttype): outcome is answered (also when the
        table asks no answer), unexpected (no rule fits: kept, marked, a task),
        retry (a retryable error; tried again later), failed (a person must look)
        or skipped (not pending).
        """
        return self.process_many([inbox_id])[0]

    def process_many(self, inbox_ids: Sequence[int]) -> list[tuple[Outcome, str | None]]:
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
        results: dict[int, tuple[Outcome, str | None]] = {}
        decided: list[Decided] = []
        for inbox_id in inbox_ids:
            row = rows.get(inbox_id)
            if row is None or row.status != InboxStatus.PENDING or inbox_id in results:
                results[inbox_id] = (Outcome.SKIPPED, None)
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
            if isinstance(outcome, Decided):
                decided.append(outcome)
                results[inbox_id] = (Outcome.SKIPPED, None)  # until committed
            else:
                results[inbox_id] = outcome
        if not decided:
            return [results[inbox_id] for inbox_id in inbox_ids]
        done = self._commit_isolated(decided, results)
        crashpoint("after_decision_commit")
        for item, previous, state in done:
            answer = item.decision.answer
            answer_type = answer.BERICHTTYPE if answer is not None else None
            results[item.inbox_id] = (Outcome.ANSWERED, answer_type)
            log.debug(
                "processed %s %s: state %s -> %s, answer %s",
                item.message.BERICHTTYPE,
                item.referentienummer,
                previous or self.table.initial,
                state,
                answer_type or "none",
            )
        return [results[inbox_id] for inbox_id in inbox_ids]

    def _commit_isolated(
        self, decided: list[Decided], results: dict[int, tuple[Outcome, str | None]]
    ) -> list[tuple[Decided, str | None, str]]:
        """Commit a group of decisions together; when that fails for a reason of one of them
        (a bug in recording its effects, a value its row cannot hold), commit them one by one,
        so that only that one fails (with its reason and a task). A failure of the store
        itself is raised: nothing was committed, and every message waits for the next round."""
        try:
            return self.recorder.commit(decided)
        except Exception as exc:
            if store_failure(exc):
                raise
            if len(decided) == 1:
                item = decided[0]
                with in_hand(lambda: personal_values(item.message.to_json())):
                    log.exception("recording the decision on %s failed", item.referentienummer)
                    self._record_failure(item.inbox_id, Failure.of(exc), retryable=False)
                results[item.inbox_id] = (Outcome.FAILED, None)
                return []
        done = []
        for item in decided:
            done += self._commit_isolated([item], results)
        return done

    def _decide(
        self,
        inbox_id: int,
        raw: bytes,
        referentienummer: str,
        conversation_id: str,
        state: str | None,
        klantnummer_se: str | None,
    ) -> Decided | tuple[Outcome, str | None]:
        """Decode, route by the table, ask the adapters, check the decision and encode the
        answer; nothing is committed but a failure or an unexpected message (each in its own
        transaction). Whatever goes wrong with this one message is this message's failure,
        with its reason and a task: it never stops the rest of the batch."""
        try:
            message = self._recall_decoded(referentienummer, raw) or decode_message(raw)
        except Exception as exc:  # stored bytes a newer release no longer reads
            log.warning("stored message %s can no longer be decoded", referentienummer)
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return Outcome.FAILED, None
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
    ) -> Decided | tuple[Outcome, str | None]:
        module = message.berichtheader.module
        event = event_name(message.BERICHTTYPE, message)
        try:
            rule = self.table.rule_for(event, module, state)
        except UnexpectedMessage as exc:
            self._mark_unexpected(inbox_id, str(exc))
            return Outcome.UNEXPECTED, None
        try:
            if message.BERICHTTYPE == "SchuldregelingBeeindigd":
                context = self._context(message, conversation_id)
            else:
                context = ConversationContext(conversation_id, klantnummer_se)
            decision = self.decider.decide(message, context)
            check_decision(rule, state or self.table.initial, decision)
            crashpoint("after_adapter_calls")
            # an answer built of back-office values that cannot be sent (a control character,
            # an overlong text) fails here, as this message's failure
            payload = encode_message(decision.answer) if decision.answer is not None else None
        except AdapterError as exc:
            self._record_failure(inbox_id, Failure.of(exc), retryable=exc.retryable)
            return (Outcome.RETRY if exc.retryable else Outcome.FAILED), None
        except WireError as exc:  # the answer cannot be sent: its reason names the element
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return Outcome.FAILED, None
        except Exception as exc:  # an adapter or rules bug
            if store_failure(exc):
                raise  # the store, not this message: the round stops and the message waits
            log.exception("processing message %s failed unexpectedly", referentienummer)
            self._record_failure(inbox_id, Failure.of(exc), retryable=False)
            return Outcome.FAILED, None
        return Decided(
            inbox_id, message, rule, decision, payload, referentienummer, conversation_id
        )

    def _context(self, message: Message, conversation_id: str) -> ConversationContext:
        with self.store.transaction() as session:
            conversation = sql.find_conversation(session, conversation_id)
            arrangement: tuple[str, ...] | None = None
            if message.BERICHTTYPE == "SchuldregelingBeeindigd":
                raw = session.scalars(
                    select(InboxMessage.raw).where(
                        InboxMessage.conversation_id == conversation_id,
                        InboxMessage.berichttype == "SchuldregelingAkkoord",
                        InboxMessage.status == InboxStatus.DONE,
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

    def _mark_unexpected(self, inbox_id: int, reason: str) -> None:
        with self.store.transaction() as session:
            row = session.get(InboxMessage, inbox_id)
            if row is None:
                return
            row.status = InboxStatus.UNEXPECTED
            row.last_error = reason
            row.processed_at = self.clock()
            add_task(
                session,
                self.clock(),
                TaskKind.UNEXPECTED_MESSAGE,
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
                    TaskKind.PROCESSING_FAILED,
                    f"{row.berichttype} {row.referentienummer} could not be processed; "
                    "fix the cause, then 'messages replay' it",
                    row.answer_due,
                ),
                referentienummer=row.referentienummer,
            )

    def today(self) -> date:
        return dutch_day(self.clock)

    # -- holds, write-offs, deadlines ------------------------------------------------------

    def carry_out(self) -> int:
        """Expire holds whose end has passed, then apply, release and write off what is due."""
        self.effects.expire()
        return self.effects.run_due()

    def _remember(self, name: str, value: str) -> None:
        """A fact of this creditor's work in ``meta`` (under its key, ``scope.meta_key``)."""
        with self.store.transaction() as session:
            key = meta_key(name)
            row = session.get(Meta, key)
            if row is None:
                session.add(Meta(key=key, value=value))
            else:
                row.value = value

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
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                    .where(OutboxMessage.channel == Channel.NODE)
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
        node = self._the_node()
        send_many = getattr(node, "send_many", None)
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
                self._node_call(node.send, payload)
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
                    TaskKind.DELIVERY_FAILED,
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
            if kept.status != QuarantineStatus.OPEN:
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
                Channel.NODE,
                new_rows,
            )
            if new_rows:
                execute_many(connection, sql.INSERT_INBOX, new_rows)
            kept.status = QuarantineStatus.RESOLVED
            tasks = resolve_quarantine_tasks(
                session, quarantine_id, f"retried: {outcome}", actor, now
            )
            self.store.audit(
                session,
                "quarantine_retried",
                record=quarantine_id,
                actor=actor.audit(),
                outcome=outcome,
                tasks=tasks,
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
            if row.status == InboxStatus.DONE:
                raise TaskError(f"message {referentienummer} was worked (done); it is not replayed")
            previous = row.status
            row.status, row.attempts, row.next_attempt_at = InboxStatus.PENDING, 0, None
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

    def answers_to_approve(self) -> int:
        """Answers waiting for a person's approval before they go out."""
        with self.store.connect() as connection:
            return int(connection.execute(sql.TO_APPROVE).scalar_one())

    def backlog(self) -> tuple[int, int]:
        """(pending inbox messages, answers to deliver plus holds/write-offs to carry out)."""
        with self.store.connect() as connection:
            inbox, outbox, holds, write_offs = connection.execute(sql.BACKLOG).one()
        return int(inbox), int(outbox) + int(holds) + int(write_offs)
