"""The drill's loop: every working day the counsellors' messages are placed at the node,
each connector works three times (09:00, 13:00, 17:00; a person decides its tasks at
13:00), each back-office that is up runs its collection round in the evening, and the
verdict looks at what the back-offices hold. At the end: the answers, the holds, the
measures and the write-offs are counted."""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time as monotonic
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..actor import Actor
from ..adapters.api import AdapterError, Claim, DebtorQuery, SampleDebtor
from ..adapters.calendar import MeasureTaken
from ..engine.deadlines import AMSTERDAM, WorkingDays
from ..engine.policy import load_policy
from ..engine.tasks import TaskError
from ..node.client import NodeError
from ..node.simulator import FaultSettings, NodeState
from ..store.schema import HoldRecord, Task
from ..store.status import TaskKind, TaskStatus
from .clock import FakeClock
from .grounds import GroundBook
from .messages import build
from .population import Planned, Send, draw_population
from .tally import CreditorCounts, Tally
from .verdict import Finding, Rule
from .world import CREDITORS, Connector, build_connector

log = logging.getLogger(__name__)

#: The first day of a drill (a Monday; the table does not depend on the machine's date).
START = date(2027, 1, 4)
HANDLER = Actor(name="drill-handler", via="cli", uid=None)
#: The override of the planted fault: the Kennisgeving's hold forgets verrekening.
FORGET_VERREKENING = '\n[policy.events.E03]\nSETOFF = "allow"\n'


@dataclass(frozen=True)
class DrillOptions:
    days: int = 365
    seed: int = 1
    #: planted faults, for the tests that show the drill fails
    forget_verrekening: bool = False
    drop_one_release: bool = False
    #: nobody at the creditors decides a task (proposals wait, a Wsnp's end waits)
    person_away: bool = False


@dataclass
class DrillReport:
    options: DrillOptions
    working_days: int
    messages: int
    duplicates_placed: int
    node_down_days: int
    stories: dict[str, int]
    counts: dict[str, CreditorCounts]
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings


@contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="skn-drill-") as tmp:
        yield Path(tmp)


def run_drill(options: DrillOptions, workdir: Path | None = None) -> DrillReport:
    """Play ``options.days`` days; the report holds the table's figures and the findings."""
    began = monotonic.monotonic()
    # the connector's own log says what the drill's outages cause, thousands of times; the
    # verdict is the drill's output
    product = logging.getLogger("skn_connector")
    level = product.level
    product.setLevel(logging.CRITICAL)
    try:
        with _workdir(workdir) as where:
            drill = _Drill(options, where)
            try:
                report = drill.play()
            finally:
                drill.close()
    finally:
        product.setLevel(level)
    report.seconds = monotonic.monotonic() - began
    return report


def _outages(rng: random.Random, days: list[date], count: int, longest: int) -> set[date]:
    """``count`` outages of 1 to ``longest`` working days, apart from each other."""
    down: set[date] = set()
    if len(days) < 20:
        return down
    slots = sorted(rng.sample(range(5, len(days) - longest - 1), min(count, len(days) // 20)))
    last_end = -10
    for first in slots:
        if first <= last_end + 5:
            continue
        length = rng.randint(1, longest)
        down.update(days[first : first + length])
        last_end = first + length
    return down


class _Drill:
    def __init__(self, options: DrillOptions, workdir: Path) -> None:
        if options.days < 1:
            raise ValueError("days must be at least 1")
        self.options = options
        self.rng = random.Random(options.seed)
        self.working = WorkingDays()
        self.clock = FakeClock(START)
        self.state = NodeState()
        # the simulator's own fault: a confirmed message now and then delivered again
        self.state.set_faults(FaultSettings(duplicate_rate=0.03, seed=options.seed))
        self.last_day = START + timedelta(days=options.days - 1)
        self.days = [
            START + timedelta(days=i)
            for i in range(options.days)
            if self.working.is_working_day(START + timedelta(days=i))
        ]
        policy = FORGET_VERREKENING if options.forget_verrekening else ""
        self.connectors: dict[str, Connector] = {}
        for index, creditor in enumerate(CREDITORS):
            self.connectors[creditor.key] = build_connector(
                workdir,
                creditor,
                self.state,
                self.clock,
                policy=policy,
                # the planted fault: the municipal tax office drops one release
                drop_one_release=options.drop_one_release and index == 0,
            )
        self.node_down = _outages(self.rng, self.days, max(1, len(self.days) // 60), 2)
        self.bo_down = {
            key: _outages(self.rng, self.days, max(1, len(self.days) // 100), 6)
            for key in self.connectors
        }
        self.population = draw_population(
            self.rng,
            {key: len(c.debtors) for key, c in self.connectors.items()},
            START,
            options.days,
            self.working,
        )
        self.placed: list[tuple[Planned, date]] = []
        self.book = GroundBook(
            self.days,
            self.node_down,
            self.bo_down,
            # the packaged rules, not this run's configuration: the verdict measures against them
            {
                key: load_policy(c.creditor.kind, c.creditor.covenant)
                for key, c in self.connectors.items()
            },
            {key: c.creditor.kind for key, c in self.connectors.items()},
        )
        self.taken: dict[str, list[MeasureTaken]] = {key: [] for key in self.connectors}
        self.sent: list[tuple[date, dict[str, Any]]] = []
        self.findings: list[Finding] = []
        self.flagged_holds: set[str] = set()
        self.flagged_tasks: dict[str, set[int]] = {key: set() for key in self.connectors}
        self.resolved: Counter[str] = Counter()
        #: conversations whose proposal the creditor refused: no akkoord follows
        self.refused: set[str] = set()

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()

    # -- the days ---------------------------------------------------------------------

    def play(self) -> DrillReport:
        todo = list(self.population.planned)
        delayed: list[Planned] = []
        for day in self.days:
            self.clock.set(day, time(8, 0))
            node_up = day not in self.node_down
            for key, connector in self.connectors.items():
                connector.node.down = not node_up
                connector.backoffice.down = day in self.bo_down[key]
            today = [p for p in todo if p.day <= day]
            todo = todo[len(today) :]
            arriving, delayed = delayed, []
            for planned in today:
                # now and then a message of one conversation comes a day after others
                if self.rng.random() < 0.05:
                    delayed.append(planned)
                else:
                    arriving.append(planned)
            self._place(day, arriving)
            for hour in (9, 13, 17):
                self.clock.set(day, time(hour, 0))
                for connector in self.connectors.values():
                    self._cycle(connector)
                    if hour == 13 and not self.options.person_away:
                        self._decide(day, connector)
            self._collect_sent(day)
            self.clock.set(day, time(20, 0))
            for key, connector in self.connectors.items():
                if day not in self.bo_down[key]:
                    self.taken[key].extend(connector.calendar.collection_round(day))
                self._holds_after_ground(day, connector)
                self._tasks_past_deadline(day, connector)
        return self._report()

    def _place(self, day: date, arriving: list[Planned]) -> None:
        # different conversations in any order; one conversation's messages in theirs
        order = {p.conversation: self.rng.random() for p in arriving}
        arriving.sort(key=lambda p: (order[p.conversation], p.day))
        for drawn in arriving:
            planned = self._as_answered(drawn)
            if planned is None:
                continue
            connector = self.connectors[planned.creditor]
            debtor = connector.debtors[planned.debtor]
            claims = _claims_of(connector, debtor)
            sent_at = datetime.combine(day, time(7, 30), tzinfo=AMSTERDAM)
            data = build(planned, connector.creditor.participant_id, debtor, claims, sent_at)
            if data is None:
                continue
            self.state.queue_message(data)
            if planned.twice:
                self.state.queue_message(data)
            self.placed.append((planned, day))
            self.book.record(planned, day, debtor, claims)

    def _as_answered(self, planned: Planned) -> Planned | None:
        """The counsellor reads the answer to the proposal: no akkoord after a refusal (the
        regeling did not come about), and the end says so."""
        conversation = str(planned.conversation)
        if planned.send == Send.AKKOORD and self._proposal_answer(conversation) != "AKKOORD":
            self.refused.add(conversation)
            return None
        ended_otherwise = planned.reden in {"WSNP", "OVERLIJDEN"}
        if planned.send == Send.BEEINDIGD and conversation in self.refused and not ended_otherwise:
            return replace(planned, reden="NIET_TOT_STAND_GEKOMEN")
        return planned

    def _proposal_answer(self, conversation: str) -> str | None:
        last = None
        for _, message in self.sent:
            header = message["Berichtheader"]
            if (
                header.get("ConversatieReferentienummer") == conversation
                and header["Berichttype"] == "BetaalvoorstelAntwoord"
            ):
                last = message.get("Antwoord")
        return last

    def _cycle(self, connector: Connector) -> None:
        pipeline = connector.pipeline
        for _ in range(4):
            try:
                listed = pipeline.poll()
            except NodeError:
                listed = 0
            worked = pipeline.process_due()
            carried = pipeline.carry_out()
            try:
                delivered = pipeline.deliver_due()
            except NodeError:
                delivered = 0
            if not (listed or worked or carried or delivered):
                break
        pipeline.watch.deadlines()

    def _decide(self, day: date, connector: Connector) -> None:
        """The person at the creditor: decides proposals as the story has it, ends a Wsnp
        with a schone lei, and handles each other task with a deadline the day it comes."""
        with connector.store.transaction() as session:
            open_tasks = list(
                session.execute(
                    select(Task.id, Task.kind, Task.conversation_id)
                    .where(
                        Task.status == TaskStatus.OPEN,
                        # the tasks with a deadline, and the decisions a story asks for
                        Task.kind.in_((TaskKind.BEOORDELING, TaskKind.WSNP_EINDE))
                        | (Task.due.is_not(None) & (Task.kind != TaskKind.DEADLINE)),
                    )
                    .order_by(Task.id)
                )
            )
        for task_id, kind, conversation in open_tasks:
            if kind == TaskKind.BEOORDELING:
                choice = self.population.decisions.get(str(conversation), "accept")
                note = None if choice == "accept" else "Het voorstel past niet in ons beleid."
            elif kind == TaskKind.WSNP_EINDE:
                choice, note = "schone_lei", None
            else:  # e.g. a bewind reported: the person writes to the bewindvoerder
                choice, note = "done", "handled in the back-office"
            debtor = self._debtor_of(connector.creditor.key, conversation)
            owed = debtor is not None and any(
                c.openstaand > 0 for c in _claims_of(connector, connector.debtors[debtor])
            )
            try:
                connector.pipeline.tasks.resolve(task_id, choice=choice, note=note, actor=HANDLER)
            except TaskError as exc:
                log.info("task %s waits: %s", task_id, exc)
                continue
            except AdapterError:
                if connector.backoffice.down:  # the person tries again tomorrow
                    continue
                raise
            self.resolved[connector.creditor.key] += 1
            if kind == TaskKind.WSNP_EINDE and debtor is not None:
                self.book.wsnp_ended(connector.creditor.key, debtor, conversation, day, owed=owed)
        connector.pipeline.carry_out()

    def _collect_sent(self, day: date) -> None:
        sent = self.state.sent()
        for message in sent[len(self.sent) :]:
            self.sent.append((day, message))

    # -- the grounds ------------------------------------------------------------------

    def _debtor_of(self, key: str, conversation: str | None) -> int | None:
        for planned, _ in self.placed:
            if planned.creditor == key and str(planned.conversation) == conversation:
                return planned.debtor
        return None

    # -- daily checks -----------------------------------------------------------------

    def _holds_after_ground(self, day: date, connector: Connector) -> None:
        key = connector.creditor.key
        if day in self.bo_down[key]:
            return
        in_force = [h for h in connector.calendar.holds_in_force() if h not in self.flagged_holds]
        if not in_force:
            return
        with connector.store.transaction() as session:
            records = list(
                session.execute(
                    select(
                        HoldRecord.hold_id,
                        HoldRecord.conversation_id,
                        HoldRecord.event,
                        HoldRecord.factuurnummers,
                        HoldRecord.released_at,
                    ).where(HoldRecord.hold_id.in_(in_force))
                )
            )
        for hold_id, conversation, event, factuurnummers, released_at in records:
            ground = self.book.by_event.get((key, conversation, event))
            end = ground.end() if ground is not None else None
            if end is None and released_at is not None:
                # a ground the drill does not follow itself (a proposal's, until its answer):
                # it ended when the connector released the hold
                end = released_at.astimezone(AMSTERDAM).date()
            if end is None or end > day:
                continue
            # released on the first day the back-office is up from the end, a day's grace
            allowed = self.working.add(self.book.first_up(key, end), 1)
            if day > allowed:
                self.flagged_holds.add(hold_id)
                claims = json.loads(factuurnummers) or ["(all claims)"]
                self.findings.append(
                    Finding(
                        day,
                        key,
                        Rule.HOLD_AFTER_GROUND,
                        claims[0],
                        f"{event}: its ground ended {end.isoformat()}, the back-office "
                        "still holds it",
                    )
                )

    def _tasks_past_deadline(self, day: date, connector: Connector) -> None:
        """A task open past its due date must have been escalated: the deadline watch marks
        it (``escalated_at``); for a question, the deadline task about it counts too."""
        with connector.store.transaction() as session:
            overdue = list(
                session.execute(
                    select(Task.id, Task.kind, Task.referentienummer, Task.due).where(
                        Task.status == TaskStatus.OPEN,
                        Task.due < day,
                        Task.escalated_at.is_(None),
                    )
                )
            )
            if not overdue:
                return
            warned = set(
                session.scalars(select(Task.referentienummer).where(Task.kind == TaskKind.DEADLINE))
            )
        for task_id, kind, referentienummer, due in overdue:
            if task_id in self.flagged_tasks[connector.creditor.key]:
                continue
            if due is None or self.working.between(due, day) < 1:  # escalated a working day on
                continue
            if kind != TaskKind.DEADLINE and referentienummer not in warned:
                self.flagged_tasks[connector.creditor.key].add(task_id)
                self.findings.append(
                    Finding(
                        day,
                        connector.creditor.key,
                        Rule.TASK_NOT_ESCALATED,
                        referentienummer or f"task {task_id}",
                        f"{kind} due {due}",
                    )
                )

    # -- the count at the end ---------------------------------------------------------

    def _report(self) -> DrillReport:
        tally = Tally(self.working, self.days[-1], self.findings)
        tally.answers(self.placed, self.sent)
        for key, connector in self.connectors.items():
            counts = tally.of(key)
            tally.holds(key, connector.store, self.book.by_event)
            tally.measures(key, connector.debtors, self.taken[key], self.book.grounds)
            tally.write_offs(key, connector.store, self.book.finales)
            counts.backoffice_down_days = len(self.bo_down[key])
            counts.tasks_resolved = self.resolved[key]
        self.findings.sort(key=lambda f: (f.day, f.creditor, f.rule, f.reference))
        return DrillReport(
            self.options,
            len(self.days),
            len(self.placed),
            sum(1 for p, _ in self.placed if p.twice) + self.state.stats()["duplicate_deliveries"],
            len(self.node_down),
            {story.value: n for story, n in sorted(self.population.stories.items())},
            {key: tally.of(key) for key in self.connectors},
            self.findings,
        )


def _claims_of(connector: Connector, debtor: SampleDebtor) -> list[Claim]:
    """The debtor's claims as the counsellor knows them (the saldo the creditor gave)."""
    inner = connector.backoffice.inner
    found = inner.find_debtor(DebtorQuery(klantnummer_se=debtor.klantnummer_se))
    return list(inner.list_claims(found)) if found is not None else []
