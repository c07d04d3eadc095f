"""Targeted hostile payloads: each built from a valid message, each with the reason it must
be refused for. Shared by the targeted tests and the daemon test."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from skn_connector.messages import message_from_json
from skn_connector.wire.profile import MAX_MESSAGE_BYTES, MESSAGE_NS
from skn_connector.wire.soap import encode_message

from ..factories import saldoverzoek

NS = MESSAGE_NS.encode()
XINCLUDE = b'xmlns:xi="http://www.w3.org/2001/XInclude"'


@dataclass(frozen=True)
class Payload:
    name: str
    data: bytes
    #: A part of the reason it is refused for.
    reason: str
    #: Refused by the byte checks, before the XML parser runs.
    before_parsing: bool = False


@functools.cache
def good_message() -> bytes:
    return encode_message(message_from_json(saldoverzoek(invoices=("2025.000001.01",))))


def _body() -> bytes:
    """The message without its XML declaration."""
    return good_message().split(b"?>", 1)[1].lstrip()


def _utf16(data: bytes) -> bytes:
    """The same document in UTF-16 (with a BOM and a matching declaration): '<!DOCTYPE' is
    not those bytes any more."""
    text = data.decode("utf-8")
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]
    return ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16")


def _utf7(data: bytes) -> bytes:
    """The same document declared UTF-7, every '<' written '+ADw-' (libxml2 reads UTF-7)."""
    text = data.decode("utf-8")
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]
    return b'<?xml version="1.0" encoding="UTF-7"?>' + text.replace("<", "+ADw-").encode()


def billion_laughs() -> bytes:
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek [' + entities + b"]>"
        b'<Saldoverzoek xmlns="' + NS + b'"><Schuldhulpverlener>&lol9;</Schuldhulpverlener>'
        b"</Saldoverzoek>"
    )


def quadratic_blowup() -> bytes:
    """One 100,000-character entity referenced 20,000 times: 2 GB if it were expanded."""
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek [<!ENTITY a "'
        + b"x" * 100_000
        + b'">]><Saldoverzoek xmlns="'
        + NS
        + b'"><Schuldhulpverlener>'
        + b"&a;" * 20_000
        + b"</Schuldhulpverlener></Saldoverzoek>"
    )


def external_entity(url: str) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek [<!ENTITY xxe SYSTEM "'
        + url.encode()
        + b'">]>'
        + _body().replace(b"Kredietbank Teststad", b"&xxe;", 1)
    )


def parameter_entity(url: str) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek [<!ENTITY % remote SYSTEM "'
        + url.encode()
        + b'"> %remote;]>'
        + _body()
    )


def internal_dtd() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek [<!ELEMENT Saldoverzoek ANY>'
        b'<!ATTLIST Saldoverzoek extra CDATA "default">]>' + _body()
    )


def external_dtd(url: str) -> bytes:
    return b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek SYSTEM "' + url.encode() + b'">' + _body()


def public_dtd(url: str) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE Saldoverzoek PUBLIC "-//SKN//Hostile//NL" "'
        + url.encode()
        + b'">'
        + _body()
    )


def xinclude(href: str) -> bytes:
    """An XInclude of a file in place of a leaf's text: never processed, refused by the XSD."""
    return good_message().replace(
        b">Kredietbank Teststad<",
        b"><xi:include " + XINCLUDE + b' href="' + href.encode() + b'" parse="text"/><',
        1,
    )


def xinclude_root(href: str) -> bytes:
    return b"<xi:include " + XINCLUDE + b' href="' + href.encode() + b'" parse="xml"/>'


def oversize() -> bytes:
    """One byte over the limit, and not even XML past its start."""
    head = b'<Saldoverzoek xmlns="' + NS + b'">'
    return head + b"\x00" * (MAX_MESSAGE_BYTES + 1 - len(head))


def deep_nesting(levels: int = 10_000) -> bytes:
    return (
        b'<Saldoverzoek xmlns="'
        + NS
        + b'">'
        + b"<Klant>" * levels
        + b"</Klant>" * levels
        + b"</Saldoverzoek>"
    )


def declared_utf16_with_utf8_bytes() -> bytes:
    return good_message().replace(b"encoding='UTF-8'", b"encoding='UTF-16'", 1)


def latin1_bytes_declared_utf8() -> bytes:
    return good_message().replace(b"Tessa", "Tëssa".encode("latin-1"), 1)


def utf16_bom_with_utf8_bytes() -> bytes:
    return b"\xff\xfe" + good_message()


def utf8_bom_declared_utf16() -> bytes:
    return b"\xef\xbb\xbf" + declared_utf16_with_utf8_bytes()


def utf16_bytes_declared_utf8() -> bytes:
    return good_message().decode("utf-8").encode("utf-16")


def invalid_utf8() -> bytes:
    return good_message().replace(b"Tessa", b"Te\xc3\x28ssa", 1)


def lone_surrogate() -> bytes:
    return good_message().replace(b"Tessa", "Te\ud800ssa".encode("utf-8", "surrogatepass"), 1)


def nul_byte() -> bytes:
    return good_message().replace(b"Tessa", b"Te\x00ssa", 1)


def message_payloads(url: str) -> list[Payload]:
    """Every targeted message payload; ``url`` is a listener that must see no connection."""
    dtd = "DTD"
    return [
        Payload("billion laughs", billion_laughs(), dtd, before_parsing=True),
        Payload("billion laughs in UTF-16", _utf16(billion_laughs()), dtd, before_parsing=True),
        Payload("billion laughs in UTF-7", _utf7(billion_laughs()), "UTF-7", before_parsing=True),
        Payload("quadratic blowup", quadratic_blowup(), dtd, before_parsing=True),
        Payload("quadratic blowup in UTF-16", _utf16(quadratic_blowup()), dtd, before_parsing=True),
        Payload(
            "external entity file://",
            external_entity("file:///etc/passwd"),
            dtd,
            before_parsing=True,
        ),
        Payload("external entity http://", external_entity(url), dtd, before_parsing=True),
        Payload(
            "external entity in UTF-16", _utf16(external_entity(url)), dtd, before_parsing=True
        ),
        Payload("parameter entity", parameter_entity(url), dtd, before_parsing=True),
        Payload(
            "parameter entity in UTF-16", _utf16(parameter_entity(url)), dtd, before_parsing=True
        ),
        Payload("internal DTD", internal_dtd(), dtd, before_parsing=True),
        Payload("external DTD", external_dtd(url), dtd, before_parsing=True),
        Payload("public DTD", public_dtd(url), dtd, before_parsing=True),
        Payload("external DTD in UTF-16", _utf16(external_dtd(url)), dtd, before_parsing=True),
        Payload("XInclude of a file", xinclude("file:///etc/passwd"), "Schuldhulpverlener"),
        Payload("XInclude over http", xinclude(url), "Schuldhulpverlener"),
        Payload("XInclude as the root", xinclude_root(url), "namespace"),
        Payload("oversize", oversize(), "over the limit", before_parsing=True),
        Payload(
            "UTF-16 declared, UTF-8 bytes",
            declared_utf16_with_utf8_bytes(),
            "UTF-16",
            before_parsing=True,
        ),
        Payload("latin-1 bytes, UTF-8 declared", latin1_bytes_declared_utf8(), "Invalid bytes"),
        Payload("UTF-16 BOM, UTF-8 bytes", utf16_bom_with_utf8_bytes(), "not well-formed"),
        Payload(
            "UTF-8 BOM, UTF-16 declared",
            utf8_bom_declared_utf16(),
            "byte-order mark",
            before_parsing=True,
        ),
        Payload(
            "UTF-16 bytes, UTF-8 declared",
            utf16_bytes_declared_utf8(),
            "byte-order mark",
            before_parsing=True,
        ),
        Payload(
            "a message in UTF-7",
            _utf7(good_message()),
            "accepted are UTF-8",
            before_parsing=True,
        ),
        Payload("deep nesting", deep_nesting(), "depth"),
        Payload("invalid UTF-8", invalid_utf8(), "Invalid bytes"),
        Payload("a lone surrogate", lone_surrogate(), "Invalid bytes"),
        Payload("a NUL byte", nul_byte(), "Char 0x0"),
        Payload("empty", b"", "empty", before_parsing=True),
        Payload("whitespace", b" \r\n\t ", "empty", before_parsing=True),
    ]
