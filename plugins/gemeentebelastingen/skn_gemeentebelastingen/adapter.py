"""The gemeentebelastingen adapter: municipal tax aanslagen in a SQLite back-office.

It finds a debtor, lists the open aanslagen as claims and suspends or resumes
enforcement measures for a hold, idempotently by hold id. Personal data (BSN,
names, addresses) never appears in a log record or an error message.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import field_validator
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from skn_connector.adapters.api import (
    AdapterError,
    BackOfficeRejected,
    BackOfficeTimeout,
    BackOfficeUnavailable,
    BaseAdapter,
    Capability,
    CheckResult,
    Claim,
    Debtor,
    DebtorQuery,
    Hold,
    HoldResult,
    MeasureCode,
    SampleBackOffice,
)

from .backoffice import (
    OPEN_STATUSES,
    TABLES,
    aanslagen,
    create_sample_database,
    debiteuren,
    maatregelen,
    normalise_factuurnummer,
    normalise_postcode,
    opschortingen,
)

log = logging.getLogger("skn_gemeentebelastingen")

#: a result row (SQLAlchemy 2.0 and 2.1 type rows differently)
_Row = Any

_OMSCHRIJVING = {
    "OZB": "OZB",
    "afvalstoffenheffing": "Afvalstoffenheffing",
    "rioolheffing": "Rioolheffing",
    "hondenbelasting": "Hondenbelasting",
}

#: how many SQLite virtual-machine steps run between two looks at the deadline
_PROGRESS_STEPS = 2000


def _sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError("must be a SQLite URL such as sqlite:///path/to/gemeentebelastingen.db")
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("must name a SQLite database file, e.g. sqlite:///var/lib/backoffice.db")
    return Path(database)


def _norm_sql(column: Any) -> ColumnElement[str]:
    """SQL twin of ``normalise_factuurnummer``."""
    stripped = func.replace(func.replace(func.replace(column, " ", ""), ".", ""), "-", "")
    return func.upper(stripped)


def _normalise_bsn(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.zfill(9) if 0 < len(digits) <= 9 else digits


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class GemeentebelastingenAdapter(BaseAdapter):
    """Municipal taxes: aanslagen, aanmaning, dwangbevel, beslag, verrekening."""

    name = "gemeentebelastingen"
    capabilities = frozenset({Capability.CLAIMS, Capability.HOLDS})

    class Options(BaseAdapter.Options):
        #: ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``
        database_url: str
        #: the longest a call waits for a lock, and the longest a statement may run
        timeout_seconds: float = 5.0
        #: prefix of klantnummers as the municipality prints them (e.g. "BEL-"); optional
        klantnummer_prefix: str | None = None

        @field_validator("database_url")
        @classmethod
        def _sqlite_file(cls, value: str) -> str:
            try:
                _sqlite_path(value)
            except sa_exc.ArgumentError:
                raise ValueError("is not a database URL") from None
            return value

        @field_validator("timeout_seconds")
        @classmethod
        def _positive(cls, value: float) -> float:
            if not 0 < value <= 600:
                raise ValueError("must be more than 0 and at most 600 seconds")
            return value

    options: Options

    def __init__(self, options: GemeentebelastingenAdapter.Options) -> None:
        super().__init__(options)
        self._path = _sqlite_path(options.database_url).absolute()
        self._timeout = float(options.timeout_seconds)
        self._engine = self._make_engine()

    # -- the database ---------------------------------------------------------------------------

    def _make_engine(self) -> Engine:
        path, timeout = self._path, self._timeout

        def connect() -> sqlite3.Connection:
            # mode=rw: never create an empty database where the back-office should be
            return sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=rw",
                uri=True,
                timeout=timeout,
                isolation_level=None,  # we issue BEGIN ourselves (see _begin)
                check_same_thread=False,
            )

        engine = create_engine(
            "sqlite://",
            creator=connect,
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=4,
            pool_timeout=timeout,
            hide_parameters=True,  # parameters hold BSNs and names: never in logs or errors
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
            info = record.info

            def past_deadline() -> int:
                deadline = info.get("deadline")
                return 1 if deadline is not None and time.monotonic() > deadline else 0

            dbapi_conn.set_progress_handler(past_deadline, _PROGRESS_STEPS)
            dbapi_conn.execute("PRAGMA foreign_keys = ON")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """A transaction with a deadline; database errors become typed adapter errors."""
        try:
            with self._engine.connect() as conn:
                conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
                info = conn.connection.info
                info["deadline"] = time.monotonic() + self._timeout
                try:
                    with conn.begin():
                        yield conn
                finally:
                    info.pop("deadline", None)
        except AdapterError:
            raise
        except sa_exc.TimeoutError:
            raise BackOfficeTimeout(
                f"the gemeentebelastingen database had no free connection within "
                f"{self._timeout:g} s"
            ) from None
        except sa_exc.IntegrityError as exc:
            raise BackOfficeRejected(
                f"the gemeentebelastingen database refused the change ({_reason(exc)})"
            ) from None
        except sa_exc.OperationalError as exc:
            reason = _reason(exc)
            if reason == "interrupted":
                raise BackOfficeTimeout(
                    f"the gemeentebelastingen database did not answer within {self._timeout:g} s"
                ) from None
            raise BackOfficeUnavailable(
                f"the gemeentebelastingen database is not available ({reason})"
            ) from None
        except sa_exc.DBAPIError as exc:
            raise BackOfficeUnavailable(
                f"the gemeentebelastingen database failed ({_reason(exc)})"
            ) from None

    # -- CLAIMS ---------------------------------------------------------------------------------

    def _klantnummer_se(self, klantnummer: str) -> str:
        prefix = self.options.klantnummer_prefix
        return f"{prefix}{klantnummer}" if prefix else klantnummer

    def _strip_prefix(self, klantnummer: str) -> str:
        value = klantnummer.strip()
        prefix = (self.options.klantnummer_prefix or "").strip()
        if prefix and value.upper().startswith(prefix.upper()):
            value = value[len(prefix) :].strip()
        return value

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        bsn = _normalise_bsn(query.bsn) if query.bsn else None
        cols = (debiteuren.c.debiteur_id, debiteuren.c.klantnummer, debiteuren.c.bsn)

        def accept(rows: Sequence[_Row], route: str) -> Debtor | None:
            # a candidate whose BSN is known and differs from the one asked for is not them
            rows = [r for r in rows if not (bsn and r.bsn and r.bsn != bsn)]
            ids = {r.debiteur_id for r in rows}
            if len(ids) > 1:
                log.info("find_debtor: %d candidates by %s; not choosing", len(ids), route)
                return None
            if not rows:
                return None
            log.debug("find_debtor: matched by %s", route)
            return Debtor(
                debtor_id=str(rows[0].debiteur_id),
                klantnummer_se=self._klantnummer_se(rows[0].klantnummer),
            )

        routes: list[tuple[str, Callable[[Connection], Sequence[_Row]]]] = []
        if bsn:
            routes.append(
                ("bsn", lambda c: c.execute(select(*cols).where(debiteuren.c.bsn == bsn)).all())
            )
        if query.klantnummer_se and self._strip_prefix(query.klantnummer_se):
            klantnummer = self._strip_prefix(query.klantnummer_se).upper()
            routes.append(
                (
                    "klantnummer",
                    lambda c: c.execute(
                        select(*cols).where(func.upper(debiteuren.c.klantnummer) == klantnummer)
                    ).all(),
                )
            )
        nummers = sorted({normalise_factuurnummer(f) for f in query.factuurnummers} - {""})
        if nummers:
            routes.append(
                (
                    "factuurnummer",
                    lambda c: c.execute(
                        select(*cols)
                        .distinct()
                        .join(aanslagen, aanslagen.c.debiteur_id == debiteuren.c.debiteur_id)
                        .where(_norm_sql(aanslagen.c.aanslagnummer).in_(nummers))
                    ).all(),
                )
            )
        if (
            query.achternaam
            and query.geboortedatum
            and query.postcode
            and query.huisnummer is not None
        ):
            routes.append(("name_address", lambda c: self._by_name_address(c, query)))

        with self._transaction() as conn:
            for route, run in routes:
                found = accept(run(conn), route)
                if found is not None:
                    return found
        log.debug("find_debtor: no match (%d routes tried)", len(routes))
        return None

    def _by_name_address(self, conn: Connection, query: DebtorQuery) -> list[_Row]:
        assert query.achternaam and query.postcode
        rows = conn.execute(
            select(
                debiteuren.c.debiteur_id,
                debiteuren.c.klantnummer,
                debiteuren.c.bsn,
                debiteuren.c.voorvoegsel,
                debiteuren.c.achternaam,
            ).where(
                debiteuren.c.geboortedatum == query.geboortedatum,
                debiteuren.c.postcode == normalise_postcode(query.postcode),
                debiteuren.c.huisnummer == query.huisnummer,
            )
        ).all()
        wanted = " ".join(query.achternaam.split()).casefold()
        result = []
        for row in rows:
            plain = row.achternaam.casefold()
            full = " ".join(f"{row.voorvoegsel or ''} {row.achternaam}".split()).casefold()
            if wanted in (plain, full):
                result.append(row)
        return result

    def _debiteur_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected(
                "the debtor id is not one of the gemeentebelastingen back-office"
            ) from None

    def _require_debtor(self, conn: Connection, debiteur_id: int) -> None:
        found = conn.execute(
            select(debiteuren.c.debiteur_id).where(debiteuren.c.debiteur_id == debiteur_id)
        ).first()
        if found is None:
            raise BackOfficeRejected(
                f"the gemeentebelastingen back-office has no debtor with id {debiteur_id}"
            )

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        with self._transaction() as conn:
            self._require_debtor(conn, debiteur_id)
            rows = conn.execute(
                select(aanslagen)
                .where(
                    aanslagen.c.debiteur_id == debiteur_id,
                    aanslagen.c.status.in_(OPEN_STATUSES),
                )
                .order_by(aanslagen.c.dagtekening, aanslagen.c.aanslagnummer)
            ).all()
            active: dict[str, set[MeasureCode]] = {}
            for nummer, code in conn.execute(
                select(maatregelen.c.aanslagnummer, maatregelen.c.code)
                .join(aanslagen, aanslagen.c.aanslagnummer == maatregelen.c.aanslagnummer)
                .where(
                    aanslagen.c.debiteur_id == debiteur_id,
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.opgeschort_door.is_(None),
                )
            ):
                active.setdefault(nummer, set()).add(MeasureCode(code))
        claims = []
        for row in rows:
            hoofdsom: Decimal = row.oorspronkelijk_bedrag - row.betaald
            claims.append(
                Claim(
                    factuurnummer=row.aanslagnummer,
                    omschrijving=f"{_OMSCHRIJVING[row.belastingsoort]} {row.belastingjaar}",
                    ontstaansdatum=row.dagtekening,
                    originele_vordering=row.oorspronkelijk_bedrag,
                    hoofdsom=hoofdsom,
                    rente=row.invorderingsrente,
                    kosten=row.kosten,
                    openstaand=hoofdsom + row.invorderingsrente + row.kosten,
                    status=row.status,
                    overgedragen_aan=row.overgedragen_aan,
                    saneerbaar=True,
                    fraude=False,
                    preferent=False,  # municipalities have no voorrecht (enforcement-rules 1.2)
                    measures=frozenset(active.get(row.aanslagnummer, ())),
                )
            )
        log.debug("list_claims: %d claims for debtor %s", len(claims), debiteur_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(
        self, conn: Connection, debiteur_id: int, factuurnummers: Sequence[str]
    ) -> list[str]:
        """The debtor's aanslagnummers a hold covers: all, or those named (normalised)."""
        stmt = select(aanslagen.c.aanslagnummer).where(aanslagen.c.debiteur_id == debiteur_id)
        wanted = {normalise_factuurnummer(f) for f in factuurnummers} - {""}
        if factuurnummers:
            stmt = stmt.where(_norm_sql(aanslagen.c.aanslagnummer).in_(sorted(wanted)))
        return [r.aanslagnummer for r in conn.execute(stmt)]

    def apply_hold(self, hold: Hold) -> HoldResult:
        debiteur_id = self._debiteur_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(opschortingen).where(opschortingen.c.hold_id == hold_id)
            ).first()
            if existing is not None:
                if existing.debiteur_id != debiteur_id:
                    raise BackOfficeRejected(
                        f"hold {hold_id} is already recorded for another debtor"
                    )
                if existing.status == "released":
                    log.info("apply_hold %s: released before; not applied again", hold_id)
                    return HoldResult(
                        hold_id=hold.hold_id,
                        applied=False,
                        detail="this hold was released before; it is not applied again",
                    )
                log.debug("apply_hold %s: already applied", hold_id)
                return _applied_result(hold.hold_id, existing.measures)

            self._require_debtor(conn, debiteur_id)
            scope = self._scope(conn, debiteur_id, hold.factuurnummers)
            lift = {m.value for m in hold.lift}
            stop = {m.value for m in hold.measures} - lift
            rows = conn.execute(
                select(maatregelen.c.id, maatregelen.c.code, maatregelen.c.opgeschort_door).where(
                    maatregelen.c.aanslagnummer.in_(scope),
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.code.in_(sorted(stop | lift)),
                )
            ).all()
            lifted = [r for r in rows if r.code in lift]
            stopped = [r for r in rows if r.code in stop and r.opgeschort_door is None]
            held_elsewhere = [r for r in rows if r.code in stop and r.opgeschort_door is not None]
            record = {
                "conversation_id": str(hold.conversation_id),
                "factuurnummers": list(hold.factuurnummers),
                "requested": sorted(stop),
                "lift": sorted(lift),
                "aanslagen": len(scope),
                "stopped": sorted({r.code for r in stopped}),
                "lifted": sorted({r.code for r in lifted}),
                "held_elsewhere": sorted({r.code for r in held_elsewhere}),
                "detail": (
                    f"{len(stopped)} measures suspended, {len(lifted)} lifted "
                    f"on {len(scope)} aanslagen"
                    + (f"; {len(held_elsewhere)} already held" if held_elsewhere else "")
                ),
            }
            conn.execute(
                insert(opschortingen).values(
                    hold_id=hold_id,
                    debiteur_id=debiteur_id,
                    reden=hold.reason,
                    basis=hold.basis,
                    begint=hold.starts,
                    eindigt=hold.ends,
                    status="applied",
                    toegepast_op=_now(),
                    vrijgegeven_op=None,
                    measures=record,
                )
            )
            if stopped:
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.id.in_([r.id for r in stopped]))
                    .values(opgeschort_door=hold_id)
                )
            if lifted:
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.id.in_([r.id for r in lifted]))
                    .values(actief=False, opgeschort_door=hold_id)
                )
        log.info("apply_hold %s: %s", hold_id, record["detail"])
        return _applied_result(hold.hold_id, record)

    def release_hold(self, hold: Hold) -> HoldResult:
        hold_id = str(hold.hold_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(opschortingen).where(opschortingen.c.hold_id == hold_id)
            ).first()
            if existing is None:
                log.info("release_hold %s: not known here; nothing to release", hold_id)
                return HoldResult(
                    hold_id=hold.hold_id,
                    applied=True,
                    detail="this hold is not known here; nothing to release",
                )
            if existing.debiteur_id != self._debiteur_id(hold.debtor_id):
                raise BackOfficeRejected(f"hold {hold_id} is recorded for another debtor")
            if existing.status == "released":
                log.debug("release_hold %s: already released", hold_id)
                return _released_result(hold.hold_id, existing.measures)

            # measures another applied hold of this debtor also covers pass to that hold
            others = conn.execute(
                select(opschortingen.c.hold_id, opschortingen.c.measures).where(
                    opschortingen.c.debiteur_id == existing.debiteur_id,
                    opschortingen.c.status == "applied",
                    opschortingen.c.hold_id != hold_id,
                )
            ).all()
            covering = [
                (o.hold_id, set(o.measures.get("requested", ())), o.measures.get("factuurnummers"))
                for o in others
            ]
            rows = conn.execute(
                select(maatregelen.c.id, maatregelen.c.code, maatregelen.c.aanslagnummer).where(
                    maatregelen.c.opgeschort_door == hold_id,
                    maatregelen.c.actief.is_(True),
                )
            ).all()
            resumed: list[_Row] = []
            for row in rows:
                successor = next(
                    (
                        other_id
                        for other_id, codes, nummers in covering
                        if row.code in codes
                        and (
                            not nummers
                            or normalise_factuurnummer(row.aanslagnummer)
                            in {normalise_factuurnummer(n) for n in nummers}
                        )
                    ),
                    None,
                )
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.id == row.id)
                    .values(opgeschort_door=successor)
                )
                if successor is None:
                    resumed.append(row)
            record = dict(existing.measures)
            record["resumed"] = sorted({r.code for r in resumed})
            record["release_detail"] = f"{len(resumed)} measures resumed" + (
                f", {len(rows) - len(resumed)} stay held by another hold"
                if len(rows) > len(resumed)
                else ""
            )
            conn.execute(
                update(opschortingen)
                .where(opschortingen.c.hold_id == hold_id)
                .values(status="released", vrijgegeven_op=_now(), measures=record)
            )
        log.info("release_hold %s: %s", hold_id, record["release_detail"])
        return _released_result(hold.hold_id, record)

    # -- operations -----------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results = [
            CheckResult(
                aspect="settings",
                ok=True,
                message=(
                    f"database_url names the SQLite file {self._path.name}; "
                    f"timeout {self._timeout:g} s"
                ),
            )
        ]
        if not self._path.is_file():
            results.append(
                CheckResult(
                    aspect="connection",
                    ok=False,
                    message=f"the database file {self._path.name} does not exist; "
                    "check database_url",
                )
            )
        else:
            try:
                with self._transaction() as conn:
                    present = {
                        r[0]
                        for r in conn.exec_driver_sql(
                            "SELECT name FROM sqlite_master WHERE type = 'table'"
                        )
                    }
                missing = [t for t in TABLES if t not in present]
                if missing:
                    results.append(
                        CheckResult(
                            aspect="connection",
                            ok=False,
                            message=f"the database lacks the tables {', '.join(missing)}",
                        )
                    )
                else:
                    results.append(
                        CheckResult(
                            aspect="connection",
                            ok=True,
                            message="the database opens and has all its tables",
                        )
                    )
            except AdapterError as exc:
                results.append(CheckResult(aspect="connection", ok=False, message=str(exc)))
        results.append(
            CheckResult(
                aspect="credentials",
                ok=True,
                message="not applicable: SQLite has no credentials (access is by file permissions)",
            )
        )
        return results

    def close(self) -> None:
        self._engine.dispose()

    @classmethod
    def create_sample(cls, directory: Path) -> SampleBackOffice:
        path, debtors = create_sample_database(directory)
        return SampleBackOffice(options={"database_url": f"sqlite:///{path}"}, debtors=debtors)


def _reason(exc: sa_exc.DBAPIError) -> str:
    """The driver's own short reason (no SQL, no parameters: those may hold personal data)."""
    text = str(exc.orig).strip() if exc.orig is not None else type(exc).__name__
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _applied_result(hold_id: uuid.UUID, record: dict[str, Any]) -> HoldResult:
    codes = set(record.get("stopped", ())) | set(record.get("lifted", ()))
    codes |= set(record.get("held_elsewhere", ()))
    return HoldResult(
        hold_id=hold_id,
        applied=True,
        measures=frozenset(MeasureCode(c) for c in codes),
        detail=str(record.get("detail", "")),
    )


def _released_result(hold_id: uuid.UUID, record: dict[str, Any]) -> HoldResult:
    return HoldResult(
        hold_id=hold_id,
        applied=True,
        measures=frozenset(MeasureCode(c) for c in record.get("resumed", ())),
        detail=str(record.get("release_detail", "")),
    )
