"""The typed SKN message catalog (pydantic v2). Imports nothing else of skn_connector."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from .betalingsregeling import (
    Betaalvoorstel,
    BetaalvoorstelAntwoord,
    SchuldregelingBeeindigd,
    VoorgesteldeVordering,
    VoorstelBasis,
)
from .common import (
    Adres,
    Berichtheader,
    Contactpersoon,
    Klant,
    KlantMetBsn,
    Message,
    Partner,
    Toestemmingsverklaring,
)
from .meldingen_bewindvoering import Bewindvoerder, MeldingBewind
from .schuldinventarisatie import (
    GeenMedewerking,
    GevraagdeVordering,
    OngematchteSchulden,
    OpgegevenVordering,
    OvergedragenAan,
    SaldoAntwoordBasis,
    Saldoverzoek,
    SaldoverzoekAntwoord,
)
from .schuldregeling import (
    GeaccordeerdeVordering,
    Heroverweging,
    Kennisgeving,
    KennisgevingAntwoord,
    KennisgevingBasis,
    KennisgevingPubliek,
    SaldoverzoekAntwoordVoorafAkkoord,
    SchuldregelingAkkoord,
    StatusberichtSE,
    StatusberichtSHV,
    Statusverzoek,
)

#: Every message class of the catalog, by its Berichttype (docs/messages.md, both directions).
CATALOG: dict[str, type[Message]] = {
    cls.BERICHTTYPE: cls
    for cls in (
        # SHV (or bewindvoerder) to SE
        Kennisgeving,
        KennisgevingPubliek,
        Saldoverzoek,
        Betaalvoorstel,
        Heroverweging,
        SchuldregelingAkkoord,
        SchuldregelingBeeindigd,
        StatusberichtSHV,
        MeldingBewind,
        # SE to SHV
        KennisgevingAntwoord,
        SaldoverzoekAntwoord,
        SaldoverzoekAntwoordVoorafAkkoord,
        BetaalvoorstelAntwoord,
        GeenMedewerking,
        StatusberichtSE,
        Statusverzoek,
    )
}


class MessageError(ValueError):
    """A message that does not fit the catalog; ``errors`` name the element path and the rule."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


#: A rule spanning several elements names its element first: "Reden: required when ...".
_RULE_WITH_PATH = re.compile(r"^([A-Z][A-Za-z]*(?:/(?:[A-Z][A-Za-z]*|\d+))*): (.+)$", re.DOTALL)


def format_validation_error(root: str, error: ValidationError) -> list[str]:
    """Turn pydantic's errors into 'Root/Element/Path: rule' lines (no input values: privacy)."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        parts = [root, *(str(part) for part in item["loc"])]
        message = item["msg"].removeprefix("Value error, ")
        named = _RULE_WITH_PATH.match(message)
        if named:
            parts.append(named.group(1))
            message = named.group(2)
        lines.append(f"{'/'.join(parts)}: {message}")
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
    "Betaalvoorstel",
    "BetaalvoorstelAntwoord",
    "Bewindvoerder",
    "Contactpersoon",
    "GeaccordeerdeVordering",
    "GeenMedewerking",
    "GevraagdeVordering",
    "Heroverweging",
    "Kennisgeving",
    "KennisgevingAntwoord",
    "KennisgevingBasis",
    "KennisgevingPubliek",
    "Klant",
    "KlantMetBsn",
    "MeldingBewind",
    "Message",
    "MessageError",
    "OngematchteSchulden",
    "OpgegevenVordering",
    "OvergedragenAan",
    "Partner",
    "SaldoAntwoordBasis",
    "Saldoverzoek",
    "SaldoverzoekAntwoord",
    "SaldoverzoekAntwoordVoorafAkkoord",
    "SchuldregelingAkkoord",
    "SchuldregelingBeeindigd",
    "StatusberichtSE",
    "StatusberichtSHV",
    "Statusverzoek",
    "Toestemmingsverklaring",
    "VoorgesteldeVordering",
    "VoorstelBasis",
    "format_validation_error",
    "message_from_json",
]
