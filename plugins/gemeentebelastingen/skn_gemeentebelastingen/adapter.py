"""The gemeentebelastingen adapter: municipal tax aanslagen in a SQLite back-office.

It finds a debtor, lists the open aanslagen as claims, suspends or resumes
enforcement measures for a hold (idempotent by hold id), assesses a payment
proposal against the aanslagen, records an agreed regeling (idempotent by
conversation id) and writes off the remainder after a successful end
(idempotent by write-off id). Personal data (BSN, names, addresses) never
appears in a log record or an error message.
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
    OPEN_STATUSES,
    aanslagen,
    afboekingen,
    create_sample_database,
    debiteuren,
    maatregelen,
    missing_schema,
    normalise_factuurnummer,
    normalise_postcode,
    opschortingen,
    regelingen,
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

#: the aanslag statuses a proposal may be accepted for without a person looking
_ACCEPTABLE = ("open", "overgedragen")
#: the aanslag statuses whose remainder can be written off (or included in a regeling)
_WRITABLE = OPEN_STATUSES
#: how many problems a reason or detail names before it only counts the rest
_NAMED = 5

_CENT = Decimal("0.01")


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
            a = aanslagen.c
            rows = conn.execute(
                # named columns: a database not yet upgraded still lists its claims
                select(
                    a.aanslagnummer,
                    a.belastingsoort,
                    a.belastingjaar,
                    a.dagtekening,
                    a.oorspronkelijk_bedrag,
                    a.betaald,
                    a.invorderingsrente,
                    a.kosten,
                    a.status,
                    a.overgedragen_aan,
                )
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

    # -- PROPOSALS ------------------------------------------------------------------------------

    def _aanslagen_of(self, conn: Connection, debiteur_id: int) -> dict[str, _Row]:
        """The debtor's aanslagen by normalised aanslagnummer."""
        a = aanslagen.c
        rows = conn.execute(
            select(
                a.aanslagnummer,
                a.dagtekening,
                a.oorspronkelijk_bedrag,
                a.betaald,
                a.invorderingsrente,
                a.kosten,
                a.status,
                a.kwijtschelding_aangevraagd,
                a.in_regeling,
            ).where(a.debiteur_id == debiteur_id)
        ).all()
        return {normalise_factuurnummer(r.aanslagnummer): r for r in rows}

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        """Accept when every claim is an open aanslag of the debtor; otherwise a person decides.

        The percentage is the connector's policy, not the back-office's: a 0 % offer (type
        SA, no repayment capacity) is as acceptable as any other. This never rejects.
        """
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        with self._transaction() as conn:
            self._require_debtor(conn, debiteur_id)
            known = self._aanslagen_of(conn, debiteur_id)
        problems: list[str] = []
        seen: set[str] = set()
        for claim in proposal.claims:
            key = normalise_factuurnummer(claim.factuurnummer)
            row = known.get(key)
            name = row.aanslagnummer if row is not None else _shown(claim.factuurnummer)
            if key in seen:
                problems.append(f"{name} is listed twice")
                continue
            seen.add(key)
            if not Decimal(0) <= claim.afkooppercentage <= Decimal(100):
                problems.append(f"{name} has an afkooppercentage outside 0-100")
            if row is None:
                problems.append(f"{name} is not an aanslag of this debtor")
            elif row.status == "betwist":
                problems.append(f"{name} is betwist (bezwaar or beroep pending)")
            elif row.status not in _ACCEPTABLE:
                problems.append(f"{name} is {row.status}, not open")
            elif row.kwijtschelding_aangevraagd is not None:
                problems.append(
                    f"{name} has a kwijtscheldingsverzoek pending since "
                    f"{row.kwijtschelding_aangevraagd.isoformat()}"
                )
            elif row.in_regeling is not None:
                problems.append(f"{name} is already in a recorded regeling")
        if not proposal.claims:
            problems.append("the proposal lists no claims")
        if problems:
            log.info(
                "assess_proposal: debtor %s, %d claims: manual (%d problems)",
                debiteur_id,
                len(proposal.claims),
                len(problems),
            )
            return ProposalAssessment(
                decision="manual", reason=_named(problems) + "; a person decides"
            )
        others = [
            r
            for key, r in known.items()
            if key not in seen and r.status in OPEN_STATUSES and r.in_regeling is None
        ]
        reason = f"all {len(seen)} claims are open aanslagen of this debtor"
        if others:
            reason += f"; {len(others)} other open aanslagen are not in the proposal"
        log.info("assess_proposal: debtor %s, %d claims: accept", debiteur_id, len(seen))
        return ProposalAssessment(decision="accept", reason=reason)

    # -- ARRANGEMENTS ---------------------------------------------------------------------------

    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        """Store the agreed regeling and mark its aanslagen (idempotent by conversation id).

        An aanslag is included when it is the debtor's, still open (open, overgedragen or
        betwist), in no other regeling and dated on or before the akkoord: a later
        assessment is a lopende last, never part of the regeling. Its status stays open.
        """
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        conversation = str(arrangement.conversation_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(regelingen.c.debiteur_id).where(regelingen.c.conversation_id == conversation)
            ).first()
            if existing is not None:
                if existing.debiteur_id != debiteur_id:
                    raise BackOfficeRejected(
                        f"the regeling of conversation {conversation} is recorded for "
                        "another debtor"
                    )
                log.debug("record_arrangement %s: already recorded", conversation)
                return
            self._require_debtor(conn, debiteur_id)
            known = self._aanslagen_of(conn, debiteur_id)
            entries: list[dict[str, Any]] = []
            included: list[str] = []
            for claim in arrangement.claims:
                row = known.get(normalise_factuurnummer(claim.factuurnummer))
                why = ""
                if row is None:
                    why = "not an aanslag of this debtor"
                elif row.aanslagnummer in included:
                    why = "listed twice"
                elif row.status not in _WRITABLE:
                    why = f"{row.status}, not open"
                elif row.dagtekening > arrangement.datum_akkoord:
                    why = "assessed after the akkoord"
                elif row.in_regeling is not None:
                    why = "already in another regeling"
                else:
                    included.append(row.aanslagnummer)
                entries.append(
                    {
                        "factuurnummer": claim.factuurnummer,
                        "aanslagnummer": row.aanslagnummer if row is not None else None,
                        "actueel_vorderingsbedrag": str(claim.actueel_vorderingsbedrag),
                        "afkooppercentage": str(claim.afkooppercentage),
                        "prognose_eindbedrag": str(claim.prognose_eindbedrag),
                        "opgenomen": not why,
                        "reden": why,
                    }
                )
            conn.execute(
                insert(regelingen).values(
                    {
                        "conversation_id": conversation,
                        "debiteur_id": debiteur_id,
                        "type": arrangement.type_schuldregeling,
                        "datum_akkoord": arrangement.datum_akkoord,
                        "claims": entries,
                        "vastgelegd_op": _now(),
                    }
                )
            )
            if included:
                conn.execute(
                    update(aanslagen)
                    .where(aanslagen.c.aanslagnummer.in_(included))
                    .values(in_regeling=conversation)
                )
        log.info(
            "record_arrangement %s: %d of %d claims included",
            conversation,
            len(included),
            len(arrangement.claims),
        )

    # -- WRITE_OFF ------------------------------------------------------------------------------

    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        """Write off the remainder of the named aanslagen (idempotent by write-off id).

        Only the debtor's open aanslagen are written off (status ``kwijtgescholden``,
        the remainder booked in ``afboekingen``, their measures ended). A number that
        is not the debtor's, is paid or written off already, belongs to another
        regeling, or (when the regeling of the conversation is recorded) is not in it,
        is reported in the detail and left as it is.
        """
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        if self._debiteur_id(write_off.debtor_id) != debiteur_id:
            raise BackOfficeRejected(
                f"write-off {write_off.write_off_id} names another debtor than the one asked"
            )
        write_off_id = str(write_off.write_off_id)
        conversation = str(write_off.conversation_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(afboekingen).where(afboekingen.c.write_off_id == write_off_id)
            ).first()
            if existing is not None:
                if existing.debiteur_id != debiteur_id:
                    raise BackOfficeRejected(
                        f"write-off {write_off_id} is already recorded for another debtor"
                    )
                log.debug("write_off %s: already booked", write_off_id)
                return _write_off_result(write_off.write_off_id, existing)
            self._require_debtor(conn, debiteur_id)
            known = self._aanslagen_of(conn, debiteur_id)
            regeling = conn.execute(
                select(regelingen.c.datum_akkoord).where(
                    regelingen.c.conversation_id == conversation,
                    regelingen.c.debiteur_id == debiteur_id,
                )
            ).first()
            bedragen: dict[str, str] = {}
            kept: dict[str, str] = {}
            total = Decimal("0.00")
            for nummer in write_off.factuurnummers:
                row = known.get(normalise_factuurnummer(nummer))
                name = row.aanslagnummer if row is not None else _shown(nummer)
                if name in bedragen or name in kept:
                    continue
                remainder = _remainder(row) if row is not None else Decimal(0)
                if row is None:
                    kept[name] = "not an aanslag of this debtor"
                elif row.status not in _WRITABLE:
                    kept[name] = (
                        "already paid" if row.status == "betaald" else "already written off"
                    )
                elif row.in_regeling is not None and row.in_regeling != conversation:
                    kept[name] = "in another regeling"
                elif regeling is not None and row.in_regeling != conversation:
                    kept[name] = "not in the regeling"
                elif row.dagtekening > write_off.datum:
                    kept[name] = "assessed after the write-off date"
                elif remainder <= 0:
                    kept[name] = "nothing remains"
                else:
                    bedragen[name] = str(remainder)
                    total += remainder
            written = list(bedragen)
            detail = (
                f"{len(written)} aanslagen written off, EUR {total}"
                if written
                else "nothing written off"
            )
            if kept:
                detail += "; not written off: " + _named(
                    [f"{n} ({why})" for n, why in kept.items()]
                )
            if written:
                conn.execute(
                    update(aanslagen)
                    .where(aanslagen.c.aanslagnummer.in_(written))
                    .values(status="kwijtgescholden")
                )
                # a written-off aanslag is not enforced any more; a later release resumes nothing
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.aanslagnummer.in_(written), maatregelen.c.actief.is_(True))
                    .values(actief=False)
                )
            conn.execute(
                insert(afboekingen).values(
                    write_off_id=write_off_id,
                    debiteur_id=debiteur_id,
                    conversation_id=conversation,
                    aanslagnummers=written,
                    bedrag=total,
                    datum=write_off.datum,
                    reden=write_off.reason[:60],
                    bedragen=bedragen,
                    niet_afgeboekt=kept,
                    detail=detail[:2000],
                    geboekt_op=_now(),
                )
            )
            booked = conn.execute(
                select(afboekingen).where(afboekingen.c.write_off_id == write_off_id)
            ).one()
        log.info(
            "write_off %s: %d aanslagen written off, %d not", write_off_id, len(written), len(kept)
        )
        return _write_off_result(write_off.write_off_id, booked)

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
                    tables, columns = missing_schema(lambda sql: list(conn.exec_driver_sql(sql)))
                if tables or columns:
                    lacks = []
                    if tables:
                        lacks.append(f"the tables {', '.join(tables)}")
                    if columns:
                        lacks.append(f"the columns {', '.join(columns)}")
                    message = f"the database lacks {' and '.join(lacks)}"
                    if not {"debiteuren", "aanslagen", "maatregelen", "opschortingen"} & set(
                        tables
                    ):
                        # an earlier version of the schema: claims and holds still work
                        message += (
                            "; it predates proposals, arrangements and write-offs: run "
                            "skn-gemeentebelastingen upgrade --database on it"
                        )
                    results.append(CheckResult(aspect="connection", ok=False, message=message))
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


def _remainder(row: _Row) -> Decimal:
    """What is still owed on an aanslag: hoofdsom + invorderingsrente + kosten."""
    value: Decimal = row.oorspronkelijk_bedrag - row.betaald + row.invorderingsrente + row.kosten
    return value.quantize(_CENT)


def _shown(factuurnummer: str) -> str:
    """A number the SHV sent that is not ours, as shown in a reason (short, one line)."""
    text = " ".join(factuurnummer.split())
    return text if len(text) <= 30 else text[:27] + "..."


def _named(items: Sequence[str]) -> str:
    """The first few items, then how many more (a reason stays short)."""
    text = "; ".join(items[:_NAMED])
    return text + (f"; and {len(items) - _NAMED} more" if len(items) > _NAMED else "")


def _write_off_result(write_off_id: uuid.UUID, row: _Row) -> WriteOffResult:
    return WriteOffResult(
        write_off_id=write_off_id,
        written_off=tuple(row.aanslagnummers),
        amount=row.bedrag,
        detail=row.detail,
    )
