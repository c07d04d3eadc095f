"""Fuzzing the SOAP decoder: ``decode_message``, ``open_envelope`` and ``decode_payload``.

The property: each call returns a valid typed result or raises the module's own error
(DecodeError from decode_message; WireError or SoapFault from open_envelope; WireError from
decode_payload) with a non-empty message, within 2 s. Never another exception, never a hang.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from skn_connector.messages import CATALOG, Message
from skn_connector.wire.profile import SERVICE_NS, SOAP_ENV_NS
from skn_connector.wire.soap import (
    DecodeError,
    SoapFault,
    WireError,
    decode_message,
    decode_payload,
    encode_message,
    open_envelope,
)

from .harness import guarded, hostile_settings
from .strategies import (
    characters,
    damaged_bytes,
    envelope_document,
    mutated_message,
    valid_message,
)

BODY = f"{{{SOAP_ENV_NS}}}Body"


def check_decode(data: bytes) -> Message | None:
    message, _ = guarded("decode_message", lambda: decode_message(data), (DecodeError,))
    if message is None:
        return None
    assert isinstance(message, Message) and type(message) is CATALOG[message.BERICHTTYPE]
    # a valid typed result: it encodes (validated against its XSD) and decodes to itself
    assert decode_message(encode_message(message)) == message
    return message


def check_envelope(data: bytes) -> Any:
    body, error = guarded("open_envelope", lambda: open_envelope(data), (WireError, SoapFault))
    if isinstance(error, SoapFault):
        assert error.code is not None and error.reason
    if body is None:
        return None
    assert etree.iselement(body) and isinstance(body.tag, str)
    assert body.tag != f"{{{SOAP_ENV_NS}}}Fault"
    parent = body.getparent()
    assert parent is not None and parent.tag == BODY
    assert [c for c in parent if isinstance(c.tag, str)] == [body]
    root = parent.getparent()
    assert root is not None and root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    assert len(root.findall(BODY)) == 1
    if body.tag == f"{{{SERVICE_NS}}}BerichtAntwoord":
        # the rest of a fetch: the base64 content, then the message it carries
        content = body.findtext(f"{{{SERVICE_NS}}}Inhoud")
        if content is not None:
            check_payload("".join(content.split()))
    return body


def check_payload(text: str) -> None:
    payload, _ = guarded("decode_payload", lambda: decode_payload(text), (WireError,))
    if payload is not None:
        assert isinstance(payload, bytes)
        check_decode(payload)


@hostile_settings(2.5)
@given(mutated_message())
def test_the_decoder_survives_mutated_messages(data: bytes) -> None:
    check_decode(data)


@hostile_settings(1.5)
@given(damaged_bytes(valid_message))
def test_the_decoder_survives_damaged_bytes(data: bytes) -> None:
    check_decode(data)


@hostile_settings(1.5)
@given(envelope_document())
def test_open_envelope_survives_envelopes_of_any_shape(data: bytes) -> None:
    check_envelope(data)


@hostile_settings(0.75)
@given(damaged_bytes(envelope_document()))
def test_open_envelope_survives_damaged_bytes(data: bytes) -> None:
    check_envelope(data)


@hostile_settings(0.5)
@given(
    st.one_of(
        st.text(characters, max_size=200),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"),
        damaged_bytes(valid_message).map(lambda d: base64.b64encode(d).decode("ascii")),
        valid_message.map(lambda d: base64.b64encode(d).decode("ascii")[:-1]),
    )
)
def test_decode_payload_survives_any_text(text: str) -> None:
    check_payload(text)
