"""A development PKI for the simulator and the connector (never for production).

``write_dev_pki(directory)`` writes, where missing, a development CA and the certificates
the simulator (``node.pem``/``node.key``) and the connector (``client.pem``/``client.key``)
use for mutual TLS. The node's certificate serves both ways: as the server's, and as the
client's when the node delivers to a connector in receive mode; the connector's receive
endpoint has a server certificate of its own (``receiver.pem``/``receiver.key``). The CA's
key is kept beside them (``ca.key``) so that a missing leaf certificate can be issued again
by the same CA. Keys are ECDSA P-256, written 0600.

The building blocks (``make_ca``, ``issue_certificate``, ``write_pem``) let tests craft
other PKIs: a foreign CA, an expired certificate, a certificate for the wrong host.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Validity of the development certificates unless a caller says otherwise.
DEFAULT_VALIDITY = timedelta(days=730)
#: Certificates start a little in the past, so that a clock slightly behind still accepts them.
BACKDATE = timedelta(minutes=5)
#: The names every development server certificate carries.
LOOPBACK_SANS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
NODE_CERT = "node.pem"
NODE_KEY = "node.key"
CLIENT_CERT = "client.pem"
CLIENT_KEY = "client.key"
RECEIVER_CERT = "receiver.pem"
RECEIVER_KEY = "receiver.key"

PrivateKey = ec.EllipticCurvePrivateKey


class PkiError(Exception):
    """A development PKI that cannot be written or read; the text names the file and the fix."""


@dataclass(frozen=True)
class DevPki:
    """The files of a development PKI (all in one directory)."""

    ca_cert: Path
    node_cert: Path
    node_key: Path
    client_cert: Path
    client_key: Path
    receiver_cert: Path
    receiver_key: Path

    @property
    def directory(self) -> Path:
        return self.ca_cert.parent

    @classmethod
    def in_directory(cls, directory: Path) -> DevPki:
        return cls(
            ca_cert=directory / CA_CERT,
            node_cert=directory / NODE_CERT,
            node_key=directory / NODE_KEY,
            client_cert=directory / CLIENT_CERT,
            client_key=directory / CLIENT_KEY,
            receiver_cert=directory / RECEIVER_CERT,
            receiver_key=directory / RECEIVER_KEY,
        )


def _new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _validity(not_before: datetime | None, not_after: datetime | None) -> tuple[datetime, datetime]:
    start = not_before if not_before is not None else datetime.now(UTC) - BACKDATE
    end = not_after if not_after is not None else start + DEFAULT_VALIDITY
    if end <= start:
        raise ValueError("a certificate's not_after must lie after its not_before")
    return start, end


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "skn-connector development PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA certificate that may issue end-entity certificates only."""
    key = _new_key()
    start, end = _validity(not_before, not_after)
    name = _name(common_name)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _general_name(san: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(san))
    except ValueError:
        return x509.DNSName(san)


def issue_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    common_name: str,
    *,
    server: bool,
    sans: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: PrivateKey | None = None,
    client_too: bool = False,
) -> tuple[x509.Certificate, PrivateKey]:
    """An end-entity certificate signed by ``ca_key``: serverAuth when ``server`` (and
    clientAuth as well with ``client_too``), else clientAuth.

    A server certificate without ``sans`` names the loopback addresses and ``localhost``.
    ``key`` certifies an existing key instead of generating a new one.
    """
    key = key if key is not None else _new_key()
    start, end = _validity(not_before, not_after)
    public_key = key.public_key()
    names = list(sans) if sans else (list(LOOPBACK_SANS) if server else [])
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server and client_too:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` from the start (a key is never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_pem(path: Path, cert_or_key: x509.Certificate | PrivateKey) -> None:
    """Write a certificate (0644) or an unencrypted PKCS#8 private key (0600) as PEM."""
    if isinstance(cert_or_key, x509.Certificate):
        _atomic_write(path, cert_or_key.public_bytes(serialization.Encoding.PEM), 0o644)
    else:
        data = cert_or_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _atomic_write(path, data, 0o600)


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file; PkiError names the file when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"the certificate file {path} cannot be read ({exc.strerror})") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"the file {path} does not hold a PEM certificate") from None


def load_private_key(path: Path, password: bytes | None = None) -> PrivateKey:
    """An EC private key from a PEM file; PkiError names the file when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"the private key file {path} cannot be read ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError):
        raise PkiError(f"the file {path} does not hold a usable PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"the private key in {path} is not an ECDSA key")
    return key


def certificate_expiry(path: Path) -> datetime:
    """When the (first) certificate in ``path`` expires, as an aware UTC datetime."""
    return load_certificate(path).not_valid_after_utc


def _serves_clients_too(path: Path) -> bool:
    """Whether a certificate may also be used as a client's (clientAuth); an unreadable one
    counts as able, so that it is kept and its problem shows where it is used."""
    try:
        usage = load_certificate(path).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except (PkiError, x509.ExtensionNotFound):
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usage.value


def write_dev_pki(directory: Path) -> DevPki:
    """Write the development CA and certificates that ``directory`` lacks; idempotent.

    Files already present are kept. A missing certificate whose key exists is issued
    again for that key (a certificate whose key is missing gets a new key); so is a node
    certificate of an earlier release, which could not serve as a client's (the node
    delivering in receive mode). The receive endpoint's certificate is left out of a
    directory whose CA has no key beside it. A missing CA while certificates it issued are
    present is refused (a new CA would not have issued them): PkiError says which files to
    remove.
    """
    pki = DevPki.in_directory(directory)
    ca_key_path = directory / CA_KEY
    renewable = pki.node_key.exists() and ca_key_path.exists()
    if renewable and pki.node_cert.exists() and not _serves_clients_too(pki.node_cert):
        pki.node_cert.unlink()
    leaves = (
        (pki.node_cert, pki.node_key, "skn-simulator node", True),
        (pki.client_cert, pki.client_key, "skn-connector development client", False),
        (pki.receiver_cert, pki.receiver_key, "skn-connector receive endpoint", True),
    )
    missing_leaves = [leaf for leaf in leaves if not (leaf[0].exists() and leaf[1].exists())]
    if pki.ca_cert.exists() and not ca_key_path.exists() and missing_leaves == [leaves[2]]:
        # a PKI made elsewhere without its CA's key (a test's, say): the receive endpoint's
        # certificate cannot be issued, and the node and the connector need none
        return pki
    if not missing_leaves and pki.ca_cert.exists():
        return pki
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    if pki.ca_cert.exists():
        if not ca_key_path.exists():
            raise PkiError(
                f"{pki.ca_cert} exists without {ca_key_path}, so the missing certificates "
                f"cannot be issued; remove the files in {directory} to start a new development PKI"
            )
        ca_cert = load_certificate(pki.ca_cert)
        ca_key = load_private_key(ca_key_path)
    else:
        present = [leaf[0] for leaf in leaves if leaf[0].exists()]
        if present:
            raise PkiError(
                f"{pki.ca_cert} is missing but {present[0]} exists; remove the files in "
                f"{directory} to start a new development PKI"
            )
        ca_cert, ca_key = make_ca("skn-connector development CA")
        write_pem(ca_key_path, ca_key)
        write_pem(pki.ca_cert, ca_cert)

    for cert_path, key_path, common_name, server in missing_leaves:
        existing_key = load_private_key(key_path) if key_path.exists() else None
        cert, key = issue_certificate(
            ca_cert,
            ca_key,
            common_name,
            server=server,
            key=existing_key,
            client_too=cert_path == pki.node_cert,
        )
        if existing_key is None:
            write_pem(key_path, key)
        write_pem(cert_path, cert)
    return pki


__all__ = [
    "LOOPBACK_SANS",
    "DevPki",
    "PkiError",
    "certificate_expiry",
    "issue_certificate",
    "load_certificate",
    "load_private_key",
    "make_ca",
    "write_dev_pki",
    "write_pem",
]
