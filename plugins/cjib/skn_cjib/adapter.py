"""The CJIB adapter: Wahv fines and criminal-law money sanctions in a SQLite back-office.

It finds a betrokkene, lists the open zaken as claims (Wahv saneerbaar, criminal-law
and European sanctions niet-saneerbaar), suspends or resumes enforcement measures for
a hold (a hold that stops verhogingen is recorded as a noodstop, and no verhoging is
added while it lasts), assesses a payment proposal, records an agreed arrangement and
writes off what remains of the saneerbare claims after a successful one. Every write
is idempotent by its id. Personal data (BSN, names, addresses) never appears in a log
record or an error message.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
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
    Arrangement,
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
    Proposal,
    ProposalAssessment,
    SampleBackOffice,
    WriteOff,
    WriteOffResult,
)

from .backoffice import (
    CENT,
    INGEZET,
    NOODSTOP_STOPT,
    OPEN_STATUSES,
    TABLES,
    TERMIJN_AANMANING,
    afboekingen,
    bedragen,
    betrokkenen,
    create_sample_database,
    maatregelen,
    noodstop_covers,
    noodstops,
    normalise_factuurnummer,
    normalise_postcode,
    opschortingen,
    regeling_zaken,
    regelingen,
    zaken,
)

log = logging.getLogger("skn_cjib")

#: a result row (SQLAlchemy 2.0 and 2.1 type rows differently)
_Row = Any

_OMSCHRIJVING = {
    "wahv": "Verkeersboete (Wahv)",
    "geldboete_vonnis": "Geldboete (vonnis)",
    "schadevergoedingsmaatregel": "Schadevergoedingsmaatregel (art. 36f Sr)",
    "ontneming": "Ontnemingsmaatregel (art. 36e Sr)",
    "europese_boete": "Europese geldelijke sanctie",
}
_VERHOGINGEN = {
    1: "incl. verhoging 1e aanmaning",
    2: "incl. verhogingen 1e en 2e aanmaning",
}

#: how far a proposal's prognose eindbedrag may be from amount x percentage (rounding)
PROGNOSE_TOLERANTIE = Decimal("1.00")

#: how many SQLite virtual-machine steps run between two looks at the deadline
_PROGRESS_STEPS = 2000


def _sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError("must be a SQLite URL such as sqlite:///path/to/cjib.db")
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("must name a SQLite database file, e.g. sqlite:///var/lib/cjib.db")
    return Path(database)


def _norm_sql(column: Any) -> ColumnElement[str]:
    """SQL twin of ``normalise_factuurnummer``."""
    stripped = column
    for separator in (" ", ".", "/", "-", "_"):
        stripped = func.replace(stripped, separator, "")
    return func.upper(stripped)


def _normalise_bsn(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.zfill(9) if 0 < len(digits) <= 9 else digits


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _today() -> date:
    return date.today()


def _coupled(codes: set[str]) -> set[str]:
    """An aanmaning on a Wahv sanction imposes its verhoging (Wahv art. 23): hold both."""
    if MeasureCode.AANMANING.value in codes:
        return codes | {MeasureCode.VERHOGING.value}
    return set(codes)


def _pct(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class CjibAdapter(BaseAdapter):
    """A CJIB-style collector: Wahv verhogingen, noodstop, niet-saneerbare sanctions."""

    name = "cjib"
    capabilities = frozenset(
        {
            Capability.CLAIMS,
            Capability.HOLDS,
            Capability.PROPOSALS,
            Capability.ARRANGEMENTS,
            Capability.WRITE_OFF,
        }
    )

    class Options(BaseAdapter.Options):
        #: ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``
        database_url: str
        #: the longest a call waits for a lock, and the longest a statement may run
        timeout_seconds: float = 5.0

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

    def __init__(self, options: CjibAdapter.Options) -> None:
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
                f"the cjib database had no free connection within {self._timeout:g} s"
            ) from None
        except sa_exc.IntegrityError as exc:
            raise BackOfficeRejected(
                f"the cjib database refused the change ({_reason(exc)})"
            ) from None
        except sa_exc.OperationalError as exc:
            reason = _reason(exc)
            if reason == "interrupted":
                raise BackOfficeTimeout(
                    f"the cjib database did not answer within {self._timeout:g} s"
                ) from None
            raise BackOfficeUnavailable(f"the cjib database is not available ({reason})") from None
        except sa_exc.DBAPIError as exc:
            raise BackOfficeUnavailable(f"the cjib database failed ({_reason(exc)})") from None

    # -- CLAIMS ---------------------------------------------------------------------------------

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        bsn = _normalise_bsn(query.bsn) if query.bsn else None
        cols = (betrokkenen.c.betrokkene_id, betrokkenen.c.betrokkenenummer, betrokkenen.c.bsn)

        def accept(rows: Sequence[_Row], route: str) -> Debtor | None:
            # a candidate whose BSN is known and differs from the one asked for is not them
            rows = [r for r in rows if not (bsn and r.bsn and r.bsn != bsn)]
            ids = {r.betrokkene_id for r in rows}
            if len(ids) > 1:
                log.info("find_debtor: %d candidates by %s; not choosing", len(ids), route)
                return None
            if not rows:
                return None
            log.debug("find_debtor: matched by %s", route)
            return Debtor(
                debtor_id=str(rows[0].betrokkene_id), klantnummer_se=rows[0].betrokkenenummer
            )

        routes: list[tuple[str, Callable[[Connection], Sequence[_Row]]]] = []
        if bsn:
            routes.append(
                ("bsn", lambda c: c.execute(select(*cols).where(betrokkenen.c.bsn == bsn)).all())
            )
        klantnummer = (query.klantnummer_se or "").strip().upper()
        if klantnummer:
            routes.append(
                (
                    "klantnummer",
                    lambda c: c.execute(
                        select(*cols).where(
                            func.upper(betrokkenen.c.betrokkenenummer) == klantnummer
                        )
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
                        .join(zaken, zaken.c.betrokkene_id == betrokkenen.c.betrokkene_id)
                        .where(_norm_sql(zaken.c.zaaknummer).in_(nummers))
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
                betrokkenen.c.betrokkene_id,
                betrokkenen.c.betrokkenenummer,
                betrokkenen.c.bsn,
                betrokkenen.c.voorvoegsel,
                betrokkenen.c.achternaam,
            ).where(
                betrokkenen.c.geboortedatum == query.geboortedatum,
                betrokkenen.c.postcode == normalise_postcode(query.postcode),
                betrokkenen.c.huisnummer == query.huisnummer,
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

    def _betrokkene_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected("the debtor id is not one of the cjib back-office") from None

    def _require_betrokkene(self, conn: Connection, betrokkene_id: int) -> None:
        found = conn.execute(
            select(betrokkenen.c.betrokkene_id).where(betrokkenen.c.betrokkene_id == betrokkene_id)
        ).first()
        if found is None:
            raise BackOfficeRejected(f"the cjib back-office has no debtor with id {betrokkene_id}")

    def _zaken(self, conn: Connection, betrokkene_id: int) -> list[_Row]:
        return list(
            conn.execute(
                select(zaken)
                .where(zaken.c.betrokkene_id == betrokkene_id)
                .order_by(zaken.c.datum_onherroepelijk, zaken.c.zaaknummer)
            ).all()
        )

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        today = _today()
        with self._transaction() as conn:
            self._require_betrokkene(conn, betrokkene_id)
            rows = [r for r in self._zaken(conn, betrokkene_id) if r.status in OPEN_STATUSES]
            active: dict[str, set[MeasureCode]] = {}
            for nummer, code in conn.execute(
                select(maatregelen.c.zaaknummer, maatregelen.c.code)
                .join(zaken, zaken.c.zaaknummer == maatregelen.c.zaaknummer)
                .where(
                    zaken.c.betrokkene_id == betrokkene_id,
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.opgeschort_door.is_(None),
                )
            ):
                active.setdefault(nummer, set()).add(MeasureCode(code))
            # a noodstop obtained outside SKN suspends escalation and the dwangmiddelen;
            # one that a hold recorded is already reflected in the suspended measures
            outside = conn.execute(
                select(noodstops).where(
                    noodstops.c.betrokkene_id == betrokkene_id, noodstops.c.hold_id.is_(None)
                )
            ).all()
        claims = []
        for row in rows:
            amounts = bedragen(row)
            measures = active.get(row.zaaknummer, set())
            if any(noodstop_covers(s, row.zaaknummer, today) for s in outside):
                measures = measures - NOODSTOP_STOPT
            omschrijving = f"{_OMSCHRIJVING[row.soort]} {row.datum_onherroepelijk.year}"
            if row.verhoging_stap:
                omschrijving += f", {_VERHOGINGEN[row.verhoging_stap]}"
            claims.append(
                Claim(
                    factuurnummer=row.zaaknummer,
                    omschrijving=omschrijving,
                    ontstaansdatum=row.datum_onherroepelijk,
                    originele_vordering=row.sanctie,
                    hoofdsom=amounts.hoofdsom,
                    rente=Decimal("0.00"),  # the CJIB charges no interest
                    kosten=amounts.kosten,
                    openstaand=amounts.openstaand,
                    status=row.status,
                    overgedragen_aan=row.overgedragen_aan,
                    saneerbaar=bool(row.saneerbaar),
                    fraude=False,
                    preferent=False,
                    measures=frozenset(measures),
                )
            )
        log.debug("list_claims: %d claims for debtor %s", len(claims), betrokkene_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(
        self, conn: Connection, betrokkene_id: int, factuurnummers: Sequence[str]
    ) -> list[str]:
        """The betrokkene's zaaknummers a hold covers: all, or those named (normalised)."""
        stmt = select(zaken.c.zaaknummer).where(zaken.c.betrokkene_id == betrokkene_id)
        wanted = {normalise_factuurnummer(f) for f in factuurnummers} - {""}
        if factuurnummers:
            stmt = stmt.where(_norm_sql(zaken.c.zaaknummer).in_(sorted(wanted)))
        return [r.zaaknummer for r in conn.execute(stmt)]

    def apply_hold(self, hold: Hold) -> HoldResult:
        betrokkene_id = self._betrokkene_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        today = _today()
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(opschortingen).where(opschortingen.c.hold_id == hold_id)
            ).first()
            if existing is not None:
                if existing.betrokkene_id != betrokkene_id:
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

            self._require_betrokkene(conn, betrokkene_id)
            scope = self._scope(conn, betrokkene_id, hold.factuurnummers)
            asked = {m.value for m in hold.measures}
            lift = {m.value for m in hold.lift}
            stop = _coupled(asked) - lift
            rows = conn.execute(
                select(maatregelen.c.id, maatregelen.c.code, maatregelen.c.opgeschort_door).where(
                    maatregelen.c.zaaknummer.in_(scope),
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.code.in_(sorted(stop | lift)),
                )
            ).all()
            lifted = [r for r in rows if r.code in lift]
            stopped = [r for r in rows if r.code in stop and r.opgeschort_door is None]
            held_elsewhere = [r for r in rows if r.code in stop and r.opgeschort_door is not None]
            noodstop = MeasureCode.VERHOGING.value in stop
            record = {
                "conversation_id": str(hold.conversation_id),
                "factuurnummers": list(hold.factuurnummers),
                "asked": sorted(asked),
                "requested": sorted(stop),
                "lift": sorted(lift),
                "zaken": len(scope),
                "stopped": sorted({r.code for r in stopped}),
                "lifted": sorted({r.code for r in lifted}),
                "held_elsewhere": sorted({r.code for r in held_elsewhere}),
                "noodstop": noodstop,
                "detail": (
                    f"{len(stopped)} measures suspended, {len(lifted)} lifted on {len(scope)} zaken"
                    + (f"; {len(held_elsewhere)} already held" if held_elsewhere else "")
                    + (
                        "; recorded as a noodstop (Wahv art. 23 lid 2): no verhogingen "
                        "while it lasts"
                        if noodstop
                        else ""
                    )
                ),
            }
            conn.execute(
                insert(opschortingen).values(
                    hold_id=hold_id,
                    betrokkene_id=betrokkene_id,
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
                # a lifted beslag is released, a gijzeling request withdrawn, a rijbewijs
                # returned: they stay lifted after the hold ends
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.id.in_([r.id for r in lifted]))
                    .values(actief=False, beeindigd_op=today, opgeschort_door=hold_id)
                )
            if noodstop:
                conn.execute(
                    insert(noodstops).values(
                        betrokkene_id=betrokkene_id,
                        hold_id=hold_id,
                        bron="skn",
                        begint=hold.starts,
                        eindigt=hold.ends,
                        zaken=scope if hold.factuurnummers else None,
                        beeindigd_op=None,
                    )
                )
        log.info("apply_hold %s: %s", hold_id, record["detail"])
        return _applied_result(hold.hold_id, record)

    def release_hold(self, hold: Hold) -> HoldResult:
        hold_id = str(hold.hold_id)
        today = _today()
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
            if existing.betrokkene_id != self._betrokkene_id(hold.debtor_id):
                raise BackOfficeRejected(f"hold {hold_id} is recorded for another debtor")
            if existing.status == "released":
                log.debug("release_hold %s: already released", hold_id)
                return _released_result(hold.hold_id, existing.measures)

            # measures another applied hold of this betrokkene also covers pass to that hold
            others = conn.execute(
                select(opschortingen.c.hold_id, opschortingen.c.measures).where(
                    opschortingen.c.betrokkene_id == existing.betrokkene_id,
                    opschortingen.c.status == "applied",
                    opschortingen.c.hold_id != hold_id,
                )
            ).all()
            covering = [
                (
                    o.hold_id,
                    set(o.measures.get("requested", ())),
                    {normalise_factuurnummer(n) for n in o.measures.get("factuurnummers", ())},
                )
                for o in others
            ]
            rows = conn.execute(
                select(maatregelen.c.id, maatregelen.c.code, maatregelen.c.zaaknummer).where(
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
                        and (not nummers or normalise_factuurnummer(row.zaaknummer) in nummers)
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
            # a surcharge run that resumes starts a fresh term: no verhoging the day after
            restarted = sorted(
                {r.zaaknummer for r in resumed if r.code == MeasureCode.VERHOGING.value}
            )
            fresh = today + TERMIJN_AANMANING
            for nummer in restarted:
                conn.execute(
                    update(zaken)
                    .where(
                        zaken.c.zaaknummer == nummer,
                        zaken.c.volgende_verhoging_op.is_not(None),
                        zaken.c.volgende_verhoging_op < fresh,
                    )
                    .values(volgende_verhoging_op=fresh)
                )
            conn.execute(
                update(noodstops)
                .where(noodstops.c.hold_id == hold_id, noodstops.c.beeindigd_op.is_(None))
                .values(beeindigd_op=today)
            )
            record = dict(existing.measures)
            record["resumed"] = sorted({r.code for r in resumed})
            record["release_detail"] = (
                f"{len(resumed)} measures resumed"
                + (
                    f", {len(rows) - len(resumed)} stay held by another hold"
                    if len(rows) > len(resumed)
                    else ""
                )
                + (
                    f"; the surcharge run of {len(restarted)} zaken resumes with a fresh term"
                    if restarted
                    else ""
                )
            )
            conn.execute(
                update(opschortingen)
                .where(opschortingen.c.hold_id == hold_id)
                .values(status="released", vrijgegeven_op=_now(), measures=record)
            )
        log.info("release_hold %s: %s", hold_id, record["release_detail"])
        return _released_result(hold.hold_id, record)

    # -- PROPOSALS ------------------------------------------------------------------------------

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        with self._transaction() as conn:
            self._require_betrokkene(conn, betrokkene_id)
            rows = self._zaken(conn, betrokkene_id)
            ingezet = {
                nummer
                for (nummer,) in conn.execute(
                    select(maatregelen.c.zaaknummer)
                    .join(zaken, zaken.c.zaaknummer == maatregelen.c.zaaknummer)
                    .where(
                        zaken.c.betrokkene_id == betrokkene_id,
                        maatregelen.c.code.in_(sorted(m.value for m in INGEZET)),
                    )
                )
            }
        by_number = {normalise_factuurnummer(r.zaaknummer): r for r in rows}
        problems: list[str] = []
        seen: set[str] = set()
        saneerbaar: list[tuple[Any, _Row]] = []
        niet_saneerbaar: list[_Row] = []
        if not proposal.claims:
            problems.append("the proposal lists no claims")
        for item in proposal.claims:
            key = normalise_factuurnummer(item.factuurnummer)
            row = by_number.get(key)
            if row is None:
                problems.append(f"{item.factuurnummer} is not a zaak of this betrokkene")
                continue
            if key in seen:
                problems.append(f"{row.zaaknummer} is listed twice")
                continue
            seen.add(key)
            if row.status not in OPEN_STATUSES:
                problems.append(f"{row.zaaknummer} is no longer open ({row.status})")
                continue
            if row.zaaknummer in ingezet or row.status == "overgedragen":
                problems.append(
                    f"{row.zaaknummer}: a deurwaarder or dwangmiddel has been deployed, after "
                    "which the CJIB offers no regeling by its own rules"
                )
                continue
            if row.status == "betwist":
                problems.append(f"{row.zaaknummer} is betwist")
                continue
            if item.actueel_vorderingsbedrag < bedragen(row).openstaand - CENT:
                problems.append(f"{row.zaaknummer}: the proposal counts less than is open")
            if row.saneerbaar:
                saneerbaar.append((item, row))
            else:
                niet_saneerbaar.append(row)
        percentages = {item.afkooppercentage for item, _ in saneerbaar}
        if len(percentages) > 1:
            problems.append("the saneerbare claims are offered different percentages")
        for item, row in saneerbaar:
            expected = item.actueel_vorderingsbedrag * item.afkooppercentage / 100
            if abs(item.prognose_eindbedrag - expected) > PROGNOSE_TOLERANTIE:
                problems.append(
                    f"{row.zaaknummer}: the prognose eindbedrag does not follow from the percentage"
                )
        if problems:
            log.info(
                "assess_proposal: debtor %s, %d claims: manual (%d problems)",
                betrokkene_id,
                len(proposal.claims),
                len(problems),
            )
            return ProposalAssessment(
                decision="manual", reason="A person decides: " + "; ".join(problems) + "."
            )

        reason = f"All {len(proposal.claims)} claims are known and open, none has a deurwaarder "
        reason += "or dwangmiddel deployed"
        if percentages:
            reason += f"; the saneerbare claims get {_pct(percentages.pop())} %"
        reason += "."
        if niet_saneerbaar:
            kinds = sorted({r.soort for r in niet_saneerbaar})
            reason += (
                f" The niet-saneerbare claims {', '.join(r.zaaknummer for r in niet_saneerbaar)} "
                f"({', '.join(kinds)}) may be included since 1 December 2020, but their "
                "remainder stays payable after the schuldregeling, through a new "
                "betalingsregeling; it is not written off."
            )
        listed = {by_number[key].zaaknummer for key in seen}
        outside = [r for r in rows if r.status in OPEN_STATUSES and r.zaaknummer not in listed]
        if outside:
            reason += f" {len(outside)} other open zaken are not in the proposal and stay payable."
        log.info(
            "assess_proposal: debtor %s, %d claims: accept (%d niet-saneerbaar)",
            betrokkene_id,
            len(proposal.claims),
            len(niet_saneerbaar),
        )
        return ProposalAssessment(decision="accept", reason=reason)

    # -- ARRANGEMENTS ---------------------------------------------------------------------------

    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        regeling_id = str(arrangement.conversation_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(regelingen.c.betrokkene_id).where(regelingen.c.regeling_id == regeling_id)
            ).first()
            if existing is not None:
                if existing.betrokkene_id != betrokkene_id:
                    raise BackOfficeRejected(
                        f"the arrangement of conversation {regeling_id} is recorded for "
                        "another debtor"
                    )
                log.debug("record_arrangement %s: already recorded", regeling_id)
                return
            self._require_betrokkene(conn, betrokkene_id)
            by_number = {
                normalise_factuurnummer(r.zaaknummer): r for r in self._zaken(conn, betrokkene_id)
            }
            included: dict[str, tuple[Any, _Row]] = {}
            unknown = 0
            for item in arrangement.claims:
                row = by_number.get(normalise_factuurnummer(item.factuurnummer))
                if row is None:
                    unknown += 1
                else:
                    included.setdefault(row.zaaknummer, (item, row))
            if unknown:
                raise BackOfficeRejected(
                    f"the arrangement of conversation {regeling_id} names {unknown} claims "
                    f"that are not zaken of debtor {betrokkene_id}; record it by hand"
                )
            conn.execute(
                insert(regelingen).values(
                    regeling_id=regeling_id,
                    betrokkene_id=betrokkene_id,
                    type_schuldregeling=arrangement.type_schuldregeling,
                    datum_akkoord=arrangement.datum_akkoord,
                    status="actief",
                    vastgelegd_op=_now(),
                )
            )
            for nummer, (item, row) in included.items():
                conn.execute(
                    insert(regeling_zaken).values(
                        regeling_id=regeling_id,
                        zaaknummer=nummer,
                        actueel_vorderingsbedrag=item.actueel_vorderingsbedrag,
                        afkooppercentage=item.afkooppercentage,
                        prognose_eindbedrag=item.prognose_eindbedrag,
                        restant_blijft_verschuldigd=not row.saneerbaar,
                    )
                )
        log.info(
            "record_arrangement %s: debtor %s, %d zaken (%d with a remainder that stays payable)",
            regeling_id,
            betrokkene_id,
            len(included),
            sum(1 for _, row in included.values() if not row.saneerbaar),
        )

    # -- WRITE_OFF ------------------------------------------------------------------------------

    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        write_off_id = str(write_off.write_off_id)
        conversation_id = str(write_off.conversation_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(afboekingen).where(afboekingen.c.write_off_id == write_off_id)
            ).first()
            if existing is not None:
                if existing.betrokkene_id != betrokkene_id:
                    raise BackOfficeRejected(
                        f"write-off {write_off_id} is already recorded for another debtor"
                    )
                log.debug("write_off %s: already done", write_off_id)
                return _write_off_result(write_off.write_off_id, existing)
            self._require_betrokkene(conn, betrokkene_id)
            by_number = {
                normalise_factuurnummer(r.zaaknummer): r for r in self._zaken(conn, betrokkene_id)
            }
            names = list(write_off.factuurnummers)
            from_regeling = not names
            if from_regeling:
                # no claims named: those of the arrangement recorded for this conversation
                names = [
                    nummer
                    for (nummer,) in conn.execute(
                        select(regeling_zaken.c.zaaknummer)
                        .where(regeling_zaken.c.regeling_id == conversation_id)
                        .order_by(regeling_zaken.c.zaaknummer)
                    )
                ]
            written: list[tuple[_Row, Decimal]] = []
            kept: list[_Row] = []
            nothing_due: list[str] = []
            unknown: list[str] = []
            seen: set[str] = set()
            for name in names:
                key = normalise_factuurnummer(name)
                if key in seen:
                    continue
                seen.add(key)
                row = by_number.get(key)
                if row is None:
                    unknown.append(name)
                elif not row.saneerbaar:
                    kept.append(row)
                elif row.status not in OPEN_STATUSES or bedragen(row).openstaand <= 0:
                    nothing_due.append(row.zaaknummer)
                else:
                    written.append((row, bedragen(row).openstaand))
            total = sum((amount for _, amount in written), Decimal("0.00"))
            detail = _write_off_detail(written, kept, nothing_due, unknown, from_regeling)
            resultaat = {
                "written_off": [row.zaaknummer for row, _ in written],
                "niet_saneerbaar": [row.zaaknummer for row in kept],
                "nothing_due": nothing_due,
                "unknown": unknown,
                "detail": detail,
            }
            conn.execute(
                insert(afboekingen).values(
                    write_off_id=write_off_id,
                    betrokkene_id=betrokkene_id,
                    reden=write_off.reason,
                    datum=write_off.datum,
                    conversation_id=conversation_id,
                    bedrag=total,
                    vastgelegd_op=_now(),
                    resultaat=resultaat,
                )
            )
            for row, amount in written:
                conn.execute(
                    update(zaken)
                    .where(zaken.c.zaaknummer == row.zaaknummer)
                    .values(
                        afgeboekt=row.afgeboekt + amount,
                        afgeboekt_door=write_off_id,
                        status="afgeboekt",
                        volgende_verhoging_op=None,
                    )
                )
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.zaaknummer == row.zaaknummer, maatregelen.c.actief)
                    .values(actief=False, beeindigd_op=write_off.datum)
                )
            conn.execute(
                update(regelingen)
                .where(regelingen.c.regeling_id == conversation_id, regelingen.c.status == "actief")
                .values(status="geslaagd")
            )
        log.info(
            "write_off %s: debtor %s, %d zaken written off, %d niet-saneerbaar kept, "
            "%d with nothing due, %d unknown",
            write_off_id,
            betrokkene_id,
            len(written),
            len(kept),
            len(nothing_due),
            len(unknown),
        )
        return WriteOffResult(
            write_off_id=write_off.write_off_id,
            written_off=tuple(row.zaaknummer for row, _ in written),
            amount=total,
            detail=detail,
        )

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


def _write_off_detail(
    written: Sequence[tuple[_Row, Decimal]],
    kept: Sequence[_Row],
    nothing_due: Sequence[str],
    unknown: Sequence[str],
    from_regeling: bool,
) -> str:
    parts: list[str] = []
    if from_regeling:
        parts.append("No claims were named: the zaken of the arrangement of this conversation.")
    if written:
        parts.append(
            f"Written off, the remainder of {len(written)} saneerbare zaken (Wahv): "
            + ", ".join(row.zaaknummer for row, _ in written)
            + "."
        )
    else:
        parts.append("Nothing was written off.")
    if kept:
        parts.append(
            "Not written off, because niet-saneerbaar: "
            + ", ".join(f"{row.zaaknummer} ({row.soort})" for row in kept)
            + ". A criminal-law or European money sanction may be included in a "
            "schuldregeling since 1 December 2020, but its remainder stays payable after it "
            "and is never written off (geldboete, ontneming and schadevergoedingsmaatregel "
            "also survive a Wsnp schone lei, Fw 358 lid 4); the CJIB collects the remainder "
            "through a new betalingsregeling."
        )
    if nothing_due:
        parts.append("Nothing left to write off on: " + ", ".join(nothing_due) + ".")
    if unknown:
        parts.append("Not zaken of this betrokkene: " + ", ".join(unknown) + ".")
    return " ".join(parts)


def _write_off_result(write_off_id: uuid.UUID, row: _Row) -> WriteOffResult:
    resultaat: dict[str, Any] = row.resultaat
    return WriteOffResult(
        write_off_id=write_off_id,
        written_off=tuple(resultaat.get("written_off", ())),
        amount=row.bedrag,
        detail=str(resultaat.get("detail", "")),
    )
