"""The count at the end of a drill: the answers at the node, the holds in each store, the
measures each back-office took and the write-offs, each against the drill's own account."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from ..adapters.api import MeasureCode, SampleDebtor
from ..adapters.calendar import MeasureTaken
from ..engine.deadlines import AMSTERDAM, WorkingDays
from ..store import Store
from ..store.schema import HoldRecord, Task, WriteOffRecord
from ..store.status import TaskKind, WriteOffStatus
from .population import Planned, Send
from .verdict import Finding, Ground, Rule, late_by

QUESTIONS = {
    Send.SALDO_INVENTORY: ("SaldoverzoekAntwoord", "GeenMedewerking"),
    Send.SALDO_REGELING: (
        "SaldoverzoekAntwoord",
        "SaldoverzoekAntwoordVoorafAkkoord",
        "GeenMedewerking",
    ),
    Send.KENNISGEVING: ("KennisgevingAntwoord", "GeenMedewerking"),
    Send.BETAALVOORSTEL: ("BetaalvoorstelAntwoord", "GeenMedewerking"),
    Send.HEROVERWEGING: ("BetaalvoorstelAntwoord", "GeenMedewerking"),
}
#: questions without an answer term (a KennisgevingAntwoord has none)
NO_TERM = {Send.KENNISGEVING}
ANSWER_WITHIN = 10


@dataclass
class CreditorCounts:
    questions: int = 0
    answers: int = 0
    holds: int = 0
    releases: int = 0
    write_offs: int = 0
    measures: int = 0
    backoffice_down_days: int = 0
    tasks_resolved: int = 0
    late: int = 0
    on_held: int = 0
    lost: int = 0
    duplicated: int = 0


@dataclass
class Tally:
    """Counts per creditor, and a finding for each thing that must not happen."""

    working: WorkingDays
    last_day: date
    findings: list[Finding]
    counts: dict[str, CreditorCounts] = field(default_factory=dict)

    def of(self, key: str) -> CreditorCounts:
        return self.counts.setdefault(key, CreditorCounts())

    def answers(
        self, placed: list[tuple[Planned, date]], sent: list[tuple[date, dict[str, Any]]]
    ) -> None:
        """Each question: one answer of its kind at the node, within its term."""
        answers: dict[str, list[tuple[date, str]]] = {}
        for day, message in sent:
            header = message["Berichtheader"]
            cross = header.get("CrossReferentienummer")
            if cross:
                answers.setdefault(str(cross), []).append((day, header["Berichttype"]))
        for planned, placed_on in placed:
            expected = QUESTIONS.get(planned.send)
            if expected is None:
                continue
            key = planned.creditor
            self.of(key).questions += 1
            reference = str(planned.referentienummer)
            got = [(d, t) for d, t in answers.get(reference, []) if t in expected]
            self.of(key).answers += len(got)
            due = self.working.add(placed_on, ANSWER_WITHIN)
            if not got:
                if due < self.last_day:  # a question of the last days may still be answered
                    self.of(key).lost += 1
                    self.findings.append(
                        Finding(due, key, Rule.LOST, reference, f"{planned.send.value} unanswered")
                    )
                continue
            if len(got) > 1:
                self.of(key).duplicated += len(got) - 1
                self.findings.append(
                    Finding(got[1][0], key, Rule.ANSWERED_TWICE, reference, planned.send.value)
                )
            if planned.send not in NO_TERM and got[0][0] > due:
                self.of(key).late += 1
                self.findings.append(
                    Finding(
                        got[0][0],
                        key,
                        Rule.ANSWER_LATE,
                        reference,
                        f"{planned.send.value} due {due.isoformat()}",
                    )
                )

    def holds(self, key: str, store: Store, by_event: dict[tuple[str, str, str], Ground]) -> None:
        """Each hold the connector applied: within a working day of its ground's start."""
        counts = self.of(key)
        with store.transaction() as session:
            records = list(
                session.execute(
                    select(
                        HoldRecord.conversation_id,
                        HoldRecord.event,
                        HoldRecord.factuurnummers,
                        HoldRecord.applied_at,
                        HoldRecord.released_at,
                    )
                )
            )
        for conversation, event, factuurnummers, applied_at, released_at in records:
            counts.holds += 1
            counts.releases += released_at is not None
            ground = by_event.get((key, conversation, event))
            if ground is None or applied_at is None:
                continue
            applied = applied_at.astimezone(AMSTERDAM).date()
            if late_by(self.working, ground.start, applied) > 1:
                claims = json.loads(factuurnummers) or ["(all claims)"]
                self.findings.append(
                    Finding(
                        applied,
                        key,
                        Rule.HOLD_LATE,
                        claims[0],
                        f"{event}: due {ground.start.isoformat()}",
                    )
                )

    def measures(
        self,
        key: str,
        debtors: tuple[SampleDebtor, ...],
        taken_all: list[MeasureTaken],
        grounds: dict[tuple[str, int], list[Ground]],
    ) -> None:
        """Each measure the back-office took: on no claim a ground in force stops it on."""
        counts = self.of(key)
        owner = {
            claim: index for index, debtor in enumerate(debtors) for claim in debtor.factuurnummers
        }
        counts.measures = len(taken_all)
        seen: set[tuple[str, MeasureCode, str]] = set()
        for taken in taken_all:
            debtor = owner.get(taken.factuurnummer)
            if debtor is None:
                continue
            for ground in grounds.get((key, debtor), []):
                if (
                    taken.code in ground.codes
                    and taken.factuurnummer in ground.claims
                    and (taken.factuurnummer, taken.code) not in ground.exempt
                    and ground.active(taken.day)
                ):
                    counts.on_held += 1
                    # one line per claim, measure and ground: the first day says it
                    if (taken.factuurnummer, taken.code, ground.conversation) not in seen:
                        seen.add((taken.factuurnummer, taken.code, ground.conversation))
                        self.findings.append(
                            Finding(
                                taken.day,
                                key,
                                Rule.MEASURE_ON_HELD_CLAIM,
                                taken.factuurnummer,
                                f"{taken.code.value} ({taken.step.value}) while {ground.event} "
                                f"holds it (since {ground.start.isoformat()})",
                            )
                        )
                    break

    def write_offs(self, key: str, store: Store, finales: list[tuple[str, str, date, str]]) -> None:
        """Each finale kwijting: its write-off done within a working day (or a task for the
        claims the law keeps)."""
        with store.transaction() as session:
            done = {
                conversation: at
                for conversation, at in session.execute(
                    select(WriteOffRecord.conversation_id, WriteOffRecord.done_at).where(
                        WriteOffRecord.status == WriteOffStatus.DONE
                    )
                )
            }
            by_hand = set(
                session.scalars(select(Task.conversation_id).where(Task.kind == TaskKind.WRITE_OFF))
            )
        self.of(key).write_offs = len(done)
        for creditor, conversation, acted, event in finales:
            if creditor != key or acted > self.last_day:
                continue
            allowed = self.working.add(acted, 1)
            at = done.get(conversation)
            if conversation in by_hand:
                continue
            if at is None or at.astimezone(AMSTERDAM).date() > allowed:
                if at is None and allowed > self.last_day:
                    continue
                self.findings.append(
                    Finding(
                        allowed,
                        key,
                        Rule.WRITE_OFF_MISSING,
                        conversation,
                        f"{event} acted on {acted.isoformat()}",
                    )
                )
