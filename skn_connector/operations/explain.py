"""Why enforcement stopped or went on: the chain from a message to the stop of a measure.

``explain(store, policy, subject)`` reads what the store keeps of one conversation (or of
each conversation of a debtor) and lays it out in the order it happened, each step with the
sources it rests on: the message received; the conversation rule that fit it; the debt-help
event and the policy rule for it, with the layers and overrides that made it; the holds
planned (claims, measures stopped and lifted, from, until); what the back-office did and
when (each attempt, each refusal); the answers written and delivered; the deadline and
whether it was met; the tasks raised and the decisions persons took.

It is the record an auditor, an ombudsman or the debtor can be shown. Nothing in it is
personal data: identifiers of messages, holds and claims, codes, dates, counts, the persons'
account names; a free-text note a person wrote is never shown, only that there was one.
The policy rule shown is the rule in force now; a hold keeps the measures it was planned
with, and a step says so when the rule has changed since.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..engine.conversations import Rule, TransitionTable
from ..engine.deadlines import AMSTERDAM, WorkingDays
from ..engine.policy import Policy
from ..engine.sources import Source, resolve
from ..masking import MASK
from ..messages import CATALOG
from ..redaction import mask_in_identifier
from ..store import Store
from ..store.schema import (
    AuditEntry,
    Conversation,
    HoldRecord,
    InboxMessage,
    OutboxMessage,
    Task,
    WriteOffRecord,
)
from ..store.statements import find_conversation
from ..store.status import InboxStatus, OutboxStatus

#: The sources of an answer's deadline: the process agreement's 10 working days, and how
#: the connector counts them.
DEADLINE_SOURCES = ("SKN-PROCESAFSPRAKEN-SE-2.3", "SKN-CONNECTOR-CHOICE-WORKING-DAYS")
#: The source of the warning tasks the connector raises before a deadline.
WATCH_SOURCES = ("SKN-CONNECTOR-CHOICE-DEADLINE-WATCH",)
#: The source of a write-off after a successful end.
WRITE_OFF_SOURCES = ("SKN-CONNECTOR-CHOICE-WRITE-OFF",)


class ExplainNotFound(LookupError):
    """Nothing in the store has the reference asked for; the message says what to try."""


class SubjectKind(StrEnum):
    HOLD = "hold"
    MESSAGE = "message"
    CONVERSATION = "conversation"
    DEBTOR = "debtor"


class StepKind(StrEnum):
    """What a step of the chain is; within the same minute, steps are told in this order."""

    #: a message received from the node or the web portal
    MESSAGE = "message"
    #: the conversation rule that fit the message: the state from and to
    RULE = "rule"
    #: a debt-help event and the policy rule for it
    EVENT = "event"
    #: a task raised for a person
    TASK = "task"
    #: a person's decision
    DECISION = "decision"
    #: a hold planned: its claims, the measures it stops and lifts, from, until
    HOLD = "hold"
    #: a write-off planned after a successful end
    WRITE_OFF = "write_off"
    #: what the back-office did: a hold applied or released, a write-off, a failed attempt
    BACKOFFICE = "backoffice"
    #: an answer written, approved, withheld, delivered or refused
    ANSWER = "answer"
    #: the answer's deadline and whether it was met
    DEADLINE = "deadline"
    #: anything else the audit trail recorded for the conversation
    RECORD = "record"


#: Within the same minute, the order in which the chain tells it: what one round did for a
#: message is written in several transactions whose clocks differ by milliseconds.
_ORDER = {kind: number for number, kind in enumerate(StepKind)}


@dataclass(frozen=True)
class Step:
    kind: StepKind
    at: datetime | date | None
    #: one line in English (the console renders ``facts`` in Dutch)
    summary: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: ids of the sources this step rests on (``Explanation.sources`` has them in full)
    sources: tuple[str, ...] = ()

    def sort_key(self) -> tuple[str, int, str]:
        if isinstance(self.at, datetime):
            moment = self.at.astimezone(UTC).isoformat()
        elif isinstance(self.at, date):
            moment = f"{self.at.isoformat()}T23:59:59"
        else:
            moment = "9999"
        return moment[:16], _ORDER[self.kind], moment

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat() if self.at is not None else None,
            "summary": self.summary,
            "facts": dict(self.facts),
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Chain:
    """One conversation, told from its first message."""

    conversation_id: str
    module: str | None
    state: str | None
    counterparty: str | None
    klantnummer_se: str | None
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "module": self.module,
            "state": self.state,
            "counterparty": self.counterparty,
            "klantnummer_se": self.klantnummer_se,
            "steps": [step.as_dict() for step in self.steps],
        }


@dataclass(frozen=True)
class Explanation:
    kind: SubjectKind
    #: what was asked about (a debtor's number masked where it holds a BSN)
    subject: str
    chains: tuple[Chain, ...]
    #: every source a step cites, resolved, by id, in the order first cited
    sources: Mapping[str, Source]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "conversations": [chain.as_dict() for chain in self.chains],
            "sources": [source.as_dict() for source in self.sources.values()],
        }


def explain(
    store: Store,
    policy: Policy,
    reference: str | None = None,
    *,
    debtor: str | None = None,
    table: TransitionTable | None = None,
    working_days: WorkingDays | None = None,
) -> Explanation:
    """The chain for ``reference`` (a hold id, a message's Referentienummer or a conversation
    id) or for every conversation of ``debtor`` (a KlantnummerSE). ExplainNotFound when the
    store has none of them."""
    if (reference is None) == (debtor is None):
        raise ValueError("explain takes a reference or a debtor, not both")
    reader = _Reader(
        policy,
        table or TransitionTable.load(known_events=CATALOG),
        working_days or WorkingDays(good_friday=policy.settings.good_friday),
    )
    with store.transaction() as session:
        kind, conversations = _subject(session, reference, debtor)
        chains = tuple(reader.chain(session, conversation) for conversation in conversations)
    cited: dict[str, Source] = {}
    for chain in chains:
        for step in chain.steps:
            for source_id in step.sources:
                if source_id not in cited:
                    cited[source_id] = resolve(source_id)
    subject = mask_in_identifier(debtor, MASK) if debtor is not None else str(reference)
    return Explanation(kind, subject, chains, cited)


def _subject(
    session: Session, reference: str | None, debtor: str | None
) -> tuple[SubjectKind, list[str]]:
    if debtor is not None:
        found = list(
            session.scalars(
                select(Conversation.id)
                .where(Conversation.klantnummer_se == debtor)
                .order_by(Conversation.created_at)
            )
        )
        if not found:
            raise ExplainNotFound(
                "no conversation is about a debtor with that KlantnummerSE; "
                "'skn-connector holds list' shows the debtors with holds"
            )
        return SubjectKind.DEBTOR, found
    assert reference is not None
    hold = session.scalar(select(HoldRecord.conversation_id).where(HoldRecord.hold_id == reference))
    if hold is not None:
        return SubjectKind.HOLD, [hold]
    message = session.scalar(
        select(InboxMessage.conversation_id).where(InboxMessage.referentienummer == reference)
    ) or session.scalar(
        select(OutboxMessage.conversation_id).where(OutboxMessage.referentienummer == reference)
    )
    if message is not None:
        return SubjectKind.MESSAGE, [message]
    if find_conversation(session, reference) is not None:
        return SubjectKind.CONVERSATION, [reference]
    raise ExplainNotFound(
        f"nothing has the reference {reference!r}: give a hold id ('holds list'), a "
        "message's Referentienummer ('messages list') or a conversation id, or --debtor "
        "KLANTNUMMER_SE"
    )


def _day(moment: datetime) -> date:
    return moment.astimezone(AMSTERDAM).date()


def _actor(detail: Mapping[str, Any]) -> str:
    actor = detail.get("actor")
    if isinstance(actor, Mapping):
        via = actor.get("via")
        return f"{actor.get('name', 'someone')}" + (f" ({via})" if via else "")
    return "someone"


class _Reader:
    def __init__(self, policy: Policy, table: TransitionTable, working_days: WorkingDays) -> None:
        self.policy = policy
        self.rules: dict[int, Rule] = {rule.number: rule for rule in table.rules}
        self.working_days = working_days

    def _policy_sources(self, event: str) -> tuple[str, ...]:
        rule = self.policy.rules.get(event)
        return tuple(source.id for source in rule.sources) if rule is not None else ()

    def chain(self, session: Session, conversation_id: str) -> Chain:
        conversation = find_conversation(session, conversation_id)
        inbox = list(
            session.scalars(
                select(InboxMessage)
                .where(InboxMessage.conversation_id == conversation_id)
                .order_by(InboxMessage.received_at, InboxMessage.id)
            )
        )
        outbox = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.conversation_id == conversation_id)
                .order_by(OutboxMessage.id)
            )
        )
        holds = list(
            session.scalars(
                select(HoldRecord)
                .where(HoldRecord.conversation_id == conversation_id)
                .order_by(HoldRecord.id)
            )
        )
        write_offs = list(
            session.scalars(
                select(WriteOffRecord)
                .where(WriteOffRecord.conversation_id == conversation_id)
                .order_by(WriteOffRecord.id)
            )
        )
        tasks = list(
            session.scalars(
                select(Task).where(Task.conversation_id == conversation_id).order_by(Task.id)
            )
        )
        references = [m.referentienummer for m in inbox] + [a.referentienummer for a in outbox]
        # the audit trail is not indexed by conversation (it is written far more than read):
        # one pass over it for this conversation
        audit = list(
            session.scalars(
                select(AuditEntry)
                .where(
                    or_(
                        AuditEntry.conversation_id == conversation_id,
                        AuditEntry.referentienummer.in_(references),
                    )
                )
                .order_by(AuditEntry.id)
            )
        )
        rule_of_answer: dict[str, int] = {}
        for entry in audit:
            if entry.event == "processed":
                detail = json.loads(entry.detail)
                if detail.get("answer") and detail.get("rule"):
                    rule_of_answer[detail["answer"]] = int(detail["rule"])
        steps: list[Step] = []
        steps += self._messages(inbox, outbox)
        steps += self._holds(holds)
        steps += self._write_offs(write_offs)
        steps += self._answers(outbox, rule_of_answer)
        steps += self._tasks(tasks)
        records = {h.id: h.hold_id for h in holds}
        write_off_ids = {w.id: w.write_off_id for w in write_offs}
        outbox_types = {a.referentienummer: a.berichttype for a in outbox}
        for entry in audit:
            steps += self._audited(entry, records, write_off_ids, outbox_types)
        steps.sort(key=Step.sort_key)
        return Chain(
            conversation_id=conversation_id,
            module=conversation.module if conversation else None,
            state=conversation.state if conversation else None,
            counterparty=conversation.counterparty if conversation else None,
            klantnummer_se=(
                mask_in_identifier(conversation.klantnummer_se, MASK)
                if conversation is not None and conversation.klantnummer_se
                else None
            ),
            steps=tuple(steps),
        )

    # -- what the store's rows tell --------------------------------------------------------

    def _messages(
        self, inbox: Iterable[InboxMessage], outbox: Iterable[OutboxMessage]
    ) -> list[Step]:
        sent = {
            a.cross_referentienummer: a
            for a in outbox
            if a.cross_referentienummer and a.status == OutboxStatus.SENT
        }
        open_answers = {
            a.cross_referentienummer: a
            for a in outbox
            if a.cross_referentienummer and a.status != OutboxStatus.SENT
        }
        steps = []
        for message in inbox:
            steps.append(
                Step(
                    StepKind.MESSAGE,
                    message.received_at,
                    f"{message.berichttype} {message.referentienummer} received from "
                    f"{message.afzender} ({message.channel}); {message.status}"
                    + (f", {message.duplicates} duplicate(s)" if message.duplicates else ""),
                    {
                        "referentienummer": message.referentienummer,
                        "berichttype": message.berichttype,
                        "afzender": message.afzender,
                        "channel": message.channel,
                        "status": message.status,
                        "duplicates": message.duplicates,
                        "attempts": message.attempts,
                        "last_error_class": message.last_error_class,
                    },
                )
            )
            answered_or_open = (
                message.referentienummer in sent or message.referentienummer in open_answers
            )
            # a message worked without an answer (an ending, a notice) had nothing to meet
            if message.answer_due is not None and (
                answered_or_open or message.status != InboxStatus.DONE
            ):
                steps.append(
                    self._deadline(
                        message,
                        sent.get(message.referentienummer),
                        open_answers.get(message.referentienummer),
                    )
                )
        return steps

    def _deadline(
        self,
        message: InboxMessage,
        answer: OutboxMessage | None,
        waiting: OutboxMessage | None,
    ) -> Step:
        due = message.answer_due
        assert due is not None
        received = _day(message.received_at)
        allowed = self.working_days.between(received, due)
        facts: dict[str, Any] = {
            "referentienummer": message.referentienummer,
            "due": due.isoformat(),
            "working_days": allowed,
        }
        if answer is not None and answer.sent_at is not None:
            answered = _day(answer.sent_at)
            late = self.working_days.between(due, answered) if answered > due else 0
            facts.update(answered=answered.isoformat(), late_working_days=late, met=late == 0)
            verdict = (
                f"answered on {answered}: in time"
                if late == 0
                else f"answered on {answered}: {late} working day(s) late"
            )
        else:
            facts.update(answered=None, met=None)
            state = f" (its answer is {waiting.status})" if waiting is not None else ""
            verdict = f"not answered yet{state}"
        return Step(
            StepKind.DEADLINE,
            message.received_at,
            f"the answer to {message.referentienummer} is due on {due}, {allowed} working days "
            f"after receipt; {verdict}",
            facts,
            DEADLINE_SOURCES,
        )

    def _holds(self, holds: Iterable[HoldRecord]) -> list[Step]:
        steps = []
        for hold in holds:
            claims = sorted(json.loads(hold.factuurnummers))
            measures = json.loads(hold.measures)
            lifts = json.loads(hold.lift)
            rule = self.policy.rules.get(hold.event)
            facts: dict[str, Any] = {
                "hold_id": hold.hold_id,
                "hold_type": hold.hold_type,
                "event": hold.event,
                "basis": hold.basis,
                "adapter": hold.adapter,
                "claims": claims,
                "measures": measures,
                "lifted": lifts,
                "from": hold.starts.isoformat(),
                "until": hold.ends.isoformat() if hold.ends else None,
                "status": hold.status,
                "release_reason": hold.release_reason,
                "attempts": hold.attempts,
            }
            changed = ""
            if rule is not None:
                now_stops = sorted(rule.measures(self.policy.groups))
                if now_stops != sorted(measures):
                    facts["policy_now_stops"] = now_stops
                    changed = f"; the policy now stops {', '.join(now_stops) or 'nothing'}"
            steps.append(
                Step(
                    StepKind.HOLD,
                    hold.created_at,
                    f"hold {hold.hold_id} ({hold.hold_type}, event {hold.event}, {hold.basis}) "
                    f"on {', '.join(claims) if claims else 'every claim'} at {hold.adapter}: "
                    f"stops {', '.join(measures) or 'nothing'}"
                    + (f", lifts {', '.join(lifts)}" if lifts else "")
                    + f"; from {hold.starts} until "
                    + (str(hold.ends) if hold.ends else "its ground ends")
                    + f"; now {hold.status}"
                    + (f" ({hold.release_reason})" if hold.release_reason else "")
                    + changed,
                    facts,
                    self._policy_sources(hold.event),
                )
            )
        return steps

    def _write_offs(self, write_offs: Iterable[WriteOffRecord]) -> list[Step]:
        steps = []
        for record in write_offs:
            claims = sorted(json.loads(record.factuurnummers))
            kept = json.loads(record.excluded)
            steps.append(
                Step(
                    StepKind.WRITE_OFF,
                    record.created_at,
                    f"write-off {record.write_off_id} ({record.reason}) of "
                    f"{', '.join(claims) or 'no claim'} at {record.adapter} as of "
                    f"{record.datum}"
                    + (f"; {len(kept)} claim(s) kept" if kept else "")
                    + f"; now {record.status}",
                    {
                        "write_off_id": record.write_off_id,
                        "reason": record.reason,
                        "adapter": record.adapter,
                        "claims": claims,
                        "kept": kept,
                        "date": record.datum.isoformat(),
                        "status": record.status,
                        "attempts": record.attempts,
                    },
                    WRITE_OFF_SOURCES,
                )
            )
        return steps

    def _answers(self, outbox: Iterable[OutboxMessage], rules: Mapping[str, int]) -> list[Step]:
        steps = []
        for answer in outbox:
            rule = self.rules.get(rules.get(answer.referentienummer, 0))
            steps.append(
                Step(
                    StepKind.ANSWER,
                    answer.created_at,
                    f"{answer.berichttype} {answer.referentienummer} written"
                    + (
                        f" in answer to {answer.cross_referentienummer}"
                        if answer.cross_referentienummer
                        else ""
                    )
                    + f" ({answer.channel}); now {answer.status}"
                    + (f" after {answer.attempts} attempt(s)" if answer.attempts > 1 else ""),
                    {
                        "referentienummer": answer.referentienummer,
                        "berichttype": answer.berichttype,
                        "cross_referentienummer": answer.cross_referentienummer,
                        "channel": answer.channel,
                        "status": answer.status,
                        "attempts": answer.attempts,
                        "sent_at": answer.sent_at.isoformat() if answer.sent_at else None,
                    },
                    tuple(source.id for source in rule.sources) if rule is not None else (),
                )
            )
        return steps

    def _tasks(self, tasks: Iterable[Task]) -> list[Step]:
        steps = []
        for task in tasks:
            # a resolution is "choice" or "choice: note"; the note is a person's free text
            choice = (task.resolution or "").split(":", 1)[0] or None
            steps.append(
                Step(
                    StepKind.TASK,
                    task.created_at,
                    f"task {task.id} ({task.kind}) raised: {task.reason}"
                    + (f"; due {task.due}" if task.due else "")
                    + (
                        f"; resolved by {task.resolved_by} ({choice})"
                        if task.resolved_by
                        else f"; {task.status}"
                    ),
                    {
                        "task": task.id,
                        "task_kind": task.kind,
                        "due": task.due.isoformat() if task.due else None,
                        "status": task.status,
                        "resolved_by": task.resolved_by,
                        "choice": choice,
                    },
                    WATCH_SOURCES if task.kind == "deadline" else (),
                )
            )
        return steps

    # -- what the audit trail tells --------------------------------------------------------

    def _audited(
        self,
        entry: AuditEntry,
        holds: Mapping[int, str],
        write_offs: Mapping[int, str],
        answers: Mapping[str, str],
    ) -> list[Step]:
        detail: dict[str, Any] = json.loads(entry.detail)
        event, at = entry.event, entry.at
        if event == "processed":
            return self._processed(entry, detail)
        if event in {"hold_applied", "hold_released", "hold_expired"}:
            verb = {
                "hold_applied": "applied",
                "hold_released": "released",
                "hold_expired": "let expire",
            }[event]
            measures = detail.get("measures") or []
            return [
                Step(
                    StepKind.BACKOFFICE,
                    at,
                    f"{detail.get('adapter') or 'the connector'} {verb} hold "
                    f"{detail.get('hold_id')} ({detail.get('hold_type')})"
                    + (f": {', '.join(measures)}" if measures and event != "hold_expired" else "")
                    + (f" ({detail['reason']})" if detail.get("reason") else ""),
                    {"event": event, **detail},
                )
            ]
        if event == "effect_failed":
            record = int(detail.get("record", 0))
            what = (
                f"hold {holds.get(record, record)}"
                if detail.get("table") == "holds"
                else f"write-off {write_offs.get(record, record)}"
            )
            return [
                Step(
                    StepKind.BACKOFFICE,
                    at,
                    f"attempt {detail.get('attempts')} to carry out {what} failed "
                    f"({detail.get('error_class')}); "
                    + ("it is retried" if detail.get("retryable") else "a person must look"),
                    {"event": event, **detail},
                )
            ]
        if event == "written_off":
            return [
                Step(
                    StepKind.BACKOFFICE,
                    at,
                    f"{detail.get('adapter')} wrote off {', '.join(detail.get('claims') or [])}"
                    f" ({detail.get('amount')})",
                    {"event": event, **detail},
                    WRITE_OFF_SOURCES,
                )
            ]
        referentienummer = entry.referentienummer or ""
        if event == "received":  # the message's own step tells it
            return []
        if event in {"delivered", "delivery_failed", "exported"}:
            berichttype = answers.get(referentienummer, "answer")
            text = {
                "delivered": f"{berichttype} {referentienummer} delivered to the node",
                "exported": f"{berichttype} {referentienummer} exported for the web portal",
                "delivery_failed": f"delivery {detail.get('attempts')} of {berichttype} "
                f"{referentienummer} failed ({detail.get('error_class')}); "
                + ("it is retried" if detail.get("retryable") else "a person must look"),
            }[event]
            return [Step(StepKind.ANSWER, at, text, {"event": event, **detail})]
        if "actor" in detail:
            return [self._decision(entry, detail)]
        return [
            Step(
                StepKind.RECORD,
                at,
                event.replace("_", " ") + (f" ({referentienummer})" if referentienummer else ""),
                {"event": event, **detail},
            )
        ]

    def _processed(self, entry: AuditEntry, detail: Mapping[str, Any]) -> list[Step]:
        steps = []
        rule = self.rules.get(int(detail.get("rule") or 0))
        steps.append(
            Step(
                StepKind.RULE,
                entry.at,
                f"conversation rule {detail.get('rule')} fit the {detail.get('berichttype')}: "
                f"{detail.get('state_from') or 'new'} -> {detail.get('state_to')}"
                + (f"; answered with {detail['answer_type']}" if detail.get("answer_type") else "")
                + (f" ({rule.note})" if rule is not None and rule.note else ""),
                {
                    "referentienummer": entry.referentienummer,
                    "rule": detail.get("rule"),
                    "state_from": detail.get("state_from"),
                    "state_to": detail.get("state_to"),
                    "answer": detail.get("answer"),
                    "answer_type": detail.get("answer_type"),
                },
                tuple(source.id for source in rule.sources) if rule is not None else (),
            )
        )
        for event in detail.get("events") or []:
            steps.append(self._event(entry.at, str(event), entry.referentienummer))
        return steps

    def _event(self, at: datetime, event: str, referentienummer: str | None) -> Step:
        rule = self.policy.rules.get(event)
        if rule is None:
            return Step(
                StepKind.EVENT,
                at,
                f"event {event}: not in the policy in force now",
                {"event": event},
            )
        stops = sorted(rule.measures(self.policy.groups))
        lifts = sorted(rule.lifts(self.policy.groups))
        duration = (
            f"{rule.months} months"
            if rule.until == "months"
            else {"decision": "until the decision", "end": "until it ends"}.get(rule.until, "")
        )
        overrides = [c.layer for c in rule.citations if c.layer.startswith("[policy")]
        return Step(
            StepKind.EVENT,
            at,
            f"event {event} ({rule.title}): "
            + (
                f"hold {rule.hold_type} stopping {', '.join(stops) or 'nothing'}"
                + (f", lifting {', '.join(lifts)}" if lifts else "")
                + (f", {duration}" if duration else "")
                if rule.hold_type
                else "no hold"
            )
            + ("; releases every hold" if rule.releases_all else "")
            + ("; writes off" if rule.write_off else "")
            + ("" if rule.active else "; not in force (no covenant)")
            + (f"; changed by {', '.join(overrides)}" if overrides else ""),
            {
                "event": event,
                "referentienummer": referentienummer,
                "title": rule.title,
                "hold_type": rule.hold_type,
                "effects": dict(rule.effects),
                "stops": stops,
                "lifts": lifts,
                "duration": duration or None,
                "active": rule.active,
                "layers": [c.summary() for c in rule.citations],
                "overrides": overrides,
            },
            tuple(source.id for source in rule.sources),
        )

    def _decision(self, entry: AuditEntry, detail: Mapping[str, Any]) -> Step:
        who = _actor(detail)
        choice = detail.get("choice")
        what = {
            "task_resolved": f"resolved task {detail.get('task')} ({detail.get('kind')})"
            + (f" with {choice}" if choice else ""),
            "answer_approved": f"approved the {detail.get('berichttype')} {entry.referentienummer}",
            "answer_withheld": f"withheld the {detail.get('berichttype')} {entry.referentienummer}",
            "replayed": f"replayed {entry.referentienummer}",
            "personal_data_revealed": f"revealed the personal data of {entry.referentienummer}",
            "quarantine_retried": f"retried quarantined message {detail.get('record')}",
        }.get(entry.event, entry.event.replace("_", " "))
        sources: tuple[str, ...] = ()
        event = detail.get("event")
        if isinstance(event, str):
            sources = self._policy_sources(event)
        facts = {k: v for k, v in detail.items() if k != "actor"}
        return Step(
            StepKind.DECISION,
            entry.at,
            f"{who} {what}" + (" (with a note)" if detail.get("note") else ""),
            {"event": entry.event, "by": who, **facts},
            sources,
        )


__all__ = ["Chain", "ExplainNotFound", "Explanation", "Step", "StepKind", "SubjectKind", "explain"]
