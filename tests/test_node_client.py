"""The node client: its settings, its failures against the simulator's faults, HTTP edge cases."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization

from skn_connector.node.certs import DevPki, load_private_key
from skn_connector.node.client import (
    DEFAULT_TIMEOUT,
    NodeClient,
    NodeError,
    NodeRejected,
    NodeTLSError,
    NodeUnavailable,
    build_ssl_context,
)
from skn_connector.node.simulator import Simulator
from skn_connector.wire.profile import SERVICE_NS
from skn_connector.wire.soap import element, envelope, fault

from .factories import CREDITOR

NODE_URL = "https://node.example/skn"


# -- settings ----------------------------------------------------------------------------


def test_plain_http_is_refused_unless_insecure_is_allowed() -> None:
    with pytest.raises(NodeTLSError) as refused:
        NodeClient("http://127.0.0.1:8450/skn", CREDITOR, ssl_context=None)
    assert str(refused.value) == (
        "node.url uses plain http; use https or --insecure-dev for a local simulator"
    )
    assert not refused.value.retryable
    NodeClient("http://127.0.0.1:8450/skn", CREDITOR, ssl_context=None, allow_insecure=True).close()


LOOPBACK_ONLY = (
    "node.url uses plain http to a host that is not a loopback address; plain http is for a "
    "local simulator on a loopback address (127.0.0.0/8, ::1 or localhost) only, so use "
    "https with [node.tls]"
)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/skn",
        "http://example.org/skn",
        "http://127.0.0.1.example.org/skn",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:8450/skn",
        "http://localhost.example.org/skn",
    ],
)
def test_insecure_plain_http_is_refused_for_a_host_that_is_not_loopback(url: str) -> None:
    with pytest.raises(NodeTLSError) as refused:
        NodeClient(url, CREDITOR, ssl_context=None, allow_insecure=True)
    assert str(refused.value) == LOOPBACK_ONLY
    assert not refused.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8450/skn",
        "http://127.1.2.3/",
        "http://localhost:1/",
        "http://LocalHost:1/",
        "http://[::1]:80/",
    ],
)
def test_insecure_plain_http_is_allowed_for_a_loopback_host(url: str) -> None:
    NodeClient(url, CREDITOR, ssl_context=None, allow_insecure=True).close()


def test_https_needs_a_tls_context_and_other_schemes_are_refused() -> None:
    with pytest.raises(NodeTLSError, match="no TLS context"):
        NodeClient(NODE_URL, CREDITOR, ssl_context=None)
    with pytest.raises(NodeError, match="must be an https URL"):
        NodeClient("ftp://node.example/skn", CREDITOR, ssl_context=None)


def test_timeouts_are_explicit(pki: DevPki) -> None:
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    with NodeClient(NODE_URL, CREDITOR, ssl_context=context) as client:
        assert client.timeout == DEFAULT_TIMEOUT
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (5.0, 30.0)
    assert (DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.pool) == (30.0, 5.0)


def test_the_tls_context_trusts_only_the_configured_ca(pki: DevPki) -> None:
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        (
            (("organizationName", "skn-connector development PKI"),),
            (("commonName", "skn-connector development CA"),),
        )
    ]


def test_tls_file_problems_name_the_file(pki: DevPki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(NodeTLSError, match=f"trust file .*{missing} does not exist"):
        build_ssl_context(pki.client_cert, pki.client_key, missing)
    with pytest.raises(NodeTLSError, match=f"certificate file {missing} does not exist"):
        build_ssl_context(missing, pki.client_key, pki.ca_cert)
    with pytest.raises(NodeTLSError, match=f"{pki.node_key} does not match the certificate"):
        build_ssl_context(pki.client_cert, pki.node_key, pki.ca_cert)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(NodeTLSError, match=f"{garbage} holds no PEM certificate"):
        build_ssl_context(garbage, pki.client_key, pki.ca_cert)
    with pytest.raises(NodeTLSError, match=f"{garbage} holds no PEM certificate"):
        build_ssl_context(pki.client_cert, pki.client_key, garbage)
    with pytest.raises(NodeTLSError, match=f"{garbage} holds no usable private key"):
        build_ssl_context(pki.client_cert, garbage, pki.ca_cert)


def test_an_encrypted_key_needs_its_password(pki: DevPki, tmp_path: Path) -> None:
    encrypted = tmp_path / "client-encrypted.key"
    encrypted.write_bytes(
        load_private_key(pki.client_key).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"geheim"),
        )
    )
    with pytest.raises(NodeTLSError, match="is encrypted and no password is set"):
        build_ssl_context(pki.client_cert, encrypted, pki.ca_cert)
    with pytest.raises(NodeTLSError, match="the password is wrong"):
        build_ssl_context(pki.client_cert, encrypted, pki.ca_cert, password="fout")
    context = build_ssl_context(pki.client_cert, encrypted, pki.ca_cert, password="geheim")
    assert isinstance(context, ssl.SSLContext)


# -- failures against the simulator ---------------------------------------------------------


def test_error_rate_gives_node_unavailable_and_clearing_restores_service(
    node_client: NodeClient, admin: httpx.Client, queue_saldoverzoek: Callable[..., dict[str, Any]]
) -> None:
    queued = queue_saldoverzoek()
    admin.post("/_admin/faults", json={"error_rate": 1.0})
    with pytest.raises(NodeUnavailable, match="SOAP Server fault") as failed:
        node_client.list_messages()
    assert failed.value.retryable
    with pytest.raises(NodeUnavailable):
        node_client.confirm(queued["Id"])
    admin.post("/_admin/faults", json={})
    assert [entry.id for entry in node_client.list_messages()] == [queued["Id"]]
    assert admin.get("/_admin/stats").json()["confirmed"] == 0


def test_a_reset_loses_the_answer_and_the_retry_is_idempotent(
    node_client: NodeClient, admin: httpx.Client, queue_saldoverzoek: Callable[..., dict[str, Any]]
) -> None:
    queued = queue_saldoverzoek()
    admin.post("/_admin/faults", json={"reset_rate": 1.0})
    with pytest.raises(NodeUnavailable) as failed:
        node_client.confirm(queued["Id"])
    assert failed.value.retryable
    assert "connection" in str(failed.value)
    with pytest.raises(NodeUnavailable):
        node_client.list_messages()
    admin.post("/_admin/faults", json={})
    # the node processed the confirm before the reset: retrying it is a harmless success
    node_client.confirm(queued["Id"])
    assert node_client.list_messages() == []
    assert admin.get("/_admin/stats").json()["confirmed"] == 1


def test_a_hanging_node_times_out_as_node_unavailable(
    client_factory: Callable[..., NodeClient], admin: httpx.Client
) -> None:
    client = client_factory(timeout=httpx.Timeout(5.0, read=0.3))
    admin.post("/_admin/faults", json={"timeout_rate": 1.0})
    started = time.monotonic()
    with pytest.raises(
        NodeUnavailable, match=r"did not answer BerichtenlijstOphalen within 0\.3 s"
    ):
        client.list_messages()
    assert time.monotonic() - started < 2.0
    admin.post("/_admin/faults", json={})
    assert client.list_messages() == []


def test_latency_delays_answers(node_client: NodeClient, admin: httpx.Client) -> None:
    node_client.list_messages()  # warm the connection
    admin.post("/_admin/faults", json={"latency_ms": 200})
    started = time.monotonic()
    node_client.list_messages()
    assert time.monotonic() - started >= 0.2


def test_seeded_error_rate_is_partial_and_counted(
    node_client: NodeClient, admin: httpx.Client
) -> None:
    admin.post("/_admin/faults", json={"error_rate": 0.5, "seed": 1234})
    outcomes = []
    for _ in range(20):
        try:
            node_client.list_messages()
            outcomes.append(True)
        except NodeUnavailable:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20
    assert admin.get("/_admin/stats").json()["faults_injected"] == outcomes.count(False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_node_unavailable(pki: DevPki) -> None:
    port = _free_port()
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    client = NodeClient(f"https://127.0.0.1:{port}/skn", CREDITOR, ssl_context=context)
    with client, pytest.raises(NodeUnavailable, match=rf"127\.0\.0\.1:{port} refused"):
        client.list_messages()


def test_a_stopped_simulator_is_node_unavailable(pki: DevPki) -> None:
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    with Simulator(port=0, tls_dir=pki.directory) as simulator:
        client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
        assert client.list_messages() == []
    with client, pytest.raises(NodeUnavailable):
        client.list_messages()


# -- HTTP edge cases (respx) -----------------------------------------------------------------


@pytest.fixture
def mocked_client() -> NodeClient:
    return NodeClient(NODE_URL, CREDITOR, ssl_context=ssl.create_default_context())


def _answer(name: str, children: list[tuple[str, str]]) -> bytes:
    return envelope(element(SERVICE_NS, name, children))


@respx.mock
def test_http_503_is_node_unavailable(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(return_value=httpx.Response(503, text="<html>maintenance</html>"))
    with pytest.raises(NodeUnavailable, match="answered HTTP 503 to BerichtenlijstOphalen"):
        mocked_client.list_messages()


@respx.mock
def test_garbage_with_200_is_node_unavailable_with_the_reason(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(return_value=httpx.Response(200, content=b"<oops"))
    with pytest.raises(
        NodeUnavailable, match=r"not a well-formed SOAP envelope.*not well-formed XML"
    ):
        mocked_client.fetch("abc")


@respx.mock
def test_a_client_fault_is_node_rejected(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(
        return_value=httpx.Response(500, content=fault("Client", "unknown Id"))
    )
    with pytest.raises(NodeRejected, match="the node refused BerichtBevestigen: unknown Id") as err:
        mocked_client.confirm("abc")
    assert not err.value.retryable


@respx.mock
def test_a_server_fault_is_node_unavailable(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(
        return_value=httpx.Response(500, content=fault("Server", "database down"))
    )
    with pytest.raises(NodeUnavailable, match="SOAP Server fault: database down"):
        mocked_client.send(b"<x/>")


@respx.mock
def test_a_404_is_node_rejected_naming_the_url_setting(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(return_value=httpx.Response(404, text="not found"))
    with pytest.raises(NodeRejected, match=r"HTTP 404.*check node\.url"):
        mocked_client.list_messages()


@respx.mock
def test_requests_carry_the_soap_action_and_participant(mocked_client: NodeClient) -> None:
    route = respx.post(NODE_URL).mock(
        return_value=httpx.Response(
            200,
            content=_answer("VerstuurAntwoord", [("Referentienummer", "b-1")]),
        )
    )
    assert mocked_client.send(b"payload") == "b-1"
    request = route.calls.last.request
    assert request.headers["SOAPAction"] == '"BerichtVersturen"'
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert str(CREDITOR).encode() in request.content
    assert b"cGF5bG9hZA==" in request.content  # base64 of the payload


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (
            _answer("BevestigAntwoord", [("Id", "abc")]),
            "with BevestigAntwoord instead of BerichtAntwoord",
        ),
        (_answer("BerichtAntwoord", [("Id", "other"), ("Inhoud", "")]), "for Id abc with Id other"),
        (_answer("BerichtAntwoord", [("Id", "abc")]), "has no Inhoud"),
        (_answer("BerichtAntwoord", [("Id", "abc"), ("Inhoud", "@@@")]), "not valid base64"),
    ],
)
@respx.mock
def test_unusable_fetch_answers_are_node_unavailable(
    answer: bytes, match: str, mocked_client: NodeClient
) -> None:
    respx.post(NODE_URL).mock(return_value=httpx.Response(200, content=answer))
    with pytest.raises(NodeUnavailable, match=match):
        mocked_client.fetch("abc")


@respx.mock
def test_a_list_entry_with_a_bad_timestamp_is_node_unavailable(mocked_client: NodeClient) -> None:
    answer = element(SERVICE_NS, "BerichtenlijstAntwoord")
    answer.append(element(SERVICE_NS, "Bericht", [("Id", "a"), ("Geplaatst", "gisteren")]))
    respx.post(NODE_URL).mock(return_value=httpx.Response(200, content=envelope(answer)))
    with pytest.raises(NodeUnavailable, match="without a valid Geplaatst"):
        mocked_client.list_messages()


@respx.mock
def test_an_oversized_answer_is_refused(mocked_client: NodeClient) -> None:
    from skn_connector.wire.profile import MAX_ENVELOPE_BYTES

    respx.post(NODE_URL).mock(
        return_value=httpx.Response(200, content=b" " * (MAX_ENVELOPE_BYTES + 1))
    )
    with pytest.raises(NodeUnavailable, match="over the limit"):
        mocked_client.list_messages()


@respx.mock
def test_transport_errors_are_node_unavailable(mocked_client: NodeClient) -> None:
    respx.post(NODE_URL).mock(
        side_effect=httpx.ConnectError("[Errno -2] Name or service not known")
    )
    with pytest.raises(NodeUnavailable, match=r"cannot connect to the node at node\.example:443"):
        mocked_client.list_messages()


def test_a_mock_transport_needs_no_tls_context() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_answer("BevestigAntwoord", [("Id", "x")]))

    client = NodeClient(
        NODE_URL, uuid.uuid4(), ssl_context=None, transport=httpx.MockTransport(handler)
    )
    with client:
        client.confirm("x")
