"""A sample back-office's collection calendar: the round it runs every working day.

A real back-office keeps collecting while the connector works: it sends aanmaningen,
issues a dwangbevel, lays a beslag, sets off (verrekening), adds costs, interest and
verhogingen. What a hold must stop is exactly that round. The reference adapters' sample
back-offices share one shape (claims, a ``maatregelen`` table whose rows a hold suspends
by ``opgeschort_door``, an ``opschortingen`` ledger), so one calendar serves all three;
each plugin's ``calendar.py`` names its tables.

Every working day, for every open claim:

- each running measure (a ``maatregelen`` row that is active and not suspended) whose
  cadence falls on the day is taken again (interest added, a verrekening deducted, a
  beslag's monthly share collected);
- the next step of the claim's ladder (e.g. aanmaning -> dwangbevel -> beslag) starts
  when the last one started long enough ago, unless an applied hold of the debtor asks
  that measure stopped for this claim.

Each measure taken is recorded in ``genomen_maatregelen`` (day, claim, code, start or
run), which is what ``skn-connector drill`` counts against the holds. Nothing here is
used by the connector itself: the calendar belongs to the back-office.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from .api import MeasureCode


class Step(enum.StrEnum):
    """Whether a measure was started that day or an already running one taken again."""

    START = "start"
    RUN = "run"


@dataclass(frozen=True)
class MeasureTaken:
    """One measure the back-office took: on which day, on which claim (its reference, not a
    person's data), which measure, started or run again."""

    day: date
    factuurnummer: str
    code: MeasureCode
    step: Step


class CollectionCalendar(Protocol):
    """What a sample back-office with a calendar offers the drill."""

    def collection_round(self, day: date) -> Sequence[MeasureTaken]:
        """Run the round of ``day`` and return the measures taken (also recorded)."""
        ...

    def holds_in_force(self) -> Sequence[str]:
        """The hold ids the back-office holds applied now."""
        ...


#: Running measures are taken again every this many days (about weekly): rente accrues,
#: a verrekening or a beslag's share is collected.
RECURRING: dict[MeasureCode, int] = {
    MeasureCode.RENTE: 7,
    MeasureCode.VERREKENING: 7,
    MeasureCode.BESLAG_LOON: 7,
    MeasureCode.BESLAG_BANK: 7,
}
#: The next ladder step starts this many days after the last one started.
LADDER_INTERVAL_DAYS = 21

_MEASURES_TAKEN = """
CREATE TABLE IF NOT EXISTS genomen_maatregelen (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dag DATE NOT NULL,
    vordering VARCHAR(30) NOT NULL,
    code VARCHAR(20) NOT NULL,
    stap VARCHAR(5) NOT NULL
)
"""


@dataclass(frozen=True)
class Schema:
    """Where a back-office keeps what the calendar reads: the claims table, its key, its
    debtor column and status column; the ``maatregelen`` column naming the claim; the
    ledger's debtor column."""

    claims: str
    claim_key: str
    claim_debtor: str
    measure_claim: str
    ledger_debtor: str
    #: the ladder of this kind of creditor, first step first
    ladder: tuple[MeasureCode, ...]
    #: the ``maatregelen`` column naming against whom a measure runs, where it has one
    measure_debtor: str | None = None


class SqliteCollectionCalendar:
    """The calendar of a sample back-office kept in one SQLite file."""

    def __init__(self, path: Path, schema: Schema) -> None:
        self.path = path
        self.schema = schema
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.execute(_MEASURES_TAKEN)
        # the names come from the plugin's constant Schema, never from input
        self._holds_sql = (
            f"SELECT {schema.ledger_debtor}, measures FROM opschortingen "  # noqa: S608
            "WHERE status = 'applied'"
        )
        self._claims_sql = (
            f"SELECT {schema.claim_key}, {schema.claim_debtor} FROM {schema.claims} "  # noqa: S608
            f"WHERE status = 'open' ORDER BY {schema.claim_key}"
        )
        self._measures_sql = (
            "SELECT id, code, actief, opgeschort_door, sinds, "  # noqa: S608
            f"{schema.measure_claim} FROM maatregelen ORDER BY id"
        )
        columns = [schema.measure_claim, "code", "actief", "sinds"]
        if schema.measure_debtor is not None:  # on a hoofdelijk claim: against whom it runs
            columns.append(schema.measure_debtor)
        self._insert_sql = (
            f"INSERT INTO maatregelen ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)})"
        )

    def close(self) -> None:
        self._conn.close()

    def holds_in_force(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT hold_id FROM opschortingen WHERE status = 'applied' ORDER BY hold_id"
        )
        return [str(row[0]) for row in rows]

    def _stopped_by_holds(self) -> dict[object, list[tuple[set[str], set[str]]]]:
        """Per debtor: for each applied hold, (codes it stops or lifts, claims it covers;
        empty: all)."""
        held: dict[object, list[tuple[set[str], set[str]]]] = {}
        for debtor, raw in self._conn.execute(self._holds_sql):
            record = json.loads(raw) if isinstance(raw, str) else {}
            codes = set(record.get("requested", ())) | set(record.get("lift", ()))
            claims = set(record.get("factuurnummers", ()) or ())
            held.setdefault(debtor, []).append((codes, claims))
        return held

    def collection_round(self, day: date) -> list[MeasureTaken]:
        taken: list[MeasureTaken] = []
        held = self._stopped_by_holds()
        claims = self._conn.execute(self._claims_sql).fetchall()
        measures: dict[str, list[tuple[int, str, int, object, str]]] = {}
        for row in self._conn.execute(self._measures_sql):
            measures.setdefault(str(row[5]), []).append(row[:5])
        self._conn.execute("BEGIN")
        try:
            for claim, debtor in claims:
                claim = str(claim)
                rows = measures.get(claim, [])
                for measure_id, code, actief, suspended, _ in rows:
                    cadence = RECURRING.get(MeasureCode(code))
                    if not actief or suspended is not None or cadence is None:
                        continue
                    if (day.toordinal() + measure_id) % cadence == 0:
                        taken.append(MeasureTaken(day, claim, MeasureCode(code), Step.RUN))
                step = self._next_step(day, claim, rows)
                if step is not None and not self._held(held.get(debtor, ()), claim, step):
                    self._insert_step(claim, debtor, step, day)
                    taken.append(MeasureTaken(day, claim, step, Step.START))
            self._conn.executemany(
                "INSERT INTO genomen_maatregelen (dag, vordering, code, stap) VALUES (?, ?, ?, ?)",
                [(t.day.isoformat(), t.factuurnummer, t.code.value, t.step.value) for t in taken],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return taken

    def _next_step(
        self, day: date, claim: str, rows: Sequence[tuple[int, str, int, object, str]]
    ) -> MeasureCode | None:
        ladder = self.schema.ladder
        started = [(str(sinds), code) for _, code, _, _, sinds in rows if code in ladder]
        if not started:
            return ladder[0]
        last_day = max(sinds for sinds, _ in started)
        rung = max(ladder.index(code) for _, code in started)
        if rung + 1 >= len(ladder):
            return None
        if (day - date.fromisoformat(last_day[:10])).days < LADDER_INTERVAL_DAYS:
            return None
        return ladder[rung + 1]

    @staticmethod
    def _held(holds: Sequence[tuple[set[str], set[str]]], claim: str, code: MeasureCode) -> bool:
        return any(
            code.value in codes and (not claims or claim in claims) for codes, claims in holds
        )

    def _insert_step(self, claim: str, debtor: object, step: MeasureCode, day: date) -> None:
        values: list[object] = [claim, step.value, 1, day.isoformat()]
        if self.schema.measure_debtor is not None:
            values.append(debtor)
        self._conn.execute(self._insert_sql, values)
