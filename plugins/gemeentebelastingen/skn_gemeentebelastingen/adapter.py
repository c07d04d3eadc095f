"""The gemeentebelastingen adapter: municipal tax aanslagen in a SQLite back-office.

It finds a debtor, lists the open aanslagen as claims, suspends or resumes
enforcement measures for a hold (idempotent by hold id, also in a batch), assesses a
payment proposal against the aanslagen, records an agreed regeling (idempotent by
conversation id) and writes off the remainder after a successful end (idempotent by
write-off id). Personal data (BSN, names, addresses) never appears in a log record or
an error message.

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
    OPEN_STATUSES,
    create_sample_database,
    missing_schema,
    normalise_factuurnummer,
    normalise_postcode,
)
from .calendar import collection_calendar

log = logging.getLogger("skn_gemeentebelastingen")

_OMSCHRIJVING = {
    "OZB": "OZB",
    "afvalstoffenheffing": "Afvalstoffenheffing",
    "rioolheffing": "Rioolheffing",
    "hondenbelasting": "Hondenbelasting",
}

#: how many SQLite virtual-machine steps run between two looks at the deadline
_PROGRESS_STEPS = DEFAULT_PROGRESS_STEPS

#: the aanslag statuses a proposal may be accepted for without a person looking
_ACCEPTABLE = ("open", "overgedragen")
#: the aanslag statuses whose remainder can be written off (or included in a regeling)
_WRITABLE = OPEN_STATUSES
#: how many problems a reason or detail names before it only counts the rest
_NAMED = 5

_CENT = Decimal("0.01")
_EXAMPLE_URL = "sqlite:///path/to/gemeentebelastingen.db"
_CODE = {m: m.value for m in MeasureCode}

# -- the SQL (constant strings: prepared once per connection) -----------------------------------

# ``upper(replace(replace(replace(a.aanslagnummer, ' ', ''), '.', ''), '-', ''))`` is the SQL
# twin of ``normalise_factuurnummer``; ``('open', 'overgedragen', 'betwist')`` are OPEN_STATUSES.

_DEBTOR_BY_BSN = "SELECT debiteur_id, klantnummer, bsn FROM debiteuren WHERE bsn = ?"
_DEBTOR_BY_KLANTNUMMER = (
    "SELECT debiteur_id, klantnummer, bsn FROM debiteuren WHERE upper(klantnummer) = ?"
)
_DEBTOR_BY_FACTUURNUMMER = (
    "SELECT DISTINCT d.debiteur_id, d.klantnummer, d.bsn FROM json_each(?) j "
    "JOIN aanslagen a "
    "ON upper(replace(replace(replace(a.aanslagnummer, ' ', ''), '.', ''), '-', '')) = j.value "
    "JOIN debiteuren d ON d.debiteur_id = a.debiteur_id"
)
_DEBTOR_BY_NAME_ADDRESS = (
    "SELECT debiteur_id, klantnummer, bsn, voorvoegsel, achternaam FROM debiteuren "
    "WHERE geboortedatum = ? AND postcode = ? AND huisnummer = ?"
)
_DEBTOR_EXISTS = "SELECT 1 FROM debiteuren WHERE debiteur_id = ?"
# named columns: a database not yet upgraded still lists its claims; with the measures now
# active on each (codes never hold a comma: a CHECK constraint names them)
_OPEN_CLAIMS = (
    "SELECT a.aanslagnummer, a.belastingsoort, a.belastingjaar, a.dagtekening, "
    "a.oorspronkelijk_bedrag, a.betaald, a.invorderingsrente, a.kosten, a.status, "
    "a.overgedragen_aan, (SELECT group_concat(m.code) FROM maatregelen m "
    "WHERE m.aanslagnummer = a.aanslagnummer AND m.actief = 1 AND m.opgeschort_door IS NULL) "
    "FROM aanslagen a WHERE a.debiteur_id = ? AND a.status IN ('open', 'overgedragen', 'betwist') "
    "ORDER BY a.dagtekening, a.aanslagnummer"
)
# the aanslagen a hold covers (all of the debtor's, or those named), each with its active
# measures of the codes asked for (none: one row with NULLs)
_HOLD_SCOPE_ALL = (
    "SELECT a.aanslagnummer, m.id, m.code, m.opgeschort_door FROM aanslagen a "
    "LEFT JOIN maatregelen m ON m.aanslagnummer = a.aanslagnummer AND m.actief = 1 "
    "AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE a.debiteur_id = ?2"
)
_HOLD_SCOPE_NAMED = (
    "SELECT a.aanslagnummer, m.id, m.code, m.opgeschort_door FROM aanslagen a "
    "LEFT JOIN maatregelen m ON m.aanslagnummer = a.aanslagnummer AND m.actief = 1 "
    "AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE a.debiteur_id = ?2 "
    "AND upper(replace(replace(replace(a.aanslagnummer, ' ', ''), '.', ''), '-', '')) "
    "IN (SELECT value FROM json_each(?3))"
)
_SUSPEND = "UPDATE maatregelen SET opgeschort_door = ? WHERE id IN (SELECT value FROM json_each(?))"
_LIFT = (
    "UPDATE maatregelen SET actief = 0, opgeschort_door = ? "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_HELD_BY = (
    "SELECT id, code, aanslagnummer FROM maatregelen WHERE opgeschort_door = ? AND actief = 1"
)
_PASS_ON = "UPDATE maatregelen SET opgeschort_door = ? WHERE id = ?"
_AANSLAGEN_OF = (
    "SELECT aanslagnummer, dagtekening, oorspronkelijk_bedrag, betaald, invorderingsrente, "
    "kosten, status, kwijtschelding_aangevraagd, in_regeling FROM aanslagen WHERE debiteur_id = ?"
)
_REGELING_DEBTOR = "SELECT debiteur_id FROM regelingen WHERE conversation_id = ?"
_INSERT_REGELING = (
    "INSERT INTO regelingen (conversation_id, debiteur_id, type, datum_akkoord, claims, "
    "vastgelegd_op) VALUES (?, ?, ?, ?, ?, ?)"
)
_INCLUDE_IN_REGELING = (
    "UPDATE aanslagen SET in_regeling = ? WHERE aanslagnummer IN (SELECT value FROM json_each(?))"
)
_AFBOEKING = (
    "SELECT debiteur_id, aanslagnummers, bedrag, detail FROM afboekingen WHERE write_off_id = ?"
)
_REGELING_AKKOORD = (
    "SELECT datum_akkoord FROM regelingen WHERE conversation_id = ? AND debiteur_id = ?"
)
_WRITE_OFF_AANSLAGEN = (
    "UPDATE aanslagen SET status = 'kwijtgescholden' "
    "WHERE aanslagnummer IN (SELECT value FROM json_each(?))"
)
_END_MEASURES = (
    "UPDATE maatregelen SET actief = 0 "
    "WHERE aanslagnummer IN (SELECT value FROM json_each(?)) AND actief = 1"
)
_INSERT_AFBOEKING = (
    "INSERT INTO afboekingen (write_off_id, debiteur_id, conversation_id, aanslagnummers, "
    "bedrag, datum, reden, bedragen, niet_afgeboekt, detail, geboekt_op) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _Aanslag(NamedTuple):
    """An aanslag as a proposal, an arrangement and a write-off look at it."""

    aanslagnummer: str
    dagtekening: date
    oorspronkelijk_bedrag: Decimal
    betaald: Decimal
    invorderingsrente: Decimal
    kosten: Decimal
    status: str
    kwijtschelding_aangevraagd: date | None
    in_regeling: str | None


#: what a hold call did: its result, and the level and text of its log line


def _normalise_bsn(value: str) -> str:
    if len(value) == 9 and value.isdigit():
        return value
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
            sqlite_file(value, example=_EXAMPLE_URL)
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
        self._path = sqlite_file(options.database_url, example=_EXAMPLE_URL).absolute()
        self._timeout = float(options.timeout_seconds)
        self._db = SqliteBackOffice(
            self._path,
            label="the gemeentebelastingen database",
            timeout_seconds=self._timeout,
            progress_steps=_PROGRESS_STEPS,
        )
        self._ledger = HoldLedger(debtor_column="debiteur_id")
        prefix = (options.klantnummer_prefix or "").strip()
        self._prefix, self._prefix_upper = prefix, prefix.upper()

    # -- CLAIMS ---------------------------------------------------------------------------------

    def _klantnummer_se(self, klantnummer: str) -> str:
        prefix = self.options.klantnummer_prefix
        return f"{prefix}{klantnummer}" if prefix else klantnummer

    def _strip_prefix(self, klantnummer: str) -> str:
        value = klantnummer.strip()
        if self._prefix and value.upper().startswith(self._prefix_upper):
            value = value[len(self._prefix) :].strip()
        return value

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        bsn = _normalise_bsn(query.bsn) if query.bsn else None
        klantnummer = self._strip_prefix(query.klantnummer_se) if query.klantnummer_se else ""
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
                found = self._accept(conn.execute(_DEBTOR_BY_BSN, (bsn,)).fetchall(), bsn, "bsn")
                if found is not None:
                    return found
            if klantnummer:
                tried += 1
                rows = conn.execute(_DEBTOR_BY_KLANTNUMMER, (klantnummer.upper(),)).fetchall()
                found = self._accept(rows, bsn, "klantnummer")
                if found is not None:
                    return found
            nummers = sorted({normalise_factuurnummer(f) for f in query.factuurnummers} - {""})
            if nummers:
                tried += 1
                rows = conn.execute(_DEBTOR_BY_FACTUURNUMMER, (json_list(nummers),)).fetchall()
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
        """The one debtor of ``rows`` (debiteur_id, klantnummer, bsn, ...), or None."""
        # a candidate whose BSN is known and differs from the one asked for is not them
        if bsn:
            rows = [r for r in rows if not (r[2] and r[2] != bsn)]
        if not rows:
            return None
        if len({r[0] for r in rows}) > 1:
            log.info(
                "find_debtor: %d candidates by %s; not choosing", len({r[0] for r in rows}), route
            )
            return None
        log.debug("find_debtor: matched by %s", route)
        return Debtor(debtor_id=str(rows[0][0]), klantnummer_se=self._klantnummer_se(rows[0][1]))

    def _by_name_address(
        self, conn: sqlite3.Connection, query: DebtorQuery
    ) -> list[tuple[Any, ...]]:
        assert query.achternaam and query.postcode and query.geboortedatum
        rows = conn.execute(
            _DEBTOR_BY_NAME_ADDRESS,
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

    def _debiteur_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected(
                "the debtor id is not one of the gemeentebelastingen back-office"
            ) from None

    def _require_debtor(self, conn: sqlite3.Connection, debiteur_id: int) -> None:
        if conn.execute(_DEBTOR_EXISTS, (debiteur_id,)).fetchone() is None:
            raise BackOfficeRejected(
                f"the gemeentebelastingen back-office has no debtor with id {debiteur_id}"
            )

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        with self._db.read() as conn:
            rows = conn.execute(_OPEN_CLAIMS, (debiteur_id,)).fetchall()
            if not rows:
                self._require_debtor(conn, debiteur_id)
        claims = []
        for (
            nummer,
            soort,
            jaar,
            dagtekening,
            oorspronkelijk,
            betaald,
            rente,
            kosten,
            status,
            overgedragen_aan,
            active,
        ) in rows:
            origineel, rente_, kosten_ = amount(oorspronkelijk), amount(rente), amount(kosten)
            hoofdsom = origineel - amount(betaald)
            claims.append(
                Claim(
                    factuurnummer=nummer,
                    omschrijving=f"{_OMSCHRIJVING[soort]} {jaar}",
                    ontstaansdatum=date.fromisoformat(dagtekening),
                    originele_vordering=origineel,
                    hoofdsom=hoofdsom,
                    rente=rente_,
                    kosten=kosten_,
                    openstaand=hoofdsom + rente_ + kosten_,
                    status=status,
                    overgedragen_aan=overgedragen_aan,
                    saneerbaar=True,
                    fraude=False,
                    preferent=False,  # municipalities have no general voorrecht (IW 1990 art. 21)
                    measures=measures_of(active),
                )
            )
        log.debug("list_claims: %d claims for debtor %s", len(claims), debiteur_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(
        self, conn: sqlite3.Connection, debiteur_id: int, hold: Hold, codes: list[str]
    ) -> tuple[list[str], list[tuple[int, str, str | None]]]:
        """The debtor's aanslagnummers a hold covers (all, or those named, normalised), and
        their active measures of ``codes``: (id, code, opgeschort_door)."""
        if hold.factuurnummers:
            wanted = sorted({normalise_factuurnummer(f) for f in hold.factuurnummers} - {""})
            params: tuple[Any, ...] = (json_list(codes), debiteur_id, json_list(wanted))
            rows = conn.execute(_HOLD_SCOPE_NAMED, params).fetchall()
        else:
            rows = conn.execute(_HOLD_SCOPE_ALL, (json_list(codes), debiteur_id)).fetchall()
        if not rows:
            self._require_debtor(conn, debiteur_id)
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
        debiteur_id = self._debiteur_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        existing = self._ledger.find(conn, hold_id)
        if existing is not None:
            result = self._ledger.repeated_apply(existing, hold, debiteur_id)
            if not result.applied:
                return result, logging.INFO, "released before; not applied again"
            return result, logging.DEBUG, "already applied"

        lift = {_CODE[m] for m in hold.lift}
        stop = {_CODE[m] for m in hold.measures} - lift
        scope, rows = self._scope(conn, debiteur_id, hold, sorted(stop | lift))
        lifted = [r for r in rows if r[1] in lift]
        stopped = [r for r in rows if r[1] in stop and r[2] is None]
        held_elsewhere = [r for r in rows if r[1] in stop and r[2] is not None]
        record = {
            "conversation_id": str(hold.conversation_id),
            "factuurnummers": list(hold.factuurnummers),
            "requested": sorted(stop),
            "lift": sorted(lift),
            "aanslagen": len(scope),
            "stopped": sorted({r[1] for r in stopped}),
            "lifted": sorted({r[1] for r in lifted}),
            "held_elsewhere": sorted({r[1] for r in held_elsewhere}),
            "detail": (
                f"{len(stopped)} measures suspended, {len(lifted)} lifted "
                f"on {len(scope)} aanslagen"
                + (f"; {len(held_elsewhere)} already held" if held_elsewhere else "")
            ),
        }
        # the ledger row first: the measures refer to it (opgeschort_door)
        self._ledger.insert_applied(conn, hold, debiteur_id, record, _now())
        if stopped:
            conn.execute(_SUSPEND, (hold_id, json_list([r[0] for r in stopped])))
        if lifted:
            conn.execute(_LIFT, (hold_id, json_list([r[0] for r in lifted])))
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
        repeated = self._ledger.repeated_release(existing, hold, self._debiteur_id(hold.debtor_id))
        if repeated is not None:
            return repeated, logging.DEBUG, "already released"

        rows = conn.execute(_HELD_BY, (hold_id,)).fetchall()
        # measures another applied hold of this debtor also covers pass to that hold
        covering: list[tuple[str, set[str], set[str]]] = []
        if rows:
            for other in self._ledger.others_applied(conn, existing.debtor_key, hold_id):
                nummers = other.record.get("factuurnummers") or ()
                covering.append(
                    (
                        other.hold_id,
                        set(other.record.get("requested", ())),
                        {normalise_factuurnummer(n) for n in nummers},
                    )
                )
        resumed: set[str] = set()
        passed_on: list[tuple[str | None, int]] = []
        for measure_id, code, nummer in rows:
            key = normalise_factuurnummer(nummer)
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
                resumed.add(code)
        conn.executemany(_PASS_ON, passed_on)
        count = sum(1 for successor, _ in passed_on if successor is None)
        record = dict(existing.record)
        record["resumed"] = sorted(resumed)
        record["release_detail"] = f"{count} measures resumed" + (
            f", {len(rows) - count} stay held by another hold" if len(rows) > count else ""
        )
        self._ledger.mark_released(conn, hold_id, record, _now())
        return released_result(hold.hold_id, record), logging.INFO, record["release_detail"]

    # -- PROPOSALS ------------------------------------------------------------------------------

    def _aanslagen_of(self, conn: sqlite3.Connection, debiteur_id: int) -> dict[str, _Aanslag]:
        """The debtor's aanslagen by normalised aanslagnummer."""
        result: dict[str, _Aanslag] = {}
        for r in conn.execute(_AANSLAGEN_OF, (debiteur_id,)):
            row = _Aanslag(
                r[0],
                date.fromisoformat(r[1]),
                amount(r[2]),
                amount(r[3]),
                amount(r[4]),
                amount(r[5]),
                r[6],
                parse_date(r[7]),
                r[8],
            )
            result[normalise_factuurnummer(row.aanslagnummer)] = row
        return result

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        """Accept when every claim is an open aanslag of the debtor; otherwise a person decides.

        The percentage is the connector's policy, not the back-office's: a 0 % offer (type
        SA, no repayment capacity) is as acceptable as any other. This never rejects.
        """
        debiteur_id = self._debiteur_id(debtor.debtor_id)
        with self._db.transaction() as conn:
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
        with self._db.transaction(write=True) as conn:
            existing = conn.execute(_REGELING_DEBTOR, (conversation,)).fetchone()
            if existing is not None:
                if existing[0] != debiteur_id:
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
                _INSERT_REGELING,
                (
                    conversation,
                    debiteur_id,
                    arrangement.type_schuldregeling,
                    sql_date(arrangement.datum_akkoord),
                    json.dumps(entries),
                    sql_datetime(_now()),
                ),
            )
            if included:
                conn.execute(_INCLUDE_IN_REGELING, (conversation, json_list(included)))
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
        with self._db.transaction(write=True) as conn:
            existing = conn.execute(_AFBOEKING, (write_off_id,)).fetchone()
            if existing is not None:
                if existing[0] != debiteur_id:
                    raise BackOfficeRejected(
                        f"write-off {write_off_id} is already recorded for another debtor"
                    )
                log.debug("write_off %s: already booked", write_off_id)
                return _write_off_result(write_off.write_off_id, existing)
            self._require_debtor(conn, debiteur_id)
            known = self._aanslagen_of(conn, debiteur_id)
            regeling = conn.execute(_REGELING_AKKOORD, (conversation, debiteur_id)).fetchone()
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
                conn.execute(_WRITE_OFF_AANSLAGEN, (json_list(written),))
                # a written-off aanslag is not enforced any more; a later release resumes nothing
                conn.execute(_END_MEASURES, (json_list(written),))
            conn.execute(
                _INSERT_AFBOEKING,
                (
                    write_off_id,
                    debiteur_id,
                    conversation,
                    json.dumps(written),
                    sql_amount(total),
                    sql_date(write_off.datum),
                    write_off.reason[:60],
                    json.dumps(bedragen),
                    json.dumps(kept),
                    detail[:2000],
                    sql_datetime(_now()),
                ),
            )
            booked = conn.execute(_AFBOEKING, (write_off_id,)).fetchone()
            assert booked is not None
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
                with self._db.transaction() as conn:
                    tables, columns = missing_schema(lambda sql: list(conn.execute(sql)))
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
        self._db.close()

    def collection_calendar(self) -> SqliteCollectionCalendar:
        """The sample back-office's collection calendar (its daily round; the drill runs it)."""
        return collection_calendar(self._path)

    @classmethod
    def create_sample(cls, directory: Path) -> SampleBackOffice:
        path, debtors = create_sample_database(directory)
        return SampleBackOffice(options={"database_url": f"sqlite:///{path}"}, debtors=debtors)


def _remainder(row: _Aanslag) -> Decimal:
    """What is still owed on an aanslag: hoofdsom + invorderingsrente + kosten."""
    value = row.oorspronkelijk_bedrag - row.betaald + row.invorderingsrente + row.kosten
    return value.quantize(_CENT)


def _shown(factuurnummer: str) -> str:
    """A number the SHV sent that is not ours, as shown in a reason (short, one line)."""
    text = " ".join(factuurnummer.split())
    return text if len(text) <= 30 else text[:27] + "..."


def _named(items: Sequence[str]) -> str:
    """The first few items, then how many more (a reason stays short)."""
    text = "; ".join(items[:_NAMED])
    return text + (f"; and {len(items) - _NAMED} more" if len(items) > _NAMED else "")


def _write_off_result(write_off_id: uuid.UUID, row: Sequence[Any]) -> WriteOffResult:
    """The result from an ``afboekingen`` row (debiteur_id, aanslagnummers, bedrag, detail)."""
    return WriteOffResult(
        write_off_id=write_off_id,
        written_off=tuple(json.loads(row[1])),
        amount=amount(row[2]),
        detail=row[3],
    )
