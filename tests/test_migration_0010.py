"""Migration 0010: every row of the work gets its creditor. A store of the previous release
(the fixture of migration 0006, upgraded to 0009) keeps every row; opened by a configuration
with one creditor, every row becomes that creditor's, the audit trail's head moves with it
and the trail verifies in its scope; opened without one, the rows belong to no creditor until
the sole creditor opens it. On SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, MetaData, create_engine, select, text

from skn_connector.store import open_store
from skn_connector.store.audit import verify_audit
from skn_connector.store.scope import SCOPED_TABLES

from .test_migration_0006 import FIXTURE, HOLD_TASK, TABLES, _alembic, _plain, postgres_at

CREDITOR = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    metadata = MetaData()
    metadata.reflect(engine, only=TABLES)
    with engine.connect() as connection:
        return {
            name: [
                {key: _plain(value) for key, value in row._mapping.items()}
                for row in connection.execute(select(metadata.tables[name]).order_by(text("1")))
            ]
            for name in TABLES
        }


def _store_at_0009(tmp_path: Path) -> Path:
    path = tmp_path / "skn.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as db:
        db.execute(HOLD_TASK)
    engine = create_engine(f"sqlite:///{path}")
    config = _alembic()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
    engine.dispose()
    return path


def _check(before: dict[str, list[dict[str, Any]]], engine: Engine, creditor: str) -> None:
    after = _rows(engine)
    for name in SCOPED_TABLES:
        assert len(after[name]) == len(before[name]) > 0 or name == "write_offs", name
        # every value as it was; the new column names the creditor
        assert [
            {k: r[k] for k in old} for r, old in zip(after[name], before[name], strict=True)
        ] == before[name]
        assert {r["creditor_id"] for r in after[name]} <= {creditor}, name
    keys = {m["key"] for m in after["meta"]}
    assert "audit_head" not in keys and f"audit_head@{creditor}" in keys


def test_the_sole_creditor_gets_every_row(tmp_path: Path) -> None:
    path = _store_at_0009(tmp_path)
    before = _rows(create_engine(f"sqlite:///{path}"))
    store = open_store(f"sqlite:///{path}", sole_creditor=CREDITOR)
    try:
        _check(before, store.engine, CREDITOR)
        mine = store.scoped(CREDITOR)
        report = verify_audit(mine)
        assert report.ok and report.head_recorded and report.count == len(before["audit"])
        # another creditor's scope sees none of it
        assert verify_audit(store.scoped("another")).count == 0
    finally:
        store.close()


def test_rows_of_no_creditor_wait_for_the_sole_creditor(tmp_path: Path) -> None:
    path = _store_at_0009(tmp_path)
    before = _rows(create_engine(f"sqlite:///{path}"))
    open_store(f"sqlite:///{path}").close()  # a configuration with several creditors
    unassigned = _rows(create_engine(f"sqlite:///{path}"))
    assert all(r["creditor_id"] == "" for name in SCOPED_TABLES for r in unassigned[name])
    store = open_store(f"sqlite:///{path}", sole_creditor=CREDITOR)
    try:
        _check(before, store.engine, CREDITOR)
        assert verify_audit(store.scoped(CREDITOR)).ok
    finally:
        store.close()


def test_the_sole_creditor_gets_every_row_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    source = create_engine(f"sqlite:///{_store_at_0009(tmp_path)}")
    before = _rows(source)
    postgres_at(postgres_url, "0009", before).dispose()
    store = open_store(postgres_url, sole_creditor=CREDITOR)
    try:
        _check(before, store.engine, CREDITOR)
        assert verify_audit(store.scoped(CREDITOR)).ok
    finally:
        store.close()
