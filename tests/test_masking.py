"""`messages show` without --reveal: every value is masked unless its element is an
identifier, a code, an amount, a percentage, a boolean or a process date, and what is shown
is scanned for a BSN, an IBAN or an e-mail address hidden in it."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from skn_connector.masking import MASK, mask_personal_data
from skn_connector.messages import CATALOG, message_from_json
from skn_connector.messages import provisional as p
from skn_connector.operations.queries import show_message
from skn_connector.redaction import redact
from skn_connector.store import open_store
from skn_connector.store.schema import InboxMessage
from skn_connector.wire.soap import encode_message

from . import factories as f
from .factories import TESTER

#: The test's own account of personal data: names, addresses, BSNs, birth dates, free text
#: and contact data. The connector's rules are built otherwise (a whitelist from the models).
PERSONAL_KEYS = frozenset(
    {
        "Geslacht",
        "Voorletters",
        "Voornamen",
        "Voorvoegsel",
        "Achternaam",
        "Geboortedatum",
        "Bsn",
        "Straatnaam",
        "Huisnummer",
        "Huisletter",
        "Huisnummertoevoeging",
        "AanduidingBijHuisnummer",
        "Postcode",
        "Woonplaats",
        "Woonbootverwijzing",
        "Woonwagenverwijzing",
        "Naam",
        "Telefoonnummer",
        "Emailadres",
        "Schuldhulpverlener",
        "Rechtbank",
        "Zaaknummer",
        "Toelichting",
        "Omschrijving",
        "Document",
    }
)
#: Keys that are an enumeration in one message and free text in another.
ENUMERATIONS = {
    "Reden": {*p.GEEN_MEDEWERKING_REDENEN, *p.BEEINDIGING_REDENEN},
    "Status": set(p.STATUSBERICHT_SE_STATUSSEN),
}
#: Not personal, but not on the whitelist either: masked by default.
NOT_WHITELISTED = frozenset({"Ontstaansdatum"})

PARTNER = {
    "Geslacht": "M",
    "Voorletters": "P.J.",
    "Voornamen": "Pieter Jan",
    "Voorvoegsel": "van der",
    "Achternaam": "Proefpartner",
    "Geboortedatum": "1979-05-05",
    "Bsn": f.elfproef_bsn(7),
}
CONTACT = {
    "Naam": "C. Ontactpersoon",
    "Telefoonnummer": "+31 6 12345678",
    "Emailadres": "c.ontactpersoon@voorbeeld.example",
}
TOESTEMMING = {"Soort": "TOESTEMMINGSVERKLARING", "Datum": "2026-11-01", "Document": "VGVzc2E="}
TOELICHTING = "Mw. Testpersoon-Voorbeeld is ziek en belt na 15 december terug."
OVERGEDRAGEN = {
    "Schuldtype": "overgedragen schuld",
    "FactuurnummerSEVolgensSHV": "2025.000002.01",
    "FactuurnummerSE": "2025.000002.01",
    "Omschrijving": "Aanslag van mw. Testpersoon-Voorbeeld, Proefstraat 12",
    "Ontstaansdatum": "2024-03-01",
    "OrigineleVordering": "450.00",
    "Openstaand": "450.00",
    "OvergedragenAan": {"Naam": "Incasso Voorbeeld B.V.", "Contactpersoon": "I. Ncasseerder"},
}


def _every_personal_field(berichttype: str) -> dict[str, Any]:
    """The factory's message with every optional personal element its model allows."""
    message: dict[str, Any] = f.FACTORIES[berichttype]()
    message["Berichtheader"]["Toestemmingsverklaring"] = dict(TOESTEMMING)
    fields = {field.alias for field in CATALOG[berichttype].model_fields.values()}
    if "Toelichting" in fields:
        message["Toelichting"] = TOELICHTING
    if "Partner" in fields:
        message["Partner"] = dict(PARTNER)
    if "Contactpersoon" in message:
        message["Contactpersoon"] = dict(CONTACT)
    if "Adres" in message:
        message["Adres"] |= {"Huisletter": "b", "Huisnummertoevoeging": "2h"}
    if berichttype == "MeldingBewind":
        message["Zaaknummer"] = "C/16/123456 / FT RK 26-789"
        message["Bewindvoerder"] |= {"Contactpersoon": dict(CONTACT), "Adres": f._adres()}
    if berichttype.startswith("SaldoverzoekAntwoord"):
        message["Vorderingen"].append(copy.deepcopy(OVERGEDRAGEN))
        unmatched = {k: v for k, v in OVERGEDRAGEN.items() if k != "FactuurnummerSEVolgensSHV"}
        message["OngematchteSchulden"] = {"OpenstaandeSchulden": [unmatched]}
    # the form `messages show` masks: the decoded message's JSON form
    return message_from_json(message).to_json()


def _is_personal(key: str, value: Any) -> bool:
    if key in ENUMERATIONS:
        return value not in ENUMERATIONS[key]
    # OvergedragenAan/Contactpersoon is a name; elsewhere Contactpersoon is a structure
    return key in PERSONAL_KEYS or (key == "Contactpersoon" and isinstance(value, str))


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every scalar of a JSON form; list items under their list's key."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _leaves(item, (*path, index))
    else:
        yield path, document


def _key(path: tuple[Any, ...]) -> str:
    return next(part for part in reversed(path) if isinstance(part, str))


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


ALL_TYPES = sorted(f.FACTORIES)


@pytest.mark.parametrize("berichttype", ALL_TYPES)
def test_a_masked_message_holds_none_of_its_personal_values(berichttype: str) -> None:
    message = _every_personal_field(berichttype)
    masked = mask_personal_data(message)
    shown = json.dumps(masked, ensure_ascii=False)
    personal = [(path, v) for path, v in _leaves(message) if _is_personal(_key(path), v)]
    assert personal, "positive control: the message holds personal data"
    for path, value in personal:
        assert _at(masked, path) == MASK, path
        if isinstance(value, str):
            assert json.dumps(value, ensure_ascii=False) not in shown, path


@pytest.mark.parametrize("berichttype", ALL_TYPES)
def test_identifiers_codes_amounts_and_process_dates_show_in_clear(berichttype: str) -> None:
    message = _every_personal_field(berichttype)
    masked = mask_personal_data(message)
    for path, value in _leaves(message):
        key = _key(path)
        if not _is_personal(key, value) and key not in NOT_WHITELISTED:
            assert _at(masked, path) == value, path


def test_a_few_whitelisted_values_explicitly() -> None:
    json_form = message_from_json(f.betaalvoorstel() | {"Uitbetaalmomenten": ["MAANDELIJKS"]})
    proposal = mask_personal_data(json_form.to_json())
    assert proposal["Berichtheader"] == json_form.to_json()["Berichtheader"]
    assert proposal["Berichtheader"]["Verzonden"] == "2026-11-27T09:30:00+01:00"
    assert proposal["KlantnummerSE"] == "SE-778899"
    assert proposal["KlantnummerSHV"] == "KB000001"
    assert (proposal["TypeSchuldregeling"], proposal["Looptijd"]) == ("SB", 18)
    assert proposal["DatumEersteBetaling"] == "2027-01-01"
    assert proposal["Uitbetaalmomenten"] == ["MAANDELIJKS"]
    assert proposal["Vorderingen"][0] == {
        "FactuurnummerSE": "2025.000001.01",
        "ActueelVorderingsbedrag": "1234.50",
        "Afkooppercentage": "12.50",
        "PrognoseEindbedrag": "154.31",
    }
    answer = mask_personal_data(message_from_json(f.saldoverzoek_antwoord()).to_json())
    assert (answer["KlantOnbekend"], answer["StandaardAkkoord"]) == (False, False)
    assert answer["Vorderingen"][0]["Schuldtype"] == "openstaande schuld"
    assert answer["Vorderingen"][0]["Openstaand"] == "1234.50"
    assert answer["OngematchteSchulden"] == {"Totaalvordering": "0.00"}
    assert answer["Contactpersoon"] == {"Naam": MASK, "Telefoonnummer": MASK}
    received = mask_personal_data(message_from_json(f.kennisgeving_antwoord()).to_json())
    assert received["Factuurnummers"] == ["2025.000001.01", "2025.000002.01"]
    assert received["Antwoord"] == "ONTVANGEN"
    akkoord = mask_personal_data(message_from_json(f.schuldregeling_akkoord()).to_json())
    assert akkoord["Vorderingen"][0]["Betaalreferentie"] == "KB000001-2025.000001.01"
    assert akkoord["Vorderingen"][0]["VorderingsType"] == "CONCURRENT"
    bewind = mask_personal_data(message_from_json(f.melding_bewind()).to_json())
    assert (bewind["Soort"], bewind["Gebeurtenis"]) == ("BESCHERMINGSBEWIND", "START")
    assert bewind["DatumUitspraak"] == "2026-10-01"
    assert bewind["Klant"]["Geslacht"] == MASK and bewind["Klant"]["Geboortedatum"] == MASK


def test_the_consent_shows_its_kind_and_date_but_not_its_document() -> None:
    message = f.statusverzoek()
    message["Berichtheader"]["Toestemmingsverklaring"] = dict(TOESTEMMING)
    masked = mask_personal_data(message_from_json(message).to_json())
    assert masked["Berichtheader"]["Toestemmingsverklaring"] == {
        "Soort": "TOESTEMMINGSVERKLARING",
        "Datum": "2026-11-01",
        "Document": MASK,
    }


def test_a_status_in_free_text_naming_a_person_and_a_bsn_is_masked() -> None:
    bsn = f.elfproef_bsn(11)
    message = f.statusbericht_shv()
    message["Status"] = f"Mw. T. Testpersoon-Voorbeeld (BSN {bsn}) is opgenomen in het WSNP"
    masked = mask_personal_data(message_from_json(message).to_json())
    assert masked["Status"] == MASK
    shown = json.dumps(masked)
    assert bsn not in shown and "Testpersoon" not in shown
    # the same key, an enumeration in the SE's own status message, shows its literal
    ours = mask_personal_data(message_from_json(f.statusbericht_se()).to_json())
    assert ours["Status"] == "INCASSO_OPGESCHORT"


def test_a_reden_shows_only_as_a_documented_literal() -> None:
    refused = mask_personal_data(message_from_json(f.betaalvoorstel_antwoord()).to_json())
    assert refused["Reden"] == MASK
    assert refused["Antwoord"] == "NIET_AKKOORD"
    ended = mask_personal_data(message_from_json(f.schuldregeling_beeindigd()).to_json())
    assert ended["Reden"] == "GESLAAGD"
    no_help = mask_personal_data(message_from_json(f.geen_medewerking()).to_json())
    assert no_help["Reden"] == "KLANT_ONBEKEND"


@pytest.mark.parametrize(
    ("klantnummer", "shown"),
    [
        ("{bsn}", MASK),
        ("KB-{bsn}", f"KB-{MASK}"),
        ("KB{bsn}", f"KB{MASK}"),
        ("KB000001/{bsn}/2", f"KB000001/{MASK}/2"),
        ("t.testpersoon@voorbeeld.example", MASK),
        ("KB000001 t.testpersoon@voorbeeld.example", f"KB000001 {MASK}"),
        ("KB-NL91ABNA0417164300", f"KB-{MASK}"),
        # ten or eight digits are no BSN
        ("KB0000000001", "KB0000000001"),
        ("KB00000001", "KB00000001"),
    ],
)
def test_an_identifier_shows_with_a_hidden_bsn_email_or_iban_masked(
    klantnummer: str, shown: str
) -> None:
    bsn = f.elfproef_bsn(12)
    message = f.saldoverzoek()
    message["KlantnummerSHV"] = klantnummer.format(bsn=bsn)
    message["Vorderingen"] = [{"FactuurnummerSEVolgensSHV": klantnummer.format(bsn=bsn)}]
    masked = mask_personal_data(message_from_json(message).to_json())
    assert masked["KlantnummerSHV"] == shown
    assert masked["Vorderingen"] == [{"FactuurnummerSEVolgensSHV": shown}]


def test_a_uuid_with_nine_digits_in_a_row_shows_whole() -> None:
    referentienummer = "02f69bce-0ad6-4a84-a0aa-123456789ef5"
    message = message_from_json(f.statusverzoek(Referentienummer=referentienummer)).to_json()
    masked = mask_personal_data(message)
    assert masked["Berichtheader"]["Referentienummer"] == referentienummer


def test_an_element_no_rule_knows_is_masked() -> None:
    assert mask_personal_data({"Onbekend": "iets", "Lijst": ["a", 1], "Getal": 3}) == {
        "Onbekend": MASK,
        "Lijst": [MASK, MASK],
        "Getal": MASK,
    }


def test_messages_show_masks_and_reveal_shows_in_clear(tmp_path: Path) -> None:
    message = f.melding_bewind()
    message["Zaaknummer"] = "C/16/123456 / FT RK 26-789"
    raw = encode_message(message_from_json(message))
    header = message["Berichtheader"]
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store.transaction() as session:
            session.add(
                InboxMessage(
                    referentienummer=header["Referentienummer"],
                    node_message_id=str(uuid.uuid4()),
                    berichttype="MeldingBewind",
                    module="MeldingenBewindvoering",
                    conversation_id=header["ConversatieReferentienummer"],
                    afzender=header["Afzender"],
                    raw=raw,
                    sha256="0" * 64,
                    received_at=datetime.now(UTC),
                    status="done",
                )
            )
        [masked] = show_message(store, header["Referentienummer"])["thread"]
        [revealed] = show_message(store, header["Referentienummer"], reveal=TESTER)["thread"]
    finally:
        store.close()
    for value in ("Bewindvoering Teststad", "B. Voerder", "Rechtbank Teststad", "C/16/123456"):
        assert value not in json.dumps(masked)
        assert value in json.dumps(revealed)
    assert masked["message"]["Soort"] == "BESCHERMINGSBEWIND"
    assert masked["message"]["Berichtheader"]["Referentienummer"] == header["Referentienummer"]


def test_a_log_line_loses_an_email_address_too() -> None:
    line = "mail from t.testpersoon+skn@voorbeeld.example about KB000001"
    assert redact(line) == "mail from [E-MAIL] about KB000001"


def test_a_bsn_or_iban_after_an_escaped_line_break_is_masked() -> None:
    """A KeyError's text (and so a traceback) shows its value as a repr, a line break in it as
    the two characters \\n: the n is no part of the number that follows."""
    bsn, iban = "173529471", "NL91ABNA0417164300"
    shown = repr(f"Kanarie\n{bsn}\t{iban}\r{bsn}")
    assert redact(f"KeyError: {shown}") == r"KeyError: 'Kanarie\n[BSN]\t[IBAN]\r[BSN]'"
    # still not: nine digits inside an identifier, or after another letter
    assert redact(f"KB{bsn} x{bsn} \\q{bsn}") == f"KB{bsn} x{bsn} \\q{bsn}"
