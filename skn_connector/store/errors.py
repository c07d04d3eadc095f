"""What the store's faults mean to the person running the connector: one sentence each.

The database drivers say "disk I/O error" or "connection refused" with the SQL that was
running; the person needs the file (or the server) and what to do. ``translate`` is the one
place that turns a driver's error into such a sentence; every engine the store creates
applies it to every error (``create_store_engine``), so a fault reads the same wherever the
work meets it. Errors it does not recognise (a conflict the code handles, a bug) pass as
they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from sqlalchemy.engine import URL

#: Where docs/operations.md says how to restore the store.
RESTORE_DOC = "docs/operations.md"

# SQLite's primary result codes (the low byte of an extended code)
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
#: the extended codes of SQLITE_IOERR that are reads, not writes
_SQLITE_IOERR_READS = frozenset({266, 522})  # IOERR_READ, IOERR_SHORT_READ

# PostgreSQL's SQLSTATEs (and classes) a person can act on
_PG_NO_DATABASE = "3D000"
_PG_AUTHENTICATION = frozenset({"28000", "28P01"})
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"
_PG_UNREACHABLE_CLASSES = ("08", "57P")
_PG_DAMAGED = frozenset({"XX001", "XX002"})
#: how libpq words a refused login (the server names no SQLSTATE for it there)
_AUTHENTICATION = re.compile(r"authentication|pg_hba\.conf|role \"")


class StoreError(Exception):
    """The store cannot be used as configured; the message says what to fix. A setup
    problem: exit code 2."""

    exit_code: ClassVar[int] = 2


class StoreFault(StoreError):
    """The store failed in the work (its disk is full, it cannot be written, it is damaged,
    its server cannot be reached); the message says what to do. Exit code 1."""

    exit_code = 1


def damaged(url: URL) -> StoreFault:
    """The sentence for a store whose file or database is damaged."""
    return StoreFault(f"{store_name(url)} is damaged: restore it from a backup ({RESTORE_DOC})")


def store_name(url: URL) -> str:
    """The store as a sentence names it: its SQLite file, or its PostgreSQL database and
    server (never the password)."""
    if url.get_backend_name() == "sqlite":
        return f"the store {url.database}"
    return f"the PostgreSQL database {url.database} on {_server(url)}"


def translate(error: BaseException, url: URL) -> StoreError | None:
    """The sentence for a driver's error the person running the connector can act on, as a
    StoreError (a setup problem) or StoreFault (a fault in the work); None for the rest."""
    if url.get_backend_name() == "sqlite":
        code = getattr(error, "sqlite_errorcode", None)
        return _sqlite(code, url) if isinstance(code, int) else None
    if url.get_backend_name() == "postgresql":
        return _postgresql(error, url)
    return None


def _sqlite(code: int, url: URL) -> StoreError | None:
    path = Path(url.database or "")
    name = store_name(url)
    primary = code & 0xFF
    if primary == _SQLITE_FULL:
        return StoreFault(f"the disk of {name} is full: free space, then run again")
    if primary == _SQLITE_IOERR and code in _SQLITE_IOERR_READS:
        return StoreFault(
            f"reading {name} failed (an I/O error): check the disk, then run again; if it "
            f"fails again, restore the store from a backup ({RESTORE_DOC})"
        )
    if primary == _SQLITE_IOERR:
        return StoreFault(
            f"writing {name} failed (the disk is full, a quota or file size limit was "
            "reached, or the disk is failing): free space or check the disk, then run again"
        )
    if primary == _SQLITE_CANTOPEN and not path.parent.is_dir():
        return StoreError(
            f"the folder {path.parent} of {name} does not exist: create it, or correct store.url"
        )
    if primary in {_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN}:
        return StoreFault(
            f"{name} cannot be written (read-only file or folder, or another user's): give "
            "the connector's user write access to it, its -wal and -shm files and its "
            "folder, then run again"
        )
    if primary in {_SQLITE_CORRUPT, _SQLITE_NOTADB}:
        return damaged(url)
    if primary in {_SQLITE_BUSY, _SQLITE_LOCKED}:
        return StoreFault(
            f"{name} stayed locked by another process: let it finish or stop it, then run again"
        )
    return None


def _postgresql(error: BaseException, url: URL) -> StoreError | None:
    sqlstate = getattr(error, "sqlstate", None)
    name = store_name(url)
    refusal = _refused_connection(error)
    if sqlstate == _PG_NO_DATABASE or (
        refusal and 'database "' in refusal and "not exist" in refusal
    ):
        return StoreError(
            f"{name} does not exist: create it (createdb {url.database}), or correct store.url"
        )
    if sqlstate in _PG_AUTHENTICATION or (refusal and _AUTHENTICATION.search(refusal)):
        return StoreError(
            f"{_server(url)} refused the connection to {name} ({refusal or 'authentication'}): "
            "correct the user or password in store.url, or the server's pg_hba.conf"
        )
    if sqlstate == _PG_DISK_FULL:
        return StoreFault(f"the disk of {name} is full: free space on its server, then run again")
    if sqlstate == _PG_READ_ONLY:
        return StoreFault(
            f"{name} cannot be written (a read-only server, such as a standby): point "
            "store.url at the primary, then run again"
        )
    if sqlstate in _PG_DAMAGED:
        return damaged(url)
    if _unreachable(error, sqlstate):
        return StoreFault(
            f"{name} cannot be reached: start its server or check the network and "
            "store.url, then run again"
        )
    return None


def _refused_connection(error: BaseException) -> str | None:
    """The server's reason for refusing a new connection (libpq gives it as text, without a
    SQLSTATE): ``database "x" does not exist``, ``password authentication failed ...``."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    _, fatal, reason = first.partition("FATAL:")
    return reason.strip() if fatal else None


def _unreachable(error: BaseException, sqlstate: str | None) -> bool:
    """A connection that could not be made or was lost: the driver gives no SQLSTATE for
    those made on our side (refused, timed out), the server one of class 08 or 57P."""
    if sqlstate is not None:
        return sqlstate.startswith(_PG_UNREACHABLE_CLASSES)
    return type(error).__name__ == "OperationalError"


def _server(url: URL) -> str:
    host = url.host or "the local socket"
    return f"{host}:{url.port}" if url.port else host
