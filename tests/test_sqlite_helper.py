"""The SDK's SQLite helper (skn_connector.adapters.sqlite) and the default batch hooks."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from skn_connector.adapters.api import (
    AdapterError,
    BackOfficeRejected,
    BackOfficeTimeout,
    BackOfficeUnavailable,
    BaseAdapter,
    Capability,
    Hold,
    HoldResult,
    MeasureCode,
)
from skn_connector.adapters.sqlite import (
    HoldLedger,
    SqliteBackOffice,
    amount,
    exclusive_lock,
    locked_copy,
    sql_amount,
    sql_datetime,
    sqlite_file,
)

LABEL = "the test database"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "backoffice.db"
    conn = sqlite3.connect(file)
    conn.executescript(
        """
        CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE opschortingen (
            hold_id VARCHAR(36) PRIMARY KEY, debtor_id INTEGER NOT NULL, reden TEXT NOT NULL,
            basis TEXT NOT NULL, begint DATE NOT NULL, eindigt DATE, status TEXT NOT NULL,
            toegepast_op DATETIME NOT NULL, vrijgegeven_op DATETIME, measures JSON NOT NULL
        );
        """
    )
    conn.close()
    return file


@pytest.fixture
def db(path: Path) -> Iterator[SqliteBackOffice]:
    office = SqliteBackOffice(path, label=LABEL, timeout_seconds=0.5)
    yield office
    office.close()


def _names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM t ORDER BY id")]
    finally:
        conn.close()


def test_sqlite_file_names_the_problem_never_the_url() -> None:
    assert sqlite_file("sqlite:////var/lib/x.db") == Path("/var/lib/x.db")
    for url, problem in [
        ("not a url", "is not a database URL"),
        ("postgresql://u:secret@h/db", "must be a SQLite URL"),
        ("sqlite://", "must name a SQLite database file"),
        ("sqlite:///:memory:", "must name a SQLite database file"),
    ]:
        with pytest.raises(ValueError, match=problem) as err:
            sqlite_file(url)
        assert "secret" not in str(err.value)


def test_storage_formats() -> None:
    assert sql_amount(Decimal("12.3")) == "12.30" and amount("12.3") == Decimal("12.30")
    assert sql_datetime(datetime(2025, 2, 28, 13, 14, 15)) == "2025-02-28 13:14:15.000000"


def test_never_creates_the_file_and_connects_lazily(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    office = SqliteBackOffice(missing, label=LABEL)  # the connector starts while it is down
    with (
        pytest.raises(BackOfficeUnavailable, match="the test database is not available"),
        office.read() as conn,
    ):
        conn.execute("SELECT 1")
    assert not missing.exists()


def test_connections_are_wal_durable_and_check_foreign_keys(
    db: SqliteBackOffice, path: Path
) -> None:
    with db.transaction() as conn:
        settings = [
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys")
        ]
    assert settings == ["wal", 2, 1]  # synchronous 2 = FULL
    with db.transaction(write=True) as conn:
        conn.execute("INSERT INTO t (name) VALUES ('a')")
    assert _names(path) == ["a"]


def test_errors_are_typed_and_carry_only_the_reason(db: SqliteBackOffice, path: Path) -> None:
    with db.transaction(write=True) as conn:
        conn.execute("INSERT INTO t (name) VALUES (?)", ("Jansen-Voorbeeld",))
    with pytest.raises(BackOfficeRejected) as refused, db.transaction(write=True) as conn:
        conn.execute("INSERT INTO t (name) VALUES ('b')")
        conn.execute("INSERT INTO t (name) VALUES (?)", ("Jansen-Voorbeeld",))
    assert str(refused.value) == (
        "the test database refused the change (UNIQUE constraint failed: t.name)"
    )
    assert refused.value.__suppress_context__
    assert _names(path) == ["Jansen-Voorbeeld"]  # rolled back, 'b' too
    with (
        pytest.raises(BackOfficeUnavailable, match=r"not available \(no such table: nope\)"),
        db.read() as conn,
    ):
        conn.execute("SELECT * FROM nope")
    with pytest.raises(RuntimeError), db.transaction(write=True) as conn:
        conn.execute("INSERT INTO t (name) VALUES ('c')")
        raise RuntimeError("a bug")
    assert _names(path) == ["Jansen-Voorbeeld"]


def test_a_statement_past_the_deadline_is_a_timeout(path: Path) -> None:
    office = SqliteBackOffice(path, label=LABEL, timeout_seconds=0.05, progress_steps=100)
    slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    with (
        pytest.raises(BackOfficeTimeout, match=r"did not answer within 0\.05 s"),
        office.read() as conn,
    ):
        conn.execute(slow).fetchall()
    with office.read() as conn:  # the connection is usable again (a new deadline)
        assert conn.execute("SELECT 1").fetchone() == (1,)
    office.close()


def test_a_locked_back_office_is_unavailable_readers_too(path: Path) -> None:
    office = SqliteBackOffice(path, label=LABEL, timeout_seconds=0.05)
    with office.transaction() as conn:  # WAL from now on
        conn.execute("SELECT 1")
    office.close()  # an open connection would keep the exclusive lock out
    locked_out = pytest.raises(BackOfficeUnavailable, match="database is locked")
    with exclusive_lock(path), locked_out, office.read() as conn:
        conn.execute("SELECT * FROM t").fetchall()
    with office.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with locked_copy(path, path.parent / "copy") as copy:
        locked = SqliteBackOffice(copy, label=LABEL, timeout_seconds=0.05)
        with pytest.raises(BackOfficeUnavailable, match="locked"), locked.read() as conn:
            conn.execute("SELECT * FROM t").fetchall()
        with office.read() as conn:  # the original is not locked
            conn.execute("SELECT * FROM t").fetchall()
    office.close()


def test_no_free_connection_is_a_timeout(path: Path) -> None:
    office = SqliteBackOffice(path, label=LABEL, timeout_seconds=0.05, max_connections=1)
    taken, done = threading.Event(), threading.Event()

    def hold_one() -> None:
        with office.read():
            taken.set()
            done.wait(5)

    worker = threading.Thread(target=hold_one)
    worker.start()
    try:
        assert taken.wait(5)
        with (
            pytest.raises(BackOfficeTimeout, match=r"had no free connection within 0\.05 s"),
            office.read(),
        ):
            pass
    finally:
        done.set()
        worker.join()
    with office.read() as conn:  # free again
        conn.execute("SELECT 1")
    office.close()


def _insert(conn: sqlite3.Connection, name: str) -> str:
    if name == "refused":
        raise BackOfficeRejected("refused by the adapter")
    if name == "down":
        raise BackOfficeUnavailable("gone")
    conn.execute("INSERT INTO t (name) VALUES (?)", (name,))
    return name


def test_write_each_undoes_only_the_item_that_failed(db: SqliteBackOffice, path: Path) -> None:
    results = db.write_each(["a", "refused", "a", "b"], _insert)  # 2nd 'a': UNIQUE fails
    assert results[0] == "a" and results[3] == "b"
    assert isinstance(results[1], BackOfficeRejected)
    assert isinstance(results[2], BackOfficeRejected) and "UNIQUE" in str(results[2])
    assert _names(path) == ["a", "b"]
    # after a retryable error the rest gets it too; what was done is committed
    results = db.write_each(["c", "down", "d"], _insert)
    assert results[0] == "c"
    assert isinstance(results[1], BackOfficeUnavailable) and results[2] is results[1]
    assert _names(path) == ["a", "b", "c"]
    # a bug rolls the batch back and propagates
    with pytest.raises(ZeroDivisionError):
        db.write_each(["e", "f"], lambda conn, name: _insert(conn, name) and 1 / 0)
    assert _names(path) == ["a", "b", "c"]
    assert db.write_each([], _insert) == []


def test_write_each_when_the_transaction_fails(path: Path) -> None:
    office = SqliteBackOffice(path, label=LABEL, timeout_seconds=0.05)
    with office.read() as conn:
        conn.execute("SELECT 1")
    office.close()
    with exclusive_lock(path):
        results = office.write_each(["x", "y"], _insert)
    assert [type(r) for r in results] == [BackOfficeUnavailable, BackOfficeUnavailable]
    assert _names(path) == []
    office.close()


def _hold(debtor_id: str = "1") -> Hold:
    return Hold(
        hold_id=uuid.uuid4(),
        debtor_id=debtor_id,
        measures=frozenset({MeasureCode.AANMANING}),
        reason="KENNISGEVING",
        basis="convenant",
        starts=date(2025, 7, 1),
        conversation_id=uuid.uuid4(),
    )


def test_the_hold_ledger(db: SqliteBackOffice) -> None:
    ledger = HoldLedger(debtor_column="debtor_id", noun="client")
    hold, other = _hold(), _hold()
    record = {"stopped": ["AANMANING"], "detail": "1 measures suspended"}
    with db.transaction(write=True) as conn:
        assert ledger.find(conn, str(hold.hold_id)) is None
        ledger.insert_applied(conn, hold, 1, record, datetime(2025, 7, 1))
        ledger.insert_applied(conn, other, 1, {}, datetime(2025, 7, 1))
        entry = ledger.find(conn, str(hold.hold_id))
        assert entry is not None and entry.record == record and entry.status == "applied"
        assert [e.hold_id for e in ledger.others_applied(conn, 1, str(hold.hold_id))] == [
            str(other.hold_id)
        ]
    again = ledger.repeated_apply(entry, hold, 1)
    assert again.applied and again.measures == {"AANMANING"}
    assert again.detail == "1 measures suspended"
    with pytest.raises(BackOfficeRejected, match="already recorded for another client"):
        ledger.repeated_apply(entry, hold, 2)
    assert ledger.repeated_release(entry, hold, 1) is None  # applied: release it
    with db.transaction(write=True) as conn:
        ledger.mark_released(
            conn, str(hold.hold_id), {**record, "resumed": ["AANMANING"]}, datetime(2025, 8, 1)
        )
        entry = ledger.find(conn, str(hold.hold_id))
    assert entry is not None and entry.status == "released"
    released = ledger.repeated_release(entry, hold, 1)
    assert released is not None and released.measures == {"AANMANING"}
    assert not ledger.repeated_apply(entry, hold, 1).applied
    assert ledger.unknown_release(_hold()).applied
    with pytest.raises(ValueError, match="not an SQL identifier"):
        HoldLedger(debtor_column="debtor_id; DROP TABLE t")


class _Singles(BaseAdapter):
    """Only the single hold calls: the batch hooks are BaseAdapter's."""

    name = "singles"
    capabilities = frozenset({Capability.HOLDS})

    def apply_hold(self, hold: Hold) -> HoldResult:
        if hold.debtor_id == "refused":
            raise BackOfficeRejected("no such debtor")
        if hold.debtor_id == "bug":
            raise KeyError("a bug")
        return HoldResult(hold_id=hold.hold_id, applied=True)

    def release_hold(self, hold: Hold) -> HoldResult:
        if hold.debtor_id == "down":
            raise BackOfficeUnavailable("down")
        return HoldResult(hold_id=hold.hold_id, applied=True)


def test_the_default_batch_hooks_call_the_single_calls() -> None:
    adapter = _Singles(_Singles.Options())
    holds = [_hold(), _hold("refused"), _hold()]
    results = adapter.apply_holds(holds)
    assert [r.hold_id for r in results if isinstance(r, HoldResult)] == [
        holds[0].hold_id,
        holds[2].hold_id,
    ]
    assert isinstance(results[1], BackOfficeRejected)
    released = adapter.release_holds([_hold("down"), _hold()])
    assert isinstance(released[0], AdapterError) and isinstance(released[1], HoldResult)
    with pytest.raises(KeyError):  # not an AdapterError: an adapter bug, it propagates
        adapter.apply_holds([_hold(), _hold("bug")])
    assert adapter.apply_holds([]) == []
