"""Tier 3: the back-office is down, from 10 seconds to beyond the answer deadline.

The pipeline runs in-process with a fake clock (``Pipeline(clock=...)``); a wrapper around
the gemeentebelastingen adapter raises ``BackOfficeUnavailable`` on every call while the
fake clock is inside the outage. Half the questions are decided before the outage starts
(their holds must wait for it to end), half arrive during it (their decisions must). The
clock moves from one retry to the next (retries are stored: ``attempts`` and
``next_attempt_at``, exponential with jitter, capped at 3 h), and ``watch_deadlines()``
runs at every step, as ``run --once`` and the daemon's daily job do.

After the outage: every question answered exactly once and every hold applied once, the
last of them within the backoff cap of the outage's end; answered before the deadline of
10 working days unless the outage outlasted it; a ``deadline`` task raised at
``warn_at_working_days`` for every question still unanswered then.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from skn_connector.adapters.api import BackOfficeUnavailable, BaseAdapter
from skn_connector.adapters.registry import LoadedAdapter
from skn_connector.config import load_settings
from skn_connector.engine.deadlines import WorkingDays
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.service.wiring import build_adapters, build_node_client, creditor_profile
from skn_connector.store import open_store
from skn_connector.store.schema import HoldRecord, InboxMessage, OutboxMessage, Task

from .harness import Row, World, report, timed

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: Monday 2 March 2026, 09:00 in Amsterdam: the outage starts here.
START = datetime(2026, 3, 2, 9, 0, tzinfo=AMSTERDAM).astimezone(UTC)
#: The backoff's cap (effects.backoff): after the outage, everything is done within it.
BACKOFF_CAP = timedelta(hours=3)
DAYS = WorkingDays()


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Outage:
    """An adapter whose every call fails while the fake clock is in [start, end)."""

    def __init__(self, inner: Any, clock: FakeClock, start: datetime, end: datetime) -> None:
        self._inner, self._clock, self.start, self.end = inner, clock, start, end
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name in {"close", "check"} or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.start <= self._clock() < self.end:
                self.refused += 1
                raise BackOfficeUnavailable("the back-office is down (fault injection)")
            return attribute(*args, **kwargs)

        return call


def working_days_later(start: datetime, count: int) -> datetime:
    """The same time of day ``count`` working days after ``start``."""
    local = start.astimezone(AMSTERDAM)
    day = DAYS.add(local.date(), count)
    return datetime.combine(day, local.timetz()).astimezone(UTC)


@dataclass(frozen=True)
class Case:
    name: str
    end: Callable[[datetime], datetime]
    questions: int
    warn_at: int = 8


@dataclass
class Outcome:
    row: Row
    last_done: datetime  # the last answer sent or hold applied
    end: datetime
    late: list[str]  # answers sent after their due date
    deadline_tasks: list[tuple[str, date]]  # (referentienummer, the day the task was raised)
    unanswered_at_warn: set[str]  # questions still unanswered warn_at working days in
    failed: int  # inbox messages or holds given up on (must be none: retries never stop)
    outage_tasks: list[datetime]  # when a backoffice_unavailable task was raised


@contextmanager
def memory_dir() -> Iterator[Path | None]:
    """A directory in memory (tmpfs) for the store, where there is one: this tier tests
    retries over days of fake time, not durability, and thousands of steps each commit."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        yield None
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="skn-faults-") as directory:
        yield Path(directory)


def run_outage(workdir: Path, case: Case, seed: int) -> Outcome:
    elapsed = timed()
    clock = FakeClock(START - timedelta(minutes=5))
    end = case.end(START)
    with memory_dir() as store_dir, World(workdir, seed=seed, store_dir=store_dir) as world:
        settings = load_settings(world.config)
        loaded = build_adapters(settings)
        inner = loaded[0]
        outage = Outage(inner.adapter, clock, START, end)
        store = open_store(settings.store.url)
        node = build_node_client(settings)
        pipeline = Pipeline(
            store=store,
            node=node,
            adapters=[
                LoadedAdapter(inner.name, inner.use, cast(BaseAdapter, outage), inner.capabilities)
            ],
            creditor=creditor_profile(settings),
            clock=clock,
            batch_size=25,
            policy=load_policy("gemeentebelastingen", "lokale_overheid"),
            warn_at_working_days=case.warn_at,
        )
        try:
            # half decided before the outage: their holds wait for its end
            world.inject(case.questions // 2)
            pipeline.poll()
            pipeline.process_due()
            clock.now = START
            pipeline.deliver_due()
            # half arrive during it: their decisions wait
            world.inject(case.questions - case.questions // 2)
            steps = drive(pipeline, clock, end)
            # the release phase, the back-office up again
            world.end_schuldregelingen(0.5)
            steps += drive(pipeline, clock, end)
            result = measure(store, case, end)
        finally:
            node.close()
            inner.adapter.close()
            store.close()
        verdict = world.verdict()
        faults = (
            f"outage {case.name}: {outage.refused} calls refused, {steps} steps; "
            f"deadline tasks {len(result['tasks'])} (warn at {case.warn_at} WD), other tasks "
            f"{', '.join(result['other_tasks']) or 'none'}; holds waited up to "
            f"{hours(result['hold_wait'])}; "
            f"last effect {hours(result['last'] - end)} after the end"
        )
        row = Row("3 back-office", case.name, world.messages, faults, verdict, elapsed())
    return Outcome(
        row,
        result["last"],
        end,
        result["late"],
        result["tasks"],
        result["unanswered_at_warn"],
        result["failed"],
        result["outage_tasks"],
    )


def hours(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def drive(pipeline: Pipeline, clock: FakeClock, end: datetime) -> int:
    """Step the pipeline, moving the clock to the next stored retry, until nothing is left."""
    steps = 0
    while True:
        steps += 1
        pipeline.poll()
        pipeline.process_due()
        pipeline.carry_out()
        pipeline.deliver_due()
        pipeline.watch.deadlines()
        inbox, backlog = pipeline.backlog()
        if not inbox and not backlog:
            return steps
        upcoming = next_retry(pipeline)
        assert upcoming is not None, "work is pending but no retry is planned"
        # at least a minute per step (the daemon's jobs run every 30 s to 5 min), half an hour
        # while the back-office is down (retries come at most 3 h apart); never past its end
        least = timedelta(minutes=30) if clock.now < end else timedelta(minutes=1)
        target = max(upcoming, clock.now + least)
        if clock.now < end < target:
            target = end
        clock.now = target
        assert steps < 20_000, "the retries do not converge"


def next_retry(pipeline: Pipeline) -> datetime | None:
    with pipeline.store.transaction() as session:
        times = [
            *session.scalars(
                select(InboxMessage.next_attempt_at).where(InboxMessage.status == "pending")
            ),
            *session.scalars(
                select(HoldRecord.next_attempt_at).where(
                    HoldRecord.status.in_(("to_apply", "to_release"))
                )
            ),
            *session.scalars(
                select(OutboxMessage.next_attempt_at).where(OutboxMessage.status == "pending")
            ),
        ]
    if any(t is None for t in times):
        return pipeline.clock()
    return min((t for t in times if t is not None), default=None)


def measure(store: Any, case: Case, end: datetime) -> dict[str, Any]:
    with store.transaction() as session:
        asked = {
            row.referentienummer: row
            for row in session.scalars(
                select(InboxMessage).where(InboxMessage.berichttype != "SchuldregelingBeeindigd")
            )
        }
        answers = {
            row.cross_referentienummer: row.sent_at
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sent"))
        }
        holds = list(session.scalars(select(HoldRecord)))
        applied = [row.applied_at for row in holds if row.applied_at]
        hold_wait = max(
            (row.applied_at - row.created_at for row in holds if row.applied_at),
            default=timedelta(0),
        )
        other_tasks = sorted(
            {task.kind for task in session.scalars(select(Task).where(Task.kind != "deadline"))}
        )
        outage_tasks = [
            task.created_at
            for task in session.scalars(select(Task).where(Task.kind == "backoffice_unavailable"))
        ]
        tasks = [
            (task.referentienummer or "", task.created_at.astimezone(AMSTERDAM).date())
            for task in session.scalars(select(Task).where(Task.kind == "deadline"))
        ]
        failed = sum(1 for row in asked.values() if row.status == "failed")
        failed += len(
            list(session.scalars(select(HoldRecord).where(HoldRecord.status == "failed")))
        )
    late = []
    unanswered_at_warn = set()
    for referentienummer, row in asked.items():
        sent = answers.get(referentienummer)
        assert sent is not None, f"no answer sent to {referentienummer}"
        local = sent.astimezone(AMSTERDAM).date()
        if row.answer_due is not None and local > row.answer_due:
            late.append(referentienummer)
        warn_day = DAYS.add(row.received_at.astimezone(AMSTERDAM).date(), case.warn_at)
        if local >= warn_day:
            unanswered_at_warn.add(referentienummer)
    last = max([*answers.values(), *applied])
    return {
        "late": late,
        "tasks": tasks,
        "unanswered_at_warn": unanswered_at_warn,
        "failed": failed,
        "last": last,
        "hold_wait": hold_wait,
        "other_tasks": other_tasks,
        "outage_tasks": outage_tasks,
    }


def check(outcome: Outcome, *, deadline_met: bool = True) -> None:
    verdict = outcome.row.verdict
    assert verdict.ok, verdict.problems
    assert outcome.failed == 0, "a message or hold was given up on"
    # once the back-office is back, everything is done within one backoff interval
    assert outcome.last_done - outcome.end <= BACKOFF_CAP + timedelta(minutes=5)
    if deadline_met:
        assert outcome.late == [], f"{len(outcome.late)} answers after their deadline"
    # every question still unanswered at warn_at working days got its deadline task
    warned = {referentienummer for referentienummer, _ in outcome.deadline_tasks}
    assert outcome.unanswered_at_warn <= warned
    assert len(warned) == len(outcome.deadline_tasks), "a question was warned about twice"
    # an outage longer than the setting (4 h) reaches a person once, within a few hours of
    # the setting (the retries' backoff paces the checks); a shorter one raises nothing
    start = outcome.end - (outcome.end - START)
    if outcome.end - START > timedelta(hours=4):
        assert len(outcome.outage_tasks) == 1, outcome.outage_tasks
        assert outcome.outage_tasks[0] - start <= timedelta(hours=4) + BACKOFF_CAP
    else:
        assert outcome.outage_tasks == []


QUICK = (
    Case("10 seconds", lambda start: start + timedelta(seconds=10), 10),
    Case("1 hour", lambda start: start + timedelta(hours=1), 10),
    Case("6 working days, warn at 5", lambda start: working_days_later(start, 6), 10, warn_at=5),
)


@pytest.mark.parametrize("case", QUICK, ids=[c.name for c in QUICK])
def test_quick_sample_backoffice_outage(tmp_path: Path, case: Case) -> None:
    outcome = run_outage(tmp_path, case, seed=31)
    report(outcome.row)
    check(outcome)
    if case.warn_at == 5:
        assert outcome.deadline_tasks and outcome.unanswered_at_warn
        # raised on the fifth working day, before the deadline of the tenth
        first = min(day for _, day in outcome.deadline_tasks)
        assert first == DAYS.add(START.astimezone(AMSTERDAM).date(), 5)


FULL = (
    Case("10 seconds", lambda start: start + timedelta(seconds=10), 30),
    Case("5 minutes", lambda start: start + timedelta(minutes=5), 30),
    Case("1 hour", lambda start: start + timedelta(hours=1), 30),
    Case("8 hours", lambda start: start + timedelta(hours=8), 30),
    Case("1 working day", lambda start: working_days_later(start, 1), 30),
    Case("3 working days", lambda start: working_days_later(start, 3), 30),
    Case("6 working days", lambda start: working_days_later(start, 6), 30),
    Case("6 working days, warn at 5", lambda start: working_days_later(start, 6), 30, warn_at=5),
    Case("9 working days", lambda start: working_days_later(start, 9), 30),
    Case("12 working days (past the deadline)", lambda start: working_days_later(start, 12), 30),
)


@pytest.mark.faults_full
def test_full_backoffice_outages(tmp_path: Path) -> None:
    outcomes = []
    for index, case in enumerate(FULL):
        outcomes.append((case, run_outage(tmp_path / f"case{index}", case, seed=200 + index)))
    for _, outcome in outcomes:
        report(outcome.row)
    for case, outcome in outcomes:
        check(outcome, deadline_met="past the deadline" not in case.name)
    by_name = {case.name: outcome for case, outcome in outcomes}
    # 6 working days with the default warning at 8: answered on day 6, in time; no task was
    # raised while the outage lasted (gap 2 in docs/reliability.md: not asserted, reported)
    # 9 working days: the task comes on day 8, before the deadline; the answer on day 9
    nine = by_name["9 working days"]
    assert nine.deadline_tasks and nine.late == []
    assert min(day for _, day in nine.deadline_tasks) == DAYS.add(START.date(), 8)
    past = by_name["12 working days (past the deadline)"]
    assert past.late and past.deadline_tasks
