"""execute_many: the message path's writes through the driver store exactly what SQLAlchemy's
own executemany stores, on SQLite and on PostgreSQL, and what it cannot prepare faithfully
still goes through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import StatementError

from skn_connector.store import open_store
from skn_connector.store import statements as sql
from skn_connector.store.audit import _INSERT_AUDIT
from skn_connector.store.bulk import execute_many, is_prepared
from skn_connector.store.db import Store

AMSTERDAM = timezone(timedelta(hours=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'bulk.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    opened = open_store(url)
    yield opened
    opened.close()


def _inbox_rows(prefix: str, received: datetime) -> list[dict[str, Any]]:
    return [
        {
            "referentienummer": f"{prefix}-{n}",
            "node_message_id": f"node-{n}",
            "berichttype": "Saldoverzoek",
            "module": "Schuldinventarisatie",
            "conversation_id": f"conv-{n}",
            "afzender": "00000000-0000-4000-8000-000000000001",
            "raw": b"<x>\x00\xff</x>" * n,
            "sha256": "0" * 64,
            # the batch's shared timestamp, one of another zone, and one a row of its own
            "received_at": received if n % 3 else received + timedelta(microseconds=n),
            "answer_due": date(2026, 12, n) if n % 2 else None,
            "status": "pending",
            "attempts": 0,
            "duplicates": 0,
            "channel": "node",
        }
        for n in range(1, 8)
    ]


def _stored(store: Store, table: str, key: str, prefix: str) -> list[tuple[Any, ...]]:
    """Every column but the id and the key, as the database holds them (no type processing
    on the way back: what was written is compared, not what SQLAlchemy reads)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT * FROM {table} WHERE {key} LIKE :prefix ORDER BY {key}"),
            {"prefix": f"{prefix}-%"},
        )
        names = list(rows.keys())
        return [
            tuple(v for name, v in zip(names, row, strict=True) if name not in {"id", key})
            for row in rows
        ]


def test_rows_written_through_the_driver_equal_sqlalchemys(store: Store) -> None:
    received = datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=AMSTERDAM)
    with store.transaction() as session:
        connection = session.connection()
        connection.execute(sql.INSERT_INBOX, _inbox_rows("sa", received))
        execute_many(connection, sql.INSERT_INBOX, _inbox_rows("bulk", received))
    assert _stored(store, "inbox", "referentienummer", "sa") == _stored(
        store, "inbox", "referentienummer", "bulk"
    )
    assert len(_stored(store, "inbox", "referentienummer", "bulk")) == 7

    # an UPDATE with literal values in its SET and WHERE clauses (status 'done', 'pending')
    with store.engine.connect() as connection:
        ids = dict(connection.execute(select(sql.inbox.c.referentienummer, sql.inbox.c.id)).all())
    done_at = datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
    with store.transaction() as session:
        connection = session.connection()
        for prefix, run in (("sa", connection.execute), ("bulk", None)):
            marks = [{"inbox_id": ids[f"{prefix}-{n}"], "processed_at": done_at} for n in (1, 2, 5)]
            if run is None:
                execute_many(connection, sql.MARK_INBOX_DONE, marks)
            else:
                run(sql.MARK_INBOX_DONE, marks)
    by_sa, by_bulk = (_stored(store, "inbox", "referentienummer", p) for p in ("sa", "bulk"))
    assert by_sa == by_bulk
    assert sum("done" in row for row in by_bulk) == 3


def test_audit_rows_through_the_driver_equal_sqlalchemys(store: Store) -> None:
    at = datetime(2026, 11, 27, 10, 0, tzinfo=AMSTERDAM)
    rows = [
        {
            "at": at + timedelta(seconds=n),
            "event": "processed",
            "conversation_id": None if n == 2 else f"c-{n}",
            "referentienummer": f"{{prefix}}-{n}",
            "detail": '{"x": "é"}',
            "prev_hash": "1" * 64,
            "hash": str(n) * 64,
        }
        for n in range(1, 4)
    ]
    with store.transaction() as session:
        connection = session.connection()
        connection.execute(
            _INSERT_AUDIT,
            [{**r, "referentienummer": r["referentienummer"].format(prefix="sa")} for r in rows],
        )
        execute_many(
            connection,
            _INSERT_AUDIT,
            [{**r, "referentienummer": r["referentienummer"].format(prefix="bulk")} for r in rows],
        )
    assert _stored(store, "audit", "referentienummer", "sa") == _stored(
        store, "audit", "referentienummer", "bulk"
    )


@pytest.mark.parametrize(
    "dialect", [SQLiteDialect_pysqlite(), PGDialect_psycopg()], ids=["sqlite", "postgresql"]
)
def test_the_message_paths_writes_all_go_through_the_driver(dialect: Any) -> None:
    """With the keys the path gives, none falls back (a per-row default added to one of these
    tables would make it; then the path is slower, not wrong, and this says so)."""
    writes: list[tuple[Any, list[str]]] = [
        (sql.INSERT_INBOX, list(_inbox_rows("k", datetime.now(UTC))[0])),
        (
            _INSERT_AUDIT,
            ["at", "event", "conversation_id", "referentienummer", "detail", "prev_hash", "hash"],
        ),
        (
            sql.INSERT_CONVERSATION,
            [
                "id",
                "module",
                "state",
                "counterparty",
                "klantnummer_se",
                "debtor_ref",
                "created_at",
                "updated_at",
            ],
        ),
        (
            sql.UPDATE_CONVERSATION,
            ["conversation", "state", "updated_at", "klantnummer_se", "debtor_ref"],
        ),
        (
            sql.INSERT_OUTBOX,
            [
                "referentienummer",
                "conversation_id",
                "cross_referentienummer",
                "berichttype",
                "payload",
                "created_at",
                "status",
                "attempts",
                "channel",
            ],
        ),
        (
            sql.INSERT_HOLD,
            [
                "hold_id",
                "hold_type",
                "event",
                "conversation_id",
                "adapter",
                "debtor_id",
                "factuurnummers",
                "measures",
                "lift",
                "basis",
                "starts",
                "ends",
                "status",
                "attempts",
                "created_at",
            ],
        ),
        (sql.MARK_INBOX_DONE, ["inbox_id", "processed_at"]),
        (sql.MARK_SENT, ["outbox_id", "sent_at"]),
        (sql.MARK_APPLIED, ["record", "at"]),
        (sql.MARK_RELEASED, ["record", "at"]),
        (sql.NOTE_APPLIED, ["record", "at"]),
    ]
    assert [s for s, keys in writes if not is_prepared(s, dialect, keys)] == []


def test_a_default_computed_per_row_goes_through_sqlalchemy(tmp_path: Path) -> None:
    counter = iter(range(100, 200))
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(8)),
        Column("stamp", Integer, default=lambda: next(counter)),
        Column("kind", String(8), default="plain"),
    )
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    table.metadata.create_all(engine)
    statement = insert(table)
    assert not is_prepared(statement, engine.dialect, ["name"])
    assert is_prepared(statement, engine.dialect, ["name", "stamp"])  # 'plain' is a constant
    with engine.begin() as connection:
        execute_many(connection, statement, [{"name": "a"}, {"name": "b"}])
        execute_many(connection, statement, [{"name": "c", "stamp": 7}, {"name": "d", "stamp": 8}])
        # rows of different keys go to SQLAlchemy, which refuses them as before
        refused = pytest.raises(StatementError, match="A value is required for bind parameter")
        with refused, connection.begin_nested():
            execute_many(connection, statement, [{"name": "e", "stamp": 9}, {"name": "f"}])
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT name, stamp, kind FROM t ORDER BY id")).all()
    assert [tuple(r) for r in stored] == [
        ("a", 100, "plain"),
        ("b", 101, "plain"),
        ("c", 7, "plain"),
        ("d", 8, "plain"),
    ]
    engine.dispose()


def test_statements_built_per_call_do_not_grow_the_cache_without_bound(tmp_path: Path) -> None:
    from skn_connector.store import bulk

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        for n in range(bulk._MAX_PREPARED + 50):
            execute_many(connection, insert(table), [{"n": n}, {"n": -n}])
            assert len(bulk._PREPARED) <= bulk._MAX_PREPARED
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2 * (
            bulk._MAX_PREPARED + 50
        )
    engine.dispose()
