"""Opening the store: engine settings per database, migrations to the newest revision."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ..config import SQLITE_CACHE_MIB, StoreSettings
from .bulk import execute_many
from .schema import AuditEntry, Meta

#: The meta key of the audit trail's head: the hash of its last entry
AUDIT_HEAD_KEY = "audit_head"

GENESIS_HASH = "0" * 64


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to fix."""


#: Pages the WAL may hold before SQLite copies them into the database file (its default is
#: 1,000, 4 MB). Each batch rewrites pages all over the indexes on the node's random ids; a
#: checkpoint writes each page once however often it changed since the last, so a longer
#: interval writes and syncs the database file less (100,000 messages: 5 % faster, and the
#: rate falls less over the run). Every commit is still synced to the WAL. The WAL file is
#: cut back to WAL_SIZE_LIMIT after a checkpoint.
WAL_AUTOCHECKPOINT_PAGES = 8_000
WAL_SIZE_LIMIT = 64 * 2**20


def sqlite_pragmas(dbapi_connection: Any, *, cache_mib: int = SQLITE_CACHE_MIB) -> None:
    """The store's settings on a new SQLite connection (the benchmark's floor uses them too)."""
    cursor = dbapi_connection.cursor()
    # WAL for concurrent readers; FULL sync so a commit survives power loss, not only a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def create_store_engine(url: str, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            if not folder.is_dir():
                raise StoreError(
                    f"store.url: the folder {folder} of the store does not exist; create it "
                    "(readable by the connector's user only) or correct store.url"
                )
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(
            engine,
            "connect",
            lambda dbapi_connection, _record: sqlite_pragmas(
                dbapi_connection, cache_mib=sqlite_cache_mib
            ),
        )
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreError(f"store.url uses {parsed.get_backend_name()!r}; use sqlite or postgresql")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = Config()
    script_dir = resources.files("skn_connector.store") / "migrations"
    config.set_main_option("script_location", str(script_dir))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # instances starting together on a new store migrate one after the other (the
            # lock ends with this transaction); the second finds the schema at head
            connection.execute(_MIGRATION_LOCK, {"key": _MIGRATION_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_MIGRATION_KEY = int.from_bytes(b"skn-migr", "big", signed=True)
_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


class Store:
    """The single source of truth. Each pipeline step runs in one ``transaction()``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # audit entries are written in one statement per flush or commit, not one ORM object
        # each: a message's path adds four, and the unit of work made them its dearest part
        event.listen(self._sessions, "before_flush", _write_audit)
        event.listen(self._sessions, "before_commit", _write_audit)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def audit(
        self,
        session: Session,
        event_name: str,
        *,
        conversation_id: str | None = None,
        referentienummer: str | None = None,
        **detail: Any,
    ) -> str:
        """Append an audit entry chained to the previous one; returns its hash. ``detail``
        holds no personal data.

        The previous entry's hash is read once per transaction and then remembered in the
        session; entries are written in the order they were added (at the next flush or at
        commit), so the chain holds.
        """
        trail: _PendingAudit | None = session.info.get(_AUDIT_PENDING)
        if trail is None or trail.transaction is not session.get_transaction():
            if session.get_bind().dialect.name == "postgresql":  # one appender at a time
                session.execute(_LOCK_HEAD)
            last = session.scalar(_LAST_HASH)
            trail = _PendingAudit(session.get_transaction(), last or GENESIS_HASH)
            session.info[_AUDIT_PENDING] = trail
        at = datetime.now(UTC)
        body = _DETAIL_JSON.encode(detail)
        digest = audit_hash(trail.head, at, event_name, conversation_id, referentienummer, body)
        trail.rows.append(
            {
                "at": at,
                "event": event_name,
                "conversation_id": conversation_id,
                "referentienummer": referentienummer,
                "detail": body,
                "prev_hash": trail.head,
                "hash": digest,
            }
        )
        trail.head = digest
        return digest

    def close(self) -> None:
        self.engine.dispose()


class _PendingAudit:
    """The audit entries a transaction has added but not yet written, and the trail's head."""

    __slots__ = ("head", "head_written", "rows", "transaction")

    def __init__(self, transaction: object, head: str) -> None:
        self.transaction = transaction
        self.head = head
        self.rows: list[dict[str, Any]] = []
        self.head_written: str | None = None


_AUDIT_PENDING = "skn_audit_pending"
#: the audit detail's JSON (one encoder, not one a call: 3.5 entries a message)
_DETAIL_JSON = json.JSONEncoder(sort_keys=True, default=str)
_LOCK_HEAD = select(Meta).where(Meta.key == AUDIT_HEAD_KEY).with_for_update()
_LAST_HASH = select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
_INSERT_AUDIT = insert(AuditEntry)
_UPDATE_HEAD = (
    update(Meta).where(Meta.key == bindparam("head_key")).values(value=bindparam("head_value"))
)


def _write_audit(session: Session, *_args: Any) -> None:
    """Write a transaction's pending audit entries (in order) and the trail's head."""
    trail: _PendingAudit | None = session.info.get(_AUDIT_PENDING)
    if trail is None or trail.transaction is not session.get_transaction():
        return
    connection = session.connection()
    if trail.rows:
        rows, trail.rows = trail.rows, []
        execute_many(connection, _INSERT_AUDIT, rows)
    if trail.head_written != trail.head:
        # the head of the trail, so that removing its last entries is detected too
        updated = connection.execute(
            _UPDATE_HEAD, {"head_key": AUDIT_HEAD_KEY, "head_value": trail.head}
        )
        if updated.rowcount == 0:
            connection.execute(insert(Meta), {"key": AUDIT_HEAD_KEY, "value": trail.head})
        trail.head_written = trail.head


def audit_hash(
    prev_hash: str,
    at: datetime,
    event_name: str,
    conversation_id: str | None,
    referentienummer: str | None,
    detail: str,
) -> str:
    material = "\x1f".join(
        [
            prev_hash,
            at.astimezone(UTC).isoformat(),
            event_name,
            conversation_id or "",
            referentienummer or "",
            detail,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def open_store(url: str, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB) -> Store:
    """Open (and migrate) the store at ``url``."""
    engine = create_store_engine(url, sqlite_cache_mib=sqlite_cache_mib)
    try:
        migrate(engine)
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"the store at store.url cannot be opened or migrated: {exc}") from None
    return Store(engine)


def open_configured_store(settings: StoreSettings) -> Store:
    """Open (and migrate) the store a configuration's ``[store]`` section names, with its
    settings."""
    return open_store(settings.url, sqlite_cache_mib=settings.sqlite_cache_mib)
