"""Migration 0014: a conversation's key is its id and its creditor. A store of the previous
release (the fixture of migration 0006, upgraded to 0013 for one creditor) keeps every
conversation as it was, its audit trail verifies, and a second creditor may then hold a
conversation of the same id, which the old key refused. On SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, create_engine, select, text
from sqlalchemy.exc import IntegrityError

from skn_connector.store import open_store
from skn_connector.store.audit import verify_audit
from skn_connector.store.statements import INSERT_CONVERSATION, find_conversation

from .test_migration_0006 import FIXTURE, HOLD_TASK, TABLES, _alembic, _plain, postgres_at

A, B = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11", "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a12"


def _conversations(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            {k: _plain(v) for k, v in row._mapping.items()}
            for row in connection.execute(text("SELECT * FROM conversations ORDER BY id"))
        ]


def _upgrade(engine: Engine, revision: str) -> None:
    config = _alembic()
    config.attributes["sole_creditor"] = A
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _sqlite_at_0013(tmp_path: Path) -> Path:
    path = tmp_path / "skn.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as db:
        db.execute(HOLD_TASK)
    engine = create_engine(f"sqlite:///{path}")
    _upgrade(engine, "0013")
    engine.dispose()
    return path


def _a_second_creditor_takes_the_same_id(url: str, before: list[dict[str, Any]]) -> None:
    store = open_store(url, sole_creditor=A)
    try:
        assert _conversations(store.engine) == before
        assert verify_audit(store.scoped(A)).ok
        taken = before[0]
        row = {**taken, "creditor_id": B, "state": "NEW"}
        for moment in ("created_at", "updated_at"):
            row[moment] = datetime(2026, 12, 1, tzinfo=UTC)
        with store.scoped(B).transaction() as session:
            session.execute(INSERT_CONVERSATION, [row])
        with store.scoped(B).transaction() as session:
            mine = find_conversation(session, taken["id"])
            assert mine is not None and mine.state == "NEW"
        with store.scoped(A).transaction() as session:
            theirs = find_conversation(session, taken["id"])
            assert theirs is not None and theirs.state == taken["state"]
        # the key still holds within one creditor
        with pytest.raises(IntegrityError), store.scoped(B).transaction() as session:
            session.execute(INSERT_CONVERSATION, [row])
    finally:
        store.close()


def test_conversations_are_kept_and_keyed_by_creditor(tmp_path: Path) -> None:
    path = _sqlite_at_0013(tmp_path)
    before = _conversations(create_engine(f"sqlite:///{path}"))
    assert before and {c["creditor_id"] for c in before} == {A}
    _a_second_creditor_takes_the_same_id(f"sqlite:///{path}", before)


def test_conversations_are_kept_and_keyed_by_creditor_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    source = create_engine(f"sqlite:///{_sqlite_at_0013(tmp_path)}")
    metadata = MetaData()
    metadata.reflect(source, only=TABLES)
    with source.connect() as connection:
        rows = {
            name: [dict(r._mapping) for r in connection.execute(select(metadata.tables[name]))]
            for name in TABLES
        }
    target = postgres_at(postgres_url, "0013", rows, sole_creditor=A)
    before = _conversations(target)
    target.dispose()
    _a_second_creditor_takes_the_same_id(postgres_url, before)
