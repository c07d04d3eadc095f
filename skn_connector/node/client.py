"""The connector's client to the node: SOAP 1.1 over HTTPS with mutual TLS (httpx).

Four operations on the participant's messagebox: list, fetch, confirm, send; and three
optional batched ones, fetch, confirm and send several messages in one call, which fall back
to the single operations when the node does not offer them. Every failure
becomes one ``NodeError`` whose text is one clear sentence without personal data, and whose
``retryable`` says whether trying again later can help. The client never retries itself:
the caller does (the pipeline, with backoff), because only the caller knows what is safe to
repeat.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from ..wire.profile import (
    MAX_BATCH,
    MAX_ENVELOPE_BYTES,
    OP_CONFIRM,
    OP_CONFIRM_MANY,
    OP_FETCH,
    OP_FETCH_MANY,
    OP_LIST,
    OP_SEND,
    OP_SEND_MANY,
    SERVICE_NS,
)
from ..wire.soap import (
    SoapFault,
    WireError,
    decode_payload,
    element,
    encode_payload,
    envelope,
    open_envelope,
)

logger = logging.getLogger("skn_connector.node")

#: Connect 5 s, read 30 s, write 30 s, wait for a pooled connection 5 s.
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
#: The longest fault reason from the node we repeat in an error message.
MAX_REASON: Final = 300

#: TLS alerts by which a node refuses our client certificate.
CLIENT_CERTIFICATE_ALERTS: Final = frozenset(
    {
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
#: TLS errors that mean the two sides cannot agree: configuration, not a passing outage.
HANDSHAKE_MISMATCHES: Final = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_VERSION_NUMBER",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_SHARED_CIPHER",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "HTTP_REQUEST",
    }
)
#: OpenSSL's verify codes for a certificate that does not name the host (name, e-mail, IP).
NAME_MISMATCH_CODES: Final = frozenset({62, 63, 64})


class NodeError(Exception):
    """A node operation that failed; the text is one clear sentence without personal data."""

    retryable: ClassVar[bool] = False


class NodeUnavailable(NodeError):
    """The node cannot be reached or failed (refused connection, timeout, reset, HTTP 5xx,
    SOAP Server fault, an answer we cannot read): try again later."""

    retryable = True


class NodeTLSError(NodeError):
    """A TLS trust or configuration problem (certificates, trust, protocol): fix the settings."""

    retryable = False


class NodeSetupError(NodeTLSError):
    """The node's settings cannot be used (its URL; a certificate or key file missing,
    unreadable, not matching, expired): a configuration problem, found before the node is
    called. A NodeTLSError, as it was before it had a class of its own."""


class NodeRejected(NodeError):
    """The node refused the request (a SOAP Client fault, an HTTP 4xx): repeating will not help."""

    retryable = False


@dataclass(frozen=True)
class MessageboxEntry:
    """A message waiting in our messagebox: the node's handle and when it was placed."""

    id: str
    placed: datetime


@dataclass(frozen=True)
class FetchedMessage:
    """A fetched message: the node's handle and the message bytes, as the node handed them."""

    id: str
    payload: bytes


#: The most base64 a batched send puts in one request (a single send may carry more).
SEND_BUDGET: Final = MAX_ENVELOPE_BYTES - 64 * 1024


def _chunks(payloads: list[bytes], budget: int) -> Iterable[list[bytes]]:
    """Consecutive runs of at most MAX_BATCH payloads whose base64 fits in ``budget``
    bytes (a payload too large for that goes alone)."""
    chunk: list[bytes] = []
    used = 0
    for payload in payloads:
        size = (len(payload) + 2) // 3 * 4
        if chunk and (used + size > budget or len(chunk) >= MAX_BATCH):
            yield chunk
            chunk, used = [], 0
        chunk.append(payload)
        used += size
    if chunk:
        yield chunk


# -- TLS --------------------------------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NodeSetupError(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise NodeSetupError(f"the {what} {path} cannot be read ({exc.strerror})") from None


def _load_key(path: Path, data: bytes, secret: bytes | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:
            raise NodeSetupError(
                f"the private key file {path} is encrypted and no password is set"
            ) from None
        # a password was given for a key that is not encrypted: the key is usable as it is
        return _load_key(path, data, None)
    except ValueError:
        reason = "or the password is wrong" if secret is not None else "in PEM form"
        raise NodeSetupError(
            f"the private key file {path} holds no usable private key {reason}"
        ) from None


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def build_ssl_context(
    certificate: Path,
    private_key: Path,
    trust: Path,
    password: str | None = None,
) -> ssl.SSLContext:
    """The client's TLS: our certificate and key, trusting only the CA certificates in ``trust``.

    TLS 1.2 at least, the node's certificate verified and its host name checked; the
    system's trust store is not used. NodeSetupError names the file of any problem.
    """
    cert_data = _read(certificate, "client certificate file")
    key_data = _read(private_key, "private key file")
    trust_data = _read(trust, "trust file (node.tls.trust)")
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        raise NodeSetupError(
            f"the client certificate file {certificate} holds no PEM certificate"
        ) from None
    secret = password.encode("utf-8") if password is not None else None
    key = _load_key(private_key, key_data, secret)
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise NodeSetupError(
            f"the private key {private_key} does not match the certificate {certificate}"
        )
    if b"-----BEGIN CERTIFICATE-----" not in trust_data:
        raise NodeSetupError(f"the trust file (node.tls.trust) {trust} holds no PEM certificate")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=str(trust))
    except ssl.SSLError as exc:
        raise NodeSetupError(
            f"the trust file (node.tls.trust) {trust} cannot be loaded ({_ssl_reason(exc)})"
        ) from None

    def _password() -> bytes:
        return secret or b""

    try:
        context.load_cert_chain(str(certificate), str(private_key), password=_password)
    except ssl.SSLError as exc:
        raise NodeSetupError(
            f"the client certificate {certificate} and key {private_key} cannot be loaded "
            f"({_ssl_reason(exc)})"
        ) from None
    return context


def _ssl_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return str(exc.verify_message)
    return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(text: str, limit: int = MAX_REASON) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LOOPBACK_NETWORKS: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback_host(host: str) -> bool:
    """Whether a URL's host is this machine: an address in 127.0.0.0/8, ``::1``, or the name
    ``localhost``. Only a literal address or that one name counts: any other name could
    resolve anywhere, and an IPv4-mapped IPv6 address is left out rather than reasoned about.
    """
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _LOOPBACK_NETWORKS)


# -- the client --------------------------------------------------------------------------


class NodeClient:
    """The participant's messagebox at the node, over SOAP 1.1 and mutual TLS."""

    def __init__(
        self,
        url: str,
        participant_id: uuid.UUID,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout: httpx.Timeout | None = None,
        allow_insecure: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``ssl_context`` from ``build_ssl_context`` (required for https unless a test
        ``transport`` is given); ``allow_insecure`` permits a plain-http URL to a loopback host
        (a local simulator).
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise NodeSetupError("node.url is not a valid URL") from None
        if parsed.scheme == "http":
            if not allow_insecure:
                raise NodeSetupError(
                    "node.url uses plain http; use https or --insecure-dev for a local simulator"
                )
            if not is_loopback_host(parsed.host):
                raise NodeSetupError(
                    "node.url uses plain http to a host that is not a loopback address; plain "
                    "http is for a local simulator on a loopback address (127.0.0.0/8, ::1 or "
                    "localhost) only, so use https with [node.tls]"
                )
        elif parsed.scheme == "https":
            if ssl_context is None and transport is None:
                raise NodeSetupError(
                    "node.url uses https but no TLS context is configured (node.tls settings)"
                )
        else:
            raise NodeSetupError(
                f"node.url must be an https URL, not {parsed.scheme or 'relative'}"
            )
        if not parsed.host:
            raise NodeSetupError("node.url has no host")
        self._url = url
        #: whether the node offers the batched operations: None until the first try
        self._batched: bool | None = None
        self._where = f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
        self._participant = str(participant_id)
        self._observers: list[Callable[[str, str, float], None]] = []
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self._http = httpx.Client(
            verify=ssl_context if ssl_context is not None else False,
            timeout=self.timeout,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            headers={"Content-Type": SOAP_CONTENT_TYPE, "User-Agent": "skn-connector"},
        )

    @property
    def url(self) -> str:
        return self._url

    # -- the operations --

    def list_messages(self, limit: int = 100) -> list[MessageboxEntry]:
        """What waits in our messagebox (fetched but unconfirmed included), oldest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        answer = self._call(
            OP_LIST,
            "BerichtenlijstVraag",
            [("Deelnemer", self._participant), ("Maximum", str(limit))],
            "BerichtenlijstAntwoord",
        )
        entries = []
        for item in answer.iterfind(f"{{{SERVICE_NS}}}Bericht"):
            handle = (item.findtext(f"{{{SERVICE_NS}}}Id") or "").strip()
            placed_text = (item.findtext(f"{{{SERVICE_NS}}}Geplaatst") or "").strip()
            if not handle:
                raise NodeUnavailable(f"the node's answer to {OP_LIST} has an entry without Id")
            try:
                placed = datetime.fromisoformat(placed_text)
            except ValueError:
                raise NodeUnavailable(
                    f"the node's answer to {OP_LIST} has an entry without a valid Geplaatst"
                ) from None
            if placed.tzinfo is None:
                placed = placed.replace(tzinfo=UTC)
            entries.append(MessageboxEntry(id=handle, placed=placed))
        return entries

    def fetch(self, message_id: str) -> FetchedMessage:
        """The bytes of one waiting message; the node marks it fetched."""
        answer = self._call(
            OP_FETCH,
            "BerichtVraag",
            [("Deelnemer", self._participant), ("Id", message_id)],
            "BerichtAntwoord",
        )
        self._check_id(OP_FETCH, answer, message_id)
        return FetchedMessage(id=message_id, payload=self._content(OP_FETCH, answer))

    @staticmethod
    def _content(operation: str, item: Any) -> bytes:
        content = item.findtext(f"{{{SERVICE_NS}}}Inhoud")
        if content is None:
            raise NodeUnavailable(f"the node's answer to {operation} has no Inhoud")
        try:
            return decode_payload("".join(content.split()))
        except WireError as exc:
            raise NodeUnavailable(
                f"the node's answer to {operation} is not usable: {exc}"
            ) from None

    def fetch_many(self, message_ids: list[str]) -> list[FetchedMessage]:
        """Several listed messages in one call, in the order asked; the node may return only
        the first ones (as many as fit in one answer); fetch the rest again. Falls back to
        ``fetch`` one by one when the node does not offer the batched operation."""
        if not message_ids:
            return []
        if len(message_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages in one call")
        if self._batched is not False:
            fields = [("Deelnemer", self._participant)] + [("Id", i) for i in message_ids]
            try:
                answer = self._call(OP_FETCH_MANY, "BerichtenVraag", fields, "BerichtenAntwoord")
            except NodeRejected as exc:
                if self._batched:
                    raise
                fetched = self._fetch_singly(message_ids)
                self._no_batches(OP_FETCH_MANY, exc)  # the single operation worked
                return fetched
            self._batched = True
            return self._fetched(answer, message_ids)
        return self._fetch_singly(message_ids)

    def _fetch_singly(self, message_ids: list[str]) -> list[FetchedMessage]:
        """``fetch`` one by one, as many as would fit in one batched answer."""
        fetched: list[FetchedMessage] = []
        size = 0
        for message_id in message_ids:
            if fetched and size > SEND_BUDGET:
                break
            fetched.append(self.fetch(message_id))
            size += len(fetched[-1].payload) * 4 // 3
        return fetched

    def _fetched(self, answer: Any, message_ids: list[str]) -> list[FetchedMessage]:
        fetched = []
        for item, expected in zip(
            answer.iterfind(f"{{{SERVICE_NS}}}Bericht"), message_ids, strict=False
        ):
            handle = (item.findtext(f"{{{SERVICE_NS}}}Id") or "").strip()
            if handle != expected:
                raise NodeUnavailable(
                    f"the node answered {OP_FETCH_MANY} with Id {handle or '(none)'} "
                    f"where {expected} was asked"
                )
            fetched.append(FetchedMessage(id=handle, payload=self._content(OP_FETCH_MANY, item)))
        if not fetched:
            raise NodeUnavailable(f"the node's answer to {OP_FETCH_MANY} holds no message")
        return fetched

    def confirm_many(self, message_ids: list[str]) -> None:
        """Confirm several messages in one call (idempotent); falls back to ``confirm`` one
        by one when the node does not offer the batched operation."""
        if not message_ids:
            return
        if len(message_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} messages in one call")
        if self._batched is not False:
            fields = [("Deelnemer", self._participant)] + [("Id", i) for i in message_ids]
            try:
                answer = self._call(
                    OP_CONFIRM_MANY, "BevestigingenVraag", fields, "BevestigingenAntwoord"
                )
            except NodeRejected as exc:
                if self._batched:
                    raise
                for message_id in message_ids:
                    self.confirm(message_id)
                self._no_batches(OP_CONFIRM_MANY, exc)
                return
            self._batched = True
            answered = [(e.text or "").strip() for e in answer.iterfind(f"{{{SERVICE_NS}}}Id")]
            if answered != message_ids:
                raise NodeUnavailable(
                    f"the node answered {OP_CONFIRM_MANY} for other Ids than were asked"
                )
            return
        for message_id in message_ids:
            self.confirm(message_id)

    def send_many(self, payloads: list[bytes]) -> list[str | NodeRejected]:
        """Deliver several encoded messages; for each, in order, the Referentienummer the node
        acknowledged or the NodeRejected by which it refused that message. Any other failure
        raises: then which messages the node took is unknown, and sending them again is safe
        (the node takes a Referentienummer once). Falls back to ``send`` one by one when the node
        does not offer the batched operation."""
        results: list[str | NodeRejected] = []
        for chunk in _chunks(payloads, SEND_BUDGET):
            if self._batched is not False:
                try:
                    results += self._send_chunk(chunk)
                    continue
                except NodeRejected as exc:
                    if self._batched:
                        raise
                    results += self._send_singly(chunk)
                    self._no_batches(OP_SEND_MANY, exc)
                    continue
            results += self._send_singly(chunk)
        return results

    def _send_singly(self, payloads: list[bytes]) -> list[str | NodeRejected]:
        results: list[str | NodeRejected] = []
        for payload in payloads:
            try:
                results.append(self.send(payload))
            except NodeRejected as exc:
                results.append(exc)
        return results

    def _send_chunk(self, payloads: list[bytes]) -> list[str | NodeRejected]:
        fields = [("Deelnemer", self._participant)]
        fields += [("Inhoud", encode_payload(payload)) for payload in payloads]
        answer = self._call(
            OP_SEND_MANY, "BerichtenVerstuurVraag", fields, "BerichtenVerstuurAntwoord"
        )
        self._batched = True
        results: list[str | NodeRejected] = []
        for item in answer.iterfind(f"{{{SERVICE_NS}}}Resultaat"):
            referentienummer = (item.findtext(f"{{{SERVICE_NS}}}Referentienummer") or "").strip()
            refused = item.findtext(f"{{{SERVICE_NS}}}Fout")
            if referentienummer:
                results.append(referentienummer)
            elif refused is not None:
                results.append(
                    NodeRejected(f"the node refused {OP_SEND_MANY}: {_one_line(refused)}")
                )
            else:
                raise NodeUnavailable(
                    f"the node's answer to {OP_SEND_MANY} has a Resultaat without Referentienummer"
                )
        if len(results) != len(payloads):
            raise NodeUnavailable(
                f"the node answered {OP_SEND_MANY} for {len(results)} of {len(payloads)} messages"
            )
        return results

    def _no_batches(self, operation: str, exc: NodeRejected) -> None:
        """The node refused a batched operation whose single form then worked: it does not
        offer the batched ones; use the single ones from now on."""
        self._batched = False
        logger.info("the node refused %s (%s); using the single operations", operation, exc)

    def confirm(self, message_id: str) -> None:
        """Remove a message from our messagebox (after it is stored durably); idempotent."""
        answer = self._call(
            OP_CONFIRM,
            "BevestigVraag",
            [("Deelnemer", self._participant), ("Id", message_id)],
            "BevestigAntwoord",
        )
        self._check_id(OP_CONFIRM, answer, message_id)

    def send(self, payload: bytes) -> str:
        """Deliver one encoded message; return the Referentienummer the node acknowledged."""
        answer = self._call(
            OP_SEND,
            "VerstuurVraag",
            [("Deelnemer", self._participant), ("Inhoud", encode_payload(payload))],
            "VerstuurAntwoord",
        )
        referentienummer = (answer.findtext(f"{{{SERVICE_NS}}}Referentienummer") or "").strip()
        if not referentienummer:
            raise NodeUnavailable(f"the node's answer to {OP_SEND} has no Referentienummer")
        return referentienummer

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the plumbing --

    @staticmethod
    def _check_id(operation: str, answer: Any, message_id: str) -> None:
        answered = (answer.findtext(f"{{{SERVICE_NS}}}Id") or "").strip()
        if answered != message_id:
            raise NodeUnavailable(
                f"the node answered {operation} for Id {message_id} with Id {answered or '(none)'}"
            )

    def _call(
        self,
        operation: str,
        request_name: str,
        fields: list[tuple[str, str]],
        answer_name: str,
    ) -> Any:
        request = envelope(element(SERVICE_NS, request_name, fields))
        started = time.monotonic()
        status, data = self._post(operation, request)
        body = self._open(operation, status, data)
        if body.tag != f"{{{SERVICE_NS}}}{answer_name}":
            found = str(body.tag).rsplit("}", 1)[-1]
            raise NodeUnavailable(
                f"the node answered {operation} with {found} instead of {answer_name}"
            )
        logger.debug("%s took %.3f s", operation, time.monotonic() - started)
        return body

    def observe(self, observer: Callable[[str, str, float], None]) -> None:
        """Have ``observer(operation, outcome, seconds)`` called after each call to the node:
        outcome ``ok`` (HTTP 200), ``refused`` (another status: a fault) or ``error`` (no
        answer: a timeout, a refused connection, TLS). For the metrics."""
        self._observers.append(observer)

    def _post(self, operation: str, request: bytes) -> tuple[int, bytes]:
        started = time.monotonic()
        outcome = "error"
        try:
            status, data = self._exchange(operation, request)
            outcome = "ok" if status == 200 else "refused"
            return status, data
        finally:
            for observer in self._observers:
                observer(operation, outcome, time.monotonic() - started)

    def _exchange(self, operation: str, request: bytes) -> tuple[int, bytes]:
        try:
            with self._http.stream(
                "POST", self._url, content=request, headers={"SOAPAction": f'"{operation}"'}
            ) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_ENVELOPE_BYTES:
                    raise self._too_large(operation)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ENVELOPE_BYTES:
                        raise self._too_large(operation)
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise self._timeout(operation, exc) from None
        except (httpx.RequestError, ssl.SSLError, OSError) as exc:
            raise self._transport_failure(operation, exc) from None

    @staticmethod
    def _too_large(operation: str) -> NodeUnavailable:
        return NodeUnavailable(
            f"the node's answer to {operation} is over the limit of {MAX_ENVELOPE_BYTES} bytes"
        )

    def _timeout(self, operation: str, exc: httpx.TimeoutException) -> NodeError:
        if isinstance(exc, httpx.ConnectTimeout):
            return NodeUnavailable(
                f"the node at {self._where} did not accept a connection within "
                f"{self.timeout.connect:g} s"
            )
        if isinstance(exc, httpx.PoolTimeout):
            return NodeUnavailable(
                f"no connection to the node was free within {self.timeout.pool:g} s"
            )
        if isinstance(exc, httpx.WriteTimeout):
            return NodeUnavailable(
                f"the node at {self._where} did not take the {operation} request within "
                f"{self.timeout.write:g} s"
            )
        # a TLS 1.3 handshake may finish late, so a read timeout can hide a TLS alert: look
        tls = self._tls_failure(exc)
        if tls is not None:
            return tls
        return NodeUnavailable(
            f"the node at {self._where} did not answer {operation} within {self.timeout.read:g} s"
        )

    def _tls_failure(self, exc: BaseException) -> NodeError | None:
        for cause in _causes(exc):
            if isinstance(cause, ssl.SSLCertVerificationError):
                reason = _ssl_reason(cause)
                if cause.verify_code in NAME_MISMATCH_CODES:
                    return NodeTLSError(
                        f"the node's certificate does not name the host of node.url ({reason})"
                    )
                return NodeTLSError(
                    f"the node's certificate is not trusted by node.tls.trust ({reason})"
                )
            if isinstance(cause, ssl.SSLError):
                code = str(cause.reason or "")
                if code in CLIENT_CERTIFICATE_ALERTS:
                    return NodeTLSError(
                        f"the node refused our client certificate ({_ssl_reason(cause)})"
                    )
                if code in HANDSHAKE_MISMATCHES:
                    return NodeTLSError(
                        f"the TLS handshake with the node at {self._where} failed "
                        f"({_ssl_reason(cause)}); check node.url and the node's TLS settings"
                    )
                return NodeUnavailable(
                    f"the TLS connection to the node at {self._where} broke ({_ssl_reason(cause)})"
                )
        return None

    def _transport_failure(self, operation: str, exc: BaseException) -> NodeError:
        tls = self._tls_failure(exc)
        if tls is not None:
            return tls
        for cause in _causes(exc):
            if isinstance(cause, ConnectionRefusedError):
                return NodeUnavailable(f"the node at {self._where} refused the connection")
            if isinstance(cause, ConnectionResetError | BrokenPipeError):
                return NodeUnavailable(
                    f"the node at {self._where} reset the connection during {operation}"
                )
        if isinstance(exc, httpx.RemoteProtocolError):
            return NodeUnavailable(
                f"the node at {self._where} closed the connection during {operation} "
                f"({_one_line(str(exc))})"
            )
        if isinstance(exc, httpx.ConnectError):
            return NodeUnavailable(
                f"cannot connect to the node at {self._where} ({_one_line(str(exc))})"
            )
        return NodeUnavailable(
            f"the connection to the node at {self._where} failed during {operation} "
            f"({_one_line(str(exc) or type(exc).__name__)})"
        )

    @staticmethod
    def _open(operation: str, status: int, data: bytes) -> Any:
        try:
            body = open_envelope(data)
        except SoapFault as exc:
            reason = _one_line(exc.reason)
            if exc.code.split(".")[0] in ("Client", "Sender"):
                raise NodeRejected(f"the node refused {operation}: {reason}") from None
            raise NodeUnavailable(
                f"the node failed {operation} (SOAP {exc.code} fault: {reason})"
            ) from None
        except WireError as exc:
            if status >= 500 or status in (408, 429):
                raise NodeUnavailable(f"the node answered HTTP {status} to {operation}") from None
            if 300 <= status < 500:
                raise NodeRejected(
                    f"the node answered HTTP {status} to {operation}; check node.url"
                ) from None
            raise NodeUnavailable(
                f"the node's answer to {operation} is not a well-formed SOAP envelope ({exc})"
            ) from None
        if status != 200:
            raise NodeUnavailable(
                f"the node answered HTTP {status} to {operation} without a SOAP fault"
            )
        return body


__all__ = [
    "DEFAULT_TIMEOUT",
    "FetchedMessage",
    "MessageboxEntry",
    "NodeClient",
    "NodeError",
    "NodeRejected",
    "NodeTLSError",
    "NodeUnavailable",
    "build_ssl_context",
]
