"""Mutual TLS between the client and the simulated node, and the development PKI."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from skn_connector.node.certs import (
    DevPki,
    PkiError,
    certificate_expiry,
    issue_certificate,
    load_certificate,
    load_private_key,
    make_ca,
    write_dev_pki,
    write_pem,
)
from skn_connector.node.client import NodeClient, NodeTLSError, build_ssl_context
from skn_connector.node.simulator import Simulator, server_ssl_context

from .factories import CREDITOR


def _eventually(predicate: Callable[[], bool], seconds: float = 2.0) -> bool:
    """The server logs and counts a refusal in its own thread, maybe just after the client
    has seen the alert: wait a moment for it."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _assert_untouched(admin: httpx.Client, handle: str) -> None:
    box = admin.get("/_admin/messagebox").json()
    assert [(item["Id"], item["Opgehaald"]) for item in box] == [(handle, False)]
    stats = admin.get("/_admin/stats").json()
    assert (stats["fetched"], stats["confirmed"]) == (0, 0)


def _refusals(admin: httpx.Client) -> int:
    return int(admin.get("/_admin/stats").json()["tls_refusals"])


def test_a_client_certificate_from_another_ca_is_refused(
    simulator: Simulator,
    pki: DevPki,
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="skn_connector.simulator")
    queued = queue_saldoverzoek()
    foreign = write_dev_pki(tmp_path / "foreign")
    context = build_ssl_context(foreign.client_cert, foreign.client_key, pki.ca_cert)
    with NodeClient(simulator.url, CREDITOR, ssl_context=context) as client:
        with pytest.raises(NodeTLSError) as refused:
            client.confirm(queued["Id"])
        message = str(refused.value)
        assert message.startswith("the node refused our client certificate (")
        assert "\n" not in message
        assert not refused.value.retryable
        with pytest.raises(NodeTLSError, match="refused our client certificate"):
            client.list_messages()

    assert _eventually(lambda: _refusals(admin) == 2)
    _assert_untouched(admin, queued["Id"])
    lines = [r.getMessage() for r in caplog.records if r.name == "skn_connector.simulator"]
    refusal_lines = [line for line in lines if line.startswith("refused a TLS connection")]
    assert len(refusal_lines) == 2
    assert "not trusted" in refusal_lines[0] and "\n" not in refusal_lines[0]


def test_a_node_certificate_we_do_not_trust_is_a_tls_error(
    simulator: Simulator,
    pki: DevPki,
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    queued = queue_saldoverzoek()
    other = write_dev_pki(tmp_path / "other")
    context = build_ssl_context(pki.client_cert, pki.client_key, other.ca_cert)
    client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
    with client, pytest.raises(NodeTLSError) as refused:
        client.confirm(queued["Id"])
    message = str(refused.value)
    assert message.startswith("the node's certificate is not trusted by node.tls.trust (")
    assert "certificate" in message.split("(", 1)[1]
    assert not refused.value.retryable
    _assert_untouched(admin, queued["Id"])


def test_no_client_certificate_is_refused(
    simulator: Simulator, pki: DevPki, admin: httpx.Client
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(pki.ca_cert))
    client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
    with client, pytest.raises(NodeTLSError, match="refused our client certificate"):
        client.list_messages()
    assert _eventually(lambda: _refusals(admin) == 1)


def _custom_tls_dir(
    directory: Path,
    *,
    node_sans: tuple[str, ...] = (),
    client_not_after: datetime | None = None,
) -> DevPki:
    """A TLS directory for the simulator with one deviation from the development PKI."""
    pki = DevPki.in_directory(directory)
    ca_cert, ca_key = make_ca("test CA")
    node_cert, node_key = issue_certificate(ca_cert, ca_key, "node", server=True, sans=node_sans)
    start = None if client_not_after is None else client_not_after - timedelta(days=30)
    client_cert, client_key = issue_certificate(
        ca_cert, ca_key, "client", server=False, not_before=start, not_after=client_not_after
    )
    for path, item in (
        (pki.ca_cert, ca_cert),
        (pki.node_cert, node_cert),
        (pki.node_key, node_key),
        (pki.client_cert, client_cert),
        (pki.client_key, client_key),
    ):
        write_pem(path, item)
    return pki


def test_a_node_certificate_for_another_host_is_a_tls_error(tmp_path: Path) -> None:
    pki = _custom_tls_dir(tmp_path / "tls", node_sans=("node.example",))
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    with Simulator(port=0, tls_dir=pki.directory) as simulator:
        assert load_certificate(pki.node_cert) == load_certificate(simulator.tls_dir / "node.pem")
        client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
        with client, pytest.raises(NodeTLSError, match=r"does not name the host of node\.url"):
            client.list_messages()


def test_an_expired_client_certificate_is_refused(tmp_path: Path) -> None:
    expired = datetime.now(UTC) - timedelta(days=1)
    pki = _custom_tls_dir(tmp_path / "tls", client_not_after=expired)
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    with Simulator(port=0, tls_dir=pki.directory) as simulator:
        client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
        with client, pytest.raises(NodeTLSError, match="refused our client certificate"):
            client.list_messages()
        assert _eventually(lambda: simulator.state.stats()["tls_refusals"] == 1)


def test_a_server_certificate_cannot_serve_as_client_certificate(
    simulator: Simulator, pki: DevPki
) -> None:
    # the receive endpoint's certificate is a server's only (the node's serves both ways: it
    # is the node's client certificate when it delivers in receive mode)
    context = build_ssl_context(pki.receiver_cert, pki.receiver_key, pki.ca_cert)
    client = NodeClient(simulator.url, CREDITOR, ssl_context=context)
    with client, pytest.raises(NodeTLSError, match="refused our client certificate"):
        client.list_messages()


def test_tls_below_1_2_is_refused(simulator: Simulator, pki: DevPki) -> None:
    assert server_ssl_context(pki).minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_ssl_context(pki).verify_mode == ssl.CERT_REQUIRED
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match=r"(?i)protocol version"),
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pytest.fail("the node accepted a TLS 1.1 handshake")


def test_bad_clients_neither_block_nor_crash_the_node(
    simulator: Simulator, node_client: NodeClient, admin: httpx.Client
) -> None:
    silent = socket.create_connection(("127.0.0.1", simulator.port), timeout=5)
    try:
        # a client that never starts its handshake does not hold up the others
        started = time.monotonic()
        assert node_client.list_messages() == []
        assert time.monotonic() - started < 1.0
        # plain HTTP to the TLS port is refused; garbage too
        with pytest.raises(httpx.HTTPError):
            httpx.post(simulator.url.replace("https://", "http://"), content=b"x", timeout=5)
        with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as raw:
            raw.sendall(os.urandom(64))
            with pytest.raises(OSError):
                while raw.recv(1024):
                    pass
                raise ConnectionResetError  # closed cleanly: refused as well
        assert _eventually(lambda: _refusals(admin) >= 2)
        assert node_client.list_messages() == []
    finally:
        silent.close()


# -- the development PKI -------------------------------------------------------------------


def test_write_dev_pki_writes_the_five_files_once(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    pki = write_dev_pki(directory)
    assert pki.directory == directory
    paths = [pki.ca_cert, pki.node_cert, pki.node_key, pki.client_cert, pki.client_key]
    assert [p.name for p in paths] == ["ca.pem", "node.pem", "node.key", "client.pem", "client.key"]
    contents = {p: p.read_bytes() for p in paths}
    for key in (pki.node_key, pki.client_key, directory / "ca.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    assert write_dev_pki(directory) == pki
    assert {p: p.read_bytes() for p in paths} == contents


def test_development_certificates_have_the_right_names_and_usages(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path)
    ca = load_certificate(pki.ca_cert)
    node = load_certificate(pki.node_cert)
    client = load_certificate(pki.client_cert)
    receiver = load_certificate(pki.receiver_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for server in (node, receiver):
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)) == [
            "127.0.0.1",
            "::1",
        ]
        assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    node_usage = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    client_usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    receiver_usage = receiver.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # the node's serves both ways: it is the client when the node delivers (receive mode)
    assert list(node_usage) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(client_usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(receiver_usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    for cert in (node, client, receiver):
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
    expiry = certificate_expiry(pki.client_cert)
    assert timedelta(days=725) < expiry - datetime.now(UTC) < timedelta(days=731)


def test_a_node_certificate_of_an_earlier_release_is_issued_again_to_serve_clients_too(
    tmp_path: Path,
) -> None:
    pki = write_dev_pki(tmp_path)
    ca_cert, ca_key = load_certificate(pki.ca_cert), load_private_key(tmp_path / "ca.key")
    key = load_private_key(pki.node_key)
    server_only, _ = issue_certificate(ca_cert, ca_key, "node", server=True, key=key)
    write_pem(pki.node_cert, server_only)
    write_dev_pki(tmp_path)
    renewed = load_certificate(pki.node_cert)
    usage = renewed.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert renewed.public_key() == key.public_key()


def test_a_missing_certificate_is_issued_again_for_its_key(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path)
    key_before = pki.client_key.read_bytes()
    ca_before = pki.ca_cert.read_bytes()
    old_serial = load_certificate(pki.client_cert).serial_number
    pki.client_cert.unlink()
    write_dev_pki(tmp_path)
    assert pki.client_key.read_bytes() == key_before
    assert pki.ca_cert.read_bytes() == ca_before
    assert load_certificate(pki.client_cert).serial_number != old_serial
    build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)  # key and certificate match


def test_a_missing_ca_with_certificates_left_is_one_clear_error(tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path)
    pki.ca_cert.unlink()
    with pytest.raises(PkiError, match=r"ca\.pem is missing but .*node\.pem exists"):
        write_dev_pki(tmp_path)


def test_certificate_expiry_and_unreadable_files(tmp_path: Path) -> None:
    ca_cert, ca_key = make_ca("expiry test", not_after=datetime(2030, 1, 2, tzinfo=UTC))
    write_pem(tmp_path / "ca.pem", ca_cert)
    assert certificate_expiry(tmp_path / "ca.pem") == datetime(2030, 1, 2, tzinfo=UTC)
    write_pem(tmp_path / "ca.key", ca_key)
    assert load_private_key(tmp_path / "ca.key").public_key() == ca_key.public_key()
    with pytest.raises(PkiError, match="cannot be read"):
        certificate_expiry(tmp_path / "absent.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(PkiError, match="does not hold a PEM certificate"):
        certificate_expiry(tmp_path / "junk.pem")
    with pytest.raises(ValueError, match="not_after"):
        make_ca("backwards", not_after=datetime(2000, 1, 1, tzinfo=UTC))
