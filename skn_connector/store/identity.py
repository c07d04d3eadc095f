"""Which store this is, and whether the connector has worked with it before.

SQLite creates a missing database file without a word, so a store deleted (or on a folder
that was not mounted) would be replaced by an empty one: the connector would go on as if it
had never received a message, and the holds it applied in the back-office would never be
released. So a store is created on the first start only. When the connector creates a SQLite
store it gives it an id (``meta`` key ``store_id``) and writes that id to a marker beside
the database, ``<database>.store-id``. Afterwards:

- the database missing while its marker is there is refused: restore the store from a
  backup, or remove the marker to start afresh on purpose;
- a database whose id differs from the marker's (another store put in its place) is
  refused: put that store back, or remove the marker to work with this one;
- a database without a marker (copied to a new machine, or made by a release before store
  ids) gets one; a store without an id under a marker (a backup from before store ids) takes
  the marker's id.

A store in memory and one on PostgreSQL (whose server never creates a missing database)
have no marker; they get an id all the same.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from .errors import RESTORE_DOC, StoreError, StoreFault
from .schema import Meta

#: The meta key of the store's id.
STORE_ID_KEY = "store_id"
MARKER_SUFFIX = ".store-id"


def marker_path(database: Path) -> Path:
    return database.with_name(database.name + MARKER_SUFFIX)


def missing_store(database: Path) -> StoreError | None:
    """The refusal for a database that is missing although the connector has worked with it
    (its marker is there); None when the database is there, or was never made."""
    marker = marker_path(database)
    if database.exists() or not marker.exists():
        return None
    return StoreError(
        f"the store {database} is missing, but {marker} shows the connector has worked with "
        f"it: restore it from a backup ({RESTORE_DOC}); to start afresh with an empty store "
        f"on purpose, remove {marker}"
    )


def recorded_id(database: Path) -> str | None:
    """The id in the database's marker, if it has one."""
    marker = marker_path(database)
    try:
        return marker.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise StoreFault(
            f"the marker {marker} of the store {database} cannot be read: give the "
            "connector's user access to it, or remove it if it is not the marker it wrote"
        ) from None


def other_store(database: Path, store_id: str | None, recorded: str | None) -> StoreError | None:
    """The refusal for a database whose id is not the one its marker recorded."""
    if recorded is None or store_id is None or recorded == store_id:
        return None
    marker = marker_path(database)
    return StoreError(
        f"the store {database} is not the one the connector worked with here (its id "
        f"differs from the one in {marker}): put that store back ({RESTORE_DOC}), or remove "
        f"{marker} to work with this one"
    )


def read_store_id(connection: Connection) -> str | None:
    """The store's id; None for a store without one (or, before revision 0003, without the
    table that holds it)."""
    if not inspect(connection).has_table(Meta.__tablename__):
        return None
    return connection.scalar(select(Meta.value).where(Meta.key == STORE_ID_KEY))


def ensure_store_id(connection: Connection, preferred: str | None = None) -> str:
    """The store's id, given to it now if it has none (``preferred``: the id its marker
    recorded, for a store from before store ids restored under it)."""
    current = read_store_id(connection)
    if current is not None:
        return current
    new = preferred or str(uuid.uuid4())
    connection.execute(insert(Meta), {"key": STORE_ID_KEY, "value": new})
    return new


def write_marker(database: Path, store_id: str) -> None:
    """Write the marker beside the database (whole or not at all; only its owner reads it)."""
    marker = marker_path(database)
    partial = marker.with_name(marker.name + ".new")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(store_id + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, marker)
    except OSError as exc:
        raise StoreFault(
            f"the marker {marker} of the store {database} cannot be written "
            f"({exc.strerror}): give the connector's user write access to the folder "
            f"{database.parent}, then run again"
        ) from None
