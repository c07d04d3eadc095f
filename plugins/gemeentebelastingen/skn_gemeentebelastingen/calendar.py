"""The collection calendar of the gemeentebelastingen sample back-office: its daily round over the
aanslagen, as a municipal tax office collects under the Invorderingswet.

The calendar itself is skn_connector.adapters.calendar; this names the tables.
"""

from __future__ import annotations

from pathlib import Path

from skn_connector.adapters.api import MeasureCode
from skn_connector.adapters.calendar import Schema, SqliteCollectionCalendar

#: aanmaning, then dwangbevel with costs, then a bank beslag; rente runs on the way
SCHEMA = Schema(
    claims="aanslagen",
    claim_key="aanslagnummer",
    claim_debtor="debiteur_id",
    measure_claim="aanslagnummer",
    ledger_debtor="debiteur_id",
    ladder=(
        MeasureCode.AANMANING,
        MeasureCode.RENTE,
        MeasureCode.DWANGBEVEL,
        MeasureCode.KOSTEN,
        MeasureCode.BESLAG_BANK,
    ),
)


def collection_calendar(database: Path) -> SqliteCollectionCalendar:
    """The calendar of the sample back-office in database."""
    return SqliteCollectionCalendar(database, SCHEMA)
