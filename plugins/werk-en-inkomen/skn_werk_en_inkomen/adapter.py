"""The werk en inkomen adapter: Participatiewet vorderingen in a SQLite back-office.

It finds a client, lists the open vorderingen (terugvordering, bestuurlijke boete,
verhaal, leenbijstand) as claims with their fraud qualification, suspends or resumes
enforcement measures for a hold (idempotently by hold id), assesses a payment
proposal, records an agreed arrangement (idempotently by conversation id) and writes
off the remainder after a successful arrangement (idempotently by write-off id),
refusing the fraud claims whose kwijtschelding the law excludes.

Personal data (BSN, names, addresses) never appears in a log record or an error
message.
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
from typing import Any, Literal

from pydantic import field_validator
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    or_,
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
    FraudeKwalificatie,
    Hold,
    HoldBasis,
    HoldResult,
    MeasureCode,
    Proposal,
    ProposalAssessment,
    SampleBackOffice,
    WriteOff,
    WriteOffResult,
)

from . import rules
from .backoffice import (
    OPEN_STATUSES,
    TABLES,
    afboekingen,
    clients,
    create_sample_database,
    maatregelen,
    normalise_factuurnummer,
    normalise_postcode,
    opschortingen,
    regelingen,
    vorderingen,
)

log = logging.getLogger("skn_werk_en_inkomen")

#: a result row (SQLAlchemy 2.0 and 2.1 type rows differently)
_Row = Any

#: how many SQLite virtual-machine steps run between two looks at the deadline
_PROGRESS_STEPS = 2000

_HOLD_BASES: tuple[HoldBasis, ...] = ("convenant", "wet", "rechter", "regeling")


def _sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError("must be a SQLite URL such as sqlite:///path/to/werk_en_inkomen.db")
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError("must name a SQLite database file, e.g. sqlite:///var/lib/backoffice.db")
    return Path(database)


def _norm_sql(column: Any) -> ColumnElement[str]:
    """SQL twin of ``normalise_factuurnummer``."""
    stripped = column
    for separator in (" ", ".", "-", "/"):
        stripped = func.replace(stripped, separator, "")
    return func.upper(stripped)


def _normalise_bsn(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.zfill(9) if 0 < len(digits) <= 9 else digits


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _vordering(row: _Row) -> rules.Vordering:
    return rules.Vordering(
        besluitnummer=row.besluitnummer,
        soort=row.soort,
        wet=row.wet,
        besluitdatum=row.besluitdatum,
        oorspronkelijk=row.oorspronkelijk,
        afgelost=row.afgelost,
        kosten=row.kosten,
        status=row.status,
        overgedragen_aan=row.overgedragen_aan,
        fraude=bool(row.fraude),
        kwalificatie=row.fraude_kwalificatie,
        hoofdelijk=bool(row.hoofdelijk_met_partner),
    )


def _liable(client_id: int) -> ColumnElement[bool]:
    """The vorderingen a client owes: their own, and those they are hoofdelijk liable for."""
    return or_(vorderingen.c.client_id == client_id, vorderingen.c.medeschuldenaar_id == client_id)


class WerkEnInkomenAdapter(BaseAdapter):
    """Werk en inkomen: terugvordering, boete, verhaal, leenbijstand; verrekening with benefits."""

    name = "werk_en_inkomen"
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
        #: prefix of klantnummers as the department prints them (e.g. "WI-"); optional
        klantnummer_prefix: str | None = None
        #: fraud kwalificaties whose kwijtschelding is excluded: the law's opzet and grove
        #: schuld, plus (local policy) verwijtbaar or geen
        no_kwijtschelding_for: tuple[FraudeKwalificatie, ...] = rules.LEGALLY_EXCLUDED
        #: a proposal that would write off part of such a claim: refuse it, or ask a person
        excluded_fraud_decision: Literal["reject", "manual"] = "reject"
        #: a longer term goes to a person (18 months since 1 July 2023)
        max_looptijd_maanden: int = 18
        #: hold bases that do not stop the mandatory verrekening of a fraud claim
        keep_fraud_verrekening_on: tuple[HoldBasis, ...] = ("convenant",)
        #: writing off a hoofdelijk claim releases only this debtor (the partner stays
        #: liable for the remainder), or writes off the whole claim
        hoofdelijk_write_off: Literal["debtor_only", "whole_claim"] = "debtor_only"

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

        @field_validator("no_kwijtschelding_for")
        @classmethod
        def _at_least_the_law(
            cls, value: tuple[FraudeKwalificatie, ...]
        ) -> tuple[FraudeKwalificatie, ...]:
            missing = [k for k in rules.LEGALLY_EXCLUDED if k not in value]
            if missing:
                raise ValueError(
                    "must include opzet and grove_schuld (the Participatiewet excludes "
                    "their kwijtschelding); add verwijtbaar or geen only for stricter policy"
                )
            return tuple(sorted(set(value)))

        @field_validator("max_looptijd_maanden")
        @classmethod
        def _months(cls, value: int) -> int:
            if not 1 <= value <= 120:
                raise ValueError("must be from 1 to 120 months")
            return value

        @field_validator("keep_fraud_verrekening_on")
        @classmethod
        def _bases(cls, value: tuple[HoldBasis, ...]) -> tuple[HoldBasis, ...]:
            return tuple(b for b in _HOLD_BASES if b in value)

    options: Options

    def __init__(self, options: WerkEnInkomenAdapter.Options) -> None:
        super().__init__(options)
        self._path = _sqlite_path(options.database_url).absolute()
        self._timeout = float(options.timeout_seconds)
        self._excluded = frozenset(options.no_kwijtschelding_for)
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
                f"the werk en inkomen database had no free connection within {self._timeout:g} s"
            ) from None
        except sa_exc.IntegrityError as exc:
            raise BackOfficeRejected(
                f"the werk en inkomen database refused the change ({_reason(exc)})"
            ) from None
        except sa_exc.OperationalError as exc:
            reason = _reason(exc)
            if reason == "interrupted":
                raise BackOfficeTimeout(
                    f"the werk en inkomen database did not answer within {self._timeout:g} s"
                ) from None
            raise BackOfficeUnavailable(
                f"the werk en inkomen database is not available ({reason})"
            ) from None
        except sa_exc.DBAPIError as exc:
            raise BackOfficeUnavailable(
                f"the werk en inkomen database failed ({_reason(exc)})"
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
        cols = (clients.c.client_id, clients.c.klantnummer, clients.c.bsn)

        def usable(rows: Sequence[_Row]) -> list[_Row]:
            # a candidate whose BSN is known and differs from the one asked for is not them
            return [r for r in rows if not (bsn and r.bsn and r.bsn != bsn)]

        def one(rows: Sequence[_Row], route: str) -> Debtor | None:
            ids = {r.client_id for r in rows}
            if len(ids) > 1:
                log.info("find_debtor: %d candidates by %s; not choosing", len(ids), route)
                return None
            if not rows:
                return None
            log.debug("find_debtor: matched by %s", route)
            return Debtor(
                debtor_id=str(rows[0].client_id),
                klantnummer_se=self._klantnummer_se(rows[0].klantnummer),
            )

        routes: list[tuple[str, Callable[[Connection], Debtor | None]]] = []
        if bsn:
            routes.append(
                (
                    "bsn",
                    lambda c: one(
                        usable(c.execute(select(*cols).where(clients.c.bsn == bsn)).all()), "bsn"
                    ),
                )
            )
        if query.klantnummer_se and self._strip_prefix(query.klantnummer_se):
            klantnummer = self._strip_prefix(query.klantnummer_se).upper()
            routes.append(
                (
                    "klantnummer",
                    lambda c: one(
                        usable(
                            c.execute(
                                select(*cols).where(
                                    func.upper(clients.c.klantnummer) == klantnummer
                                )
                            ).all()
                        ),
                        "klantnummer",
                    ),
                )
            )
        nummers = sorted({normalise_factuurnummer(f) for f in query.factuurnummers} - {""})
        if nummers:
            routes.append(("factuurnummer", lambda c: self._by_factuurnummers(c, nummers, usable)))
        if (
            query.achternaam
            and query.geboortedatum
            and query.postcode
            and query.huisnummer is not None
        ):
            routes.append(
                (
                    "name_address",
                    lambda c: one(usable(self._by_name_address(c, query)), "name_address"),
                )
            )

        with self._transaction() as conn:
            for _route, run in routes:
                found = run(conn)
                if found is not None:
                    return found
        log.debug("find_debtor: no match (%d routes tried)", len(routes))
        return None

    def _by_factuurnummers(
        self,
        conn: Connection,
        nummers: list[str],
        usable: Callable[[Sequence[_Row]], list[_Row]],
    ) -> Debtor | None:
        """The one client liable for every known factuurnummer of the query.

        A hoofdelijk claim points at both partners; together with a claim of one of
        them it points at that one; alone it points at no one (the adapter does not guess).
        """
        rows = usable(
            conn.execute(
                select(
                    clients.c.client_id,
                    clients.c.klantnummer,
                    clients.c.bsn,
                    _norm_sql(vorderingen.c.besluitnummer).label("nummer"),
                )
                .join(
                    vorderingen,
                    or_(
                        vorderingen.c.client_id == clients.c.client_id,
                        vorderingen.c.medeschuldenaar_id == clients.c.client_id,
                    ),
                )
                .where(_norm_sql(vorderingen.c.besluitnummer).in_(nummers))
            ).all()
        )
        if not rows:
            return None
        liable: dict[int, set[str]] = {}
        klantnummers: dict[int, str] = {}
        for row in rows:
            liable.setdefault(row.client_id, set()).add(row.nummer)
            klantnummers[row.client_id] = row.klantnummer
        matched = set().union(*liable.values())
        candidates = [cid for cid, owed in liable.items() if owed == matched]
        if len(candidates) != 1:
            log.info("find_debtor: %d candidates by factuurnummer; not choosing", len(liable))
            return None
        (client_id,) = candidates
        log.debug("find_debtor: matched by factuurnummer")
        return Debtor(
            debtor_id=str(client_id), klantnummer_se=self._klantnummer_se(klantnummers[client_id])
        )

    def _by_name_address(self, conn: Connection, query: DebtorQuery) -> list[_Row]:
        assert query.achternaam and query.postcode
        rows = conn.execute(
            select(
                clients.c.client_id,
                clients.c.klantnummer,
                clients.c.bsn,
                clients.c.voorvoegsel,
                clients.c.achternaam,
            ).where(
                clients.c.geboortedatum == query.geboortedatum,
                clients.c.postcode == normalise_postcode(query.postcode),
                clients.c.huisnummer == query.huisnummer,
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

    def _client_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected(
                "the debtor id is not one of the werk en inkomen back-office"
            ) from None

    def _require_client(self, conn: Connection, client_id: int) -> None:
        found = conn.execute(
            select(clients.c.client_id).where(clients.c.client_id == client_id)
        ).first()
        if found is None:
            raise BackOfficeRejected(
                f"the werk en inkomen back-office has no client with id {client_id}"
            )

    def _owed(self, conn: Connection, client_id: int) -> dict[str, _Row]:
        """Every vordering the client owes or owed (any status), by normalised besluitnummer."""
        rows = conn.execute(
            select(vorderingen)
            .where(_liable(client_id))
            .order_by(vorderingen.c.besluitdatum, vorderingen.c.besluitnummer)
        ).all()
        return {normalise_factuurnummer(r.besluitnummer): r for r in rows}

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        client_id = self._client_id(debtor.debtor_id)
        with self._transaction() as conn:
            self._require_client(conn, client_id)
            rows = conn.execute(
                select(vorderingen)
                .where(_liable(client_id), vorderingen.c.status.in_(OPEN_STATUSES))
                .order_by(vorderingen.c.besluitdatum, vorderingen.c.besluitnummer)
            ).all()
            active: dict[str, set[MeasureCode]] = {}
            for nummer, code in conn.execute(
                select(maatregelen.c.besluitnummer, maatregelen.c.code).where(
                    maatregelen.c.besluitnummer.in_([r.besluitnummer for r in rows]),
                    maatregelen.c.client_id == client_id,
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.opgeschort_door.is_(None),
                )
            ):
                active.setdefault(nummer, set()).add(MeasureCode(code))
        claims = [
            rules.to_claim(_vordering(row), active.get(row.besluitnummer, ()), self._excluded)
            for row in rows
        ]
        log.debug("list_claims: %d claims for client %s", len(claims), client_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(self, conn: Connection, client_id: int, factuurnummers: Sequence[str]) -> list[str]:
        """The client's besluitnummers a hold covers: all they owe, or those named."""
        stmt = select(vorderingen.c.besluitnummer).where(_liable(client_id))
        if factuurnummers:
            wanted = {normalise_factuurnummer(f) for f in factuurnummers} - {""}
            stmt = stmt.where(_norm_sql(vorderingen.c.besluitnummer).in_(sorted(wanted)))
        return [r.besluitnummer for r in conn.execute(stmt)]

    def _mandatory(self, basis: str, code: str, fraude: bool) -> bool:
        """A verrekening the hold may not stop: on a fraud claim, under a kept basis."""
        return (
            code == MeasureCode.VERREKENING.value
            and fraude
            and basis in self.options.keep_fraud_verrekening_on
        )

    def apply_hold(self, hold: Hold) -> HoldResult:
        client_id = self._client_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(opschortingen).where(opschortingen.c.hold_id == hold_id)
            ).first()
            if existing is not None:
                if existing.client_id != client_id:
                    raise BackOfficeRejected(
                        f"hold {hold_id} is already recorded for another client"
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

            self._require_client(conn, client_id)
            scope = self._scope(conn, client_id, hold.factuurnummers)
            lift = {m.value for m in hold.lift}
            stop = {m.value for m in hold.measures} - lift
            rows = conn.execute(
                select(
                    maatregelen.c.id,
                    maatregelen.c.code,
                    maatregelen.c.opgeschort_door,
                    (vorderingen.c.fraude | (vorderingen.c.soort == "bestuurlijke_boete")).label(
                        "fraude"
                    ),
                )
                .join(vorderingen, vorderingen.c.besluitnummer == maatregelen.c.besluitnummer)
                .where(
                    maatregelen.c.besluitnummer.in_(scope),
                    maatregelen.c.client_id == client_id,
                    maatregelen.c.actief.is_(True),
                    maatregelen.c.code.in_(sorted(stop | lift)),
                )
            ).all()
            kept = [r for r in rows if self._mandatory(hold.basis, r.code, bool(r.fraude))]
            rows = [r for r in rows if r not in kept]
            lifted = [r for r in rows if r.code in lift]
            stopped = [r for r in rows if r.code in stop and r.opgeschort_door is None]
            held_elsewhere = [r for r in rows if r.code in stop and r.opgeschort_door is not None]
            detail = (
                f"{len(stopped)} measures suspended, {len(lifted)} lifted on {len(scope)} claims"
            )
            if held_elsewhere:
                detail += f"; {len(held_elsewhere)} already held"
            if kept:
                detail += (
                    f"; {len(kept)} verrekening on fraud claims kept (mandatory; a hold on "
                    f"basis {hold.basis} does not stop it)"
                )
            record = {
                "conversation_id": str(hold.conversation_id),
                "basis": hold.basis,
                "factuurnummers": list(hold.factuurnummers),
                "requested": sorted(stop),
                "lift": sorted(lift),
                "vorderingen": len(scope),
                "stopped": sorted({r.code for r in stopped}),
                "lifted": sorted({r.code for r in lifted}),
                "held_elsewhere": sorted({r.code for r in held_elsewhere}),
                "kept": sorted({r.code for r in kept}),
                "detail": detail,
            }
            conn.execute(
                insert(opschortingen).values(
                    hold_id=hold_id,
                    client_id=client_id,
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
        log.info("apply_hold %s: %s", hold_id, detail)
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
            if existing.client_id != self._client_id(hold.debtor_id):
                raise BackOfficeRejected(f"hold {hold_id} is recorded for another client")
            if existing.status == "released":
                log.debug("release_hold %s: already released", hold_id)
                return _released_result(hold.hold_id, existing.measures)

            # measures another applied hold of this client also covers pass to that hold
            others = conn.execute(
                select(
                    opschortingen.c.hold_id, opschortingen.c.basis, opschortingen.c.measures
                ).where(
                    opschortingen.c.client_id == existing.client_id,
                    opschortingen.c.status == "applied",
                    opschortingen.c.hold_id != hold_id,
                )
            ).all()
            rows = conn.execute(
                select(
                    maatregelen.c.id,
                    maatregelen.c.code,
                    maatregelen.c.besluitnummer,
                    (vorderingen.c.fraude | (vorderingen.c.soort == "bestuurlijke_boete")).label(
                        "fraude"
                    ),
                )
                .join(vorderingen, vorderingen.c.besluitnummer == maatregelen.c.besluitnummer)
                .where(
                    maatregelen.c.opgeschort_door == hold_id,
                    maatregelen.c.actief.is_(True),
                )
            ).all()
            resumed: list[_Row] = []
            for row in rows:
                successor = next(
                    (
                        other.hold_id
                        for other in others
                        if _covers(other.measures, row.code, row.besluitnummer)
                        and not self._mandatory(other.basis, row.code, bool(row.fraude))
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

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        client_id = self._client_id(debtor.debtor_id)
        with self._transaction() as conn:
            self._require_client(conn, client_id)
            owed = self._owed(conn, client_id)
        assessment = rules.assess(
            proposal,
            {key: _vordering(row) for key, row in owed.items()},
            excluded=self._excluded,
            excluded_decision=self.options.excluded_fraud_decision,
            max_looptijd_maanden=self.options.max_looptijd_maanden,
        )
        log.info(
            "assess_proposal: client %s, %d claims: %s",
            client_id,
            len(proposal.claims),
            assessment.decision,
        )
        return assessment

    # -- ARRANGEMENTS ---------------------------------------------------------------------------

    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        client_id = self._client_id(debtor.debtor_id)
        conversation_id = str(arrangement.conversation_id)
        with self._transaction(write=True) as conn:
            self._require_client(conn, client_id)
            owed = self._owed(conn, client_id)
            terms: list[dict[str, str | None]] = []
            included: list[str] = []
            unknown: list[str] = []
            for pc in arrangement.claims:
                row = owed.get(normalise_factuurnummer(pc.factuurnummer))
                if row is None:
                    unknown.append(pc.factuurnummer)
                elif row.besluitnummer not in included:
                    included.append(row.besluitnummer)
                terms.append(
                    {
                        "factuurnummer": pc.factuurnummer,
                        "besluitnummer": row.besluitnummer if row is not None else None,
                        "actueel_vorderingsbedrag": str(pc.actueel_vorderingsbedrag),
                        "afkooppercentage": str(pc.afkooppercentage),
                        "prognose_eindbedrag": str(pc.prognose_eindbedrag),
                    }
                )
            existing = conn.execute(
                select(regelingen).where(regelingen.c.conversation_id == conversation_id)
            ).first()
            if existing is not None:
                same = (
                    existing.client_id == client_id
                    and existing.type_schuldregeling == arrangement.type_schuldregeling
                    and existing.datum_akkoord == arrangement.datum_akkoord
                    and existing.voorwaarden == terms
                )
                if not same:
                    raise BackOfficeRejected(
                        f"an arrangement for conversation {conversation_id} is already "
                        "recorded with other terms or for another client"
                    )
                log.debug("record_arrangement %s: already recorded", conversation_id)
                return
            conn.execute(
                insert(regelingen).values(
                    conversation_id=conversation_id,
                    client_id=client_id,
                    type_schuldregeling=arrangement.type_schuldregeling,
                    datum_akkoord=arrangement.datum_akkoord,
                    vastgelegd_op=_now(),
                    voorwaarden=terms,
                    onbekend=unknown,
                )
            )
            if included:
                conn.execute(
                    update(vorderingen)
                    .where(vorderingen.c.besluitnummer.in_(included))
                    .values(regeling_id=conversation_id)
                )
        log.info(
            "record_arrangement %s: client %s, %d claims included, %d unknown",
            conversation_id,
            client_id,
            len(included),
            len(unknown),
        )

    # -- WRITE_OFF ------------------------------------------------------------------------------

    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        client_id = self._client_id(debtor.debtor_id)
        if write_off.debtor_id != debtor.debtor_id:
            raise BackOfficeRejected("the write-off names another debtor than the one given")
        write_off_id = str(write_off.write_off_id)
        with self._transaction(write=True) as conn:
            existing = conn.execute(
                select(afboekingen).where(afboekingen.c.write_off_id == write_off_id)
            ).first()
            if existing is not None:
                if existing.client_id != client_id:
                    raise BackOfficeRejected(
                        f"write-off {write_off_id} is already recorded for another client"
                    )
                log.debug("write_off %s: already recorded", write_off_id)
                return _write_off_result(write_off.write_off_id, existing.resultaat)

            self._require_client(conn, client_id)
            owed = self._owed(conn, client_id)
            unknown: list[str] = []
            targets: list[_Row] = []
            if write_off.factuurnummers:
                for nummer in write_off.factuurnummers:
                    row = owed.get(normalise_factuurnummer(nummer))
                    if row is None:
                        unknown.append(nummer)
                    elif row not in targets:
                        targets.append(row)
            else:  # the claims the arrangement of this conversation included
                conversation_id = str(write_off.conversation_id)
                targets = [r for r in owed.values() if r.regeling_id == conversation_id]

            written: list[dict[str, str]] = []
            refused: list[dict[str, str]] = []
            released: list[dict[str, str]] = []
            not_open: list[dict[str, str]] = []
            total = Decimal("0.00")
            for row in targets:
                v = _vordering(row)
                if v.status not in OPEN_STATUSES:
                    not_open.append({"besluitnummer": v.besluitnummer, "status": v.status})
                    continue
                barrier = rules.write_off_barrier(v, self._excluded)
                if barrier is not None:
                    refused.append(
                        {
                            "besluitnummer": v.besluitnummer,
                            "reden": (
                                f"fraude {v.kwalificatie}: kwijtschelding excluded"
                                if barrier == "excluded"
                                else "fraude without kwalificatie: not shown to be allowed"
                            ),
                        }
                    )
                    continue
                if v.hoofdelijk and self.options.hoofdelijk_write_off == "debtor_only":
                    self._release_from_joint_liability(conn, row, client_id)
                    released.append({"besluitnummer": v.besluitnummer})
                    continue
                total += v.openstaand
                written.append({"besluitnummer": v.besluitnummer, "bedrag": str(v.openstaand)})

            detail = _write_off_detail(written, refused, released, not_open, unknown)
            resultaat = {
                "factuurnummers": list(write_off.factuurnummers),
                "written_off": written,
                "refused": refused,
                "released": released,
                "not_open": not_open,
                "unknown": unknown,
                "amount": str(total),
                "detail": detail,
            }
            conn.execute(
                insert(afboekingen).values(
                    write_off_id=write_off_id,
                    client_id=client_id,
                    conversation_id=str(write_off.conversation_id),
                    reden=write_off.reason,
                    datum=write_off.datum,
                    geboekt_op=_now(),
                    bedrag=total,
                    resultaat=resultaat,
                )
            )
            nummers = [w["besluitnummer"] for w in written]
            if nummers:
                conn.execute(
                    update(vorderingen)
                    .where(vorderingen.c.besluitnummer.in_(nummers))
                    .values(status="kwijtgescholden", afboeking_id=write_off_id)
                )
                conn.execute(
                    update(maatregelen)
                    .where(maatregelen.c.besluitnummer.in_(nummers))
                    .values(actief=False)
                )
        log.info(
            "write_off %s: client %s, %d written off, %d refused, %d released, "
            "%d not open, %d unknown",
            write_off_id,
            client_id,
            len(written),
            len(refused),
            len(released),
            len(not_open),
            len(unknown),
        )
        return _write_off_result(write_off.write_off_id, resultaat)

    def _release_from_joint_liability(self, conn: Connection, row: _Row, client_id: int) -> None:
        """The client no longer owes the hoofdelijk claim; the partner owes the remainder."""
        if row.client_id == client_id:
            values: dict[str, Any] = {"client_id": row.medeschuldenaar_id}
        else:
            values = {}
        conn.execute(
            update(vorderingen)
            .where(vorderingen.c.besluitnummer == row.besluitnummer)
            .values(**values, medeschuldenaar_id=None, hoofdelijk_met_partner=False)
        )
        conn.execute(
            update(maatregelen)
            .where(
                maatregelen.c.besluitnummer == row.besluitnummer,
                maatregelen.c.client_id == client_id,
            )
            .values(actief=False)
        )

    # -- operations -----------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results = [
            CheckResult(
                aspect="settings",
                ok=True,
                message=(
                    f"database_url names the SQLite file {self._path.name}; "
                    f"timeout {self._timeout:g} s; no kwijtschelding for fraud qualified "
                    f"{', '.join(self.options.no_kwijtschelding_for)}"
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


def _covers(record: dict[str, Any], code: str, besluitnummer: str) -> bool:
    """Whether an applied hold (its ``measures`` record) covers this measure on this claim."""
    if code not in set(record.get("requested", ())):
        return False
    nummers = record.get("factuurnummers") or []
    return not nummers or normalise_factuurnummer(besluitnummer) in {
        normalise_factuurnummer(n) for n in nummers
    }


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
    written: list[dict[str, str]],
    refused: list[dict[str, str]],
    released: list[dict[str, str]],
    not_open: list[dict[str, str]],
    unknown: list[str],
) -> str:
    parts = [f"{len(written)} claims written off"]
    if written:
        parts[0] += f" ({', '.join(w['besluitnummer'] for w in written)})"
    if refused:
        parts.append(
            "refused, the remainder stays payable (Participatiewet: no kwijtschelding of "
            "fraud claims qualified opzet or grove schuld): "
            + ", ".join(f"{r['besluitnummer']} ({r['reden']})" for r in refused)
        )
    if released:
        parts.append(
            "hoofdelijk, this debtor released and the partner stays liable for the remainder: "
            + ", ".join(r["besluitnummer"] for r in released)
        )
    if not_open:
        parts.append(
            "not open: " + ", ".join(f"{n['besluitnummer']} ({n['status']})" for n in not_open)
        )
    if unknown:
        parts.append(f"{len(unknown)} not claims of this debtor")
    if not (written or refused or released or not_open or unknown):
        parts.append("no claims were listed and no arrangement includes any")
    return "; ".join(parts)


def _write_off_result(write_off_id: uuid.UUID, record: dict[str, Any]) -> WriteOffResult:
    return WriteOffResult(
        write_off_id=write_off_id,
        written_off=tuple(w["besluitnummer"] for w in record.get("written_off", ())),
        amount=Decimal(str(record.get("amount", "0.00"))),
        detail=str(record.get("detail", "")),
    )
