"""The werk en inkomen adapter: Participatiewet vorderingen in a SQLite back-office.

It finds a client, lists the open vorderingen (terugvordering, bestuurlijke boete,
verhaal, leenbijstand) as claims with their fraud qualification, suspends or resumes
enforcement measures for a hold (idempotently by hold id, also in a batch), assesses a
payment proposal, records an agreed arrangement (idempotently by conversation id) and
writes off the remainder after a successful arrangement (idempotently by write-off id),
refusing the fraud claims whose kwijtschelding the law excludes.

Personal data (BSN, names, addresses) never appears in a log record or an error
message. The database plumbing (connections, deadlines, typed errors, the hold ledger)
is the SDK's ``skn_connector.adapters.sqlite``; every statement here is a constant SQL
string, so SQLite reuses its prepared statement on every call.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

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
    released_result,
    sql_amount,
    sql_date,
    sql_datetime,
    sqlite_file,
)

from . import rules
from .backoffice import (
    OPEN_STATUSES,
    TABLES,
    create_sample_database,
    normalise_factuurnummer,
    normalise_postcode,
)
from .calendar import collection_calendar

log = logging.getLogger("skn_werk_en_inkomen")

#: how many SQLite virtual-machine steps run between two looks at the deadline
_PROGRESS_STEPS = DEFAULT_PROGRESS_STEPS

_HOLD_BASES: tuple[HoldBasis, ...] = ("convenant", "wet", "rechter", "regeling")
_EXAMPLE_URL = "sqlite:///path/to/werk_en_inkomen.db"
_CODE = {m: m.value for m in MeasureCode}

# -- the SQL (constant strings: prepared once per connection) -----------------------------------
#
# ``upper(replace(replace(replace(replace(v.besluitnummer, ' ', ''), '.', ''), '-', ''), '/', ''))``
# is the SQL twin of ``normalise_factuurnummer``; ``('open', 'betwist', 'overgedragen')`` are
# OPEN_STATUSES; ``v.client_id = ? OR v.medeschuldenaar_id = ?`` are the vorderingen a client
# owes: their own, and those they are hoofdelijk liable for; ``v.fraude OR v.soort =
# 'bestuurlijke_boete'`` is a fraud claim.

_CLIENT_BY_BSN = "SELECT client_id, klantnummer, bsn FROM clients WHERE bsn = ?"
_CLIENT_BY_KLANTNUMMER = (
    "SELECT client_id, klantnummer, bsn FROM clients WHERE upper(klantnummer) = ?"
)
_CLIENTS_BY_FACTUURNUMMER = (
    "SELECT c.client_id, c.klantnummer, c.bsn, j.value FROM json_each(?) j "
    "JOIN vorderingen v ON upper(replace(replace(replace(replace(v.besluitnummer, ' ', ''), "
    "'.', ''), '-', ''), '/', '')) = j.value "
    "JOIN clients c ON (c.client_id = v.client_id OR c.client_id = v.medeschuldenaar_id)"
)
_CLIENT_BY_NAME_ADDRESS = (
    "SELECT client_id, klantnummer, bsn, voorvoegsel, achternaam FROM clients "
    "WHERE geboortedatum = ? AND postcode = ? AND huisnummer = ?"
)
_CLIENT_EXISTS = "SELECT 1 FROM clients WHERE client_id = ?"
_OWED = (
    "SELECT v.besluitnummer, v.client_id, v.soort, v.wet, v.besluitdatum, v.oorspronkelijk, "
    "v.afgelost, v.kosten, v.status, v.overgedragen_aan, v.fraude, v.fraude_kwalificatie, "
    "v.hoofdelijk_met_partner, v.medeschuldenaar_id, v.regeling_id, v.afboeking_id "
    "FROM vorderingen v WHERE (v.client_id = ?1 OR v.medeschuldenaar_id = ?1) "
    "ORDER BY v.besluitdatum, v.besluitnummer"
)
# with the measures now active against the client on each (codes never hold a comma)
_OPEN_CLAIMS = (
    "SELECT v.besluitnummer, v.client_id, v.soort, v.wet, v.besluitdatum, v.oorspronkelijk, "
    "v.afgelost, v.kosten, v.status, v.overgedragen_aan, v.fraude, v.fraude_kwalificatie, "
    "v.hoofdelijk_met_partner, v.medeschuldenaar_id, v.regeling_id, v.afboeking_id, "
    "(SELECT group_concat(m.code) FROM maatregelen m WHERE m.besluitnummer = v.besluitnummer "
    "AND m.client_id = ?1 AND m.actief = 1 AND m.opgeschort_door IS NULL) "
    "FROM vorderingen v WHERE (v.client_id = ?1 OR v.medeschuldenaar_id = ?1) "
    "AND v.status IN ('open', 'betwist', 'overgedragen') "
    "ORDER BY v.besluitdatum, v.besluitnummer"
)
# the vorderingen a hold covers (all the client owes, or those named), each with the
# measures of the codes asked for now active against the client (none: one row with NULLs)
_HOLD_SCOPE_ALL = (
    "SELECT v.besluitnummer, m.id, m.code, m.opgeschort_door, "
    "(v.fraude OR v.soort = 'bestuurlijke_boete') FROM vorderingen v "
    "LEFT JOIN maatregelen m ON m.besluitnummer = v.besluitnummer AND m.client_id = ?2 "
    "AND m.actief = 1 AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE (v.client_id = ?2 OR v.medeschuldenaar_id = ?2)"
)
_HOLD_SCOPE_NAMED = (
    "SELECT v.besluitnummer, m.id, m.code, m.opgeschort_door, "
    "(v.fraude OR v.soort = 'bestuurlijke_boete') FROM vorderingen v "
    "LEFT JOIN maatregelen m ON m.besluitnummer = v.besluitnummer AND m.client_id = ?2 "
    "AND m.actief = 1 AND m.code IN (SELECT value FROM json_each(?1)) "
    "WHERE (v.client_id = ?2 OR v.medeschuldenaar_id = ?2) "
    "AND upper(replace(replace(replace(replace(v.besluitnummer, ' ', ''), '.', ''), '-', ''), "
    "'/', '')) IN (SELECT value FROM json_each(?3))"
)
_SUSPEND = "UPDATE maatregelen SET opgeschort_door = ? WHERE id IN (SELECT value FROM json_each(?))"
_LIFT = (
    "UPDATE maatregelen SET actief = 0, opgeschort_door = ? "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_HELD_BY = (
    "SELECT m.id, m.code, m.besluitnummer, (v.fraude OR v.soort = 'bestuurlijke_boete') "
    "FROM maatregelen m JOIN vorderingen v ON v.besluitnummer = m.besluitnummer "
    "WHERE m.opgeschort_door = ? AND m.actief = 1"
)
_PASS_ON = "UPDATE maatregelen SET opgeschort_door = ? WHERE id = ?"
_REGELING = (
    "SELECT client_id, type_schuldregeling, datum_akkoord, voorwaarden FROM regelingen "
    "WHERE conversation_id = ?"
)
_INSERT_REGELING = (
    "INSERT INTO regelingen (conversation_id, client_id, type_schuldregeling, datum_akkoord, "
    "vastgelegd_op, voorwaarden, onbekend) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INCLUDE_IN_REGELING = (
    "UPDATE vorderingen SET regeling_id = ? WHERE besluitnummer IN (SELECT value FROM json_each(?))"
)
_AFBOEKING = "SELECT client_id, resultaat FROM afboekingen WHERE write_off_id = ?"
_INSERT_AFBOEKING = (
    "INSERT INTO afboekingen (write_off_id, client_id, conversation_id, reden, datum, "
    "geboekt_op, bedrag, resultaat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_WRITE_OFF_VORDERINGEN = (
    "UPDATE vorderingen SET status = 'kwijtgescholden', afboeking_id = ? "
    "WHERE besluitnummer IN (SELECT value FROM json_each(?))"
)
_END_MEASURES = (
    "UPDATE maatregelen SET actief = 0 WHERE besluitnummer IN (SELECT value FROM json_each(?))"
)
_RELEASE_CLIENT = (
    "UPDATE vorderingen SET client_id = ?, medeschuldenaar_id = NULL, "
    "hoofdelijk_met_partner = 0 WHERE besluitnummer = ?"
)
_RELEASE_PARTNER = (
    "UPDATE vorderingen SET medeschuldenaar_id = NULL, hoofdelijk_met_partner = 0 "
    "WHERE besluitnummer = ?"
)
_END_CLIENT_MEASURES = "UPDATE maatregelen SET actief = 0 WHERE besluitnummer = ? AND client_id = ?"
_TABLE_NAMES = "SELECT name FROM sqlite_master WHERE type = 'table'"


class _Vordering(NamedTuple):
    """A ``vorderingen`` row, typed."""

    besluitnummer: str
    client_id: int
    soort: str
    wet: str
    besluitdatum: date
    oorspronkelijk: Decimal
    afgelost: Decimal
    kosten: Decimal
    status: str
    overgedragen_aan: str | None
    fraude: bool
    fraude_kwalificatie: FraudeKwalificatie | None
    hoofdelijk_met_partner: bool
    medeschuldenaar_id: int | None
    regeling_id: str | None
    afboeking_id: str | None

    @classmethod
    def of(cls, r: Sequence[Any]) -> _Vordering:
        return cls(
            r[0],
            r[1],
            r[2],
            r[3],
            date.fromisoformat(r[4]),
            amount(r[5]),
            amount(r[6]),
            amount(r[7]),
            r[8],
            r[9],
            bool(r[10]),
            r[11],
            bool(r[12]),
            r[13],
            r[14],
            r[15],
        )


#: what a hold call did: its result, and the level and text of its log line


def _normalise_bsn(value: str) -> str:
    if len(value) == 9 and value.isdigit():
        return value
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.zfill(9) if 0 < len(digits) <= 9 else digits


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _vordering(row: _Vordering) -> rules.Vordering:
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
            sqlite_file(value, example=_EXAMPLE_URL)
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
        self._path = sqlite_file(options.database_url, example=_EXAMPLE_URL).absolute()
        self._timeout = float(options.timeout_seconds)
        self._excluded = frozenset(options.no_kwijtschelding_for)
        self._db = SqliteBackOffice(
            self._path,
            label="the werk en inkomen database",
            timeout_seconds=self._timeout,
            progress_steps=_PROGRESS_STEPS,
        )
        self._ledger = HoldLedger(debtor_column="client_id", noun="client")

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

        def usable(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
            # a candidate whose BSN is known and differs from the one asked for is not them
            return [r for r in rows if not (bsn and r[2] and r[2] != bsn)]

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
                rows = conn.execute(_CLIENT_BY_BSN, (bsn,)).fetchall()
                found = self._one(usable(rows), "bsn")
                if found is not None:
                    return found
            if klantnummer:
                tried += 1
                rows = conn.execute(_CLIENT_BY_KLANTNUMMER, (klantnummer.upper(),)).fetchall()
                found = self._one(usable(rows), "klantnummer")
                if found is not None:
                    return found
            nummers = sorted({normalise_factuurnummer(f) for f in query.factuurnummers} - {""})
            if nummers:
                tried += 1
                found = self._by_factuurnummers(conn, nummers, usable)
                if found is not None:
                    return found
            if by_name:
                tried += 1
                found = self._one(usable(self._by_name_address(conn, query)), "name_address")
                if found is not None:
                    return found
        log.debug("find_debtor: no match (%d routes tried)", tried)
        return None

    def _one(self, rows: Sequence[Sequence[Any]], route: str) -> Debtor | None:
        """The one client of ``rows`` (client_id, klantnummer, bsn, ...), or None."""
        if not rows:
            return None
        ids = {r[0] for r in rows}
        if len(ids) > 1:
            log.info("find_debtor: %d candidates by %s; not choosing", len(ids), route)
            return None
        log.debug("find_debtor: matched by %s", route)
        return Debtor(debtor_id=str(rows[0][0]), klantnummer_se=self._klantnummer_se(rows[0][1]))

    def _by_factuurnummers(
        self,
        conn: sqlite3.Connection,
        nummers: list[str],
        usable: Callable[[Sequence[Sequence[Any]]], list[Sequence[Any]]],
    ) -> Debtor | None:
        """The one client liable for every known factuurnummer of the query.

        A hoofdelijk claim points at both partners; together with a claim of one of
        them it points at that one; alone it points at no one (the adapter does not guess).
        """
        rows = usable(conn.execute(_CLIENTS_BY_FACTUURNUMMER, (json_list(nummers),)).fetchall())
        if not rows:
            return None
        liable: dict[int, set[str]] = {}
        klantnummers: dict[int, str] = {}
        for client_id, klantnummer, _bsn, nummer in rows:
            liable.setdefault(client_id, set()).add(nummer)
            klantnummers[client_id] = klantnummer
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

    def _by_name_address(
        self, conn: sqlite3.Connection, query: DebtorQuery
    ) -> list[tuple[Any, ...]]:
        assert query.achternaam and query.postcode and query.geboortedatum
        rows = conn.execute(
            _CLIENT_BY_NAME_ADDRESS,
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

    def _client_id(self, debtor_id: str) -> int:
        try:
            return int(debtor_id)
        except ValueError:
            raise BackOfficeRejected(
                "the debtor id is not one of the werk en inkomen back-office"
            ) from None

    def _require_client(self, conn: sqlite3.Connection, client_id: int) -> None:
        if conn.execute(_CLIENT_EXISTS, (client_id,)).fetchone() is None:
            raise BackOfficeRejected(
                f"the werk en inkomen back-office has no client with id {client_id}"
            )

    def _owed(self, conn: sqlite3.Connection, client_id: int) -> dict[str, _Vordering]:
        """Every vordering the client owes or owed (any status), by normalised besluitnummer."""
        rows = [_Vordering.of(r) for r in conn.execute(_OWED, (client_id,))]
        return {normalise_factuurnummer(r.besluitnummer): r for r in rows}

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        client_id = self._client_id(debtor.debtor_id)
        with self._db.read() as conn:
            rows = conn.execute(_OPEN_CLAIMS, (client_id,)).fetchall()
            if not rows:
                self._require_client(conn, client_id)
        claims = [
            rules.to_claim(_vordering(_Vordering.of(row)), measures_of(row[16]), self._excluded)
            for row in rows
        ]
        log.debug("list_claims: %d claims for client %s", len(claims), client_id)
        return claims

    # -- HOLDS ----------------------------------------------------------------------------------

    def _scope(
        self, conn: sqlite3.Connection, client_id: int, hold: Hold, codes: list[str]
    ) -> tuple[list[str], list[tuple[int, str, str | None, bool]]]:
        """The client's besluitnummers a hold covers (all they owe, or those named), and the
        measures of ``codes`` now active against them: (id, code, opgeschort_door, fraude)."""
        if hold.factuurnummers:
            wanted = sorted({normalise_factuurnummer(f) for f in hold.factuurnummers} - {""})
            params: tuple[Any, ...] = (json_list(codes), client_id, json_list(wanted))
            rows = conn.execute(_HOLD_SCOPE_NAMED, params).fetchall()
        else:
            rows = conn.execute(_HOLD_SCOPE_ALL, (json_list(codes), client_id)).fetchall()
        if not rows:
            self._require_client(conn, client_id)
        scope = list(dict.fromkeys(r[0] for r in rows))
        return scope, [(r[1], r[2], r[3], bool(r[4])) for r in rows if r[1] is not None]

    def _mandatory(self, basis: str, code: str, fraude: bool) -> bool:
        """A verrekening the hold may not stop: on a fraud claim, under a kept basis."""
        return (
            code == MeasureCode.VERREKENING.value
            and fraude
            and basis in self.options.keep_fraud_verrekening_on
        )

    def apply_hold(self, hold: Hold) -> HoldResult:
        with self._db.transaction(write=True) as conn:
            done = self._apply(conn, hold)
        return logged(log, "apply_hold", hold, done)

    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        """The whole batch in one write transaction (one commit), a savepoint per hold."""
        return each_logged(log, "apply_hold", holds, self._db.write_each(holds, self._apply))

    def _apply(self, conn: sqlite3.Connection, hold: Hold) -> HoldOutcome:
        client_id = self._client_id(hold.debtor_id)
        hold_id = str(hold.hold_id)
        existing = self._ledger.find(conn, hold_id)
        if existing is not None:
            result = self._ledger.repeated_apply(existing, hold, client_id)
            if not result.applied:
                return result, logging.INFO, "released before; not applied again"
            return result, logging.DEBUG, "already applied"

        lift = {_CODE[m] for m in hold.lift}
        stop = {_CODE[m] for m in hold.measures} - lift
        scope, rows = self._scope(conn, client_id, hold, sorted(stop | lift))
        kept = [r for r in rows if self._mandatory(hold.basis, r[1], r[3])]
        rows = [r for r in rows if r not in kept]
        lifted = [r for r in rows if r[1] in lift]
        stopped = [r for r in rows if r[1] in stop and r[2] is None]
        held_elsewhere = [r for r in rows if r[1] in stop and r[2] is not None]
        detail = f"{len(stopped)} measures suspended, {len(lifted)} lifted on {len(scope)} claims"
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
            "stopped": sorted({r[1] for r in stopped}),
            "lifted": sorted({r[1] for r in lifted}),
            "held_elsewhere": sorted({r[1] for r in held_elsewhere}),
            "kept": sorted({r[1] for r in kept}),
            "detail": detail,
        }
        # the ledger row first: the measures refer to it (opgeschort_door)
        self._ledger.insert_applied(conn, hold, client_id, record, _now())
        if stopped:
            conn.execute(_SUSPEND, (hold_id, json_list([r[0] for r in stopped])))
        if lifted:
            conn.execute(_LIFT, (hold_id, json_list([r[0] for r in lifted])))
        return applied_result(hold.hold_id, record), logging.INFO, detail

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
        repeated = self._ledger.repeated_release(existing, hold, self._client_id(hold.debtor_id))
        if repeated is not None:
            return repeated, logging.DEBUG, "already released"

        rows = conn.execute(_HELD_BY, (hold_id,)).fetchall()
        # measures another applied hold of this client also covers pass to that hold
        others = self._ledger.others_applied(conn, existing.debtor_key, hold_id) if rows else []
        resumed: set[str] = set()
        passed_on: list[tuple[str | None, int]] = []
        for measure_id, code, besluitnummer, fraude in rows:
            successor = next(
                (
                    other.hold_id
                    for other in others
                    if _covers(other.record, code, besluitnummer)
                    and not self._mandatory(other.basis, code, bool(fraude))
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

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        client_id = self._client_id(debtor.debtor_id)
        with self._db.transaction() as conn:
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
        with self._db.transaction(write=True) as conn:
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
            existing = conn.execute(_REGELING, (conversation_id,)).fetchone()
            if existing is not None:
                same = (
                    existing[0] == client_id
                    and existing[1] == arrangement.type_schuldregeling
                    and existing[2] == sql_date(arrangement.datum_akkoord)
                    and json.loads(existing[3]) == terms
                )
                if not same:
                    raise BackOfficeRejected(
                        f"an arrangement for conversation {conversation_id} is already "
                        "recorded with other terms or for another client"
                    )
                log.debug("record_arrangement %s: already recorded", conversation_id)
                return
            conn.execute(
                _INSERT_REGELING,
                (
                    conversation_id,
                    client_id,
                    arrangement.type_schuldregeling,
                    sql_date(arrangement.datum_akkoord),
                    sql_datetime(_now()),
                    json.dumps(terms),
                    json.dumps(unknown),
                ),
            )
            if included:
                conn.execute(_INCLUDE_IN_REGELING, (conversation_id, json_list(included)))
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
        with self._db.transaction(write=True) as conn:
            existing = conn.execute(_AFBOEKING, (write_off_id,)).fetchone()
            if existing is not None:
                if existing[0] != client_id:
                    raise BackOfficeRejected(
                        f"write-off {write_off_id} is already recorded for another client"
                    )
                log.debug("write_off %s: already recorded", write_off_id)
                return _write_off_result(write_off.write_off_id, json.loads(existing[1]))

            self._require_client(conn, client_id)
            owed = self._owed(conn, client_id)
            unknown: list[str] = []
            targets: list[_Vordering] = []
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
                _INSERT_AFBOEKING,
                (
                    write_off_id,
                    client_id,
                    str(write_off.conversation_id),
                    write_off.reason,
                    sql_date(write_off.datum),
                    sql_datetime(_now()),
                    sql_amount(total),
                    json.dumps(resultaat),
                ),
            )
            nummers = [w["besluitnummer"] for w in written]
            if nummers:
                conn.execute(_WRITE_OFF_VORDERINGEN, (write_off_id, json_list(nummers)))
                conn.execute(_END_MEASURES, (json_list(nummers),))
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

    def _release_from_joint_liability(
        self, conn: sqlite3.Connection, row: _Vordering, client_id: int
    ) -> None:
        """The client no longer owes the hoofdelijk claim; the partner owes the remainder."""
        if row.client_id == client_id:
            conn.execute(_RELEASE_CLIENT, (row.medeschuldenaar_id, row.besluitnummer))
        else:
            conn.execute(_RELEASE_PARTNER, (row.besluitnummer,))
        conn.execute(_END_CLIENT_MEASURES, (row.besluitnummer, client_id))

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


def _covers(record: dict[str, Any], code: str, besluitnummer: str) -> bool:
    """Whether an applied hold (its ``measures`` record) covers this measure on this claim."""
    if code not in set(record.get("requested", ())):
        return False
    nummers = record.get("factuurnummers") or []
    return not nummers or normalise_factuurnummer(besluitnummer) in {
        normalise_factuurnummer(n) for n in nummers
    }


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
