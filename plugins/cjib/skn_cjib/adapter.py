"""The CJIB adapter: Wahv fines and criminal-law money sanctions in a SQLite back-office.

It finds a betrokkene, lists the open zaken as claims (Wahv saneerbaar, criminal-law
and European sanctions niet-saneerbaar), suspends or resumes enforcement measures for
a hold (a hold that stops verhogingen is recorded as a noodstop, and no verhoging is
added while it lasts), assesses a payment proposal, records an agreed arrangement and
writes off what remains of the saneerbare claims after a successful one. Every write
is idempotent by its id (holds also in a batch). Personal data (BSN, names, addresses)
never appears in a log record or an error message.

The database plumbing (connections, deadlines, typed errors, the hold ledger) is the
SDK's ``skn_connector.adapters.sqlite``; every statement here is a constant SQL string,
so SQLite reuses its prepared statement on every call.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import field_validator

from skn_connector.adapters.api import (
    AdapterError,
    Arrangement,
    BackOfficeRejected,
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
from skn_connector.adapters.calendar import SqliteCollectionCalendar
from skn_connector.adapters.sqlite import (
    DEFAULT_PROGRESS_STEPS,
    HoldLedger,
    HoldOutcome,
    SqliteBackOffice,
    amount,
    applied_result,
    each_logged,
    json_list,
    logged,
    measures_of,
    parse_date,
    released_result,
    sql_amount,
    sql_date,
    sql_datetime,
    sqlite_file,
)

from .backoffice import (
    CENT,
    INGEZET,
    NOODSTOP_STOPT,
    OPEN_STATUSES,
    TABLES,
    TERMIJN_AANMANING,
    bedragen,
    create_sample_database,
    noodstop_covers,
    normalise_factuurnummer,
    normalise_postcode,
)
from .calendar import collection_calendar

log = logging.getLogger("skn_cjib")

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
_PROGRESS_STEPS = DEFAULT_PROGRESS_STEPS

_EXAMPLE_URL = "sqlite:///path/to/cjib.db"
_CODE = {m: m.value for m in MeasureCode}
_INGEZET_CODES = json_list(sorted(m.value for m in INGEZET))

# -- the SQL (constant strings: prepared once per connection) -----------------------------------
#
# ``upper(replace(replace(replace(replace(replace(z.zaaknummer, ' ', ''), '.', ''), '/', ''),
# '-', ''), '_', ''))`` is the SQL twin of ``normalise_factuurnummer``;
# ``('open', 'overgedragen', 'betwist')`` are OPEN_STATUSES.

_BY_BSN = "SELECT betrokkene_id, betrokkenenummer, bsn FROM betrokkenen WHERE bsn = ?"
_BY_NUMMER = (
    "SELECT betrokkene_id, betrokkenenummer, bsn FROM betrokkenen WHERE upper(betrokkenenummer) = ?"
)
_BY_FACTUURNUMMER = (
    "SELECT DISTINCT b.betrokkene_id, b.betrokkenenummer, b.bsn FROM json_each(?) j "
    "JOIN zaken z ON upper(replace(replace(replace(replace(replace(z.zaaknummer, ' ', ''), "
    "'.', ''), '/', ''), '-', ''), '_', '')) = j.value "
    "JOIN betrokkenen b ON b.betrokkene_id = z.betrokkene_id"
)
_BY_NAME_ADDRESS = (
    "SELECT betrokkene_id, betrokkenenummer, bsn, voorvoegsel, achternaam FROM betrokkenen "
    "WHERE geboortedatum = ? AND postcode = ? AND huisnummer = ?"
)
_BETROKKENE_EXISTS = "SELECT 1 FROM betrokkenen WHERE betrokkene_id = ?"
_ZAKEN = (
    "SELECT z.zaaknummer, z.betrokkene_id, z.soort, z.datum_onherroepelijk, z.sanctie, "
    "z.verhoging_stap, z.verhogingen, z.volgende_verhoging_op, z.administratiekosten, "
    "z.vervolgingskosten, z.betaald, z.afgeboekt, z.afgeboekt_door, z.status, "
    "z.overgedragen_aan, z.saneerbaar FROM zaken z WHERE z.betrokkene_id = ? "
    "ORDER BY z.datum_onherroepelijk, z.zaaknummer"
)
# the open zaken with the measures now active on each (codes never hold a comma)
_OPEN_ZAKEN = (
    "SELECT z.zaaknummer, z.betrokkene_id, z.soort, z.datum_onherroepelijk, z.sanctie, "
    "z.verhoging_stap, z.verhogingen, z.volgende_verhoging_op, z.administratiekosten, "
    "z.vervolgingskosten, z.betaald, z.afgeboekt, z.afgeboekt_door, z.status, "
    "z.overgedragen_aan, z.saneerbaar, (SELECT group_concat(m.code) FROM maatregelen m "
    "WHERE m.zaaknummer = z.zaaknummer AND m.actief = 1 AND m.opgeschort_door IS NULL) "
    "FROM zaken z WHERE z.betrokkene_id = ? AND z.status IN ('open', 'overgedragen', 'betwist') "
    "ORDER BY z.datum_onherroepelijk, z.zaaknummer"
)
# a noodstop obtained outside SKN (one that a hold recorded shows in the measures)
_NOODSTOPS_OUTSIDE = (
    "SELECT id, betrokkene_id, hold_id, bron, begint, eindigt, zaken, beeindigd_op "
    "FROM noodstops WHERE betrokkene_id = ? AND hold_id IS NULL"
)
# the zaken a hold covers (all of the betrokkene's, or those named), each with its active
# measures of the codes asked for (none: one row with NULLs)
_HOLD_SCOPE_ALL = (
    "SELECT z.zaaknummer, m.id, m.code, m.opgeschort_door FROM zaken z "
    "LEFT JOIN maatregelen m ON m.zaaknummer = z.zaaknummer AND m.actief = 1 "
    "AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE z.betrokkene_id = ?2"
)
_HOLD_SCOPE_NAMED = (
    "SELECT z.zaaknummer, m.id, m.code, m.opgeschort_door FROM zaken z "
    "LEFT JOIN maatregelen m ON m.zaaknummer = z.zaaknummer AND m.actief = 1 "
    "AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE z.betrokkene_id = ?2 "
    "AND upper(replace(replace(replace(replace(replace(z.zaaknummer, ' ', ''), '.', ''), '/', ''), "
    "'-', ''), '_', '')) IN (SELECT value FROM json_each(?3))"
)
_SUSPEND = "UPDATE maatregelen SET opgeschort_door = ? WHERE id IN (SELECT value FROM json_each(?))"
# a lifted beslag is released, a gijzeling request withdrawn, a rijbewijs returned: they
# stay lifted after the hold ends
_LIFT = (
    "UPDATE maatregelen SET actief = 0, beeindigd_op = ?, opgeschort_door = ? "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_INSERT_NOODSTOP = (
    "INSERT INTO noodstops (betrokkene_id, hold_id, bron, begint, eindigt, zaken, beeindigd_op) "
    "VALUES (?, ?, 'skn', ?, ?, ?, NULL)"
)
_HELD_BY = "SELECT id, code, zaaknummer FROM maatregelen WHERE opgeschort_door = ? AND actief = 1"
_PASS_ON = "UPDATE maatregelen SET opgeschort_door = ? WHERE id = ?"
_FRESH_TERM = (
    "UPDATE zaken SET volgende_verhoging_op = ?1 WHERE zaaknummer = ?2 "
    "AND volgende_verhoging_op IS NOT NULL AND volgende_verhoging_op < ?1"
)
_END_NOODSTOP = "UPDATE noodstops SET beeindigd_op = ? WHERE hold_id = ? AND beeindigd_op IS NULL"
_INGEZET = (
    "SELECT m.zaaknummer FROM maatregelen m JOIN zaken z ON z.zaaknummer = m.zaaknummer "
    "WHERE z.betrokkene_id = ? AND m.code IN (SELECT value FROM json_each(?))"
)
_REGELING_BETROKKENE = "SELECT betrokkene_id FROM regelingen WHERE regeling_id = ?"
_INSERT_REGELING = (
    "INSERT INTO regelingen (regeling_id, betrokkene_id, type_schuldregeling, datum_akkoord, "
    "status, vastgelegd_op) VALUES (?, ?, ?, ?, 'actief', ?)"
)
_INSERT_REGELING_ZAAK = (
    "INSERT INTO regeling_zaken (regeling_id, zaaknummer, actueel_vorderingsbedrag, "
    "afkooppercentage, prognose_eindbedrag, restant_blijft_verschuldigd) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_AFBOEKING = "SELECT betrokkene_id, bedrag, resultaat FROM afboekingen WHERE write_off_id = ?"
_REGELING_ZAKEN = "SELECT zaaknummer FROM regeling_zaken WHERE regeling_id = ? ORDER BY zaaknummer"
_INSERT_AFBOEKING = (
    "INSERT INTO afboekingen (write_off_id, betrokkene_id, reden, datum, conversation_id, "
    "bedrag, vastgelegd_op, resultaat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_WRITE_OFF_ZAAK = (
    "UPDATE zaken SET afgeboekt = ?, afgeboekt_door = ?, status = 'afgeboekt', "
    "volgende_verhoging_op = NULL WHERE zaaknummer = ?"
)
_END_MEASURES = (
    "UPDATE maatregelen SET actief = 0, beeindigd_op = ? WHERE zaaknummer = ? AND actief = 1"
)
_REGELING_GESLAAGD = (
    "UPDATE regelingen SET status = 'geslaagd' WHERE regeling_id = ? AND status = 'actief'"
)
_TABLE_NAMES = "SELECT name FROM sqlite_master WHERE type = 'table'"


class _Zaak(NamedTuple):
    """A ``zaken`` row, typed (``bedragen`` reads its amounts)."""

    zaaknummer: str
    betrokkene_id: int
    soort: str
    datum_onherroepelijk: date
    sanctie: Decimal
    verhoging_stap: int
    verhogingen: Decimal
    volgende_verhoging_op: date | None
    administratiekosten: Decimal
    vervolgingskosten: Decimal
    betaald: Decimal
    afgeboekt: Decimal
    afgeboekt_door: str | None
    status: str
    overgedragen_aan: str | None
    saneerbaar: bool

    @classmethod
    def of(cls, r: Sequence[Any]) -> _Zaak:
        return cls(
            r[0],
            r[1],
            r[2],
            date.fromisoformat(r[3]),
            amount(r[4]),
            r[5],
            amount(r[6]),
            parse_date(r[7]),
            amount(r[8]),
            amount(r[9]),
            amount(r[10]),
            amount(r[11]),
            r[12],
            r[13],
            r[14],
            bool(r[15]),
        )


class _Noodstop(NamedTuple):
    """A ``noodstops`` row, typed (``noodstop_covers`` reads it)."""

    id: int
    betrokkene_id: int
    hold_id: str | None
    bron: str
    begint: date
    eindigt: date | None
    zaken: list[str] | None
    beeindigd_op: date | None

    @classmethod
    def of(cls, r: Sequence[Any]) -> _Noodstop:
        return cls(
            r[0],
            r[1],
            r[2],
            r[3],
            date.fromisoformat(r[4]),
            parse_date(r[5]),
            None if r[6] is None else json.loads(r[6]),
            parse_date(r[7]),
        )


#: what a hold call did: its result, and the level and text of its log line


def _normalise_bsn(value: str) -> str:
    if len(value) == 9 and value.isdigit():
        return value
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
            sqlite_file(value, example=_EXAMPLE_URL)
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
        self._path = sqlite_file(options.database_url, example=_EXAMPLE_URL).absolute()
        self._timeout = float(options.timeout_seconds)
        self._db = SqliteBackOffice(
            self._path,
            label="the cjib database",
            timeout_seconds=self._timeout,
            progress_steps=_PROGRESS_STEPS,
        )
        self._ledger = HoldLedger(debtor_column="betrokkene_id")

    # -- CLAIMS ---------------------------------------------------------------------------------

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        bsn = _normalise_bsn(query.bsn) if query.bsn else None
        klantnummer = (query.klantnummer_se or "").strip().upper()
        by_name = bool(
            query.achternaam
            and query.geboortedatum
            and query.postcode
            and query.huisnummer is not None
        )
        tried = 0
        with self._db.read() as conn:
            if bsn:
                tried += 1
                found = self._accept(conn.execute(_BY_BSN, (bsn,)).fetchall(), bsn, "bsn")
                if found is not None:
                    return found
            if klantnummer:
                tried += 1
                rows = conn.execute(_BY_NUMMER, (klantnummer,)).fetchall()
                found = self._accept(rows, bsn, "klantnummer")
                if found is not None:
                    return found
            nummers = sorted({normalise_factuurnummer(f) for f in query.factuurnummers} - {""})
            if nummers:
                tried += 1
                rows = conn.execute(_BY_FACTUURNUMMER, (json_list(nummers),)).fetchall()
                found = self._accept(rows, bsn, "factuurnummer")
                if found is not None:
                    return found
            if by_name:
                tried += 1
                found = self._accept(self._by_name_address(conn, query), bsn, "name_address")
                if found is not None:
                    return found
        log.debug("find_debtor: no match (%d routes tried)", tried)
        return None

    def _accept(self, rows: Sequence[Sequence[Any]], bsn: str | None, route: str) -> Debtor | None:
        """The one betrokkene of ``rows`` (betrokkene_id, betrokkenenummer, bsn, ...), or None."""
        # a candidate whose BSN is known and differs from the one asked for is not them
        if bsn:
            rows = [r for r in rows if not (r[2] and r[2] != bsn)]
        if not rows:
            return None
        ids = {r[0] for r in rows}
        if len(ids) > 1:
            log.info("find_debtor: %d candidates by %s; not choosing", len(ids), route)
            return None
        log.debug("find_debtor: matched by %s", route)
        return Debtor(debtor_id=str(rows[0][0]), klantnummer_se=rows[0][1])

    def _by_name_address(
        self, conn: sqlite3.Connection, query: DebtorQuery
    ) -> list[tuple[Any, ...]]:
        assert query.achternaam and query.postcode and query.geboortedatum
        rows = conn.execute(
            _BY_NAME_ADDRESS,
            (
                sql_date(query.geboortedatum),
                normalise_postcode(query.postcode),
                query.huisnummer,
            ),
        ).fetchall()
        wanted = " ".join(query.achternaam.split()).casefold()
        result = []
        for row in rows:
            voorvoegsel, achternaam = row[3], row[4]
            plain = achternaam.casefold()
            full = " ".join(f"{voorvoegsel or ''} {achternaam}".split()).casefold()
            if wanted in (plain, full):
                result.append(row)
        return result

    def _betrokkene_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected("the debtor id is not one of the cjib back-office") from None

    def _require_betrokkene(self, conn: sqlite3.Connection, betrokkene_id: int) -> None:
        if conn.execute(_BETROKKENE_EXISTS, (betrokkene_id,)).fetchone() is None:
            raise BackOfficeRejected(f"the cjib back-office has no debtor with id {betrokkene_id}")

    def _zaken(self, conn: sqlite3.Connection, betrokkene_id: int) -> list[_Zaak]:
        return [_Zaak.of(r) for r in conn.execute(_ZAKEN, (betrokkene_id,))]

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        today = _today()
        with self._db.read() as conn:
            found = conn.execute(_OPEN_ZAKEN, (betrokkene_id,)).fetchall()
            if not found:
                self._require_betrokkene(conn, betrokkene_id)
                return self._listed([], betrokkene_id)
            outside = [_Noodstop.of(r) for r in conn.execute(_NOODSTOPS_OUTSIDE, (betrokkene_id,))]
        claims = []
        for r in found:
            row = _Zaak.of(r)
            amounts = bedragen(row)
            measures = measures_of(r[16])
            # a noodstop obtained outside SKN suspends escalation and the dwangmiddelen
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
                    saneerbaar=row.saneerbaar,
                    fraude=False,
                    preferent=False,
                    measures=measures,
                )
            )
        return self._listed(claims, betrokkene_id)

    def _listed(self, claims: list[Claim], betrokkene_id: int) -> list[Claim]:
        log.debug("list_claims: %d claims for debtor %s", len(claims), betrokkene_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(
        self, conn: sqlite3.Connection, betrokkene_id: int, hold: Hold, codes: list[str]
    ) -> tuple[list[str], list[tuple[int, str, str | None]]]:
        """The betrokkene's zaaknummers a hold covers (all, or those named, normalised), and
        their active measures of ``codes``: (id, code, opgeschort_door)."""
        if hold.factuurnummers:
            wanted = sorted({normalise_factuurnummer(f) for f in hold.factuurnummers} - {""})
            params: tuple[Any, ...] = (json_list(codes), betrokkene_id, json_list(wanted))
            rows = conn.execute(_HOLD_SCOPE_NAMED, params).fetchall()
        else:
            rows = conn.execute(_HOLD_SCOPE_ALL, (json_list(codes), betrokkene_id)).fetchall()
        if not rows:
            self._require_betrokkene(conn, betrokkene_id)
        scope = list(dict.fromkeys(r[0] for r in rows))
        return scope, [(r[1], r[2], r[3]) for r in rows if r[1] is not None]

    def apply_hold(self, hold: Hold) -> HoldResult:
        with self._db.transaction(write=True) as conn:
            done = self._apply(conn, hold)
        return logged(log, "apply_hold", hold, done)

    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        """The whole batch in one write transaction (one commit), a savepoint per hold."""
        return each_logged(log, "apply_hold", holds, self._db.write_each(holds, self._apply))

    def _apply(self, conn: sqlite3.Connection, hold: Hold) -> HoldOutcome:
        betrokkene_id = self._betrokkene_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        existing = self._ledger.find(conn, hold_id)
        if existing is not None:
            result = self._ledger.repeated_apply(existing, hold, betrokkene_id)
            if not result.applied:
                return result, logging.INFO, "released before; not applied again"
            return result, logging.DEBUG, "already applied"

        today = _today()
        asked = {_CODE[m] for m in hold.measures}
        lift = {_CODE[m] for m in hold.lift}
        stop = _coupled(asked) - lift
        scope, rows = self._scope(conn, betrokkene_id, hold, sorted(stop | lift))
        lifted = [r for r in rows if r[1] in lift]
        stopped = [r for r in rows if r[1] in stop and r[2] is None]
        held_elsewhere = [r for r in rows if r[1] in stop and r[2] is not None]
        noodstop = MeasureCode.VERHOGING.value in stop
        record = {
            "conversation_id": str(hold.conversation_id),
            "factuurnummers": list(hold.factuurnummers),
            "asked": sorted(asked),
            "requested": sorted(stop),
            "lift": sorted(lift),
            "zaken": len(scope),
            "stopped": sorted({r[1] for r in stopped}),
            "lifted": sorted({r[1] for r in lifted}),
            "held_elsewhere": sorted({r[1] for r in held_elsewhere}),
            "noodstop": noodstop,
            "detail": (
                f"{len(stopped)} measures suspended, {len(lifted)} lifted on {len(scope)} zaken"
                + (f"; {len(held_elsewhere)} already held" if held_elsewhere else "")
                + (
                    "; recorded as a noodstop (Wahv art. 23 lid 2): no verhogingen while it lasts"
                    if noodstop
                    else ""
                )
            ),
        }
        # the ledger row first: the measures and the noodstop refer to it
        self._ledger.insert_applied(conn, hold, betrokkene_id, record, _now())
        if stopped:
            conn.execute(_SUSPEND, (hold_id, json_list([r[0] for r in stopped])))
        if lifted:
            conn.execute(_LIFT, (sql_date(today), hold_id, json_list([r[0] for r in lifted])))
        if noodstop:
            conn.execute(
                _INSERT_NOODSTOP,
                (
                    betrokkene_id,
                    hold_id,
                    sql_date(hold.starts),
                    sql_date(hold.ends),
                    json_list(scope) if hold.factuurnummers else None,
                ),
            )
        return applied_result(hold.hold_id, record), logging.INFO, str(record["detail"])

    def release_hold(self, hold: Hold) -> HoldResult:
        with self._db.transaction(write=True) as conn:
            done = self._release(conn, hold)
        return logged(log, "release_hold", hold, done)

    def release_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        """The whole batch in one write transaction (one commit), a savepoint per hold."""
        return each_logged(log, "release_hold", holds, self._db.write_each(holds, self._release))

    def _release(self, conn: sqlite3.Connection, hold: Hold) -> HoldOutcome:
        hold_id = str(hold.hold_id)
        existing = self._ledger.find(conn, hold_id)
        if existing is None:
            return (
                self._ledger.unknown_release(hold),
                logging.INFO,
                "not known here; nothing to release",
            )
        repeated = self._ledger.repeated_release(
            existing, hold, self._betrokkene_id(hold.debtor_id)
        )
        if repeated is not None:
            return repeated, logging.DEBUG, "already released"

        today = _today()
        rows = conn.execute(_HELD_BY, (hold_id,)).fetchall()
        # measures another applied hold of this betrokkene also covers pass to that hold
        covering: list[tuple[str, set[str], set[str]]] = []
        if rows:
            for other in self._ledger.others_applied(conn, existing.debtor_key, hold_id):
                covering.append(
                    (
                        other.hold_id,
                        set(other.record.get("requested", ())),
                        {
                            normalise_factuurnummer(n)
                            for n in other.record.get("factuurnummers", ())
                        },
                    )
                )
        resumed: list[tuple[str, str]] = []
        passed_on: list[tuple[str | None, int]] = []
        for measure_id, code, zaaknummer in rows:
            key = normalise_factuurnummer(zaaknummer)
            successor = next(
                (
                    other_id
                    for other_id, codes, nummers in covering
                    if code in codes and (not nummers or key in nummers)
                ),
                None,
            )
            passed_on.append((successor, measure_id))
            if successor is None:
                resumed.append((code, zaaknummer))
        conn.executemany(_PASS_ON, passed_on)
        # a surcharge run that resumes starts a fresh term: no verhoging the day after
        restarted = sorted({z for code, z in resumed if code == MeasureCode.VERHOGING.value})
        fresh = sql_date(today + TERMIJN_AANMANING)
        for nummer in restarted:
            conn.execute(_FRESH_TERM, (fresh, nummer))
        conn.execute(_END_NOODSTOP, (sql_date(today), hold_id))
        record = dict(existing.record)
        record["resumed"] = sorted({code for code, _ in resumed})
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
        self._ledger.mark_released(conn, hold_id, record, _now())
        return released_result(hold.hold_id, record), logging.INFO, record["release_detail"]

    # -- PROPOSALS ------------------------------------------------------------------------------

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        betrokkene_id = self._betrokkene_id(debtor.debtor_id)
        with self._db.transaction() as conn:
            self._require_betrokkene(conn, betrokkene_id)
            rows = self._zaken(conn, betrokkene_id)
            ingezet = {
                nummer for (nummer,) in conn.execute(_INGEZET, (betrokkene_id, _INGEZET_CODES))
            }
        by_number = {normalise_factuurnummer(r.zaaknummer): r for r in rows}
        problems: list[str] = []
        seen: set[str] = set()
        saneerbaar: list[tuple[Any, _Zaak]] = []
        niet_saneerbaar: list[_Zaak] = []
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
        with self._db.transaction(write=True) as conn:
            existing = conn.execute(_REGELING_BETROKKENE, (regeling_id,)).fetchone()
            if existing is not None:
                if existing[0] != betrokkene_id:
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
            included: dict[str, tuple[Any, _Zaak]] = {}
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
                _INSERT_REGELING,
                (
                    regeling_id,
                    betrokkene_id,
                    arrangement.type_schuldregeling,
                    sql_date(arrangement.datum_akkoord),
                    sql_datetime(_now()),
                ),
            )
            conn.executemany(
                _INSERT_REGELING_ZAAK,
                [
                    (
                        regeling_id,
                        nummer,
                        sql_amount(item.actueel_vorderingsbedrag),
                        str(Decimal(item.afkooppercentage)),
                        sql_amount(item.prognose_eindbedrag),
                        not row.saneerbaar,
                    )
                    for nummer, (item, row) in included.items()
                ],
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
        with self._db.transaction(write=True) as conn:
            existing = conn.execute(_AFBOEKING, (write_off_id,)).fetchone()
            if existing is not None:
                if existing[0] != betrokkene_id:
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
                names = [nummer for (nummer,) in conn.execute(_REGELING_ZAKEN, (conversation_id,))]
            written: list[tuple[_Zaak, Decimal]] = []
            kept: list[_Zaak] = []
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
                _INSERT_AFBOEKING,
                (
                    write_off_id,
                    betrokkene_id,
                    write_off.reason,
                    sql_date(write_off.datum),
                    conversation_id,
                    sql_amount(total),
                    sql_datetime(_now()),
                    json.dumps(resultaat),
                ),
            )
            for row, amount_off in written:
                conn.execute(
                    _WRITE_OFF_ZAAK,
                    (sql_amount(row.afgeboekt + amount_off), write_off_id, row.zaaknummer),
                )
                conn.execute(_END_MEASURES, (sql_date(write_off.datum), row.zaaknummer))
            conn.execute(_REGELING_GESLAAGD, (conversation_id,))
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
                with self._db.transaction() as conn:
                    present = {r[0] for r in conn.execute(_TABLE_NAMES)}
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
        self._db.close()

    def collection_calendar(self) -> SqliteCollectionCalendar:
        """The sample back-office's collection calendar (its daily round; the drill runs it)."""
        return collection_calendar(self._path)

    @classmethod
    def create_sample(cls, directory: Path) -> SampleBackOffice:
        path, debtors = create_sample_database(directory)
        return SampleBackOffice(options={"database_url": f"sqlite:///{path}"}, debtors=debtors)


def _write_off_detail(
    written: Sequence[tuple[_Zaak, Decimal]],
    kept: Sequence[_Zaak],
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


def _write_off_result(write_off_id: uuid.UUID, row: Sequence[Any]) -> WriteOffResult:
    """The result from an ``afboekingen`` row (betrokkene_id, bedrag, resultaat)."""
    resultaat: dict[str, Any] = json.loads(row[2])
    return WriteOffResult(
        write_off_id=write_off_id,
        written_off=tuple(resultaat.get("written_off", ())),
        amount=amount(row[1]),
        detail=str(resultaat.get("detail", "")),
    )
