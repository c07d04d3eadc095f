"""Recording decisions: each answer written to the outbox in the same transaction as the
conversation's state, the tasks, the holds and the inbox status it follows from, and a
group of decisions of different conversations committed together (a group commit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..messages import Message
from ..store import statements as sql
from ..store.bulk import execute_many
from ..store.db import Store
from ..store.status import InboxStatus, OutboxStatus, TaskKind
from .conversations import SAME, Rule, TransitionTable
from .decisions import Decision
from .effects import EffectRunner
from .policy import Policy
from .tasks import add_task


@dataclass(frozen=True)
class Decided:
    """A message decided and checked, waiting for the transaction that commits it."""

    inbox_id: int
    message: Message
    rule: Rule
    decision: Decision
    payload: bytes | None
    referentienummer: str
    conversation_id: str


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


class DecisionRecorder:
    def __init__(
        self,
        *,
        store: Store,
        effects: EffectRunner,
        table: TransitionTable,
        policy: Policy,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.effects = effects
        self.table = table
        self.policy = policy
        self.clock = clock

    def commit(self, decided: list[Decided]) -> list[tuple[Decided, str | None, str]]:
        """Write the decisions in one transaction (a group commit). Returns each one written
        with its (previous state, new state)."""
        now = self.clock()
        done: list[tuple[Decided, str | None, str]] = []
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
                if (
                    inbox is None or inbox.status != InboxStatus.PENDING
                ):  # another worker got there first
                    continue
                previous, state = self._one(session, item, inbox, conversations, now, writes)
                done.append((item, previous, state))
            writes.execute(connection)
        return done

    def _one(
        self,
        session: Session,
        item: Decided,
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
            approve = self.policy.needs_approval(decision.answer.BERICHTTYPE)
            writes.outbox.append(
                {
                    "referentienummer": answer_id,
                    "conversation_id": conversation_id,
                    "cross_referentienummer": item.referentienummer,
                    "berichttype": decision.answer.BERICHTTYPE,
                    "payload": item.payload,
                    "created_at": now,
                    "status": OutboxStatus.TO_APPROVE if approve else OutboxStatus.PENDING,
                    "attempts": 0,
                    "channel": row.channel,
                }
            )
            if approve:
                add_task(
                    session,
                    now,
                    TaskKind.APPROVE_ANSWER,
                    f"the {decision.answer.BERICHTTYPE} to {message.BERICHTTYPE} "
                    f"{item.referentienummer} waits for approval before it is sent"
                    + (f"; the answer is due on {row.answer_due}" if row.answer_due else ""),
                    conversation_id,
                    answer_id,
                    row.answer_due,
                )
        for task in decision.tasks:
            add_task(
                session,
                self.clock(),
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
