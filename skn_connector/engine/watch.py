"""Watching the deadlines: an answer still open some working days after receipt, a hold the
back-office has not taken for a working day, a back-office down for hours, a node not
polled for days. Each raises a task for a person, once. A task left open past its own due
date is escalated, once: a warning in the log, an entry in the audit trail, and the alert
on ``skn_tasks_overdue``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.db import Store
from ..store.schema import HoldRecord, InboxMessage, Meta, OutboxMessage, Task
from ..store.scope import meta_key
from ..store.status import HoldStatus, InboxStatus, OutboxStatus, TaskKind, TaskStatus
from .deadlines import AMSTERDAM, WorkingDays, dutch_day
from .tasks import add_task

log = logging.getLogger(__name__)


class Watch:
    def __init__(
        self,
        *,
        store: Store,
        working_days: WorkingDays,
        warn_at_working_days: int,
        outage_task_after: timedelta,
        clock: Callable[[], datetime],
        approval_escalation_at_working_days: int = 7,
    ) -> None:
        self.store = store
        self.working_days = working_days
        self.warn_at = warn_at_working_days
        self.approval_escalation_at = approval_escalation_at_working_days
        self.outage_task_after = outage_task_after
        self.clock = clock

    def today(self) -> date:
        return dutch_day(self.clock)

    def deadlines(self) -> int:
        """Raise a task (once) for every question still unanswered ``warn_at`` working days
        after receipt, and when the node has not been polled for 3 working days (it deletes
        what is not fetched and confirmed within 5) [SKN-CONNECTOR-CHOICE-DEADLINE-WATCH].
        Returns how many tasks were raised."""
        today = self.today()
        raised = 0
        with self.store.transaction() as session:
            warned = set(
                session.scalars(select(Task.referentienummer).where(Task.kind == TaskKind.DEADLINE))
            )
            waiting = list(
                session.execute(
                    select(
                        InboxMessage.referentienummer,
                        InboxMessage.conversation_id,
                        InboxMessage.received_at,
                        InboxMessage.answer_due,
                    ).where(InboxMessage.status.in_((InboxStatus.PENDING, InboxStatus.FAILED)))
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
                    .where(Task.kind == TaskKind.BEOORDELING, Task.status == TaskStatus.OPEN)
                )
            )
            # an answer that waits for a person's approval, or that a person withheld, has
            # not gone out: its question is watched as if unanswered, the first before the
            # usual warning (the approval is one more step before the deadline)
            held_back = session.execute(
                select(
                    InboxMessage.referentienummer,
                    InboxMessage.conversation_id,
                    InboxMessage.received_at,
                    InboxMessage.answer_due,
                    OutboxMessage.status,
                )
                .join(
                    OutboxMessage,
                    OutboxMessage.cross_referentienummer == InboxMessage.referentienummer,
                )
                .where(OutboxMessage.status.in_((OutboxStatus.TO_APPROVE, OutboxStatus.WITHHELD)))
            )
            waiting_for: dict[str, OutboxStatus] = {}
            questions: list[tuple[str, str, datetime, date | None]] = [
                (r, c, at, due) for r, c, at, due in waiting
            ]
            for referentienummer, conversation_id, received_at, due, status in held_back:
                questions.append((referentienummer, conversation_id, received_at, due))
                waiting_for[referentienummer] = OutboxStatus(status)
            for referentienummer, conversation_id, received_at, due in questions:
                if referentienummer in warned:
                    continue
                received = received_at.astimezone(AMSTERDAM).date()
                why = waiting_for.get(referentienummer)
                warn_at = (
                    self.approval_escalation_at if why == OutboxStatus.TO_APPROVE else self.warn_at
                )
                if self.working_days.between(received, today) >= warn_at:
                    left = self.working_days.between(today, due) if due else 0
                    add_task(
                        session,
                        self.clock(),
                        TaskKind.DEADLINE,
                        {
                            OutboxStatus.TO_APPROVE: "the answer still waits for approval",
                            OutboxStatus.WITHHELD: "the answer was withheld and not sent",
                            None: "the answer is not sent",
                        }[why]
                        + f"; it is due on {due}: {left} working days left",
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
                    ).where(HoldRecord.status == HoldStatus.TO_APPLY)
                )
            )
            flagged = set(
                session.scalars(select(Task.hold_id).where(Task.kind == TaskKind.HOLD_NOT_APPLIED))
            )
            for hold_id, conversation_id, created_at, adapter, last_error in stuck:
                created = created_at.astimezone(AMSTERDAM).date()
                if hold_id in flagged or self.working_days.between(created, today) < 1:
                    continue
                add_task(
                    session,
                    self.clock(),
                    TaskKind.HOLD_NOT_APPLIED,
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
            raised += self._escalate_overdue_tasks(session, today)
            last = session.get(Meta, meta_key("last_poll"))
            if last is not None:
                polled = datetime.fromisoformat(last.value).astimezone(AMSTERDAM).date()
                reason = (
                    f"the node was last polled on {polled}; "
                    "it deletes messages after 5 working days"
                )
                already = session.scalars(
                    select(Task.id).where(
                        Task.kind == TaskKind.NODE_NOT_POLLED, Task.status == TaskStatus.OPEN
                    )
                ).first()
                if self.working_days.between(polled, today) >= 3 and already is None:
                    add_task(
                        session,
                        self.clock(),
                        TaskKind.NODE_NOT_POLLED,
                        reason,
                        None,
                        None,
                        self.working_days.add(polled, 5),
                    )
                    raised += 1
        return raised

    def _escalate_overdue_tasks(self, session: Session, today: date) -> int:
        """Every open task a working day or more past its due date, not escalated before:
        escalated now."""
        overdue = session.scalars(
            select(Task).where(
                Task.status == TaskStatus.OPEN,
                Task.due < today,
                Task.escalated_at.is_(None),
            )
        ).all()
        escalated = 0
        for task in overdue:
            assert task.due is not None
            late = self.working_days.between(task.due, today)
            if late < 1:  # due on a Friday, today a Saturday: Monday is soon enough
                continue
            task.escalated_at = self.clock()
            escalated += 1
            self.store.audit(
                session,
                "task_escalated",
                conversation_id=task.conversation_id,
                referentienummer=task.referentienummer,
                task=task.id,
                kind=task.kind,
                due=task.due.isoformat(),
                working_days_late=late,
            )
            log.warning(
                "task %d (%s) is open %d working day(s) past its due date %s: escalated; "
                "see 'skn-connector tasks show %d'",
                task.id,
                task.kind,
                late,
                task.due,
                task.id,
            )
        return escalated

    def _watch_outages(self, session: Session) -> int:
        """A task when the back-office has refused or not answered for longer than
        ``outage_task_after``: holds still waiting to be applied or released after a failed
        try, or messages waiting to be decided after a failed try (the retries go on;
        enforcement may go on meanwhile, so a person must know within hours). Raised once
        per outage: not again while such a task is open. Returns how many were raised."""
        since = self.clock() - self.outage_task_after
        already = session.scalars(
            select(Task.id).where(
                Task.kind == TaskKind.BACKOFFICE_UNAVAILABLE, Task.status == TaskStatus.OPEN
            )
        ).first()
        if already is not None:
            return 0
        holds = list(
            session.execute(
                select(HoldRecord.adapter, HoldRecord.created_at, HoldRecord.last_error).where(
                    HoldRecord.status.in_((HoldStatus.TO_APPLY, HoldStatus.TO_RELEASE)),
                    HoldRecord.attempts > 0,
                    HoldRecord.created_at <= since,
                )
            )
        )
        messages = list(
            session.execute(
                select(InboxMessage.received_at, InboxMessage.last_error).where(
                    InboxMessage.status == InboxStatus.PENDING,
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
        add_task(
            session,
            self.clock(),
            TaskKind.BACKOFFICE_UNAVAILABLE,
            f"the back-office{' of ' + ', '.join(adapters) if adapters else ''} has refused "
            f"or not answered for {hours:.0f} hours: {len(holds)} holds and {len(messages)} "
            f"messages wait for it ({newest_error[:200]}); the retries go on; make sure "
            "enforcement is paused by hand until it is back",
            None,
            None,
            None,
        )
        return 1
