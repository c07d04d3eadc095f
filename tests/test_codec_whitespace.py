"""What the decoder accepts, the encoder writes back: the round trip holds for whitespace.

The model strips the whitespace around every text; the XSD judged the text as it came.
A value the XSD takes only because of its whitespace (a Versie of one space: one
character, so minLength 1 holds) became, stripped, a value the XSD refuses, and the
connector could not write back the message it had accepted. Every leaf of every message
type is tried here with whitespace around it and with whitespace alone, in each kind of
whitespace a sender may put there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree

from skn_connector.messages import message_from_json
from skn_connector.wire.soap import DecodeError, decode_message, encode_message

from .factories import FACTORIES

#: XML's own whitespace, and Unicode spaces Python's str.strip() also takes away
SPACES = (" ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u0085", "\u2028")


def _leaves(payload: bytes) -> Iterator[int]:
    root = etree.fromstring(payload)
    for index, element in enumerate(root.iter()):
        if len(element) == 0:
            yield index


def _variant(payload: bytes, index: int, make: str) -> bytes:
    root = etree.fromstring(payload)
    element = list(root.iter())[index]
    text = element.text or ""
    element.text = make.replace("TEXT", text)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.mark.parametrize("berichttype", sorted(FACTORIES))
def test_an_accepted_message_is_written_back(berichttype: str) -> None:
    payload = encode_message(message_from_json(FACTORIES[berichttype]()))
    tried = accepted = 0
    for index in _leaves(payload):
        for space in SPACES:
            for make in (f"{space}TEXT{space}", space, f"{space}{space}"):
                tried += 1
                try:
                    message = decode_message(_variant(payload, index, make))
                except DecodeError:
                    continue
                accepted += 1
                written = encode_message(message)  # raises WireError when the round trip breaks
                assert decode_message(written) == message
    assert tried > 0 and accepted > 0  # padded values of most leaves are taken
