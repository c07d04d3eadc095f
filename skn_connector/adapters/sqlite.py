"""A helper for adapters whose back-office is a SQLite file (part of the SDK).

The three reference adapters use it; a plugin may import it like ``api``::

    from skn_connector.adapters.sqlite import HoldLedger, SqliteBackOffice, sqlite_file

    class MyAdapter(BaseAdapter):
        def __init__(self, options):
            super().__init__(options)
            self._db = SqliteBackOffice(
                sqlite_file(options.database_url),
                label="the my-backoffice database",
                timeout_seconds=options.timeout_seconds,
            )

        def find_debtor(self, query):
            with self._db.read() as conn:                 # reads (transaction() for a snapshot)
                row = conn.execute(_BY_BSN, (query.bsn,)).fetchone()
            ...

        def apply_hold(self, hold):
            with self._db.transaction(write=True) as conn:  # BEGIN IMMEDIATE ... COMMIT
                return self._apply(conn, hold)

        def apply_holds(self, holds):                      # the whole batch, one commit
            return self._db.write_each(holds, self._apply)

        def close(self):
            self._db.close()

What :class:`SqliteBackOffice` does for the adapter:

- opens the file read-write and never creates it (``mode=rw``: an empty database where
  the back-office should be would answer "unknown debtor" to everyone), lazily, so that
  the connector starts while the back-office is down and the call raises instead;
- sets WAL journal mode (readers never wait for a writer), ``synchronous=FULL`` (a commit
  is durable: one fsync of the WAL) and ``foreign_keys=ON`` on every connection;
- gives every call a deadline of ``timeout_seconds``: waiting for a lock (SQLite's busy
  timeout) and running statements (a progress handler interrupts them) both count;
- maps ``sqlite3`` errors to the SDK's typed errors with the driver's short reason only,
  never SQL or parameters (they hold BSNs and names): a refused change (constraint,
  trigger) is :class:`BackOfficeRejected`, a statement past the deadline or no free
  connection :class:`BackOfficeTimeout`, anything else (locked, missing, unreadable)
  :class:`BackOfficeUnavailable`; every one is raised ``from None``;
- is thread-safe: the connector calls from several worker threads, and each call takes
  a connection of a small pool (at most ``max_connections`` at once) for its transaction;
- logs nothing: what it raises carries ids and SQLite's reason, never personal data.

Use constant SQL strings with ``?`` parameters on the hot paths: ``sqlite3`` keeps the
prepared statements of each connection (its statement cache), so a call costs a few
microseconds of SQLite instead of building and compiling a statement. For a list of
values, pass one JSON array and write ``x IN (SELECT value FROM json_each(?))`` (see
:func:`json_list`): the SQL stays the same whatever the length.

:class:`HoldLedger` is the idempotency record of holds in an ``opschortingen``-style
table (one row per hold id, written in the same transaction as the measures), with the
answers a repeated apply or release gives. The storage helpers (:func:`sql_date`,
:func:`sql_datetime`, :func:`amount`, ...) read and write values in the formats
SQLAlchemy uses for SQLite, so a back-office made with SQLAlchemy reads the same.

:func:`exclusive_lock` and :func:`locked_copy` make a SQLite back-office unreachable for
the conformance kit's ``slow_options`` (in WAL mode a plain ``BEGIN EXCLUSIVE`` does not
keep readers out).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from skn_connector.adapters.api import (
    AdapterError,
    BackOfficeRejected,
    BackOfficeTimeout,
    BackOfficeUnavailable,
    Hold,
    HoldResult,
    MeasureCode,
)

__all__ = [
    "DEFAULT_PROGRESS_STEPS",
    "HoldLedger",
    "HoldOutcome",
    "LedgerEntry",
    "SqliteBackOffice",
    "amount",
    "applied_result",
    "each_logged",
    "exclusive_lock",
    "json_list",
    "locked_copy",
    "logged",
    "measures_of",
    "parse_date",
    "released_result",
    "sql_amount",
    "sql_date",
    "sql_datetime",
    "sqlite_file",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: how many SQLite virtual-machine steps run between two looks at the deadline
DEFAULT_PROGRESS_STEPS: Final = 2000
_CENT = Decimal("0.01")
_NO_DEADLINE = float("inf")
_SAVEPOINT = "skn_each"
_MEASURE = {m.value: m for m in MeasureCode}


# -- options ------------------------------------------------------------------------------------


def sqlite_file(database_url: str, *, example: str = "sqlite:///var/lib/backoffice.db") -> Path:
    """The file a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL names.

    Raises ``ValueError`` with a sentence fit for an options error (it never repeats the
    URL): not a URL, not SQLite, or no file (``:memory:``, ``file:`` URIs). Use it in a
    pydantic ``field_validator`` and again in the adapter's ``__init__``.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ValueError("is not a database URL") from None
    if url.get_backend_name() != "sqlite":
        raise ValueError(f"must be a SQLite URL such as {example}")
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError(f"must name a SQLite database file, e.g. {example}")
    return Path(database)


# -- storage formats ----------------------------------------------------------------------------


def sql_date(value: date | None) -> str | None:
    """A date as stored: ``2025-02-28`` (as SQLAlchemy stores ``Date`` in SQLite)."""
    return None if value is None else value.isoformat()


def parse_date(value: str | None) -> date | None:
    """A stored date (``2025-02-28``), or None."""
    return None if value is None else date.fromisoformat(value)


def sql_datetime(value: datetime) -> str:
    """A (naive) timestamp as stored: ``2025-02-28 13:14:15.000016`` (SQLAlchemy's ``DateTime``)."""
    return value.isoformat(sep=" ", timespec="microseconds")


def sql_amount(value: Decimal) -> str:
    """An amount in euros as stored: an exact decimal string with two decimals (``"12.30"``)."""
    return str(Decimal(value).quantize(_CENT))


def amount(value: Any) -> Decimal:
    """A stored amount (``"12.30"``, or a number) as a ``Decimal`` with two decimals."""
    return Decimal(str(value)).quantize(_CENT)


def json_list(values: Sequence[Any]) -> str:
    """One parameter for ``IN (SELECT value FROM json_each(?))``: the values as a JSON array."""
    return json.dumps(list(values))


# -- errors -------------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """The driver's own short reason: its first line (no SQL, no parameters)."""
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


# -- the connection pool ------------------------------------------------------------------------


class _Slot:
    """One pooled connection and the deadline its progress handler watches."""

    __slots__ = ("conn", "deadline", "generation")

    def __init__(self, conn: sqlite3.Connection, generation: int) -> None:
        self.conn = conn
        self.deadline = _NO_DEADLINE
        self.generation = generation

    def past_deadline(self) -> int:
        return 1 if monotonic() > self.deadline else 0


class SqliteBackOffice:
    """A SQLite back-office file: pooled connections, transactions with a deadline, typed errors.

    ``label`` names the database in error messages ("the cjib database"): the messages are
    ``<label> is not available (database is locked)``, ``<label> did not answer within
    5 s``, ``<label> refused the change (UNIQUE constraint failed: ...)`` and ``<label>
    had no free connection within 5 s``. Nothing is opened until the first call.

    ``journal_mode``: ``"wal"`` (the default) switches the file to WAL on the first
    connection, which persists in the file; ``None`` leaves the file's journal mode alone
    (e.g. a back-office on a network file system, where WAL does not work).
    ``synchronous`` is ``FULL`` either way.

    ``close()`` closes the idle connections (and those in use when they come back); a
    later call opens new ones.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        label: str,
        timeout_seconds: float = 5.0,
        progress_steps: int = DEFAULT_PROGRESS_STEPS,
        journal_mode: Literal["wal"] | None = "wal",
        max_connections: int = 8,
        idle_connections: int = 4,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be more than 0")
        if progress_steps < 1 or max_connections < 1 or idle_connections < 0:
            raise ValueError("progress_steps and max_connections must be at least 1")
        self.path = Path(path).absolute()
        self.label = label
        self.timeout_seconds = float(timeout_seconds)
        self._uri = f"{self.path.as_uri()}?mode=rw"
        self._steps = progress_steps
        self._journal_mode = journal_mode
        self._idle_max = idle_connections
        self._idle: list[_Slot] = []
        self._max = max_connections
        self._in_use = 0
        self._waiting = 0
        self._generation = 0
        self._cond = threading.Condition(threading.Lock())

    # -- connections

    def _connect(self, generation: int) -> _Slot:
        conn = sqlite3.connect(
            self._uri,
            uri=True,
            timeout=self.timeout_seconds,
            isolation_level=None,  # autocommit: transaction() issues BEGIN and COMMIT itself
            check_same_thread=False,  # a pooled connection serves one thread at a time
        )
        slot = _Slot(conn, generation)
        try:
            conn.set_progress_handler(slot.past_deadline, self._steps)
            if self._journal_mode == "wal":
                conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return slot

    def _checkout(self) -> _Slot:
        """A connection for one call; its deadline is set from now."""
        started = monotonic()
        with self._cond:
            if self._in_use >= self._max:
                self._waiting += 1
                try:
                    free = self._cond.wait_for(
                        lambda: self._in_use < self._max, timeout=self.timeout_seconds
                    )
                finally:
                    self._waiting -= 1
                if not free:
                    raise BackOfficeTimeout(
                        f"{self.label} had no free connection within {self.timeout_seconds:g} s"
                    )
            self._in_use += 1
            slot = self._idle.pop() if self._idle else None
            generation = self._generation
        if slot is None:
            try:
                slot = self._connect(generation)
            except BaseException as exc:
                self._release()
                if isinstance(exc, sqlite3.Error):
                    raise self.error(exc) from None
                raise
        slot.deadline = started + self.timeout_seconds
        return slot

    def _release(self, slot: _Slot | None = None) -> bool:
        """Give a connection's place back (and the connection, when given): True if pooled."""
        with self._cond:
            self._in_use -= 1
            keep = (
                slot is not None
                and slot.generation == self._generation
                and len(self._idle) < self._idle_max
            )
            if keep:
                assert slot is not None
                self._idle.append(slot)
            if self._waiting:
                self._cond.notify()
        return keep

    def _checkin(self, slot: _Slot, *, broken: bool = False) -> None:
        slot.deadline = _NO_DEADLINE
        conn = slot.conn
        if not broken and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                broken = True
        if not self._release(None if broken else slot):
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their call ends."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._generation += 1
        for slot in idle:
            with contextlib.suppress(sqlite3.Error):
                slot.conn.close()

    # -- errors

    def error(self, exc: sqlite3.Error) -> AdapterError:
        """The typed error for a ``sqlite3`` error (raise it ``from None``)."""
        reason = _reason(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            return BackOfficeRejected(f"{self.label} refused the change ({reason})")
        if isinstance(exc, sqlite3.OperationalError):
            if reason == "interrupted":
                return BackOfficeTimeout(
                    f"{self.label} did not answer within {self.timeout_seconds:g} s"
                )
            return BackOfficeUnavailable(f"{self.label} is not available ({reason})")
        return BackOfficeUnavailable(f"{self.label} failed ({reason})")

    # -- transactions

    def transaction(self, *, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction on a pooled connection, committed when the ``with`` block ends.

        ``write=True`` begins it ``IMMEDIATE``: the write lock is taken first, so two
        calls for the same id (a hold id, a write-off id) run one after the other and the
        second sees the first's row. A ``sqlite3`` error in the block or at commit becomes
        the typed error (the transaction is rolled back); an ``AdapterError`` or any other
        exception rolls back and propagates as it is.
        """
        return _Call(self, "BEGIN IMMEDIATE" if write else "BEGIN")

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A pooled connection for reads outside a transaction (each statement on its own).

        Cheaper than ``transaction()`` by two statements; use it for a call whose reads
        need not see one snapshot (a lookup, one query). Deadline and errors as there.
        """
        return _Call(self, None)

    def write_each(
        self, items: Sequence[_T], work: Callable[[sqlite3.Connection, _T], _R]
    ) -> list[_R | AdapterError]:
        """``work(conn, item)`` for every item in ONE write transaction: one lock, one commit.

        The batch form of ``transaction(write=True)``, for ``apply_holds`` and
        ``release_holds``. Each item runs in a savepoint: when it raises an
        ``AdapterError`` (or a ``sqlite3`` error, mapped), only that item is undone and
        the error takes its place in the result; the other items still count. After a
        retryable error (the deadline passed, the database went away) the items not yet
        done get the same error and the ones done are committed. When the transaction as
        a whole fails (no lock, the commit fails), every item gets that error. One result
        per item, in order. Any other exception is a bug: the batch is rolled back and it
        propagates.
        """
        if not items:
            return []
        try:
            slot = self._checkout()
        except AdapterError as exc:
            unavailable: list[_R | AdapterError] = [exc for _ in items]
            return unavailable
        conn = slot.conn
        broken = False
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                broken = True
                failed = self.error(exc)
                refused: list[_R | AdapterError] = [failed for _ in items]
                return refused
            results: list[_R | AdapterError] = []
            stop: AdapterError | None = None
            for item in items:
                if stop is not None:
                    results.append(stop)
                    continue
                error: AdapterError
                try:
                    conn.execute(f"SAVEPOINT {_SAVEPOINT}")
                    value = work(conn, item)
                    conn.execute(f"RELEASE {_SAVEPOINT}")
                except AdapterError as exc:
                    error = exc
                except sqlite3.Error as exc:
                    error = self.error(exc)
                else:
                    results.append(value)
                    continue
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (e.g. an interrupted write)
                    broken = True
                    return _undone(results, len(items), error)
                try:
                    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
                    conn.execute(f"RELEASE {_SAVEPOINT}")
                except sqlite3.Error as exc:
                    broken = True
                    return _undone(results, len(items), self.error(exc))
                results.append(error)
                if type(error).retryable:
                    stop = error
            slot.deadline = _NO_DEADLINE
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = True
                return _undone(results, len(items), self.error(exc))
            return results
        finally:
            self._checkin(slot, broken=broken)


class _Call:
    """The context manager of ``SqliteBackOffice.transaction()`` and ``read()``."""

    __slots__ = ("_begin", "_db", "_slot")

    def __init__(self, db: SqliteBackOffice, begin: str | None) -> None:
        self._db = db
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        slot = self._slot = db._checkout()
        if self._begin is not None:
            try:
                slot.conn.execute(self._begin)
            except sqlite3.Error as exc:
                db._checkin(slot, broken=True)
                raise db.error(exc) from None
        return slot.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        db, slot = self._db, self._slot
        broken = False
        try:
            if exc is None:
                if self._begin is not None:
                    slot.deadline = _NO_DEADLINE  # the work is done: never interrupt the commit
                    try:
                        slot.conn.execute("COMMIT")
                    except sqlite3.Error as error:
                        broken = True
                        raise db.error(error) from None
            elif isinstance(exc, sqlite3.Error):
                broken = not isinstance(exc, sqlite3.IntegrityError)
                raise db.error(exc) from None
        finally:
            db._checkin(slot, broken=broken)


def _undone(
    results: list[_R | AdapterError], total: int, error: AdapterError
) -> list[_R | AdapterError]:
    """The batch's transaction is gone: every item done is undone and gets ``error`` (as do
    the items not reached); an item that failed on its own keeps its error."""
    undone: list[_R | AdapterError] = [r if isinstance(r, AdapterError) else error for r in results]
    undone.extend(error for _ in range(total - len(results)))
    return undone


# -- the hold ledger ----------------------------------------------------------------------------


class LedgerEntry(NamedTuple):
    """A hold as the ledger recorded it."""

    hold_id: str
    #: the back-office's key of the debtor (as stored)
    debtor_key: Any
    #: "applied" or "released"
    status: str
    basis: str
    #: what the adapter stored with the hold: at least the keys ``applied_result`` and
    #: ``released_result`` read
    record: dict[str, Any]


def applied_result(hold_id: uuid.UUID, record: Mapping[str, Any]) -> HoldResult:
    """The answer to ``apply_hold`` from a ledger record: the measures it ``stopped``,
    ``lifted`` or found ``held_elsewhere`` (already held by another hold), and ``detail``."""
    codes = set(record.get("stopped", ())) | set(record.get("lifted", ()))
    codes |= set(record.get("held_elsewhere", ()))
    return HoldResult(
        hold_id=hold_id,
        applied=True,
        measures=frozenset(_MEASURE[c] for c in codes),
        detail=str(record.get("detail", "")),
    )


def released_result(hold_id: uuid.UUID, record: Mapping[str, Any]) -> HoldResult:
    """The answer to ``release_hold`` from a ledger record: ``resumed`` and ``release_detail``."""
    return HoldResult(
        hold_id=hold_id,
        applied=True,
        measures=frozenset(_MEASURE[c] for c in record.get("resumed", ())),
        detail=str(record.get("release_detail", "")),
    )


#: What a hold call did, for ``logged``: its result, a log level and a line without
#: personal data, logged only after the commit.
HoldOutcome = tuple[HoldResult, int, str]


def measures_of(codes: str | None) -> frozenset[MeasureCode]:
    """The measures of a ``group_concat`` of codes (None: none)."""
    return frozenset(_MEASURE[c] for c in codes.split(",")) if codes else frozenset()


def logged(log: logging.Logger, call: str, hold: Hold, done: HoldOutcome) -> HoldResult:
    """Log what a hold call did (after its commit) and return its result."""
    result, level, text = done
    log.log(level, "%s %s: %s", call, hold.hold_id, text)
    return result


def each_logged(
    log: logging.Logger,
    call: str,
    holds: Sequence[Hold],
    done: Sequence[HoldOutcome | AdapterError],
) -> list[HoldResult | AdapterError]:
    """``logged`` for each hold of a batch (``write_each``); errors pass through."""
    return [
        item if isinstance(item, AdapterError) else logged(log, call, hold, item)
        for hold, item in zip(holds, done, strict=True)
    ]


class HoldLedger:
    """The idempotency record of holds: one row per hold id, in a table like::

        CREATE TABLE opschortingen (
            hold_id VARCHAR(36) PRIMARY KEY,      -- Hold.hold_id
            <debtor_column> INTEGER NOT NULL,     -- the debtor's key in the back-office
            reden VARCHAR(60) NOT NULL,           -- Hold.reason
            basis VARCHAR(20) NOT NULL,           -- Hold.basis
            begint DATE NOT NULL, eindigt DATE,   -- Hold.starts, Hold.ends
            status VARCHAR(10) NOT NULL,          -- 'applied' | 'released'
            toegepast_op DATETIME NOT NULL, vrijgegeven_op DATETIME,
            measures JSON NOT NULL                -- the adapter's record (a JSON object)
        )

    Write the row in the same transaction as the change to the measures, so that a crash
    cannot leave one without the other; a second apply or release of the same hold id
    then answers from the row (:meth:`repeated_apply`, :meth:`repeated_release`). The
    SQL is made once, here; ``noun`` is what errors call the debtor ("client").
    """

    def __init__(
        self, *, debtor_column: str, table: str = "opschortingen", noun: str = "debtor"
    ) -> None:
        for name in (table, debtor_column):
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not an SQL identifier")
        self.noun = noun
        # the identifiers are checked above; every value is a ? parameter
        columns = f"hold_id, {debtor_column}, status, basis, measures"
        self._find = f"SELECT {columns} FROM {table} WHERE hold_id = ?"  # noqa: S608
        self._others = (
            f"SELECT {columns} FROM {table} "  # noqa: S608
            f"WHERE {debtor_column} = ? AND status = 'applied' AND hold_id != ?"
        )
        self._insert = (
            f"INSERT INTO {table} (hold_id, {debtor_column}, reden, basis, begint, "  # noqa: S608
            "eindigt, status, toegepast_op, vrijgegeven_op, measures) "
            "VALUES (?, ?, ?, ?, ?, ?, 'applied', ?, NULL, ?)"
        )
        self._release = (
            f"UPDATE {table} SET status = 'released', vrijgegeven_op = ?, "  # noqa: S608
            "measures = ? WHERE hold_id = ?"
        )

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> LedgerEntry:
        hold_id, debtor_key, status, basis, measures = row
        return LedgerEntry(hold_id, debtor_key, status, basis, json.loads(measures))

    def find(self, conn: sqlite3.Connection, hold_id: str) -> LedgerEntry | None:
        row = conn.execute(self._find, (hold_id,)).fetchone()
        return None if row is None else self._entry(row)

    def others_applied(
        self, conn: sqlite3.Connection, debtor_key: Any, hold_id: str
    ) -> list[LedgerEntry]:
        """The debtor's other holds that are applied now (oldest first, as stored)."""
        return [self._entry(r) for r in conn.execute(self._others, (debtor_key, hold_id))]

    def insert_applied(
        self,
        conn: sqlite3.Connection,
        hold: Hold,
        debtor_key: Any,
        record: Mapping[str, Any],
        now: datetime,
    ) -> None:
        conn.execute(
            self._insert,
            (
                str(hold.hold_id),
                debtor_key,
                hold.reason,
                hold.basis,
                sql_date(hold.starts),
                sql_date(hold.ends),
                sql_datetime(now),
                json.dumps(record),
            ),
        )

    def mark_released(
        self, conn: sqlite3.Connection, hold_id: str, record: Mapping[str, Any], now: datetime
    ) -> None:
        conn.execute(self._release, (sql_datetime(now), json.dumps(record), hold_id))

    def repeated_apply(self, entry: LedgerEntry, hold: Hold, debtor_key: Any) -> HoldResult:
        """``apply_hold`` of a hold id already in the ledger: the stored answer.

        A hold released before is not applied again (``applied`` False); one recorded for
        another debtor is ``BackOfficeRejected``.
        """
        if entry.debtor_key != debtor_key:
            raise BackOfficeRejected(
                f"hold {entry.hold_id} is already recorded for another {self.noun}"
            )
        if entry.status == "released":
            return HoldResult(
                hold_id=hold.hold_id,
                applied=False,
                detail="this hold was released before; it is not applied again",
            )
        return applied_result(hold.hold_id, entry.record)

    def unknown_release(self, hold: Hold) -> HoldResult:
        """``release_hold`` of a hold id the ledger does not know: a successful no-op."""
        return HoldResult(
            hold_id=hold.hold_id,
            applied=True,
            detail="this hold is not known here; nothing to release",
        )

    def repeated_release(
        self, entry: LedgerEntry, hold: Hold, debtor_key: Any
    ) -> HoldResult | None:
        """``release_hold`` of a known hold: the stored answer when it was released before,
        None when it is applied now (release it). Another debtor's is ``BackOfficeRejected``."""
        if entry.debtor_key != debtor_key:
            raise BackOfficeRejected(f"hold {entry.hold_id} is recorded for another {self.noun}")
        if entry.status == "released":
            return released_result(hold.hold_id, entry.record)
        return None


# -- outage simulation (for the conformance kit's hooks) ----------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path | str, *, timeout_seconds: float = 5.0) -> Iterator[None]:
    """Hold a lock on the SQLite file at ``path`` that keeps every other connection out.

    Readers too, also in WAL mode (where ``BEGIN EXCLUSIVE`` alone stops only writers):
    for a test of what an adapter does when its back-office is locked. The lock can only
    be taken while no other connection has the file open in WAL mode (an idle pooled
    connection is enough to prevent it); lock a copy (:func:`locked_copy`) when the
    adapter under test has been used already.
    """
    conn = sqlite3.connect(path, timeout=timeout_seconds, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.contextmanager
def locked_copy(path: Path | str, directory: Path | str) -> Iterator[Path]:
    """A consistent copy of the SQLite file at ``path`` in ``directory``, exclusively locked.

    Yields the copy's path: options that point there reach a back-office that exists and
    is locked (every call waits for its timeout), while the original stays usable::

        def slow_options(self, sample, tmp_path):
            with locked_copy(database_of(sample), tmp_path) as copy:
                yield {**sample.options, "database_url": f"sqlite:///{copy}",
                       "timeout_seconds": 0.05}
    """
    source = Path(path)
    target = Path(directory) / f"locked-{source.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    src = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    try:
        with exclusive_lock(target):
            yield target
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{target}{suffix}").unlink()
