"""Opening the store: engine settings per database, migrations to the newest revision, and
the driver's errors as sentences (``errors.translate``)."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ..config import SQLITE_CACHE_MIB, StoreSettings
from . import identity, scope
from .audit import append, write_pending
from .errors import StoreError as StoreError  # re-exported: where callers look for it
from .errors import StoreFault, store_name, translate
from .identity import ensure_store_id

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


def create_store_engine(
    url: str, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB, pooled: bool = True
) -> Engine:
    """The store's engine; ``pooled=False`` opens a connection for each use (SQLite)."""
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
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30},
            **({} if pooled else {"poolclass": NullPool}),
        )
        event.listen(
            engine,
            "connect",
            lambda dbapi_connection, _record: sqlite_pragmas(
                dbapi_connection, cache_mib=sqlite_cache_mib
            ),
        )
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        raise StoreError(f"store.url uses {parsed.get_backend_name()!r}; use sqlite or postgresql")
    _translate_errors(engine, parsed)
    return engine


def _translate_errors(engine: Engine, url: URL) -> None:
    """Every error of ``engine`` that a person can act on is raised as the sentence saying
    what to do (a StoreError), wherever the work meets it."""

    def sentence(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:  # the pool reconnects by itself
            return None
        return translate(context.original_exception, url)

    event.listen(engine, "handle_error", sentence)


def _alembic_config() -> Config:
    config = Config()
    script_dir = resources.files("skn_connector.store") / "migrations"
    config.set_main_option("script_location", str(script_dir))
    return config


@functools.cache
def head_revision() -> str:
    """The newest schema revision this release knows (read from its migrations once)."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "the store's migrations have one head"
    return head


@dataclass(frozen=True)
class SchemaRevision:
    """The store's schema revision against the newest the code knows."""

    #: None: no schema yet (a new, empty store)
    current: str | None
    head: str
    #: the code knows ``current`` (a store made by a newer release it does not)
    known: bool

    @property
    def behind(self) -> bool:
        return self.known and self.current is not None and self.current != self.head


def schema_revision(connection: Connection) -> SchemaRevision:
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    assert head is not None, "the store's migrations have one head"
    current = MigrationContext.configure(connection).get_current_revision()
    known = current is None or current in {rev.revision for rev in script.walk_revisions()}
    return SchemaRevision(current, head, known)


def newer_release(url: URL, revision: SchemaRevision) -> StoreError:
    return StoreError(
        f"{store_name(url)} was made by a newer release of skn-connector (schema revision "
        f"{revision.current}; this release knows up to {revision.head}): install that release "
        "or a later one, or restore a backup taken before the upgrade"
    )


def migrate(
    engine: Engine, *, preferred_id: str | None = None, sole_creditor: str | None = None
) -> str:
    """Bring the schema to the newest revision (idempotent) and give a store without an id
    one (``preferred_id`` if given); returns the store's id. A store made by a newer release
    is refused before anything is changed."""
    config = _alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # instances starting together on a new store migrate one after the other (the
            # lock ends with this transaction); the second finds the schema at head
            connection.execute(_MIGRATION_LOCK, {"key": _MIGRATION_KEY})
        revision = schema_revision(connection)
        if not revision.known:
            raise newer_release(engine.url, revision)
        config.attributes["connection"] = connection
        # the rows from before creditors were scoped are the sole creditor's (migration 0010)
        config.attributes["sole_creditor"] = sole_creditor
        command.upgrade(config, "head")
        if sole_creditor is not None:
            scope.adopt_unassigned(connection, sole_creditor)
        return ensure_store_id(connection, preferred_id)


_MIGRATION_KEY = int.from_bytes(b"skn-migr", "big", signed=True)
_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


class Store:
    """The single source of truth. Each pipeline step runs in one ``transaction()``.

    One transaction at a time in a process: the daemon's jobs and the receive endpoint's
    writer use the store from two threads, and a transaction's reads must not be overtaken
    by another thread's commit before its own writes (SQLite takes its write lock only at
    the first write: the audit trail's head, read first, would fork)."""

    def __init__(
        self, engine: Engine, *, creditor_id: str | None = None, holds_one_creditor: bool = False
    ) -> None:
        self.engine = engine
        #: the creditor whose rows this store reads and writes (store.scope); None: all
        #: creditors' rows are read, and rows are written for none
        self.creditor_id = creditor_id
        #: opened for the sole creditor of a deployment, which was given the rows of no
        #: creditor: every row is that creditor's, and a count may read the whole store
        #: (operations.status). A deployment cut from several creditors to one keeps the
        #: others' rows: their figures are counted too, their rows are still not shown
        self.holds_one_creditor = holds_one_creditor
        self._one_at_a_time = threading.RLock()
        #: the connection a thread keeps between its core transactions (``keeping``)
        self._kept = threading.local()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # audit entries are written in one statement per flush or commit, not one ORM object
        # each: a message's path adds four, and the unit of work made them its dearest part
        event.listen(self._sessions, "before_flush", write_pending)
        event.listen(self._sessions, "before_commit", write_pending)
        if not _scoping_installed(engine):
            scope.install(engine)

    def scoped(self, creditor_id: str) -> Store:
        """The same store (engine, sessions, one transaction at a time) seen by one creditor:
        its rows alone are read and changed, and every row written is its own."""
        view = copy.copy(self)
        view.creditor_id = creditor_id
        return view

    def unscoped(self) -> Store:
        """The same store seen by no creditor: every creditor's rows are read (checks of
        the whole store, such as every audit chain)."""
        view = copy.copy(self)
        view.creditor_id = None
        return view

    def deployment(self) -> Store:
        """The same store seen as the deployment's own work, which is no creditor's: changes
        to the console's accounts and logins. In a deployment of several creditors their
        audit entries are a chain of their own (``scope.DEPLOYMENT``), so that no creditor's
        trail shows the names of another creditor's people; a deployment of one creditor
        keeps them in that creditor's chain, where they always were."""
        if self.holds_one_creditor:
            return self
        return self.scoped(scope.DEPLOYMENT)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with (
            self._one_at_a_time,
            scope.working_for(self.creditor_id),
            self._sessions.begin() as session,
        ):
            yield session

    @contextlib.contextmanager
    def core_transaction(self) -> Iterator[Connection]:
        """A transaction as ``transaction()`` (one at a time, in this store's scope, committed
        at the end), on a Core connection without an ORM session: for a hot path whose
        statements are all Core (an ORM session costs a commit of a few rows more than its
        statements do). Audit entries go through ``audit.Chain``."""
        if not getattr(self._kept, "keeping", False):
            with (
                self._one_at_a_time,
                scope.working_for(self.creditor_id),
                self.engine.begin() as connection,
            ):
                yield connection
            return
        with self._one_at_a_time, scope.working_for(self.creditor_id):
            if self._kept.connection is None:
                self._kept.connection = self.engine.connect()
            kept: Connection = self._kept.connection
            try:
                with kept.begin():
                    yield kept
            except BaseException:
                # rolled back; a connection that failed is not trusted with the next one
                self._kept.connection = None
                kept.close()
                raise

    @contextlib.contextmanager
    def keeping(self) -> Iterator[None]:
        """While the block runs, this thread's ``core_transaction``s share one connection:
        for a thread that commits a few rows hundreds of times a second (the receive
        endpoint's writer), taking a connection from the pool and giving it back (with its
        reset) cost a tenth of each commit."""
        self._kept.keeping = True
        self._kept.connection = None
        try:
            yield
        finally:
            self._kept.keeping = False
            connection, self._kept.connection = self._kept.connection, None
            if connection is not None:
                connection.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection of the engine in this store's scope (reads outside a transaction)."""
        with scope.working_for(self.creditor_id), self.engine.connect() as connection:
            yield connection

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
        return append(session, event_name, conversation_id, referentienummer, detail)

    def close(self) -> None:
        self.engine.dispose()


def _scoping_installed(engine: Engine) -> bool:
    return event.contains(engine, "before_execute", scope._before_execute)


def open_store(
    url: str, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB, sole_creditor: str | None = None
) -> Store:
    """Open (and migrate) the store at ``url``. A SQLite store is created on the first start
    only: a missing one the connector has worked with is refused (see ``identity``).

    ``sole_creditor``: the only creditor of the deployment; the rows of no creditor (made
    before creditors were scoped) become its own (``scope.adopt_unassigned``)."""
    database = sqlite_path(url)
    if database is not None and (refusal := identity.missing_store(database)) is not None:
        raise refusal
    if database is not None:
        _create_private_file(database)
    engine = create_store_engine(url, sqlite_cache_mib=sqlite_cache_mib)
    try:
        recorded = identity.recorded_id(database) if database is not None else None
        store_id = migrate(engine, preferred_id=recorded, sole_creditor=sole_creditor)
        if database is not None:
            _settle_marker(database, store_id, recorded)
    except StoreError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        raise StoreFault(
            f"{store_name(engine.url)} cannot be opened or migrated: {_reason(exc)}"
        ) from None
    return Store(engine, holds_one_creditor=sole_creditor is not None)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store; None for a store in memory, on PostgreSQL, or a URL that
    is not one (``create_store_engine`` names that problem)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        return None
    if database.startswith("file:"):  # a URI names the file after its scheme, with options
        return None
    return Path(database)


def _create_private_file(database: Path) -> None:
    """Create a new store's file readable and writable by its owner only (0600, whatever the
    umask): SQLite gives the -wal and -shm files it makes beside it the database file's
    mode, and all three hold personal data. The connector creates no folders."""
    # there already (or made by another instance meanwhile); or a problem SQLite names
    # when it opens the file (no such folder, a folder it may not write)
    with contextlib.suppress(OSError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _settle_marker(database: Path, store_id: str, recorded: str | None) -> None:
    """Refuse another store in the database's place; write the marker it lacks."""
    if (refusal := identity.other_store(database, store_id, recorded)) is not None:
        raise refusal
    if recorded is None:
        identity.write_marker(database, store_id)


def connect_store(url: str, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB) -> Store:
    """The store at ``url`` as it is, not migrated: for checks that must not change it.
    SQLite creates a missing file when it connects: look whether it is there first."""
    return Store(create_store_engine(url, sqlite_cache_mib=sqlite_cache_mib))


def integrity_problems(store: Store, *, limit: int = 10) -> list[str]:
    """What SQLite's quick check finds wrong in the store's file (at most ``limit``); a store
    on PostgreSQL has its server's own checks. A file too damaged to check raises the
    StoreFault saying it is damaged."""
    if store.engine.dialect.name != "sqlite":
        return []
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"PRAGMA quick_check({int(limit)})").scalars().all()
    return [str(row) for row in rows if row != "ok"]


def _reason(exc: BaseException) -> str:
    """An error's first line, without the SQL SQLAlchemy adds to a driver's error."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:300]


def open_configured_store(settings: StoreSettings, *, sole_creditor: str | None = None) -> Store:
    """Open (and migrate) the store a configuration's ``[store]`` section names, with its
    settings (``sole_creditor``: see ``open_store``)."""
    return open_store(
        settings.url, sqlite_cache_mib=settings.sqlite_cache_mib, sole_creditor=sole_creditor
    )
