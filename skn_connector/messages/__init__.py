"""The typed SKN message catalog (pydantic v2). Imports nothing else of skn_connector."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .common import (
    Adres,
    Berichtheader,
    Contactpersoon,
    Klant,
    Message,
    Partner,
    Toestemmingsverklaring,
)
from .schuldinventarisatie import (
    GeenMedewerking,
    GevraagdeVordering,
    OngematchteSchulden,
    OpgegevenVordering,
    OvergedragenAan,
    Saldoverzoek,
    SaldoverzoekAntwoord,
)

#: Every message class of the catalog, by its Berichttype.
CATALOG: dict[str, type[Message]] = {
    cls.BERICHTTYPE: cls for cls in (Saldoverzoek, SaldoverzoekAntwoord, GeenMedewerking)
}


class MessageError(ValueError):
    """A message that does not fit the catalog; ``errors`` name the element path and the rule."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def format_validation_error(root: str, error: ValidationError) -> list[str]:
    """Turn pydantic's errors into 'Root/Element/Path: rule' lines (no input values: privacy)."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        path = "/".join([root, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return lines


def message_from_json(data: Any) -> Message:
    """Validate a message in its JSON form into its typed model, or raise MessageError."""
    if not isinstance(data, dict):
        raise MessageError(["a message is a JSON object with a Berichtheader"])
    header = data.get("Berichtheader")
    berichttype = header.get("Berichttype") if isinstance(header, dict) else None
    if not isinstance(berichttype, str):
        raise MessageError(["Berichtheader/Berichttype: required"])
    cls = CATALOG.get(berichttype)
    if cls is None:
        raise MessageError([f"Berichtheader/Berichttype: unknown message type {berichttype!r}"])
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise MessageError(format_validation_error(berichttype, exc)) from None


__all__ = [
    "CATALOG",
    "Adres",
    "Berichtheader",
    "Contactpersoon",
    "GeenMedewerking",
    "GevraagdeVordering",
    "Klant",
    "Message",
    "MessageError",
    "OngematchteSchulden",
    "OpgegevenVordering",
    "OvergedragenAan",
    "Partner",
    "Saldoverzoek",
    "SaldoverzoekAntwoord",
    "Toestemmingsverklaring",
    "format_validation_error",
    "message_from_json",
]
