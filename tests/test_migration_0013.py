"""Migration 0013: the indexes by creditor. A store at 0012 with two creditors' rows (the
fixture of migration 0006, its rows given to one creditor by 0010, and another creditor's
added) upgrades with every row kept as it was and the indexes in place, by creditor, with
the partial ones' conditions word for word; ``ix_holds_status`` is gone. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, MetaData, create_engine, insert, inspect, text

from skn_connector.store.scope import SCOPED_TABLES

from .test_migration_0006 import FIXTURE, HOLD_TASK, TABLES, _alembic, postgres_at
from .test_migration_0010 import _rows

MINE, OTHER = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11", "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a12"
#: index -> (table, its columns, the condition of a partial index, in the database's words)
INDEXES = {
    "ix_inbox_status": ("inbox", ["status", "creditor_id"]),
    "ix_inbox_pending": ("inbox", ["status", "creditor_id", "answer_due", "received_at"]),
    "ix_inbox_creditor": ("inbox", ["creditor_id", "id"]),
    "ix_quarantine_status": ("quarantine", ["status", "creditor_id"]),
    "ix_quarantine_creditor": ("quarantine", ["creditor_id"]),
    "ix_outbox_status": ("outbox", ["status", "creditor_id"]),
    "ix_tasks_status": ("tasks", ["status", "creditor_id"]),
    "ix_tasks_kind_status": ("tasks", ["kind", "creditor_id", "status"]),
    "ix_holds_status_ends": ("holds", ["status", "creditor_id", "ends"]),
    "ix_write_offs_status": ("write_offs", ["status", "creditor_id"]),
    "ix_audit_backoffice_failures": ("audit", ["event", "creditor_id"]),
    "ix_audit_actions": ("audit", ["creditor_id", "id"]),
    "ix_audit_creditor": ("audit", ["creditor_id", "id"]),
}
PARTIAL = {
    "ix_inbox_pending": "status = 'pending'",
    "ix_audit_backoffice_failures": "event IN ('effect_failed', 'processing_failed')",
    "ix_audit_actions": "detail LIKE '%\"actor\": {%'",
    "ix_inbox_creditor": "creditor_id <> ''",
    "ix_quarantine_creditor": "creditor_id <> ''",
    "ix_audit_creditor": "creditor_id <> ''",
}


#: the unique keys of the work tables (column -> the tables where it is unique)
UNIQUE = {
    "referentienummer": ("inbox", "outbox"),
    "hold_id": ("holds",),
    "write_off_id": ("write_offs",),
    "id": ("conversations",),
}


def _upgrade(engine: Engine, revision: str, *, sole_creditor: str | None = None) -> None:
    config = _alembic()
    if sole_creditor is not None:
        config.attributes["sole_creditor"] = sole_creditor
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _another_creditors_rows(engine: Engine) -> None:
    """A copy of every row of the work as another creditor's (its unique keys made new), so
    that the upgraded store holds two creditors."""
    rows = _rows(engine)
    metadata = MetaData()
    metadata.reflect(engine, only=TABLES)
    with engine.begin() as connection:
        for name in sorted(SCOPED_TABLES):
            table = metadata.tables[name]
            copies = []
            for row in rows[name]:
                copy = {**row, "creditor_id": OTHER}
                if name != "conversations":
                    del copy["id"]  # a new one
                for key, tables in UNIQUE.items():
                    if name in tables and copy.get(key) is not None:
                        copy[key] = f"{copy[key]}"[:30] + "-other"
                copies.append(copy)
            if copies:
                connection.execute(insert(table), copies)


def _store_at_0012(tmp_path: Path) -> Engine:
    path = tmp_path / "skn.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as db:
        db.execute(HOLD_TASK)
    engine = create_engine(f"sqlite:///{path}")
    _upgrade(engine, "0012", sole_creditor=MINE)
    _another_creditors_rows(engine)
    return engine


def _check(before: dict[str, list[dict[str, Any]]], engine: Engine) -> None:
    assert _rows(engine) == before  # every row, every value
    found = {
        index["name"]: (table, index["column_names"])
        for table in SCOPED_TABLES
        for index in inspect(engine).get_indexes(table)
    }
    assert {name: found.get(name) for name in INDEXES} == {
        name: (table, columns) for name, (table, columns) in INDEXES.items()
    }
    assert "ix_holds_status" not in found
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            sql = (
                "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid)"
                " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            )
        conditions = {name: where or "" for name, where in connection.execute(text(sql))}
    for name, condition in PARTIAL.items():
        if engine.dialect.name == "sqlite":
            assert conditions[name].endswith(f"WHERE {condition}"), conditions[name]
        else:
            # PostgreSQL words a condition its own way (casts, brackets): its column
            assert condition.split()[0] in conditions[name], (name, conditions[name])
    counts = {name: len(rows) for name, rows in before.items()}
    assert counts["inbox"] > 0 and {r["creditor_id"] for r in before["inbox"]} == {MINE, OTHER}


def test_the_upgrade_keeps_every_row_and_builds_the_indexes(tmp_path: Path) -> None:
    engine = _store_at_0012(tmp_path)
    before = _rows(engine)
    _upgrade(engine, "0013")
    _check(before, engine)
    engine.dispose()


def test_the_upgrade_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    before = _rows(_store_at_0012(tmp_path))
    target = postgres_at(postgres_url, "0012", before)
    _upgrade(target, "0013")
    _check(before, target)
    target.dispose()
