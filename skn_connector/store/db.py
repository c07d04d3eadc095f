"""Opening the store: engine settings per database, migrations to the newest revision."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from .schema import AuditEntry, Meta

#: The meta key of the audit trail's head: the hash of its last entry
AUDIT_HEAD_KEY = "audit_head"

GENESIS_HASH = "0" * 64
#: Session.info key: (the transaction, the hash of the last audit entry it added)
_AUDIT_PREVIOUS = "skn_audit_previous"


class StoreError(Exception):
    """The store cannot be opened or used; the message says what to fix."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL for concurrent readers; FULL sync so a commit survives power loss, not only a crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
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
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The single source of truth. Each pipeline step runs in one ``transaction()``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

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
        bericht_id: str | None = None,
        **detail: Any,
    ) -> AuditEntry:
        """Append an audit entry chained to the previous one. ``detail`` holds no personal data.

        The previous entry's hash is read once per transaction and then remembered in the
        session (entries are inserted in the order they are added, so the chain holds).
        """
        transaction = session.get_nested_transaction() or session.get_transaction()
        cached = session.info.get(_AUDIT_PREVIOUS)
        if cached is not None and cached[0] is transaction:
            prev_hash = cached[1]
        else:
            if session.get_bind().dialect.name == "postgresql":  # one appender at a time
                session.execute(select(Meta).where(Meta.key == AUDIT_HEAD_KEY).with_for_update())
            last = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
            prev_hash = last if last is not None else GENESIS_HASH
        at = datetime.now(UTC)
        body = json.dumps(detail, sort_keys=True, default=str)
        entry = AuditEntry(
            at=at,
            event=event_name,
            conversation_id=conversation_id,
            bericht_id=bericht_id,
            detail=body,
            prev_hash=prev_hash,
            hash=audit_hash(prev_hash, at, event_name, conversation_id, bericht_id, body),
        )
        session.add(entry)
        session.info[_AUDIT_PREVIOUS] = (transaction, entry.hash)
        # the head of the trail, so that removing its last entries is detected too
        head = session.get(Meta, AUDIT_HEAD_KEY)
        if head is None:
            session.add(Meta(key=AUDIT_HEAD_KEY, value=entry.hash))
        else:
            head.value = entry.hash
        return entry

    def close(self) -> None:
        self.engine.dispose()


def audit_hash(
    prev_hash: str,
    at: datetime,
    event_name: str,
    conversation_id: str | None,
    bericht_id: str | None,
    detail: str,
) -> str:
    material = "\x1f".join(
        [
            prev_hash,
            at.astimezone(UTC).isoformat(),
            event_name,
            conversation_id or "",
            bericht_id or "",
            detail,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def open_store(url: str) -> Store:
    """Open (and migrate) the store at ``url``."""
    engine = create_store_engine(url)
    try:
        migrate(engine)
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"the store at store.url cannot be opened or migrated: {exc}") from None
    return Store(engine)
