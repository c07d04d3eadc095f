"""Synthetic test data: valid messages in their JSON form (no real persons)."""

from __future__ import annotations

import uuid
from typing import Any

CREDITOR = uuid.UUID("5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11")
SHV = uuid.UUID("0c7d5e4f-3b2a-4198-8e76-5a4b3c2d1e0f")


def elfproef_bsn(seed: int) -> str:
    base = 100_000_00 + (seed * 104729) % 89_999_999
    while True:
        digits = [int(c) for c in f"{base:08d}"]
        check = sum(d * (9 - i) for i, d in enumerate(digits)) % 11
        if check < 10:
            return f"{base:08d}{check}"
        base += 1


def header(
    berichttype: str = "Saldoverzoek", module: str = "Schuldinventarisatie", **overrides: Any
) -> dict[str, Any]:
    data = {
        "BerichtId": str(uuid.uuid4()),
        "Berichttype": berichttype,
        "Module": module,
        "Versie": "2.0",
        "ConversatieReferentienummer": str(uuid.uuid4()),
        "Referentienummer": "KB-TEST-1",
        "Afzender": str(SHV),
        "Ontvanger": str(CREDITOR),
        "Verzonden": "2026-11-27T09:30:00+01:00",
    }
    data.update(overrides)
    return data


def saldoverzoek(
    *,
    bsn: str | None = None,
    invoices: tuple[str, ...] = ("2025.000001.01",),
    module: str = "Schuldinventarisatie",
    achternaam: str = "Testpersoon-Voorbeeld",
    postcode: str = "1234AB",
    huisnummer: int = 12,
    geboortedatum: str = "1980-02-29",
    klantnummer_se: str | None = None,
    **header_overrides: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "Berichtheader": header("Saldoverzoek", module, **header_overrides),
        "Schuldhulpverlener": "Kredietbank Teststad",
        "Contactpersoon": {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"},
        "KlantnummerSHV": "KB000001",
    }
    if klantnummer_se:
        message["KlantnummerSEVolgensSHV"] = klantnummer_se
    message["Klant"] = {
        "Geslacht": "V",
        "Voorletters": "T.",
        "Voornamen": "Tessa",
        "Achternaam": achternaam,
        "Geboortedatum": geboortedatum,
        "Bsn": bsn or elfproef_bsn(1),
    }
    message["Adres"] = {
        "Straatnaam": "Proefstraat",
        "Huisnummer": huisnummer,
        "Postcode": postcode,
        "Woonplaats": "Teststad",
    }
    message["Vorderingen"] = [{"FactuurnummerSEVolgensSHV": n} for n in invoices]
    return message
