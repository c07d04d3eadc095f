"""The message models and the SOAP codec: round trips, validation errors, hostile XML."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from skn_connector.messages import MessageError, Saldoverzoek, message_from_json
from skn_connector.wire.profile import MESSAGE_NS
from skn_connector.wire.soap import (
    DecodeError,
    SoapFault,
    WireError,
    decode_message,
    encode_message,
    envelope,
    fault,
    message_schema,
    open_envelope,
    parse_xml,
)

from .factories import elfproef_bsn, saldoverzoek


def test_saldoverzoek_round_trips_json_xml_json() -> None:
    data = saldoverzoek(invoices=("A-1", "B 2"))
    message = message_from_json(data)
    assert isinstance(message, Saldoverzoek)
    xml = encode_message(message)
    assert message_schema().validate(etree.fromstring(xml))
    again = decode_message(xml)
    assert again == message
    assert again.to_json()["Vorderingen"] == [
        {"FactuurnummerSEVolgensSHV": "A-1"},
        {"FactuurnummerSEVolgensSHV": "B 2"},
    ]


def test_postcode_is_normalised_and_amount_format() -> None:
    data = saldoverzoek(postcode="1234 ab")
    message = message_from_json(data)
    assert message.to_json()["Adres"]["Postcode"] == "1234AB"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda m: m["Klant"].update(Bsn="123456789"),
            "Saldoverzoek/Klant/Bsn: the BSN fails the elfproef",
        ),
        (lambda m: m["Klant"].pop("Achternaam"), "Saldoverzoek/Klant/Achternaam: Field required"),
        (lambda m: m["Adres"].update(Postcode="0123AB"), "Saldoverzoek/Adres/Postcode"),
        (lambda m: m.update(TypeSchuldregeling="SK"), "TypeSchuldregeling SK does not belong"),
    ],
)
def test_invalid_messages_name_the_element_and_rule(mutate, expected) -> None:
    data = saldoverzoek(module="Betalingsregeling")
    mutate(data)
    with pytest.raises(MessageError) as caught:
        message_from_json(data)
    assert any(expected in line for line in caught.value.errors), caught.value.errors


def test_errors_never_echo_the_input_value() -> None:
    data = saldoverzoek()
    bad_bsn = "123456789"
    data["Klant"]["Bsn"] = bad_bsn
    xml_ok = encode_message(message_from_json(saldoverzoek()))
    tampered = xml_ok.replace(
        message_from_json(saldoverzoek()).to_json()["Klant"]["Bsn"].encode(), b"12345"
    )
    with pytest.raises(DecodeError) as caught:
        decode_message(tampered)
    assert "12345" not in str(caught.value)
    with pytest.raises(MessageError) as caught2:
        message_from_json(data)
    assert bad_bsn not in str(caught2.value)


def _xml(data: dict) -> bytes:
    return encode_message(message_from_json(data))


def test_decode_refuses_other_namespace() -> None:
    xml = _xml(saldoverzoek()).replace(MESSAGE_NS.encode(), b"urn:example:other")
    with pytest.raises(DecodeError, match="namespace 'urn:example:other'"):
        decode_message(xml)


def test_decode_refuses_missing_required_field_with_path() -> None:
    xml = _xml(saldoverzoek())
    root = etree.fromstring(xml)
    klant = root.find(f"{{{MESSAGE_NS}}}Klant")
    klant.remove(klant.find(f"{{{MESSAGE_NS}}}Achternaam"))
    with pytest.raises(DecodeError) as caught:
        decode_message(etree.tostring(root))
    assert "Klant" in str(caught.value) and "Achternaam" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"this is not xml", "not well-formed XML"),
        (b"", "empty"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<x xmlns="urn:skn-connector:berichten:2.0">&b;</x>',
            "DTD",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>', ""),
        (b"<a>" * 300 + b"</a>" * 300, "not well-formed XML"),
        (b"\xff\xfe<\x00a\x00", ""),
    ],
)
def test_hostile_xml_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(payload)
    assert reason in str(caught.value)
    assert str(caught.value)


def test_entity_bomb_is_not_expanded() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "'
        + b"x" * 1000
        + b'">'
        + b"".join(
            b'<!ENTITY a%d "%s">' % (i, b"&a;" * 10 if i == 0 else b"&a%d;" % (i - 1) * 10)
            for i in range(8)
        )
        + b"]><l>&a7;</l>"
    )
    with pytest.raises(WireError, match="DTD"):
        parse_xml(lol)


def test_oversize_message_refused_before_parsing() -> None:
    with pytest.raises(WireError, match="over the limit"):
        parse_xml(b"<a>" + b"x" * 200 + b"</a>", limit=100)


def test_unknown_message_type_refused() -> None:
    xml = f'<Onzinbericht xmlns="{MESSAGE_NS}"><Berichtheader/></Onzinbericht>'.encode()
    with pytest.raises(DecodeError, match="not a message type of the catalog"):
        decode_message(xml)


def test_envelope_and_fault_round_trip() -> None:
    body = etree.Element("{urn:x}Ping")
    assert open_envelope(envelope(body)).tag == "{urn:x}Ping"
    with pytest.raises(SoapFault) as caught:
        open_envelope(fault("Client", "no such message"))
    assert caught.value.code == "Client" and caught.value.reason == "no such message"


def test_synthetic_bsn_factory_passes_elfproef() -> None:
    from stdnum.nl import bsn

    assert all(bsn.is_valid(elfproef_bsn(i)) for i in range(50))


def test_answer_models_enforce_exactly_one_of_totaal_or_openstaand() -> None:
    from skn_connector.messages import OngematchteSchulden

    with pytest.raises(ValueError, match="exactly one of Totaalvordering or OpenstaandeSchulden"):
        OngematchteSchulden()
    with pytest.raises(ValueError, match="exactly one"):
        OngematchteSchulden(Totaalvordering=1, OpenstaandeSchulden=())
    assert (
        OngematchteSchulden(Totaalvordering=0).to_json()
        if hasattr(OngematchteSchulden, "to_json")
        else True
    )


def test_deep_copy_does_not_share_state() -> None:
    data = saldoverzoek()
    other = copy.deepcopy(data)
    other["Klant"]["Achternaam"] = "Ander-Voorbeeld"
    assert message_from_json(data) != message_from_json(other)
