"""The receive endpoint's TLS: our server certificate, and a client certificate required from
the CA(s) in ``receive.tls.client_trust`` (the node's), checked in the handshake."""

from __future__ import annotations

import ssl
from pathlib import Path

from ..config import ConfigError, ReceiveTlsSettings

_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def _readable(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{key}: the file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{key}: the file {path} cannot be read ({exc.strerror})") from None


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")


def build_receive_ssl_context(
    tls: ReceiveTlsSettings, password: str | None = None
) -> ssl.SSLContext:
    """TLS 1.2 at least; a client without a certificate from ``client_trust`` is refused in
    the handshake, before the application sees a byte. ConfigError names the key of any
    file that cannot be used."""
    certificate = _readable(tls.certificate, "receive.tls.certificate")
    _readable(tls.private_key, "receive.tls.private_key")
    trust = _readable(tls.client_trust, "receive.tls.client_trust")
    if _PEM_CERTIFICATE not in certificate:
        raise ConfigError(f"receive.tls.certificate: {tls.certificate} holds no PEM certificate")
    if _PEM_CERTIFICATE not in trust:
        raise ConfigError(f"receive.tls.client_trust: {tls.client_trust} holds no PEM certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=str(tls.client_trust))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"receive.tls.client_trust: {tls.client_trust} cannot be loaded ({_reason(exc)})"
        ) from None
    secret = password.encode("utf-8") if password is not None else None
    try:
        context.load_cert_chain(
            str(tls.certificate), str(tls.private_key), password=lambda: secret or b""
        )
    except ssl.SSLError as exc:
        raise ConfigError(
            f"receive.tls.private_key: the certificate {tls.certificate} and key "
            f"{tls.private_key} cannot be used together ({_reason(exc)}; a wrong password, "
            "or a key that does not match)"
        ) from None
    return context
