"""The collection calendar of the CJIB-style sample back-office: its daily round over the
zaken (fines, Wahv), as a central collector does.

The calendar itself is skn_connector.adapters.calendar; this names the tables.
"""

from __future__ import annotations

from pathlib import Path

from skn_connector.adapters.api import MeasureCode
from skn_connector.adapters.calendar import Schema, SqliteCollectionCalendar

#: aanmaning, verhoging, a second verhoging as costs, then a bank beslag; verrekening where it can
SCHEMA = Schema(
    claims="zaken",
    claim_key="zaaknummer",
    claim_debtor="betrokkene_id",
    measure_claim="zaaknummer",
    ledger_debtor="betrokkene_id",
    ladder=(
        MeasureCode.AANMANING,
        MeasureCode.VERHOGING,
        MeasureCode.VERREKENING,
        MeasureCode.KOSTEN,
        MeasureCode.BESLAG_BANK,
    ),
)


def collection_calendar(database: Path) -> SqliteCollectionCalendar:
    """The calendar of the sample back-office in database."""
    return SqliteCollectionCalendar(database, SCHEMA)
