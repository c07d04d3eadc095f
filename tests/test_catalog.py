"""The whole message catalog: generated messages round-trip, invalid ones are refused.

For every Berichttype of docs/messages.md a hypothesis strategy generates valid messages in
their JSON form (synthetic data only). Properties:

- JSON -> model -> XML -> model -> JSON gives back the same JSON, and the XML validates
  against the catalog's XSD;
- invalid variants (a required field dropped, a broken BSN, an unknown literal, a
  TypeSchuldregeling of the other module, three decimals, NIET_AKKOORD without Reden, both
  or neither of Totaalvordering/OpenstaandeSchulden, ...) are refused, both from JSON
  (MessageError) and from XML (DecodeError), and the error names the element path.
"""

from __future__ import annotations

import copy
import datetime as dt
import typing
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from skn_connector.messages import (
    CATALOG,
    BetaalvoorstelAntwoord,
    Bewindvoerder,
    GeenMedewerking,
    KennisgevingAntwoord,
    Klant,
    MeldingBewind,
    MessageError,
    OpgegevenVordering,
    SchuldregelingBeeindigd,
    StatusberichtSE,
    Toestemmingsverklaring,
    message_from_json,
)
from skn_connector.messages import provisional as p
from skn_connector.messages.common import Berichtheader
from skn_connector.wire.soap import (
    DecodeError,
    decode_message,
    encode_message,
    json_to_xml,
    message_schema,
)

from .factories import FACTORIES, elfproef_bsn

#: Round trips: 25 generated messages per Berichttype.
FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Invalid variants: fewer per test (there are many tests); the whole file stays well under 30 s.
FEW = settings(FAST, max_examples=10)
XS = "{http://www.w3.org/2001/XMLSchema}"

# -- building blocks -----------------------------------------------------------------------

#: Letters and digits of any script, plus the characters XML must escape.
_CHARS = st.characters(
    codec="utf-8",
    categories=("Lu", "Ll", "Nd"),
    include_characters=" .,-/&<>'\"éëüß",
)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII = "abcdefghijklmnopqrstuvwxyz0123456789"


def tekst(max_size: int = 30) -> st.SearchStrategy[str]:
    """Text as the models keep it: 1 or more characters, no surrounding whitespace."""
    return st.text(_CHARS, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def lange_tekst() -> st.SearchStrategy[str]:
    return tekst(max_size=300)


def _cents_to_text(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):.2f}"


def bedrag(*, negative: bool = False) -> st.SearchStrategy[str]:
    """An amount in its JSON form: a string with exactly two decimals (0.00 included)."""
    top = 10**11
    return st.integers(-top if negative else 0, top).map(_cents_to_text)


def percentage() -> st.SearchStrategy[str]:
    return st.integers(0, 10_000).map(_cents_to_text)


def iso_date(lo: dt.date, hi: dt.date) -> st.SearchStrategy[str]:
    return st.dates(lo, hi).map(dt.date.isoformat)


def proces_datum() -> st.SearchStrategy[str]:
    return iso_date(dt.date(2000, 1, 1), dt.date(2099, 12, 31))


uuids = st.uuids().map(str)
#: ``Berichtheader/Versie``: ``<major>.<minor>``
versie = st.from_regex(r"[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True)
bsns = st.integers(0, 10**7).map(elfproef_bsn)


def verzonden() -> st.SearchStrategy[str]:
    zones = st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=2))]
    )
    return st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2035, 12, 31), timezones=zones).map(
        lambda moment: moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def toestemmingsverklaring() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"Soort": st.sampled_from(p.TOESTEMMING_SOORTEN), "Datum": proces_datum()},
        optional={"Document": st.just("JVBERi0xLjQKJcfsj6IK")},
    )


def header(berichttype: str, module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "Referentienummer": uuids,
            "ConversatieReferentienummer": uuids,
            "Versie": versie,
            "Berichttype": st.just(berichttype),
            "Module": st.just(module),
            "Afzender": uuids,
            "Ontvanger": uuids,
            "Verzonden": verzonden(),
        },
        optional={
            "CrossReferentienummer": uuids,
            "Toestemmingsverklaring": toestemmingsverklaring(),
        },
    )


def contactpersoon() -> st.SearchStrategy[dict[str, Any]]:
    email = st.builds(
        lambda local, domain, tld: f"{local}@{domain}.{tld}",
        st.text(_ASCII, min_size=1, max_size=12),
        st.text(_ASCII, min_size=1, max_size=12),
        st.sampled_from(["nl", "example", "org"]),
    )
    telefoon = st.builds(
        lambda plus, number, sep: plus + sep.join([number[:2], number[2:]]),
        st.sampled_from(["", "+"]),
        st.integers(10**5, 10**17).map(str),
        st.sampled_from(["", " ", "-"]),
    )
    return st.fixed_dictionaries(
        {"Naam": tekst()},
        optional={
            "Telefoonnummer": telefoon,
            "Emailadres": email,
        },
    )


def persoon(bsn: str) -> st.SearchStrategy[dict[str, Any]]:
    """A Klant or Partner; ``bsn`` is "required", "optional" or "absent"."""
    required: dict[str, Any] = {
        "Geslacht": st.sampled_from(p.GESLACHT),
        "Voorletters": tekst(10),
        "Voornamen": tekst(),
        "Achternaam": tekst(),
        "Geboortedatum": iso_date(dt.date(1900, 1, 1), dt.date(2010, 12, 31)),
    }
    optional: dict[str, Any] = {"Voorvoegsel": st.sampled_from(["van", "de", "van der", "'t"])}
    if bsn == "required":
        required["Bsn"] = bsns
    elif bsn == "optional":
        optional["Bsn"] = bsns
    return st.fixed_dictionaries(required, optional=optional)


postcodes = st.builds(
    lambda number, letters: f"{number}{letters}",
    st.integers(1000, 9999),
    st.sampled_from([a + b for a in _UPPER for b in _UPPER if a + b not in {"SA", "SD", "SS"}]),
)


def adres() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "Straatnaam": tekst(),
            "Huisnummer": st.integers(1, 99_999),
            "Postcode": postcodes,
            "Woonplaats": tekst(),
        },
        optional={
            "Huisletter": st.sampled_from(_UPPER + _UPPER.lower()),
            "Huisnummertoevoeging": st.text(_ASCII + _UPPER, min_size=1, max_size=4),
            "AanduidingBijHuisnummer": st.sampled_from(["by", "to"]),
            "Woonbootverwijzing": tekst(),
            "Woonwagenverwijzing": tekst(),
        },
    )


def gevraagde_vorderingen(min_size: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    item = st.fixed_dictionaries({"FactuurnummerSEVolgensSHV": tekst()})
    return st.lists(item, min_size=min_size, max_size=3)


def type_for(module: str) -> st.SearchStrategy[str]:
    allowed = {"Betalingsregeling": ["BR", "HF"], "Schuldregeling": ["SK", "SB", "SA"]}
    return st.sampled_from(allowed.get(module, ["BR", "HF", "SK", "SB", "SA"]))


def uitbetaalmomenten() -> st.SearchStrategy[list[str]]:
    return st.lists(tekst(20), min_size=1, max_size=3)


# -- one strategy per Berichttype ----------------------------------------------------------


def _message(berichttype: str, body: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Pick a module of the class, then a header and a body fitting that module."""

    def build(module: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.tuples(header(berichttype, module), body(module)).map(
            lambda pair: {"Berichtheader": pair[0], **pair[1]}
        )

    return st.sampled_from(CATALOG[berichttype].MODULES).flatmap(build)


def _kennisgeving(publiek: bool) -> Any:
    def body(module: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "Schuldhulpverlener": tekst(),
                "Contactpersoon": contactpersoon(),
                "KlantnummerSHV": tekst(),
                "Klant": persoon("required" if publiek else "optional"),
                "Adres": adres(),
                "DatumAanmelding": proces_datum(),
            },
            optional={
                "KlantnummerSEVolgensSHV": tekst(),
                "Partner": persoon("optional"),
                "Vorderingen": gevraagde_vorderingen(1),
            },
        )

    return body


def _saldoverzoek(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "Schuldhulpverlener": tekst(),
            "Contactpersoon": contactpersoon(),
            "KlantnummerSHV": tekst(),
            "Klant": persoon("optional"),
            "Adres": adres(),
            # required in the model (default empty), so always present in the canonical JSON
            "Vorderingen": gevraagde_vorderingen(0),
        },
        optional={
            "KlantnummerSEVolgensSHV": tekst(),
            "TypeSchuldregeling": type_for(module),
            "Partner": persoon("optional"),
        },
    )


def _voorstel(heroverweging: bool) -> Any:
    claim = st.fixed_dictionaries(
        {
            "FactuurnummerSE": tekst(),
            "ActueelVorderingsbedrag": bedrag(),
            "Afkooppercentage": percentage(),
            "PrognoseEindbedrag": bedrag(),
        },
        optional={"VorderingsType": tekst(20)},
    )

    def body(module: str) -> st.SearchStrategy[dict[str, Any]]:
        required = {
            "KlantnummerSHV": tekst(),
            "KlantnummerSE": tekst(),
            "TypeSchuldregeling": type_for(module),
            "Looptijd": st.integers(1, 120),
            "Vorderingen": st.lists(claim, min_size=1, max_size=3),
        }
        if heroverweging:
            required["Toelichting"] = lange_tekst()
        return st.fixed_dictionaries(
            required,
            optional={
                "DatumEersteBetaling": proces_datum(),
                "Uitbetaalmomenten": uitbetaalmomenten(),
            },
        )

    return body


def _schuldregeling_akkoord(module: str) -> st.SearchStrategy[dict[str, Any]]:
    claim = st.fixed_dictionaries(
        {
            "FactuurnummerSE": tekst(),
            "Afkooppercentage": percentage(),
            "PrognoseEindbedrag": bedrag(),
            "ActueelVorderingsbedrag": bedrag(),
            "VorderingsType": tekst(20),
            "Betaalreferentie": tekst(),
        }
    )
    return st.fixed_dictionaries(
        {
            "DatumAkkoord": proces_datum(),
            "KlantnummerSE": tekst(),
            "KlantnummerSHV": tekst(),
            "TypeSchuldregeling": type_for(module),
            "Vorderingen": st.lists(claim, min_size=1, max_size=3),
        },
        optional={"Uitbetaalmomenten": uitbetaalmomenten()},
    )


def _schuldregeling_beeindigd(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "KlantnummerSHV": tekst(),
            "DatumBeeindiging": proces_datum(),
            "Reden": st.sampled_from(p.BEEINDIGING_REDENEN),
        },
        optional={"KlantnummerSE": tekst(), "Toelichting": lange_tekst()},
    )


def _statusbericht_shv(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"KlantnummerSHV": tekst(), "Status": tekst()},
        optional={"KlantnummerSE": tekst(), "Toelichting": lange_tekst()},
    )


def _melding_bewind(module: str) -> st.SearchStrategy[dict[str, Any]]:
    bewindvoerder = st.fixed_dictionaries(
        {"Naam": tekst(), "Contactpersoon": contactpersoon()}, optional={"Adres": adres()}
    )
    return st.fixed_dictionaries(
        {
            "Bewindvoerder": bewindvoerder,
            "Klant": persoon("required"),
            "Adres": adres(),
            "Soort": st.sampled_from(p.BEWIND_SOORTEN),
            "Gebeurtenis": st.sampled_from(p.BEWIND_GEBEURTENISSEN),
            "DatumUitspraak": proces_datum(),
        },
        optional={"Rechtbank": tekst(), "Zaaknummer": tekst(20)},
    )


def _kennisgeving_antwoord(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "Contactpersoon": contactpersoon(),
            "Antwoord": st.sampled_from(p.KENNISGEVING_ANTWOORDEN),
        },
        optional={
            "KlantnummerSE": tekst(),
            "Factuurnummers": st.lists(tekst(), min_size=1, max_size=3),
        },
    )


@st.composite
def opgegeven_vordering(draw: st.DrawFn, *, matched: bool) -> dict[str, Any]:
    """A claim of a saldo answer; ``matched`` claims carry the SHV's invoice number."""
    types = list(p.SCHULDTYPES) if matched else ["openstaande schuld", "overgedragen schuld"]
    schuldtype = draw(st.sampled_from(types))
    claim: dict[str, Any] = {"Schuldtype": schuldtype}
    if matched:
        claim["FactuurnummerSEVolgensSHV"] = draw(tekst())
    if schuldtype == "onbekende schuld bij SE":
        return claim
    optional = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "FactuurnummerSE": tekst(),
                "Omschrijving": tekst(),
                "Ontstaansdatum": iso_date(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
                "OrigineleVordering": bedrag(),
                "Hoofdsom": bedrag(),
                "Rente": bedrag(),
                "Kosten": bedrag(),
            },
        )
    )
    claim.update(optional)
    claim["Openstaand"] = draw(bedrag(negative=True))
    if schuldtype == "overgedragen schuld":
        claim["OvergedragenAan"] = draw(
            st.fixed_dictionaries({"Naam": tekst()}, optional={"Contactpersoon": tekst()})
        )
    return claim


def ongematchte_schulden() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.fixed_dictionaries({"Totaalvordering": bedrag()}),
        st.fixed_dictionaries(
            {
                "OpenstaandeSchulden": st.lists(
                    opgegeven_vordering(matched=False), min_size=1, max_size=3
                )
            }
        ),
    )


def _saldo_antwoord(vooraf_akkoord: bool) -> Any:
    @st.composite
    def body(draw: st.DrawFn, module: str) -> dict[str, Any]:
        klant_onbekend = draw(st.booleans())
        message: dict[str, Any] = {}
        if draw(st.booleans()):
            message["KlantnummerSE"] = draw(tekst())
        message["Contactpersoon"] = draw(contactpersoon())
        message["KlantOnbekend"] = klant_onbekend
        message["StandaardAkkoord"] = True if vooraf_akkoord else draw(st.booleans())
        message["Datum"] = draw(proces_datum())
        shapes = [(True, False), (False, True), (True, True)]
        if klant_onbekend:
            shapes.append((False, False))
        with_claims, with_unmatched = draw(st.sampled_from(shapes))
        if with_claims:
            message["Vorderingen"] = draw(
                st.lists(opgegeven_vordering(matched=True), min_size=1, max_size=3)
            )
        if with_unmatched:
            message["OngematchteSchulden"] = draw(ongematchte_schulden())
        return message

    return body


def _betaalvoorstel_antwoord(module: str) -> st.SearchStrategy[dict[str, Any]]:
    def body(antwoord: str) -> st.SearchStrategy[dict[str, Any]]:
        required: dict[str, Any] = {
            "KlantnummerSE": tekst(),
            "Contactpersoon": contactpersoon(),
            "Antwoord": st.just(antwoord),
        }
        optional: dict[str, Any] = {"Toelichting": lange_tekst()}
        (required if antwoord == "NIET_AKKOORD" else optional)["Reden"] = tekst()
        return st.fixed_dictionaries(required, optional=optional)

    return st.sampled_from(p.BETAALVOORSTEL_ANTWOORDEN).flatmap(body)


def _geen_medewerking(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"Contactpersoon": contactpersoon(), "Reden": st.sampled_from(p.GEEN_MEDEWERKING_REDENEN)},
        optional={"Toelichting": lange_tekst()},
    )


def _statusbericht_se(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"Status": st.sampled_from(p.STATUSBERICHT_SE_STATUSSEN)},
        optional={"KlantnummerSE": tekst(), "Toelichting": lange_tekst()},
    )


def _statusverzoek(module: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"KlantnummerSHV": tekst()},
        optional={"KlantnummerSE": tekst(), "Toelichting": lange_tekst()},
    )


STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    name: _message(name, body)
    for name, body in {
        "Kennisgeving": _kennisgeving(publiek=False),
        "KennisgevingPubliek": _kennisgeving(publiek=True),
        "Saldoverzoek": _saldoverzoek,
        "Betaalvoorstel": _voorstel(heroverweging=False),
        "Heroverweging": _voorstel(heroverweging=True),
        "SchuldregelingAkkoord": _schuldregeling_akkoord,
        "SchuldregelingBeeindigd": _schuldregeling_beeindigd,
        "StatusberichtSHV": _statusbericht_shv,
        "MeldingBewind": _melding_bewind,
        "KennisgevingAntwoord": _kennisgeving_antwoord,
        "SaldoverzoekAntwoord": _saldo_antwoord(vooraf_akkoord=False),
        "SaldoverzoekAntwoordVoorafAkkoord": _saldo_antwoord(vooraf_akkoord=True),
        "BetaalvoorstelAntwoord": _betaalvoorstel_antwoord,
        "GeenMedewerking": _geen_medewerking,
        "StatusberichtSE": _statusbericht_se,
        "Statusverzoek": _statusverzoek,
    }.items()
}

ALL_TYPES = sorted(CATALOG)

# -- helpers for the invalid variants ------------------------------------------------------


def canonical(data: dict[str, Any]) -> dict[str, Any]:
    """The message's JSON in model order (the order the XSD sequences expect)."""
    return message_from_json(data).to_json()


def in_model_order(berichttype: str, data: dict[str, Any]) -> dict[str, Any]:
    order = [field.alias for field in CATALOG[berichttype].model_fields.values()]
    return {
        key: data[key] for key in sorted(data, key=lambda k: order.index(k) if k in order else 99)
    }


def xml_of(berichttype: str, data: dict[str, Any]) -> bytes:
    """Write JSON as XML without the model: the way a (broken) peer would send it."""
    root = json_to_xml(berichttype, in_model_order(berichttype, data))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def refused(berichttype: str, data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The errors from JSON and from XML; both must refuse the message."""
    with pytest.raises(MessageError) as from_json:
        message_from_json(copy.deepcopy(data))
    with pytest.raises(DecodeError) as from_xml:
        decode_message(xml_of(berichttype, data))
    return from_json.value.errors, from_xml.value.errors


def xml_path(json_path: str) -> str:
    """'X/Vorderingen/0/Afkooppercentage' as the XSD names it: 'X/Vorderingen/Vordering/...'."""
    parts = json_path.split("/")
    out = []
    for index, part in enumerate(parts):
        out.append(p.LIST_ITEM_NAMES[parts[index - 1]] if part.isdigit() else part)
    return "/".join(out)


def assert_names(errors: list[str], path: str, rule: str = "") -> None:
    assert any(line.startswith(f"{path}:") and rule in line for line in errors), (path, errors)


def set_at(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


# -- the catalog itself --------------------------------------------------------------------

DIRECTIONS_AND_MODULES = {
    # SHV (or bewindvoerder) to SE
    "Kennisgeving": (True, {"Schuldregeling"}),
    "KennisgevingPubliek": (True, {"Schuldregeling"}),
    "Saldoverzoek": (True, {"Schuldinventarisatie", "Betalingsregeling", "Schuldregeling"}),
    "Betaalvoorstel": (True, {"Betalingsregeling", "Schuldregeling"}),
    "Heroverweging": (True, {"Schuldregeling"}),
    "SchuldregelingAkkoord": (True, {"Schuldregeling"}),
    "SchuldregelingBeeindigd": (True, {"Betalingsregeling", "Schuldregeling"}),
    "StatusberichtSHV": (True, {"Schuldregeling"}),
    "MeldingBewind": (True, {"MeldingenBewindvoering"}),
    # SE to SHV
    "KennisgevingAntwoord": (False, {"Schuldregeling"}),
    "SaldoverzoekAntwoord": (
        False,
        {"Schuldinventarisatie", "Betalingsregeling", "Schuldregeling"},
    ),
    "SaldoverzoekAntwoordVoorafAkkoord": (False, {"Schuldregeling"}),
    "BetaalvoorstelAntwoord": (False, {"Betalingsregeling", "Schuldregeling"}),
    "GeenMedewerking": (False, {"Schuldinventarisatie", "Betalingsregeling", "Schuldregeling"}),
    "StatusberichtSE": (False, {"Schuldregeling"}),
    "Statusverzoek": (False, {"Schuldregeling"}),
}


def test_catalog_holds_every_message_with_direction_and_modules() -> None:
    assert set(CATALOG) == set(DIRECTIONS_AND_MODULES) == set(STRATEGIES) == set(FACTORIES)
    for name, (incoming, modules) in DIRECTIONS_AND_MODULES.items():
        cls = CATALOG[name]
        assert name == cls.BERICHTTYPE
        assert cls.INCOMING is incoming, name
        assert set(cls.MODULES) == modules, name


def _xsd(name: str) -> Any:
    with resources.as_file(resources.files("skn_connector.wire") / "xsd" / name) as path:
        return etree.parse(str(path))


def _sequence_names(doc: Any, element_name: str) -> list[str]:
    element = doc.find(f"{XS}element[@name='{element_name}']")
    assert element is not None, element_name
    complex_type = element.find(f"{XS}complexType")
    if complex_type is None:
        complex_type = doc.find(f"{XS}complexType[@name='{element.get('type')}']")
    return [child.get("name") for child in complex_type.find(f"{XS}sequence")]


@pytest.mark.parametrize("berichttype", ALL_TYPES)
def test_each_message_has_its_xsd_in_model_order(berichttype: str) -> None:
    included = [inc.get("schemaLocation") for inc in _xsd("skn.xsd").getroot().iter(f"{XS}include")]
    assert f"{berichttype}.xsd" in included
    doc = _xsd(f"{berichttype}.xsd")
    model_order = [field.alias for field in CATALOG[berichttype].model_fields.values()]
    assert _sequence_names(doc, berichttype) == model_order


@pytest.mark.parametrize("berichttype", ALL_TYPES)
def test_factory_message_round_trips(berichttype: str) -> None:
    data = FACTORIES[berichttype]()
    message = message_from_json(data)
    assert message.to_json() == data
    assert decode_message(encode_message(message)).to_json() == data


# -- provisional choices in one place --------------------------------------------------------


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    """The values of a Literal, also inside ``Literal[...] | None``."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return _literal_values(inner)


@pytest.mark.parametrize(
    ("model", "attribute", "values"),
    [
        (Klant, "geslacht", p.GESLACHT),
        (Toestemmingsverklaring, "soort", p.TOESTEMMING_SOORTEN),
        (OpgegevenVordering, "schuldtype", p.SCHULDTYPES),
        (GeenMedewerking, "reden", p.GEEN_MEDEWERKING_REDENEN),
        (KennisgevingAntwoord, "antwoord", p.KENNISGEVING_ANTWOORDEN),
        (BetaalvoorstelAntwoord, "antwoord", p.BETAALVOORSTEL_ANTWOORDEN),
        (SchuldregelingBeeindigd, "reden", p.BEEINDIGING_REDENEN),
        (StatusberichtSE, "status", p.STATUSBERICHT_SE_STATUSSEN),
        (MeldingBewind, "soort", p.BEWIND_SOORTEN),
        (MeldingBewind, "gebeurtenis", p.BEWIND_GEBEURTENISSEN),
    ],
)
def test_model_literals_equal_the_provisional_tuples(
    model: Any, attribute: str, values: Any
) -> None:
    assert _literal_values(model.model_fields[attribute].annotation) == tuple(values)


@pytest.mark.parametrize(
    ("xsd", "element", "values"),
    [
        ("skn-common.xsd", "Geslacht", p.GESLACHT),
        ("skn-common.xsd", "Soort", p.TOESTEMMING_SOORTEN),
        ("skn-common.xsd", "Schuldtype", p.SCHULDTYPES),
        ("GeenMedewerking.xsd", "Reden", p.GEEN_MEDEWERKING_REDENEN),
        ("KennisgevingAntwoord.xsd", "Antwoord", p.KENNISGEVING_ANTWOORDEN),
        ("BetaalvoorstelAntwoord.xsd", "Antwoord", p.BETAALVOORSTEL_ANTWOORDEN),
        ("SchuldregelingBeeindigd.xsd", "Reden", p.BEEINDIGING_REDENEN),
        ("StatusberichtSE.xsd", "Status", p.STATUSBERICHT_SE_STATUSSEN),
        ("MeldingBewind.xsd", "Soort", p.BEWIND_SOORTEN),
        ("MeldingBewind.xsd", "Gebeurtenis", p.BEWIND_GEBEURTENISSEN),
    ],
)
def test_xsd_enumerations_equal_the_provisional_tuples(xsd: str, element: str, values: Any) -> None:
    doc = _xsd(xsd)
    node = doc.find(f".//{XS}element[@name='{element}']")
    if node is None or node.find(f".//{XS}enumeration") is None:
        node = doc.find(f".//{XS}simpleType[@name='{element}']")
    assert node is not None, (xsd, element)
    assert tuple(e.get("value") for e in node.iter(f"{XS}enumeration")) == tuple(values)


def test_provisional_names_are_elements_of_their_structure() -> None:
    structures: dict[str, Any] = {
        **CATALOG,
        "Berichtheader": Berichtheader,
        "OpgegevenVordering": OpgegevenVordering,
    }
    for structure, names in p.PROVISIONAL_NAMES.items():
        aliases = {field.alias for field in structures[structure].model_fields.values()}
        if structure == "MeldingBewind":
            aliases |= {field.alias for field in Bewindvoerder.model_fields.values()}
        assert set(names) <= aliases, (structure, set(names) - aliases)


def test_list_item_names_cover_every_repeated_group() -> None:
    assert {"Vorderingen", "OpenstaandeSchulden", "Factuurnummers", "Uitbetaalmomenten"} <= set(
        p.LIST_ITEM_NAMES
    )


# -- properties: valid messages round-trip ----------------------------------------------------


@pytest.mark.parametrize("berichttype", ALL_TYPES)
@FAST
@given(data=st.data())
def test_generated_message_round_trips_json_xml_json(berichttype: str, data: st.DataObject) -> None:
    json_form = data.draw(STRATEGIES[berichttype], label="message")
    message = message_from_json(copy.deepcopy(json_form))
    assert isinstance(message, CATALOG[berichttype])
    assert message.to_json() == json_form
    xml = encode_message(message)
    assert message_schema().validate(etree.fromstring(xml))
    again = decode_message(xml)
    assert again == message
    assert again.to_json() == json_form


# -- properties: invalid variants are refused, naming the element -----------------------------


@pytest.mark.parametrize("berichttype", ALL_TYPES)
@FEW
@given(data=st.data())
def test_dropping_a_required_field_is_refused(berichttype: str, data: st.DataObject) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    required = [
        field.alias
        for field in CATALOG[berichttype].model_fields.values()
        if field.is_required() and field.alias != "Berichtheader"
    ]
    key = data.draw(st.sampled_from(required), label="dropped")
    del json_form[key]
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/{key}", "Field required")
    assert any(line.startswith(berichttype) and key in line for line in from_xml), from_xml


@pytest.mark.parametrize("berichttype", ALL_TYPES)
@FEW
@given(data=st.data())
def test_dropping_a_required_header_field_is_refused(berichttype: str, data: st.DataObject) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    key = data.draw(
        st.sampled_from(
            ["Referentienummer", "ConversatieReferentienummer", "Afzender", "Verzonden"]
        )
    )
    del json_form["Berichtheader"][key]
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/Berichtheader/{key}", "Field required")
    assert any(f"{berichttype}/Berichtheader" in line and key in line for line in from_xml)


WITH_KLANT = ["Kennisgeving", "KennisgevingPubliek", "Saldoverzoek", "MeldingBewind"]


@pytest.mark.parametrize("berichttype", WITH_KLANT)
@FEW
@given(data=st.data(), bsn=bsns, change=st.integers(1, 9))
def test_a_bsn_failing_the_elfproef_is_refused(
    berichttype: str, data: st.DataObject, bsn: str, change: int
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    json_form["Klant"]["Bsn"] = bsn[:8] + str((int(bsn[8]) + change) % 10)
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/Klant/Bsn", "the BSN fails the elfproef")
    assert_names(from_xml, f"{berichttype}/Klant/Bsn", "the BSN fails the elfproef")


@pytest.mark.parametrize("berichttype", WITH_KLANT)
@FEW
@given(data=st.data(), digits=st.from_regex(r"[0-9]{5,8}|[0-9]{10,12}", fullmatch=True))
def test_a_bsn_of_the_wrong_length_is_refused(
    berichttype: str, data: st.DataObject, digits: str
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    json_form["Klant"]["Bsn"] = digits
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/Klant/Bsn", "a BSN has exactly 9 digits")
    assert_names(from_xml, f"{berichttype}/Klant/Bsn")
    assert digits not in " ".join(from_json + from_xml)


@pytest.mark.parametrize("berichttype", ["KennisgevingPubliek", "MeldingBewind"])
@FEW
@given(data=st.data())
def test_bsn_is_required_where_the_creditor_uses_it(berichttype: str, data: st.DataObject) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    del json_form["Klant"]["Bsn"]
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/Klant/Bsn", "Field required")
    assert any(line.startswith(f"{berichttype}/Klant:") and "Bsn" in line for line in from_xml)


#: The enumerated (Literal) elements of each message that are always present.
ENUMS: dict[str, list[tuple[Any, ...]]] = {
    name: [("Berichtheader", "Module")] for name in ALL_TYPES
}
for _name in WITH_KLANT:
    ENUMS[_name].append(("Klant", "Geslacht"))
for _name in ("Betaalvoorstel", "Heroverweging", "SchuldregelingAkkoord"):
    ENUMS[_name].append(("TypeSchuldregeling",))
ENUMS["SchuldregelingBeeindigd"].append(("Reden",))
ENUMS["MeldingBewind"] += [("Soort",), ("Gebeurtenis",)]
ENUMS["KennisgevingAntwoord"].append(("Antwoord",))
ENUMS["BetaalvoorstelAntwoord"].append(("Antwoord",))
ENUMS["GeenMedewerking"].append(("Reden",))
ENUMS["StatusberichtSE"].append(("Status",))


@pytest.mark.parametrize("berichttype", ALL_TYPES)
@FEW
@given(data=st.data(), literal=st.sampled_from(["ONBEKEND", "akkoord", "Start", "ZZ"]))
def test_an_unknown_literal_is_refused(berichttype: str, data: st.DataObject, literal: str) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    path = data.draw(st.sampled_from(ENUMS[berichttype]), label="element")
    set_at(json_form, path, literal)
    from_json, from_xml = refused(berichttype, json_form)
    element = "/".join([berichttype, *path])
    assert_names(from_json, element, "Input should be")
    assert_names(from_xml, element, "enumeration")


WITH_TYPE = ["Saldoverzoek", "Betaalvoorstel", "Heroverweging", "SchuldregelingAkkoord"]
OTHER_MODULE_TYPES = {"Betalingsregeling": ["SK", "SB", "SA"], "Schuldregeling": ["BR", "HF"]}


@pytest.mark.parametrize("berichttype", WITH_TYPE)
@FEW
@given(data=st.data())
def test_a_type_schuldregeling_of_the_other_module_is_refused(
    berichttype: str, data: st.DataObject
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    module = json_form["Berichtheader"]["Module"]
    if module not in OTHER_MODULE_TYPES:  # Schuldinventarisatie: any type fits
        module = json_form["Berichtheader"]["Module"] = "Betalingsregeling"
    wrong = data.draw(st.sampled_from(OTHER_MODULE_TYPES[module]), label="type")
    json_form["TypeSchuldregeling"] = wrong
    from_json, from_xml = refused(berichttype, json_form)
    rule = f"TypeSchuldregeling {wrong} does not belong to module {module}"
    assert_names(from_json, f"{berichttype}/TypeSchuldregeling", rule)
    # SchuldregelingAkkoord's XSD already restricts the type to SK/SB/SA
    assert_names(from_xml, f"{berichttype}/TypeSchuldregeling")


SALDO_ANSWERS = ["SaldoverzoekAntwoord", "SaldoverzoekAntwoordVoorafAkkoord"]

#: Amount (and percentage) elements that are always present: JSON paths.
AMOUNTS: dict[str, list[tuple[Any, ...]]] = {
    name: [
        ("Vorderingen", 0, "ActueelVorderingsbedrag"),
        ("Vorderingen", 0, "Afkooppercentage"),
        ("Vorderingen", 0, "PrognoseEindbedrag"),
    ]
    for name in ("Betaalvoorstel", "Heroverweging", "SchuldregelingAkkoord")
}
AMOUNTS["SaldoverzoekAntwoord"] = [("OngematchteSchulden", "Totaalvordering")]
AMOUNTS["SaldoverzoekAntwoordVoorafAkkoord"] = [("OngematchteSchulden", "Totaalvordering")]


@pytest.mark.parametrize("berichttype", sorted(AMOUNTS))
@FEW
@given(data=st.data(), mills=st.integers(0, 99_999).filter(lambda n: n % 10))
def test_an_amount_with_three_decimals_is_refused(
    berichttype: str, data: st.DataObject, mills: int
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    if berichttype in SALDO_ANSWERS:
        json_form["OngematchteSchulden"] = {"Totaalvordering": "0.00"}
    path = data.draw(st.sampled_from(AMOUNTS[berichttype]), label="element")
    set_at(json_form, path, f"{Decimal(mills).scaleb(-3):.3f}")
    from_json, from_xml = refused(berichttype, json_form)
    element = "/".join([berichttype, *(str(part) for part in path)])
    assert_names(from_json, element, "at most two decimals")
    assert_names(from_xml, xml_path(element), "fractional digits")


@FEW
@given(data=st.data())
def test_niet_akkoord_without_reden_is_refused(data: st.DataObject) -> None:
    json_form = canonical(data.draw(STRATEGIES["BetaalvoorstelAntwoord"], label="message"))
    json_form["Antwoord"] = "NIET_AKKOORD"
    json_form.pop("Reden", None)
    from_json, from_xml = refused("BetaalvoorstelAntwoord", json_form)
    rule = "required when Antwoord is NIET_AKKOORD"
    assert_names(from_json, "BetaalvoorstelAntwoord/Reden", rule)
    assert_names(from_xml, "BetaalvoorstelAntwoord/Reden", rule)


@pytest.mark.parametrize("berichttype", SALDO_ANSWERS)
@FEW
@given(data=st.data(), both=st.booleans())
def test_both_or_neither_of_totaalvordering_and_openstaande_schulden_is_refused(
    berichttype: str, data: st.DataObject, both: bool
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    ongematcht: dict[str, Any] = {}
    if both:
        ongematcht["Totaalvordering"] = data.draw(bedrag())
        ongematcht["OpenstaandeSchulden"] = [data.draw(opgegeven_vordering(matched=False))]
    json_form["OngematchteSchulden"] = ongematcht
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(
        from_json,
        f"{berichttype}/OngematchteSchulden",
        "exactly one of Totaalvordering or OpenstaandeSchulden",
    )
    assert any(line.startswith(f"{berichttype}/OngematchteSchulden") for line in from_xml)


@FEW
@given(data=st.data())
def test_vooraf_akkoord_needs_standaard_akkoord_true(data: st.DataObject) -> None:
    name = "SaldoverzoekAntwoordVoorafAkkoord"
    json_form = canonical(data.draw(STRATEGIES[name], label="message"))
    json_form["StandaardAkkoord"] = False
    from_json, from_xml = refused(name, json_form)
    assert_names(from_json, f"{name}/StandaardAkkoord", "StandaardAkkoord is true")
    assert_names(from_xml, f"{name}/StandaardAkkoord")


PROCESS_DATES = [
    ("Kennisgeving", "DatumAanmelding"),
    ("SchuldregelingAkkoord", "DatumAkkoord"),
    ("SchuldregelingBeeindigd", "DatumBeeindiging"),
    ("MeldingBewind", "DatumUitspraak"),
]


@pytest.mark.parametrize(("berichttype", "key"), PROCESS_DATES)
@FEW
@given(
    data=st.data(),
    when=st.one_of(
        st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)),
        st.dates(dt.date(2100, 1, 1), dt.date(2200, 12, 31)),
    ),
)
def test_a_process_date_outside_2000_2099_is_refused(
    berichttype: str, key: str, data: st.DataObject, when: dt.date
) -> None:
    json_form = canonical(data.draw(STRATEGIES[berichttype], label="message"))
    json_form[key] = when.isoformat()
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/{key}", "a date here lies between 2000-01-01")
    assert_names(from_xml, f"{berichttype}/{key}")


@pytest.mark.parametrize("looptijd", [0, -1, 121, 600])
def test_looptijd_is_1_to_120_months(looptijd: int) -> None:
    json_form = FACTORIES["Betaalvoorstel"]()
    json_form["Looptijd"] = looptijd
    from_json, from_xml = refused("Betaalvoorstel", json_form)
    assert_names(from_json, "Betaalvoorstel/Looptijd")
    assert_names(from_xml, "Betaalvoorstel/Looptijd")


@pytest.mark.parametrize(
    ("berichttype", "module"),
    [
        ("Kennisgeving", "Schuldinventarisatie"),
        ("Heroverweging", "Betalingsregeling"),
        ("SaldoverzoekAntwoordVoorafAkkoord", "Betalingsregeling"),
        ("MeldingBewind", "Schuldregeling"),
        ("Betaalvoorstel", "Schuldinventarisatie"),
    ],
)
def test_a_message_in_a_module_that_does_not_carry_it_is_refused(
    berichttype: str, module: str
) -> None:
    json_form = FACTORIES[berichttype]()
    json_form["Berichtheader"]["Module"] = module
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/Berichtheader/Module", f"does not carry {berichttype}")
    assert_names(from_xml, f"{berichttype}/Berichtheader/Module", f"does not carry {berichttype}")


def test_an_afkooppercentage_of_zero_is_valid() -> None:
    json_form = FACTORIES["SchuldregelingAkkoord"]()
    json_form["TypeSchuldregeling"] = "SA"
    json_form["Vorderingen"][0]["Afkooppercentage"] = "0.00"
    message = message_from_json(json_form)
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize("value", ["100.01", "-0.01"])
def test_an_afkooppercentage_outside_0_100_is_refused(value: str) -> None:
    json_form = FACTORIES["Betaalvoorstel"]()
    json_form["Vorderingen"][0]["Afkooppercentage"] = value
    from_json, from_xml = refused("Betaalvoorstel", json_form)
    assert_names(from_json, "Betaalvoorstel/Vorderingen/0/Afkooppercentage", "between 0 and 100")
    assert_names(from_xml, "Betaalvoorstel/Vorderingen/Vordering/Afkooppercentage")


@pytest.mark.parametrize(
    ("berichttype", "key"),
    [
        ("Kennisgeving", "Vorderingen"),
        ("KennisgevingAntwoord", "Factuurnummers"),
        ("Betaalvoorstel", "Uitbetaalmomenten"),
        ("Betaalvoorstel", "Vorderingen"),
        ("SchuldregelingAkkoord", "Vorderingen"),
    ],
)
def test_an_empty_repeated_group_is_refused(berichttype: str, key: str) -> None:
    json_form = FACTORIES[berichttype]()
    json_form[key] = []
    from_json, from_xml = refused(berichttype, json_form)
    assert_names(from_json, f"{berichttype}/{key}", "at least 1 item")
    assert_names(from_xml, f"{berichttype}/{key}")


def test_an_empty_saldoverzoek_vorderingen_is_allowed() -> None:
    json_form = FACTORIES["Saldoverzoek"](invoices=())
    message = message_from_json(json_form)
    assert decode_message(encode_message(message)).to_json()["Vorderingen"] == []
