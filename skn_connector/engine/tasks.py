"""A person's decisions: resolving a task (a proposal judged, the end of a Wsnp, anything
else a person looked at). A proposal's answer goes to the outbox in the same transaction as
the conversation's state and the holds it starts or ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..adapters.api import DebtorQuery
from ..messages import Contactpersoon, Message
from ..store.db import Store
from ..store.schema import InboxMessage, OutboxMessage, QuarantinedMessage, Task
from ..store.statements import find_conversation
from ..store.status import Channel, OutboxStatus, QuarantineStatus, TaskKind, TaskStatus
from ..wire.soap import WireError, decode_message, encode_message
from .answers import proposal_answer
from .conversations import SAME, TransitionTable, UnexpectedMessage
from .deadlines import dutch_day
from .decisions import Decider, Decision, check_decision
from .effects import EffectRunner
from .holds import HoldPlan, ReleasePlan, WriteOffPlan, plan_holds, plan_write_offs
from .policy import Policy


class TaskError(Exception):
    """A task cannot be resolved as asked; the message says why, in one sentence."""


def add_task(
    session: Session,
    now: datetime,
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
            created_at=now,
            due=due,
            status=TaskStatus.OPEN,
        )
    )


def resolve_quarantine_tasks(
    session: Session, quarantine_id: int, resolution: str, actor: Actor, now: datetime
) -> list[int]:
    """Resolve the open tasks about a quarantined message that a person handled (retried,
    or marked handled): the entry and its task are one thing to decide. Returns their ids."""
    resolved = []
    for task in session.scalars(
        select(Task).where(Task.quarantine_id == quarantine_id, Task.status == TaskStatus.OPEN)
    ):
        task.status, task.resolution = TaskStatus.RESOLVED, resolution[:2000]
        task.resolved_at, task.resolved_by = now, actor.label[:64]
        resolved.append(task.id)
    return resolved


def _why_not_sendable(exc: Exception) -> str:
    """A short reason why a person's text cannot travel in a message, without the text."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return "it holds a character that XML cannot carry"


class TaskDesk:
    """Where a person's decision on a task is carried out."""

    def __init__(
        self,
        *,
        store: Store,
        decider: Decider,
        effects: EffectRunner,
        table: TransitionTable,
        policy: Policy,
        contact: Contactpersoon,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.decider = decider
        self.effects = effects
        self.table = table
        self.policy = policy
        self.contact = contact
        self.clock = clock

    def today(self) -> date:
        return dutch_day(self.clock)

    def resolve(self, task_id: int, *, choice: str, note: str | None, actor: Actor) -> str:
        """Resolve a task. For a proposal waiting for a person (kind ``beoordeling``) the
        choice is ``accept`` or ``reject`` and the answer goes to the outbox at once, in the
        same transaction as the state. Returns what was done, in one sentence."""
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None:
                raise TaskError(f"there is no task {task_id}; see 'skn-connector tasks list'")
            if task.status != TaskStatus.OPEN:
                raise TaskError(f"task {task_id} was resolved before ({task.resolution})")
            kind, referentienummer = task.kind, task.referentienummer
            request_raw = None
            if kind == TaskKind.BEOORDELING and referentienummer:
                inbox = session.scalars(
                    select(InboxMessage).where(InboxMessage.referentienummer == referentienummer)
                ).first()
                request_raw = inbox.raw if inbox is not None else None
        if kind == TaskKind.WSNP_EINDE:
            return self._end_wsnp(task_id, choice, actor)
        if kind == TaskKind.APPROVE_ANSWER:
            return self._approve(task_id, choice, note, actor)
        if kind != TaskKind.BEOORDELING:
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
                contact=self.contact,
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
                find_conversation(session, task.conversation_id) if task.conversation_id else None
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
            if task is None or task.status != TaskStatus.OPEN:
                raise TaskError(f"task {task_id} is no longer open")
            self.effects.record(session, task.conversation_id or "", decision)
            for note in notes:
                add_task(
                    session,
                    self.clock(),
                    TaskKind.WRITE_OFF,
                    note,
                    task.conversation_id,
                    None,
                    None,
                )
            task.status, task.resolution, task.resolved_at, task.resolved_by = (
                TaskStatus.RESOLVED,
                choice,
                now,
                actor.label[:64],
            )
            self.store.audit(
                session,
                "task_resolved",
                conversation_id=task.conversation_id,
                task=task_id,
                kind=TaskKind.WSNP_EINDE,
                choice=choice,
                actor=actor.audit(),
                event="E15" if choice == "schone_lei" else "E15F",
            )
        return (
            f"task {task_id} resolved: Wsnp holds released ({choice}), "
            f"{len(write_offs)} write-off(s) planned"
        )

    def _approve(self, task_id: int, choice: str, note: str | None, actor: Actor) -> str:
        """An answer waiting for approval: ``approve`` lets it go out at the next delivery,
        ``withhold`` keeps it back for good (its question stays watched, to be answered by
        other means before its deadline)."""
        if choice not in {"approve", "withhold"}:
            raise TaskError(
                "an answer waiting for approval is resolved with --choice approve "
                "or --choice withhold"
            )
        now = self.clock()
        with self.store.transaction() as session:
            task = session.get(Task, task_id)
            if task is None or task.status != TaskStatus.OPEN:
                raise TaskError(f"task {task_id} is no longer open")
            answer = session.scalars(
                select(OutboxMessage).where(OutboxMessage.referentienummer == task.referentienummer)
            ).first()
            if answer is None or answer.status != OutboxStatus.TO_APPROVE:
                raise TaskError(f"task {task_id}: its answer no longer waits for approval")
            answer.status = OutboxStatus.PENDING if choice == "approve" else OutboxStatus.WITHHELD
            task.status, task.resolution = (
                TaskStatus.RESOLVED,
                (f"{choice}: {note}" if note else choice)[:2000],
            )
            task.resolved_at, task.resolved_by = now, actor.label[:64]
            self.store.audit(
                session,
                "answer_approved" if choice == "approve" else "answer_withheld",
                conversation_id=answer.conversation_id,
                referentienummer=answer.referentienummer,
                task=task_id,
                kind=TaskKind.APPROVE_ANSWER,
                choice=choice,
                note=bool(note),
                actor=actor.audit(),
                berichttype=answer.berichttype,
            )
            berichttype = answer.berichttype
        if choice == "approve":
            return f"task {task_id} resolved: the {berichttype} is approved and goes out next"
        return (
            f"task {task_id} resolved: the {berichttype} is withheld and will not be sent; "
            "answer its question by other means before its deadline"
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
            if task is None or task.status != TaskStatus.OPEN:
                raise TaskError(f"task {task_id} is no longer open")
            if answer is not None:
                conversation_id = str(answer.berichtheader.conversatie_referentienummer)
                conversation = find_conversation(session, conversation_id)
                state = conversation.state if conversation else None
                module = answer.berichtheader.module
                try:
                    rule = self.table.rule_for("Beoordeling", module, state)
                except UnexpectedMessage as exc:
                    raise TaskError(f"task {task_id} cannot be answered now: {exc}") from None
                next_state = "AKKOORD_SE" if choice == "accept" else "AFGEWEZEN_SE"
                check_decision(rule, state or self.table.initial, Decision(answer, next_state))
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
                        status=OutboxStatus.PENDING,
                        attempts=0,
                        channel=Channel.NODE,
                    )
                )
            task.status = TaskStatus.RESOLVED
            task.resolution = resolution[:2000]
            task.resolved_at = now
            task.resolved_by = actor.label[:64]
            handled = None
            if task.quarantine_id is not None:
                # the task about a quarantined message is that message's decision: it is
                # handled with it (and its other open tasks with it)
                kept = session.get(QuarantinedMessage, task.quarantine_id)
                if kept is not None and kept.status == QuarantineStatus.OPEN:
                    kept.status = QuarantineStatus.RESOLVED
                    handled = kept.id
                    resolve_quarantine_tasks(session, kept.id, resolution, actor, now)
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
                quarantine_handled=handled,
            )
        if answer is not None:
            return f"task {task_id} resolved: {answer.BERICHTTYPE} ({choice}) is in the outbox"
        return f"task {task_id} resolved"


def handle_quarantined(store: Store, quarantine_id: int, *, reason: str, actor: Actor) -> str:
    """Mark a quarantined message handled without accepting it (a person dealt with it
    outside the connector: asked the sender for a new message, say), with the reason; its
    open tasks are resolved with it. The reason is kept with the tasks, not in the trail."""
    reason = reason.strip()
    if not reason:
        raise TaskError("say why the quarantined message is handled (a reason is required)")
    now = datetime.now(UTC)
    with store.transaction() as session:
        kept = session.get(QuarantinedMessage, quarantine_id)
        if kept is None:
            raise TaskError(
                f"there is no quarantined message {quarantine_id}; see 'quarantine list'"
            )
        if kept.status != QuarantineStatus.OPEN:
            raise TaskError(f"quarantined message {quarantine_id} was resolved before")
        kept.status = QuarantineStatus.RESOLVED
        tasks = resolve_quarantine_tasks(session, quarantine_id, f"handled: {reason}", actor, now)
        store.audit(
            session,
            "quarantine_handled",
            referentienummer=kept.referentienummer,
            record=quarantine_id,
            tasks=tasks,
            actor=actor.audit(),
        )
    return f"quarantined message {quarantine_id} marked handled"
