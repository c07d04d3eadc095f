"""Synthetic test data: valid messages in their JSON form (no real persons)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skn_connector.actor import Actor

CREDITOR = uuid.UUID("5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11")
SHV = uuid.UUID("0c7d5e4f-3b2a-4198-8e76-5a4b3c2d1e0f")
#: The person whose actions the tests take.
TESTER = Actor(name="tester", via="cli", uid=1000)


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
        "Referentienummer": str(uuid.uuid4()),
        "ConversatieReferentienummer": str(uuid.uuid4()),
        "Versie": "2.0",
        "Berichttype": berichttype,
        "Module": module,
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


# -- the rest of the catalog (docs/messages.md): one valid message per Berichttype ---------


def _klant(bsn: str | None = None) -> dict[str, Any]:
    klant: dict[str, Any] = {
        "Geslacht": "V",
        "Voorletters": "T.",
        "Voornamen": "Tessa",
        "Achternaam": "Testpersoon-Voorbeeld",
        "Geboortedatum": "1980-02-29",
    }
    if bsn:
        klant["Bsn"] = bsn
    return klant


def _adres() -> dict[str, Any]:
    return {
        "Straatnaam": "Proefstraat",
        "Huisnummer": 12,
        "Postcode": "1234AB",
        "Woonplaats": "Teststad",
    }


def _contact_se() -> dict[str, Any]:
    return {"Naam": "S. Invordering", "Telefoonnummer": "+31 30 1234567"}


def kennisgeving(*, publiek: bool = False, **header_overrides: Any) -> dict[str, Any]:
    berichttype = "KennisgevingPubliek" if publiek else "Kennisgeving"
    return {
        "Berichtheader": header(berichttype, "Schuldregeling", **header_overrides),
        "Schuldhulpverlener": "Kredietbank Teststad",
        "Contactpersoon": {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"},
        "KlantnummerSHV": "KB000001",
        "Klant": _klant(elfproef_bsn(2) if publiek else None),
        "Adres": _adres(),
        "DatumAanmelding": "2026-11-20",
        "Vorderingen": [{"FactuurnummerSEVolgensSHV": "2025.000001.01"}],
    }


def kennisgeving_publiek(**header_overrides: Any) -> dict[str, Any]:
    return kennisgeving(publiek=True, **header_overrides)


def betaalvoorstel(
    *,
    module: str = "Schuldregeling",
    type_schuldregeling: str = "SB",
    berichttype: str = "Betaalvoorstel",
    **header_overrides: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "Berichtheader": header(berichttype, module, **header_overrides),
        "KlantnummerSHV": "KB000001",
        "KlantnummerSE": "SE-778899",
        "TypeSchuldregeling": type_schuldregeling,
        "Looptijd": 18,
        "DatumEersteBetaling": "2027-01-01",
        "Vorderingen": [
            {
                "FactuurnummerSE": "2025.000001.01",
                "ActueelVorderingsbedrag": "1234.50",
                "Afkooppercentage": "12.50",
                "PrognoseEindbedrag": "154.31",
            }
        ],
    }
    if berichttype == "Heroverweging":
        message["Toelichting"] = "Alle andere schuldeisers zijn akkoord."
    return message


def heroverweging(**header_overrides: Any) -> dict[str, Any]:
    return betaalvoorstel(berichttype="Heroverweging", **header_overrides)


def schuldregeling_akkoord(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header("SchuldregelingAkkoord", "Schuldregeling", **header_overrides),
        "DatumAkkoord": "2026-12-15",
        "KlantnummerSE": "SE-778899",
        "KlantnummerSHV": "KB000001",
        "TypeSchuldregeling": "SK",
        "Vorderingen": [
            {
                "FactuurnummerSE": "2025.000001.01",
                "Afkooppercentage": "0.00",
                "PrognoseEindbedrag": "0.00",
                "ActueelVorderingsbedrag": "1234.50",
                "VorderingsType": "CONCURRENT",
                "Betaalreferentie": "KB000001-2025.000001.01",
            }
        ],
    }


def schuldregeling_beeindigd(*, module: str = "Schuldregeling", **overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header("SchuldregelingBeeindigd", module, **overrides),
        "KlantnummerSHV": "KB000001",
        "DatumBeeindiging": "2029-12-31",
        "Reden": "GESLAAGD",
    }


def statusbericht_shv(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header("StatusberichtSHV", "Schuldregeling", **header_overrides),
        "KlantnummerSHV": "KB000001",
        "Status": "Saldi worden verzameld",
    }


def melding_bewind(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header("MeldingBewind", "MeldingenBewindvoering", **header_overrides),
        "Bewindvoerder": {
            "Naam": "Bewindvoering Teststad",
            "Contactpersoon": {"Naam": "B. Voerder"},
        },
        "Klant": _klant(elfproef_bsn(3)),
        "Adres": _adres(),
        "Soort": "BESCHERMINGSBEWIND",
        "Gebeurtenis": "START",
        "DatumUitspraak": "2026-10-01",
        "Rechtbank": "Rechtbank Teststad",
    }


def kennisgeving_antwoord(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header(
            "KennisgevingAntwoord",
            "Schuldregeling",
            Afzender=str(CREDITOR),
            Ontvanger=str(SHV),
            **header_overrides,
        ),
        "Contactpersoon": _contact_se(),
        "Antwoord": "ONTVANGEN",
        "KlantnummerSE": "SE-778899",
        "Factuurnummers": ["2025.000001.01", "2025.000002.01"],
    }


def saldoverzoek_antwoord(
    *, module: str = "Schuldinventarisatie", vooraf_akkoord: bool = False, **overrides: Any
) -> dict[str, Any]:
    berichttype = "SaldoverzoekAntwoordVoorafAkkoord" if vooraf_akkoord else "SaldoverzoekAntwoord"
    return {
        "Berichtheader": header(
            berichttype, module, Afzender=str(CREDITOR), Ontvanger=str(SHV), **overrides
        ),
        "KlantnummerSE": "SE-778899",
        "Contactpersoon": _contact_se(),
        "KlantOnbekend": False,
        "StandaardAkkoord": vooraf_akkoord,
        "Datum": "2026-11-30",
        "Vorderingen": [
            {
                "Schuldtype": "openstaande schuld",
                "FactuurnummerSEVolgensSHV": "2025.000001.01",
                "FactuurnummerSE": "2025.000001.01",
                "Hoofdsom": "1000.00",
                "Rente": "34.50",
                "Kosten": "200.00",
                "Openstaand": "1234.50",
            }
        ],
        "OngematchteSchulden": {"Totaalvordering": "0.00"},
    }


def saldoverzoek_antwoord_vooraf_akkoord(**header_overrides: Any) -> dict[str, Any]:
    return saldoverzoek_antwoord(module="Schuldregeling", vooraf_akkoord=True, **header_overrides)


def betaalvoorstel_antwoord(*, antwoord: str = "NIET_AKKOORD", **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "Berichtheader": header(
            "BetaalvoorstelAntwoord",
            "Schuldregeling",
            Afzender=str(CREDITOR),
            Ontvanger=str(SHV),
            **overrides,
        ),
        "KlantnummerSE": "SE-778899",
        "Contactpersoon": _contact_se(),
        "Antwoord": antwoord,
    }
    if antwoord == "NIET_AKKOORD":
        message["Reden"] = "Het afkooppercentage is te laag."
    return message


def geen_medewerking(*, module: str = "Schuldregeling", **overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header(
            "GeenMedewerking", module, Afzender=str(CREDITOR), Ontvanger=str(SHV), **overrides
        ),
        "Contactpersoon": _contact_se(),
        "Reden": "KLANT_ONBEKEND",
    }


def statusbericht_se(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header(
            "StatusberichtSE",
            "Schuldregeling",
            Afzender=str(CREDITOR),
            Ontvanger=str(SHV),
            **header_overrides,
        ),
        "KlantnummerSE": "SE-778899",
        "Status": "INCASSO_OPGESCHORT",
    }


def statusverzoek(**header_overrides: Any) -> dict[str, Any]:
    return {
        "Berichtheader": header(
            "Statusverzoek",
            "Schuldregeling",
            Afzender=str(CREDITOR),
            Ontvanger=str(SHV),
            **header_overrides,
        ),
        "KlantnummerSHV": "KB000001",
    }


#: One factory per Berichttype of the catalog: each returns a valid message in its JSON form.
FACTORIES: dict[str, Any] = {
    "Kennisgeving": kennisgeving,
    "KennisgevingPubliek": kennisgeving_publiek,
    "Saldoverzoek": saldoverzoek,
    "Betaalvoorstel": betaalvoorstel,
    "Heroverweging": heroverweging,
    "SchuldregelingAkkoord": schuldregeling_akkoord,
    "SchuldregelingBeeindigd": schuldregeling_beeindigd,
    "StatusberichtSHV": statusbericht_shv,
    "MeldingBewind": melding_bewind,
    "KennisgevingAntwoord": kennisgeving_antwoord,
    "SaldoverzoekAntwoord": saldoverzoek_antwoord,
    "SaldoverzoekAntwoordVoorafAkkoord": saldoverzoek_antwoord_vooraf_akkoord,
    "BetaalvoorstelAntwoord": betaalvoorstel_antwoord,
    "GeenMedewerking": geen_medewerking,
    "StatusberichtSE": statusbericht_se,
    "Statusverzoek": statusverzoek,
}


def store_on(config: Path, workdir: Path, url: str, also: Mapping[str, str] | None = None) -> None:
    """Point a configuration written by ``demo.write_config(workdir, ...)`` at another store;
    ``also`` swaps further lines of it (each old line must be there)."""
    text = config.read_text()
    swaps = {f'url = "sqlite:///{workdir / "skn-connector.db"}"': f'url = "{url}"', **(also or {})}
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
