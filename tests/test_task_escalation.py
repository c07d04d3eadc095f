"""A task open past its due date is escalated by the deadline watch, once: ``escalated_at``,
an audit entry, a warning in the log (no personal data: the task's reason is not in it)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from skn_connector.engine.deadlines import WorkingDays
from skn_connector.engine.tasks import add_task
from skn_connector.engine.watch import Watch
from skn_connector.store import open_store
from skn_connector.store.schema import AuditEntry, Task
from skn_connector.store.status import TaskKind

#: a Monday; the task below was due the Thursday before
TODAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _watch(tmp_path: Path, now: datetime) -> Watch:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    return Watch(
        store=store,
        working_days=WorkingDays(),
        warn_at_working_days=5,
        outage_task_after=timedelta(hours=4),
        clock=lambda: now,
    )


def test_an_overdue_task_is_escalated_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = _watch(tmp_path, TODAY)
    with watch.store.transaction() as session:
        for kind, due in (
            (TaskKind.BEWIND, date(2026, 12, 3)),  # past due: escalated
            (TaskKind.WSNP, date(2026, 12, 4)),  # due Friday: Monday is 1 working day after
            (TaskKind.REGELING, date(2026, 12, 7)),  # due today: not yet
            (TaskKind.UNEXPECTED_MESSAGE, None),  # no due date: nothing to be late for
        ):
            add_task(session, TODAY, kind, "Mevrouw Jansen, Dorpsstraat 1", None, None, due)
    with caplog.at_level(logging.WARNING, logger="skn_connector.engine.watch"):
        assert watch.deadlines() == 2
    assert watch.deadlines() == 0  # once
    with watch.store.transaction() as session:
        escalated = {
            t.kind: t.escalated_at
            for t in session.scalars(select(Task).where(Task.escalated_at.is_not(None)))
        }
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.event == "task_escalated"))
        )
    assert set(escalated) == {TaskKind.BEWIND, TaskKind.WSNP}
    assert len(entries) == 2 and all('"due": "2026-12-0' in e.detail for e in entries)
    assert [r.getMessage().split(" is open ")[1][:3] for r in caplog.records] == ["2 w", "1 w"]
    assert "Jansen" not in caplog.text and "Dorpsstraat" not in caplog.text
    assert all("Jansen" not in e.detail for e in entries)


def test_on_the_weekend_after_its_due_date_a_task_waits_for_monday(tmp_path: Path) -> None:
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    watch = _watch(tmp_path, saturday)
    with watch.store.transaction() as session:
        add_task(session, saturday, TaskKind.BEWIND, "r", None, None, date(2026, 12, 4))
    assert watch.deadlines() == 0
