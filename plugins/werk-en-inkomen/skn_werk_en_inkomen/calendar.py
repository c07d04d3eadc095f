"""The collection calendar of the werk en inkomen sample back-office: its daily round over the
vorderingen (terugvorderingen, boetes), as a social services department collects.

The calendar itself is skn_connector.adapters.calendar; this names the tables.
"""

from __future__ import annotations

from pathlib import Path

from skn_connector.adapters.api import MeasureCode
from skn_connector.adapters.calendar import Schema, SqliteCollectionCalendar

#: aanmaning, then verrekening with the uitkering, costs, then a loonbeslag
SCHEMA = Schema(
    claims="vorderingen",
    claim_key="besluitnummer",
    claim_debtor="client_id",
    measure_claim="besluitnummer",
    ledger_debtor="client_id",
    ladder=(
        MeasureCode.AANMANING,
        MeasureCode.VERREKENING,
        MeasureCode.KOSTEN,
        MeasureCode.BESLAG_LOON,
    ),
    measure_debtor="client_id",
)


def collection_calendar(database: Path) -> SqliteCollectionCalendar:
    """The calendar of the sample back-office in database."""
    return SqliteCollectionCalendar(database, SCHEMA)
