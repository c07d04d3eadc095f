"""The receive endpoint under attack, over real sockets and mutual TLS (as the node, with its
certificate: the handshake is not what is tested here): oversize bodies, slow clients,
garbage, XML bombs and external entities, and fuzzed deliveries. Each case must end in an
answer or a cut connection within its limit (a hang otherwise), the endpoint must never
fail (a crash: a 500 that is not a SOAP Client fault, or an error logged), and nothing may
be acknowledged that is not stored."""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import add_receive_mode, write_config
from skn_connector.node.certs import DevPki
from skn_connector.node.simulator import Simulator
from skn_connector.service.receive import ReceiveServer, receiving
from skn_connector.service.wiring import build_receive_context, connector
from skn_connector.store.schema import InboxMessage, QuarantinedMessage
from skn_connector.wire.delivery import delivery_request, read_acknowledgement, read_delivery

from ..receiving import free_port, node_context
from .harness import guarded, hostile_settings
from .payloads import billion_laughs, external_entity, good_message, message_payloads
from .test_targeted_xml import Listener

#: The endpoint's limits in this tier: small, so that the cases are quick.
BODY_LIMIT = 65_536
REQUEST_SECONDS = 2
SOAP = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"BerichtAfleveren"'}


@dataclass
class Endpoint:
    server: ReceiveServer
    pipeline: Any
    pki: DevPki
    context: ssl.SSLContext
    #: the sha256 of every message an answer acknowledged
    acknowledged: set[str]
    #: errors the endpoint or uvicorn logged (a crash inside shows as one)
    errors: list[str] = field(default_factory=list)


class _Errors(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("uvicorn", "skn_connector.service")):
            self.into.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    tmp = tmp_path_factory.mktemp("receive-hostile")
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp / "backoffice")
    with Simulator(port=0, tls_dir=tmp / "tls") as node:
        config = write_config(tmp, node, backoffice.options)
        add_receive_mode(
            config,
            tmp / "tls",
            free_port(),
            max_body_bytes=BODY_LIMIT,
            request_timeout=f"{REQUEST_SECONDS}s",
        )
        settings = load_settings(config)
        with (
            connector(settings) as pipeline,
            receiving(
                settings,
                build_receive_context(settings),
                pipeline,
                wake=lambda _count: None,
                may_store=lambda: True,
            ) as server,
        ):
            assert server is not None
            pki = DevPki.in_directory(tmp / "tls")
            found = Endpoint(server, pipeline, pki, node_context(pki), set())
            handler = _Errors(found.errors)
            logging.getLogger().addHandler(handler)
            try:
                yield found
            finally:
                logging.getLogger().removeHandler(handler)


def _post(endpoint: Endpoint, body: bytes, headers: dict[str, str] | None = None) -> int:
    """One request on a connection of its own; the status (and the acknowledged handle kept).
    A 500 must be a SOAP Client fault: anything else is a crash of the endpoint."""
    with httpx.Client(verify=endpoint.context, timeout=REQUEST_SECONDS + 5) as client:
        answer = client.post(
            endpoint.server.url, content=body, headers=SOAP if headers is None else headers
        )
    if answer.status_code == 200:
        delivered = read_delivery(None, body)
        assert read_acknowledgement(answer.content) == delivered.handle
        endpoint.acknowledged.add(hashlib.sha256(delivered.payload).hexdigest())
    if answer.status_code >= 500 and answer.status_code != 503:
        assert b"soap:Client" in answer.content, answer.content[:300]
    return answer.status_code


def _tls(endpoint: Endpoint) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", endpoint.server.port), timeout=10)
    return endpoint.context.wrap_socket(raw, server_hostname="127.0.0.1")


def _answer_or_cut(tls: ssl.SSLSocket, timeout: float) -> tuple[bytes, float]:
    """What the endpoint answers on a raw connection until it closes it, and when."""
    started = time.monotonic()
    tls.settimeout(timeout)
    received = b""
    try:
        while chunk := tls.recv(65536):
            received += chunk
    except (ssl.SSLError, OSError):
        pass
    return received, time.monotonic() - started


def _stored_digests(endpoint: Endpoint) -> set[str]:
    """The messages stored, by sha256 (a redelivery under another handle is counted on the
    row stored first, not stored again)."""
    with endpoint.pipeline.store.transaction() as session:
        inbox = set(session.scalars(select(InboxMessage.sha256)))
        quarantine = set(session.scalars(select(QuarantinedMessage.sha256)))
    return inbox | quarantine


def test_an_oversize_body_is_refused_before_it_is_read(endpoint: Endpoint) -> None:
    def declared_too_large() -> tuple[bytes, float]:
        with _tls(endpoint) as tls:
            tls.sendall(
                b"POST /skn HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                b"Content-Length: 1073741824\r\n\r\n" + b"<" * 1000
            )  # a gigabyte promised, a kilobyte sent: the answer must not wait for the rest
            return _answer_or_cut(tls, 5)

    (answer, seconds), _ = guarded("receive: Content-Length over the limit", declared_too_large, ())
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert seconds < 1.5

    def streamed_too_large() -> tuple[bytes, float]:
        with _tls(endpoint) as tls:
            tls.sendall(
                b"POST /skn HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"a" * 8192
            try:  # chunked, no length: cut at the limit, not read to the end
                for _ in range(BODY_LIMIT // len(chunk) + 4):
                    tls.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
            return _answer_or_cut(tls, 5)

    (answer, _seconds), _ = guarded(
        "receive: a chunked body over the limit", streamed_too_large, ()
    )
    assert answer is not None and answer.startswith(b"HTTP/1.1 413"), answer[:100]
    limit_and_one = delivery_request("big", b"x" * BODY_LIMIT)
    status, _ = guarded(
        "receive: an envelope over the limit", lambda: _post(endpoint, limit_and_one), ()
    )
    assert status == 413


@pytest.mark.parametrize(
    "first",
    [
        b"POST /skn HTTP/1.1\r\nHost: x\r\n",  # headers that never end
        b"POST /skn HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n"
        b"<soap:Envelope",  # a body that never ends
    ],
    ids=["slow headers", "slow body"],
)
def test_a_slow_client_is_cut_off(endpoint: Endpoint, first: bytes) -> None:
    def slow() -> tuple[bytes, float]:
        with _tls(endpoint) as tls:
            tls.sendall(first)
            for _ in range(3):  # a byte now and then does not buy more time
                time.sleep(0.4)
                tls.sendall(b"a")
            return _answer_or_cut(tls, REQUEST_SECONDS + 5)

    (answer, seconds), _ = guarded("receive: slow client", slow, (), limit=REQUEST_SECONDS + 8)
    assert answer == b"", answer[:100]
    assert REQUEST_SECONDS - 1.5 < seconds < REQUEST_SECONDS + 3  # a loaded machine is late


def test_garbage_gets_an_answer_and_the_endpoint_goes_on(endpoint: Endpoint) -> None:
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        ("empty", b"", SOAP),
        ("not XML", b"\x00\xff" * 100, SOAP),
        ("XML, not SOAP", b"<a/>", SOAP),
        (
            "SOAP with two bodies",
            b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'>"
            b"<s:Body><a/></s:Body><s:Body><a/></s:Body></s:Envelope>",
            SOAP,
        ),
        (
            "a Fault",
            b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
            b"<s:Fault><faultcode>s:Client</faultcode></s:Fault></s:Body></s:Envelope>",
            SOAP,
        ),
        ("Inhoud not base64", delivery_request("g-1", b"x").replace(b"eA==", b"!!!"), SOAP),
        (
            "two Ids",
            delivery_request("g-2", b"x").replace(b"<b:Id>g-2</b:Id>", b"<b:Id>a</b:Id>" * 2),
            SOAP,
        ),
        ("an Id of 10,000 characters", delivery_request("i" * 10_000, good_message()), SOAP),
        ("no content type", delivery_request("g-3", good_message()), {}),
    ]
    for name, body, headers in cases:
        status, _ = guarded(f"receive: {name}", lambda b=body, h=headers: _post(endpoint, b, h), ())
        assert status in (400, 413, 415, 500), (name, status)

    def raw(request: bytes) -> bytes:
        with _tls(endpoint) as tls:
            tls.sendall(request)
            return _answer_or_cut(tls, 5)[0]

    for name, request in (
        ("not HTTP", b"\x16\x03\x01 NOT HTTP AT ALL \r\n\r\n" * 10),
        (
            "a Content-Length that is no number",
            b"POST /skn HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
        ),
        (
            "two Content-Lengths",
            b"POST /skn HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ),
        ("headers of 100 kB", b"POST /skn HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"),
    ):
        answer, _ = guarded(f"receive: {name}", lambda r=request: raw(r), ())
        assert answer is not None and (answer == b"" or answer.startswith(b"HTTP/1.1 4")), name
    assert _post(endpoint, delivery_request("after-garbage", good_message())) == 200


def test_xml_bombs_and_external_entities(endpoint: Endpoint) -> None:
    listener = Listener()
    try:
        url = listener.url.encode()
        bombs = {
            "billion laughs as the envelope": billion_laughs(),
            "external entity in the envelope": b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x '
            b'SYSTEM "' + url + b'">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/'
            b'soap/envelope/"><soap:Body>&x;</soap:Body></soap:Envelope>',
            "external entity file:// in the envelope": delivery_request("x-1", b"m").replace(
                b"?>", b'?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1
            ),
        }
        for name, body in bombs.items():
            status, _ = guarded(f"receive: {name}", lambda b=body: _post(endpoint, b), ())
            assert status == 500, (name, status)  # a Client fault: DTDs are not allowed
        # inside the delivery, the message is stored as it came: quarantined, acknowledged
        inside = [p for p in message_payloads(listener.url) if len(p.data) < BODY_LIMIT // 2]
        inside.append(type(inside[0])("external entity", external_entity(listener.url), "DTD"))
        for number, payload in enumerate(inside):
            handle = f"bomb-{number}"
            request = delivery_request(handle, payload.data)
            status, _ = guarded(
                f"receive: {payload.name} inside", lambda r=request: _post(endpoint, r), ()
            )
            assert status == 200, (payload.name, status)
        assert listener.connections() == 0
    finally:
        listener.socket.close()
    with endpoint.pipeline.store.transaction() as session:
        inbox = set(session.scalars(select(InboxMessage.node_message_id)))
    assert not {f"bomb-{n}" for n in range(len(inside))} & inbox  # all in quarantine


_ENVELOPE = delivery_request("fuzz", good_message())


@hostile_settings(0.3)  # a TLS connection each: 450 cases in the full run
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.tuples(st.integers(0, len(_ENVELOPE) - 1), st.binary(min_size=1, max_size=40)).map(
            lambda cut: _ENVELOPE[: cut[0]] + cut[1] + _ENVELOPE[cut[0] + len(cut[1]) :]
        ),
    ),
    st.sampled_from(["text/xml", "application/soap+xml", "text/plain", ""]),
)
def test_fuzzed_requests_never_crash_the_endpoint(
    endpoint: Endpoint, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, _ = guarded("receive: fuzzed request", lambda: _post(endpoint, body, headers), ())
    assert status in (200, 400, 413, 415, 500, 503), status


def test_nothing_was_acknowledged_that_is_not_stored(endpoint: Endpoint) -> None:
    # last in the module: every message an answer 200 acknowledged must be stored
    _post(endpoint, delivery_request("last", good_message()))
    assert endpoint.acknowledged, "the tier acknowledged nothing: it tested nothing"
    assert endpoint.acknowledged <= _stored_digests(endpoint)
    assert endpoint.errors == []
