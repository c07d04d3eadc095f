"""The store scoped by creditor (store/scope.py), on a real SQLite store: a creditor's scope
reads, counts, changes and deletes its own rows alone, through the ORM, Core statements,
subqueries, aliases and joins, and through ``bulk.execute_many``; every row it writes is its
own; without a scope every row is read and rows are written for no creditor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from skn_connector.store import Store, open_store
from skn_connector.store import statements as sql
from skn_connector.store.bulk import execute_many
from skn_connector.store.schema import AuditEntry, Conversation, OutboxMessage, Task
from skn_connector.store.statements import find_conversation

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A, B = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c01", "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c02"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    for creditor, tasks in ((A, 2), (B, 3)):
        mine = opened.scoped(creditor)
        with mine.transaction() as session:
            session.add(
                Conversation(
                    id=f"conv-{creditor[-2:]}",
                    module="Schuldregeling",
                    state="AANGEMELD",
                    counterparty="shv",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            for number in range(tasks):
                session.add(
                    Task(
                        kind="deadline",
                        conversation_id=f"conv-{creditor[-2:]}",
                        reason=f"task {number}",
                        created_at=NOW,
                        status="open",
                    )
                )
            mine.audit(session, "test_event", n=tasks)
    return opened


def count(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(Task)) or 0


def test_each_scope_reads_its_own_rows_alone(store: Store) -> None:
    a, b = store.scoped(A), store.scoped(B)
    assert (count(a), count(b), count(store)) == (2, 3, 5)
    with a.transaction() as session:
        assert {t.creditor_id for t in session.scalars(select(Task))} == {A}
        # a scalar subquery, an alias and a join are scoped too
        inner = select(func.count()).select_from(Task).scalar_subquery()
        assert session.scalar(select(inner)) == 2
        other = Task.__table__.alias("other")
        assert session.scalar(select(func.count()).select_from(other)) == 2
        joined = select(func.count()).select_from(
            Task.__table__.join(Conversation.__table__, Task.conversation_id == Conversation.id)
        )
        assert session.scalar(joined) == 2
        assert find_conversation(session, f"conv-{B[-2:]}") is None  # by its id too
        assert (
            session.scalars(select(Conversation).where(Conversation.id == f"conv-{B[-2:]}")).first()
            is None
        )
        # the message path's statements built once
        assert session.execute(sql.BACKLOG).one() == (0, 0, 0, 0)
    with b.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Task)) == 3


def test_a_scope_changes_and_deletes_its_own_rows_alone(store: Store) -> None:
    with store.scoped(B).transaction() as session:
        changed = session.execute(update(Task).values(status="resolved")).rowcount
        assert changed == 3
        session.execute(delete(Task).where(Task.reason == "task 0"))
    with store.transaction() as session:
        rows = session.execute(select(Task.creditor_id, Task.status, Task.reason)).all()
    assert sorted(r for r in rows if r[0] == A) == [(A, "open", "task 0"), (A, "open", "task 1")]
    assert sorted(r for r in rows if r[0] == B) == [
        (B, "resolved", "task 1"),
        (B, "resolved", "task 2"),
    ]


def test_every_row_a_scope_writes_is_its_own(store: Store) -> None:
    rows = [
        {
            "referentienummer": f"00000000-0000-4000-8000-00000000000{n}",
            "conversation_id": "c",
            "berichttype": "SaldoverzoekAntwoord",
            "payload": b"<x/>",
            "created_at": NOW,
            "status": "pending",
            "attempts": 0,
        }
        for n in range(3)
    ]
    with store.scoped(A).transaction() as session:
        execute_many(session.connection(), sql.INSERT_OUTBOX, rows[:2])  # straight to the driver
        session.execute(insert(OutboxMessage), [rows[2]])  # Core, executemany
    with store.transaction() as session:
        assert set(session.scalars(select(OutboxMessage.creditor_id))) == {A}
        # the audit entries too; and a row written without a scope belongs to no creditor
        assert set(session.execute(select(AuditEntry.creditor_id, AuditEntry.event)).all()) == {
            (A, "test_event"),
            (B, "test_event"),
        }
        session.add(Task(kind="deadline", reason="unscoped", created_at=NOW, status="open"))
    with store.transaction() as session:
        assert session.scalar(select(Task.creditor_id).where(Task.reason == "unscoped")) == ""
    assert count(store.scoped(A)) == 2


def test_the_updates_of_the_message_path_stay_in_scope(store: Store) -> None:
    with store.scoped(A).transaction() as session:
        session.execute(
            insert(OutboxMessage),
            {
                "referentienummer": "00000000-0000-4000-8000-0000000000aa",
                "conversation_id": "c",
                "berichttype": "SaldoverzoekAntwoord",
                "payload": b"<x/>",
                "created_at": NOW,
                "status": "pending",
            },
        )
        (outbox_id,) = session.execute(select(OutboxMessage.id)).one()
    # B's scope cannot mark A's answer sent, even by its id
    with store.scoped(B).transaction() as session:
        execute_many(
            session.connection(),
            update(OutboxMessage)
            .where(OutboxMessage.id == sql.bindparam("outbox_id"))
            .values(status="sent"),
            [{"outbox_id": outbox_id}],
        )
    with store.transaction() as session:
        assert session.scalar(select(OutboxMessage.status)) == "pending"
