"""One working instance per store: the lease.

Two connectors working the same store would both decide a message and both send an answer.
The instance that holds the store's lease works; any other stands by (the daemon) or stops
(``run --once``), and takes the lease when the holder stops or dies:

- PostgreSQL, where several instances may share a store for availability: a session-level
  advisory lock on a connection kept for the purpose. The server releases it when that
  connection ends, also when the holder's machine dies (after the TCP keepalive).
- SQLite, one machine's file: an exclusive ``flock`` on a file beside the database (its
  real path, symlinks resolved). The operating system releases it when the holding process
  ends, however it ends.

A store in memory (tests) belongs to one process and always grants the lease.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .db import Store

log = logging.getLogger(__name__)

#: The advisory lock's key on PostgreSQL: 'skn-conn' as a big-endian 64-bit integer.
ADVISORY_KEY = int.from_bytes(b"skn-conn", "big", signed=True)

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_STILL_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = :high AND objid = :low"
)


def lease_path(database: str) -> Path:
    """The lease file of a SQLite database: beside the real file, so that every path to it
    (through a symlink to the file or to a folder on the way) gives the same lease."""
    return Path(f"{os.path.realpath(database)}.lease")


class StoreLease:
    """The lease on one store. ``acquire()`` takes it if it is free and says whether this
    instance holds it (again: a lost PostgreSQL connection loses the lease and it is taken
    anew when free); ``release()`` gives it up."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._dialect = store.engine.dialect.name
        self._connection: Connection | None = None
        self._file: IO[Any] | None = None
        self.path: Path | None = None
        if self._dialect == "sqlite":
            database = store.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self.path = lease_path(database)

    def acquire(self) -> bool:
        if self._dialect == "postgresql":
            return self._acquire_advisory()
        if self._dialect == "sqlite":
            return self._acquire_file()
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(_UNLOCK, {"key": ADVISORY_KEY})
            except Exception:  # the server ends the lock with the connection anyway
                log.debug("unlocking the store's lease failed", exc_info=True)
            self._close_connection()
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    def __enter__(self) -> StoreLease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    # -- PostgreSQL ------------------------------------------------------------------------

    def _acquire_advisory(self) -> bool:
        if self._connection is not None:
            if self._advisory_still_held():
                return True
            log.warning("the store's lease was lost with its connection; taking it anew")
            self._close_connection()
        connection = self._store.engine.connect()
        try:
            taken = bool(connection.execute(_TRY_LOCK, {"key": ADVISORY_KEY}).scalar())
            connection.commit()  # end the transaction; the session-level lock stays
        except Exception:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def _advisory_still_held(self) -> bool:
        assert self._connection is not None
        unsigned = ADVISORY_KEY & 0xFFFF_FFFF_FFFF_FFFF
        try:
            held = self._connection.execute(
                _STILL_HELD, {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}
            ).scalar()
            self._connection.commit()
        except Exception:
            return False
        return bool(held)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the lease's connection failed", exc_info=True)

    # -- SQLite ----------------------------------------------------------------------------

    def _acquire_file(self) -> bool:
        if self.path is None or self._file is not None:
            return True
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lease
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # for a person looking: which process holds it
        handle.flush()
        self._file = handle
        return True


# -- who holds it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a store's lease, as far as this process can see."""

    #: None: cannot be told (a store in memory belongs to its process)
    held: bool | None
    #: SQLite: the holder's process id on this machine; PostgreSQL: its server process
    pid: int | None = None
    #: PostgreSQL: the address the holder connects from, when the server shows it
    client: str | None = None

    def describe(self) -> str:
        if self.held is None:
            return "a store in memory has no lease"
        if not self.held:
            return "no instance holds the store's lease (none is working it)"
        if self.client is not None:
            return (
                f"the store's lease is held by PostgreSQL session {self.pid} (from {self.client})"
            )
        if self.pid is not None:
            return f"the store's lease is held by process {self.pid}"
        return "the store's lease is held by another instance"


_HOLDER = text(
    "SELECT l.pid, host(a.client_addr) FROM pg_locks l"
    " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid = :high AND l.objid = :low"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def lease_holder(store: Store) -> LeaseHolder:
    """Who holds the store's lease now. With SQLite the lease file is tried for a shared lock
    for an instant (held: someone has it; its pid is in the file); an instance taking the
    lease in that instant finds it taken and takes it at its next interval."""
    dialect = store.engine.dialect.name
    if dialect == "postgresql":
        unsigned = ADVISORY_KEY & 0xFFFF_FFFF_FFFF_FFFF
        with store.engine.connect() as connection:
            row = connection.execute(
                _HOLDER, {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}
            ).first()
        if row is None:
            return LeaseHolder(held=False)
        return LeaseHolder(held=True, pid=int(row[0]), client=row[1] or "a local socket")
    database = store.engine.url.database if dialect == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return LeaseHolder(held=None)
    try:
        handle = open(lease_path(database))  # noqa: SIM115 - closed below, after the probe
    except FileNotFoundError:
        return LeaseHolder(held=False)
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            written = handle.read(32).strip()
            return LeaseHolder(held=True, pid=int(written) if written.isdigit() else None)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return LeaseHolder(held=False)
