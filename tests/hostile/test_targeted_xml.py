"""Targeted attacks on the SOAP decoder: each refused with a clear reason (one line, naming
the problem), never a crash, never a hang, nothing expanded, nothing fetched."""

from __future__ import annotations

import base64
import resource
import socket
import time
from collections.abc import Iterator

import pytest
from lxml import etree

from skn_connector.wire import soap
from skn_connector.wire.profile import MAX_ENVELOPE_BYTES, SERVICE_NS, SOAP_ENV_NS
from skn_connector.wire.soap import (
    DecodeError,
    SoapFault,
    WireError,
    decode_message,
    decode_payload,
    open_envelope,
)

from .harness import CASE_LIMIT, guarded
from .payloads import (
    XINCLUDE,
    billion_laughs,
    deep_nesting,
    good_message,
    message_payloads,
    quadratic_blowup,
)

#: More than this growth of the process's peak memory means something was expanded.
MAX_GROWTH_BYTES = 64 * 1024 * 1024


class Listener:
    """A TCP port that must see no connection: the URL of every external reference."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.setblocking(False)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/hostile.dtd"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self.socket.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    port = Listener()
    yield port
    port.socket.close()


def _peak_memory() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _clear(reason: str) -> None:
    assert reason.strip() and "\n" not in reason and len(reason) < 2000, reason


PAYLOADS = message_payloads("http://127.0.0.1:9/")  # the names; built again with the listener


@pytest.mark.parametrize("name", [p.name for p in PAYLOADS])
def test_a_hostile_message_is_refused_with_its_reason(
    name: str, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = next(p for p in message_payloads(listener.url) if p.name == name)
    if payload.before_parsing:

        def no_parser() -> None:
            raise AssertionError(f"{name}: the parser ran; it should be refused before")

        monkeypatch.setattr(soap, "_parser", no_parser)
    before = _peak_memory()
    _, error = guarded("decode_message", lambda: decode_message(payload.data), (DecodeError,))
    assert isinstance(error, DecodeError), f"{name} was accepted"
    reason = "; ".join(error.errors)
    assert payload.reason in reason, (name, reason)
    _clear(reason)
    assert "root:" not in reason  # nothing of /etc/passwd
    assert _peak_memory() - before < MAX_GROWTH_BYTES, f"{name}: memory grew"
    assert listener.connections() == 0, f"{name}: something was fetched"


def test_the_parser_itself_expands_nothing() -> None:
    """Defence in depth: were the byte checks passed, the parser (no entity resolution, no
    DTD loading, no network) still expands nothing and the DTD is refused after parsing."""
    for document in (billion_laughs(), quadratic_blowup()):
        before = _peak_memory()
        started = time.perf_counter()
        try:
            root = etree.fromstring(document, parser=soap._parser())
        except etree.XMLSyntaxError as exc:
            assert "amplification" in str(exc) or "entity" in str(exc).lower()
        else:
            assert len(etree.tostring(root)) < len(document)  # the references stay references
            assert root.getroottree().docinfo.internalDTD is not None
        assert time.perf_counter() - started < CASE_LIMIT
        assert _peak_memory() - before < MAX_GROWTH_BYTES


# -- envelopes ----------------------------------------------------------------------------------


def _envelope(*bodies: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="'
        + SOAP_ENV_NS.encode()
        + b'">'
        + b"".join(b"<soap:Body>" + body + b"</soap:Body>" for body in bodies)
        + b"</soap:Envelope>"
    )


def _answer(content: bytes) -> bytes:
    return (
        b'<b:BerichtAntwoord xmlns:b="'
        + SERVICE_NS.encode()
        + b'"><b:Id>1</b:Id><b:Inhoud>'
        + content
        + b"</b:Inhoud></b:BerichtAntwoord>"
    )


def _envelope_cases(url: str) -> dict[str, tuple[bytes, str]]:
    message = base64.b64encode(good_message())
    return {
        "two bodies": (_envelope(_answer(message), _answer(message)), "2 soap:Body elements"),
        "two bodies, the first empty": (_envelope(b"", _answer(message)), "soap:Body elements"),
        "two elements in one body": (_envelope(_answer(message) * 2), "exactly one element"),
        "no body": (_envelope(), "exactly one element"),
        "billion laughs": (
            billion_laughs().replace(b"Saldoverzoek", b"soap:Envelope"),
            "DTD",
        ),
        "external entity": (
            b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "'
            + url.encode()
            + b'">]>'
            + _envelope(_answer(b"&x;")).split(b"?>", 1)[1],
            "DTD",
        ),
        "oversize": (b"<" + b"x" * MAX_ENVELOPE_BYTES, "over the limit"),
        "deep nesting": (_envelope(b"<x>" * 10_000 + b"</x>" * 10_000), "depth"),
        "SOAP 1.2 namespace": (
            _envelope(_answer(message)).replace(
                SOAP_ENV_NS.encode(), b"http://www.w3.org/2003/05/soap-envelope"
            ),
            "no soap:Envelope",
        ),
        "a NUL byte": (_envelope(_answer(b"\x00")), "Char 0x0"),
        "invalid UTF-8": (_envelope(_answer(b"\xc3\x28")), "Invalid bytes"),
    }


@pytest.mark.parametrize("name", sorted(_envelope_cases("http://127.0.0.1:9/")))
def test_a_hostile_envelope_is_refused_with_its_reason(name: str, listener: Listener) -> None:
    data, expected = _envelope_cases(listener.url)[name]
    _, error = guarded("open_envelope", lambda: open_envelope(data), (WireError, SoapFault))
    assert isinstance(error, WireError), f"{name} was accepted"
    assert expected in str(error), (name, str(error))
    _clear(str(error))
    assert listener.connections() == 0


def test_an_xinclude_in_an_envelope_is_returned_as_it_is(listener: Listener) -> None:
    """open_envelope does not process XInclude: the element comes back empty, unexpanded,
    and the client refuses it as not the answer it asked for."""
    include = b"<xi:include " + XINCLUDE + b' href="file:///etc/passwd" parse="text"/>'
    body, _ = guarded("open_envelope", lambda: open_envelope(_envelope(include)), (WireError,))
    assert body is not None and etree.QName(body).localname == "include"
    assert len(body) == 0 and not body.text
    assert listener.connections() == 0


@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        "QUJDRA=",  # short of padding
        "Q",  # a single character
        "====",
        "QU JD",  # a space inside (the client takes out whitespace first)
        "data:text/xml;base64,QUJD",
        "QUJDÄ",
        "\x00",
        "😀",
    ],
)
def test_a_content_that_is_not_base64_is_refused(text: str) -> None:
    _, error = guarded("decode_payload", lambda: decode_payload(text), (WireError,))
    assert error is not None and "not valid base64" in str(error)


def test_base64_of_garbage_decodes_and_is_then_refused_as_a_message() -> None:
    payload, _ = guarded(
        "decode_payload", lambda: decode_payload(base64.b64encode(b"\x00\xff<x>").decode()), ()
    )
    assert payload == b"\x00\xff<x>"
    _, error = guarded("decode_message", lambda: decode_message(payload or b""), (DecodeError,))
    assert error is not None


# -- amplification: many errors in one message ------------------------------------------------


def test_a_message_with_50_000_errors_is_refused_with_a_short_reason() -> None:
    """Fifty thousand unknown attributes, each an XSD error: the reason lists the first ones
    and counts the rest (it was a reason of 5 MB, built in a second; 500,000 took 18 s)."""
    good = good_message()
    attributes = b" ".join(b'a%d="1"' % i for i in range(50_000))
    data = good.replace(b"<Klant>", b"<Klant " + attributes + b">", 1)
    _, error = guarded("decode_message", lambda: decode_message(data), (DecodeError,))
    assert isinstance(error, DecodeError)
    assert len(error.errors) == soap.MAX_LISTED_ERRORS + 1
    assert error.errors[-1] == f"and {50_000 - soap.MAX_LISTED_ERRORS} more XSD errors"
    assert len(str(error)) < 10_000


def test_many_invalid_siblings_are_refused_before_xsd_validation() -> None:
    """lxml's XSD validation slows down with the square of the number of invalid siblings
    (32,000: ~6 s; 107,000 in an 8 MB message: minutes): past MAX_CHILD_ELEMENTS a message is
    refused before it is validated, naming the element."""
    good = good_message()
    start = good.index(b"<Vordering>")
    bad = b"<Vordering><FactuurnummerSEVolgensSHV></FactuurnummerSEVolgensSHV></Vordering>"
    data = good[:start] + bad * 32_000 + good[start:]
    started = time.perf_counter()
    with pytest.raises(DecodeError) as caught:
        decode_message(data)
    assert time.perf_counter() - started < CASE_LIMIT
    assert caught.value.errors == [
        f"Vorderingen has {32_000 + good.count(b'<Vordering>')} child elements; "
        f"at most {soap.MAX_CHILD_ELEMENTS} are read"
    ]


def test_a_list_just_under_the_child_limit_is_still_validated() -> None:
    """At MAX_CHILD_ELEMENTS siblings the message is read and validated as usual: here the
    XSD refuses the empty invoice numbers, not the count."""
    good = good_message()
    start = good.index(b"<Vordering>")
    bad = b"<Vordering><FactuurnummerSEVolgensSHV></FactuurnummerSEVolgensSHV></Vordering>"
    data = (
        good[:start] + bad * (soap.MAX_CHILD_ELEMENTS - good.count(b"<Vordering>")) + good[start:]
    )
    with pytest.raises(DecodeError) as caught:
        decode_message(data)
    assert "child elements" not in str(caught.value)


def test_deep_nesting_is_refused_at_every_depth_past_the_parser_limit() -> None:
    for levels in (300, 1_000, 10_000, 100_000):
        _, error = guarded(
            "decode_message", lambda n=levels: decode_message(deep_nesting(n)), (DecodeError,)
        )
        assert error is not None and "depth" in str(error)
