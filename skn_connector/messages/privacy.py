"""Which values of a message are personal data, for redacting errors about it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Header elements that identify messages and parties in the SKN address book, not persons.
_HEADER_IDS = frozenset(
    {
        "Referentienummer",
        "CrossReferentienummer",
        "ConversatieReferentienummer",
        "Versie",
        "Berichttype",
        "Module",
        "Afzender",
        "Ontvanger",
        "Verzonden",
    }
)


def personal_values(document: Any) -> Iterator[str]:
    """Every text of a message in its JSON form but the header's ids: names, addresses,
    dates of birth, BSNs, free text, and identifiers too (masking an invoice number in an
    error costs a clue, not a leak)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "Berichtheader" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in _HEADER_IDS}
            yield from personal_values(value)
    elif isinstance(document, list):
        for item in document:
            yield from personal_values(item)
    elif isinstance(document, str):
        yield document
