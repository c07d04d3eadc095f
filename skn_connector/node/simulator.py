"""A simulated SKN node: the messagebox SOAP service plus an admin API, for development and tests.

The SOAP service speaks the provisional wire protocol of ``wire/profile.py`` (SOAP 1.1 over
HTTP POST to ``/skn``), in HTTPS with a required client certificate when a TLS directory is
given. The admin API (plain HTTP, always bound to 127.0.0.1) plays the other side of the
network: it queues messages for a participant, shows what the connector sent, and injects
faults. It answers programs on this machine, not web pages in a browser there: a JSON body
needs ``Content-Type: application/json`` (415 otherwise), and a foreign ``Origin`` or a
``Host`` other than 127.0.0.1 or localhost at its port is refused (403). State lives in
memory, one messagebox per participant, behind one lock.

Fault modes (``POST /_admin/faults``) apply to SOAP requests, each drawn independently:
``latency_ms`` delays every request; ``timeout_rate`` hangs before the request is processed
(30 s, or until ``stop()``) and then closes without an answer; ``error_rate`` answers HTTP 500
with a SOAP Server fault, without processing; ``reset_rate`` processes the request and then
resets the connection instead of answering (a lost answer: the caller must retry
idempotently); ``duplicate_rate`` queues a confirmed message again (a duplicate delivery).

Message contents are personal data: nothing here logs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import random
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, Final, cast
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from ..messages import Message, MessageError, message_from_json
from ..wire.profile import (
    MAX_BATCH,
    MAX_ENVELOPE_BYTES,
    MAX_MESSAGE_BYTES,
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
    DecodeError,
    SoapFault,
    WireError,
    decode_message,
    decode_payload,
    element,
    encode_message,
    encode_payload,
    envelope,
    fault,
    open_envelope,
)
from .certs import DevPki, PkiError, write_dev_pki
from .pusher import DEFAULT_WORKERS, Pusher, push_target

logger = logging.getLogger("skn_connector.simulator")

#: The path of the SOAP service.
SOAP_PATH: Final = "/skn"
SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
JSON_CONTENT_TYPE: Final = "application/json"
#: A client that has not finished the TLS handshake by then is dropped.
HANDSHAKE_TIMEOUT: Final = 5.0
#: An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT: Final = 60.0
#: How long a request hangs under the timeout fault (unless the simulator stops first).
HANG_SECONDS: Final = 30.0
#: After a refused handshake, how long we read what the client still sends before closing
#: (closing at once could reset the connection before the client has read our TLS alert).
LINGER_SECONDS: Final = 0.5
#: How often the accept loops look whether to stop (``stop()`` takes about this long).
POLL_INTERVAL: Final = 0.02
#: How long ``stop()`` waits for the connections' threads to end.
JOIN_TIMEOUT: Final = 5.0
#: The most entries one list request may ask for.
MAX_LIST: Final = 1000
#: The body element each operation expects, and the one it answers with.
REQUESTS: Final = {
    OP_LIST: ("BerichtenlijstVraag", "BerichtenlijstAntwoord"),
    OP_FETCH: ("BerichtVraag", "BerichtAntwoord"),
    OP_CONFIRM: ("BevestigVraag", "BevestigAntwoord"),
    OP_SEND: ("VerstuurVraag", "VerstuurAntwoord"),
    OP_FETCH_MANY: ("BerichtenVraag", "BerichtenAntwoord"),
    OP_CONFIRM_MANY: ("BevestigingenVraag", "BevestigingenAntwoord"),
    OP_SEND_MANY: ("BerichtenVerstuurVraag", "BerichtenVerstuurAntwoord"),
}
#: Room in a batched fetch answer for everything but the base64 contents.
ENVELOPE_OVERHEAD: Final = 64 * 1024
STAT_NAMES: Final = (
    "queued",
    "listed",
    "fetched",
    "confirmed",
    "sent",
    "duplicate_sends",
    "duplicate_deliveries",
    "faults_injected",
    "tls_refusals",
    "pushed",
    "acknowledged",
)
RATE_NAMES: Final = ("error_rate", "reset_rate", "timeout_rate", "duplicate_rate")
MAX_LATENCY_MS: Final = 60_000


class SimulatorError(Exception):
    """The simulator cannot start; the text is one sentence naming what to fix."""


class FaultSettingsError(ValueError):
    """Fault settings that are not valid; ``errors`` name each problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class FaultSettings:
    """The fault modes of the SOAP service (all off by default)."""

    error_rate: float = 0.0
    latency_ms: int = 0
    reset_rate: float = 0.0
    timeout_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        """Validate the JSON form; missing keys are off, unknown keys are refused."""
        if not isinstance(data, dict):
            raise FaultSettingsError(["the fault settings are a JSON object"])
        allowed = {"latency_ms", "seed", *RATE_NAMES}
        errors = [f"{key}: unknown fault setting" for key in data if key not in allowed]
        values: dict[str, Any] = {}
        for name in RATE_NAMES:
            value = data.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(f"{name}: must be a number between 0 and 1")
            elif not 0.0 <= value <= 1.0:
                errors.append(f"{name}: must lie between 0 and 1")
            else:
                values[name] = float(value)
        latency = data.get("latency_ms", 0)
        if isinstance(latency, bool) or not isinstance(latency, int):
            errors.append("latency_ms: must be a whole number of milliseconds")
        elif not 0 <= latency <= MAX_LATENCY_MS:
            errors.append(f"latency_ms: must lie between 0 and {MAX_LATENCY_MS}")
        else:
            values["latency_ms"] = latency
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            errors.append("seed: must be a whole number or null")
        else:
            values["seed"] = seed
        if errors:
            raise FaultSettingsError(errors)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Entry:
    """One message waiting in a messagebox."""

    id: str
    ontvanger: uuid.UUID
    placed: datetime
    payload: bytes
    seq: int
    referentienummer: str | None = None
    berichttype: str | None = None
    fetched: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Ontvanger": str(self.ontvanger),
            "Geplaatst": self.placed.isoformat(),
            "Opgehaald": self.fetched,
            "Referentienummer": self.referentienummer,
            "Berichttype": self.berichttype,
        }


@dataclass(frozen=True)
class PushEntry:
    """A message to deliver to the receiver: the node's handle, for whom, its bytes."""

    id: str
    ontvanger: uuid.UUID
    payload: bytes


@dataclass
class _Sent:
    message: Message
    payload: bytes


class ClientFaultError(Exception):
    """A request the node refuses: answered with a SOAP Client fault naming ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _now() -> datetime:
    return datetime.now(UTC)


def legacy_header(header: dict[str, Any]) -> dict[str, Any]:
    """A header in its JSON form, with wire profile 1's ``BerichtId`` taken as the
    Referentienummer (accepted on input for one release).

    Profile 1 used ``Referentienummer`` for the sender's free text: a value that is not a
    UUID gives way to the BerichtId. Two different UUIDs are refused (MessageError).
    """
    header = dict(header)
    if "BerichtId" not in header:
        return header
    bericht_id = header.pop("BerichtId")
    given = header.get("Referentienummer")
    both = given is not None and _is_uuid(given) and _is_uuid(bericht_id)
    if both and uuid.UUID(str(given)) != uuid.UUID(str(bericht_id)):
        raise MessageError(
            [
                "Berichtheader/BerichtId: the name of wire profile 1 for the "
                "Referentienummer; give one of the two, not two different ids"
            ]
        )
    header["Referentienummer"] = bericht_id
    return header


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class NodeState:
    """The simulated node's memory: messageboxes, sent messages, counters and fault settings.

    Every method is thread-safe. The admin API and in-process callers (tests, the demo)
    use the same methods.

    ``keep_sent=False`` keeps only the Referentienummer and a digest of each message the connector
    sends (enough for the duplicate checks and the counts), not the message itself: for
    long runs such as the pipeline benchmark, where 100,000 kept answers would dwarf the
    connector's own memory. ``sent()`` then lists nothing.
    """

    def __init__(self, *, keep_sent: bool = True) -> None:
        self._lock = threading.Lock()
        # ordered dicts: confirming pops entries from the front, and a plain dict would
        # leave the freed slots for every later list to step over (quadratic in the backlog)
        self._boxes: dict[uuid.UUID, OrderedDict[str, _Entry]] = {}
        self._confirmed: dict[str, uuid.UUID] = {}
        self._keep_sent = keep_sent
        self._sent: list[_Sent] = []
        #: Referentienummer -> SHA-256 of the bytes sent under it
        self._sent_by_id: dict[str, bytes] = {}
        #: (sender, Referentienummer) of every send of a message sent before, in order
        self._resent: list[tuple[str, str]] = []
        self._stats: Counter[str] = Counter()
        self._faults = FaultSettings()
        self._rng = random.Random()
        self._seq = 0
        #: with ``push``: the entries still to deliver to the receiver, oldest first
        self._push = False
        self._to_push: deque[_Entry] = deque()
        self._pushable = threading.Condition(self._lock)
        #: the handles the receiver acknowledged, in order (a redelivery's again)
        self._acknowledged: list[str] = []

    # -- the admin side ---------------------------------------------------------------

    def queue_message(self, data: Any) -> tuple[str, str]:
        """Queue a message given in its JSON form; return (Referentienummer, node handle).

        ``Referentienummer``, ``Verzonden`` and ``ConversatieReferentienummer`` (a new
        conversation) are filled when absent. ``BerichtId``, the
        name of wire profile 1, is taken as the Referentienummer for one release
        (``legacy_header``). MessageError when the message does not fit the catalog,
        WireError when it does not fit the XSD.
        """
        if isinstance(data, dict) and isinstance(data.get("Berichtheader"), dict):
            header = legacy_header(data["Berichtheader"])
            if header.get("Referentienummer") is None:
                header["Referentienummer"] = str(uuid.uuid4())
            if header.get("ConversatieReferentienummer") is None:  # a new conversation
                header["ConversatieReferentienummer"] = str(uuid.uuid4())
            if header.get("Verzonden") is None:
                header["Verzonden"] = _now().astimezone().isoformat()
            data = {**data, "Berichtheader": header}
        message = message_from_json(data)
        payload = encode_message(message)
        header_model = message.berichtheader
        referentienummer = str(header_model.referentienummer)
        handle = self._queue(
            header_model.ontvanger,
            payload,
            referentienummer=referentienummer,
            berichttype=message.BERICHTTYPE,
        )
        return referentienummer, handle

    def queue_raw(self, ontvanger: uuid.UUID, payload: bytes) -> str:
        """Queue opaque bytes for ``ontvanger``; return the node handle."""
        return self._queue(ontvanger, bytes(payload))

    def _queue(
        self,
        ontvanger: uuid.UUID,
        payload: bytes,
        *,
        referentienummer: str | None = None,
        berichttype: str | None = None,
        count: str = "queued",
    ) -> str:
        with self._lock:
            return self._queue_locked(ontvanger, payload, referentienummer, berichttype, count)

    def _queue_locked(
        self,
        ontvanger: uuid.UUID,
        payload: bytes,
        referentienummer: str | None,
        berichttype: str | None,
        count: str,
    ) -> str:
        handle = str(uuid.uuid4())
        self._seq += 1
        entry = _Entry(
            id=handle,
            ontvanger=ontvanger,
            placed=_now(),
            payload=payload,
            seq=self._seq,
            referentienummer=referentienummer,
            berichttype=berichttype,
        )
        self._boxes.setdefault(ontvanger, OrderedDict())[handle] = entry
        self._stats[count] += 1
        if self._push:
            self._to_push.append(entry)
            self._pushable.notify()
        return handle

    def messagebox(self, ontvanger: uuid.UUID | None = None) -> list[dict[str, Any]]:
        """Every waiting entry (unfetched or unconfirmed), oldest first."""
        with self._lock:
            if ontvanger is not None:
                entries = list(self._boxes.get(ontvanger, {}).values())
            else:
                entries = [entry for box in self._boxes.values() for entry in box.values()]
        return [entry.to_json() for entry in sorted(entries, key=lambda e: e.seq)]

    def sent(self, conversation: uuid.UUID | None = None) -> list[dict[str, Any]]:
        """Every message the connector sent, in JSON form, oldest first."""
        with self._lock:
            messages = [item.message for item in self._sent]
        return [
            message.to_json()
            for message in messages
            if conversation is None
            or message.berichtheader.conversatie_referentienummer == conversation
        ]

    def resent(self) -> list[dict[str, str]]:
        """Each send of a message sent before (the node takes it once): who sent it again."""
        with self._lock:
            return [{"Afzender": a, "Referentienummer": r} for a, r in self._resent]

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = {name: self._stats[name] for name in STAT_NAMES}
            counts["waiting"] = sum(len(box) for box in self._boxes.values())
        return counts

    @property
    def faults(self) -> FaultSettings:
        with self._lock:
            return self._faults

    def set_faults(self, settings: FaultSettings) -> None:
        with self._lock:
            self._faults = settings
            self._rng = random.Random(settings.seed)

    def reset(self) -> None:
        """Forget everything: messageboxes, sent messages, counters and fault settings."""
        with self._lock:
            self._boxes.clear()
            self._confirmed.clear()
            self._sent.clear()
            self._sent_by_id.clear()
            self._resent.clear()
            self._stats.clear()
            self._faults = FaultSettings()
            self._rng = random.Random()
            self._seq = 0
            self._to_push.clear()
            self._acknowledged.clear()

    def count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    def roll(self, rate_name: str) -> bool:
        """Draw the fault ``rate_name`` (e.g. "error_rate"); count it when it fires."""
        with self._lock:
            rate = float(getattr(self._faults, rate_name))
            if rate <= 0.0:
                return False
            fired = rate >= 1.0 or self._rng.random() < rate
            if fired:
                self._stats["faults_injected"] += 1
            return fired

    # -- the node side ----------------------------------------------------------------

    def _box(self, participant: uuid.UUID) -> dict[str, _Entry]:
        """The participant's messagebox (an empty one when it has none); under the lock."""
        return self._boxes.get(participant) or {}

    def list_entries(self, participant: uuid.UUID, maximum: int) -> list[tuple[str, datetime]]:
        with self._lock:
            self._stats["listed"] += 1
            box = self._boxes.get(participant)
            entries = list(itertools.islice(box.values(), maximum)) if box else []
            return [(entry.id, entry.placed) for entry in entries]

    def fetch(self, participant: uuid.UUID, handle: str) -> bytes:
        with self._lock:
            entry = self._box(participant).get(handle)
            if entry is None:
                raise ClientFaultError(f"no message with Id {handle} waits for this participant")
            entry.fetched = True
            self._stats["fetched"] += 1
            return entry.payload

    def fetch_many(
        self, participant: uuid.UUID, handles: list[str], budget: int = MAX_ENVELOPE_BYTES
    ) -> list[tuple[str, bytes]]:
        """The waiting messages ``handles`` names, in that order, as many as fit in ``budget``
        bytes of base64 (always the first); each one returned is marked fetched. Every
        handle must wait for this participant, else nothing is fetched."""
        with self._lock:
            box = self._box(participant)
            entries = []
            for handle in handles:
                entry = box.get(handle)
                if entry is None:
                    raise ClientFaultError(
                        f"no message with Id {handle} waits for this participant"
                    )
                entries.append(entry)
            fetched: list[tuple[str, bytes]] = []
            used = 0
            for entry in entries:
                used += (len(entry.payload) + 2) // 3 * 4
                if fetched and used > budget:
                    break
                entry.fetched = True
                fetched.append((entry.id, entry.payload))
            self._stats["fetched"] += len(fetched)
            return fetched

    def confirm(self, participant: uuid.UUID, handle: str) -> None:
        self.confirm_many(participant, [handle])

    def confirm_many(self, participant: uuid.UUID, handles: list[str]) -> None:
        """Remove the messages from the messagebox (idempotent: a confirmed handle is fine).
        Every handle must be waiting or confirmed before, else nothing is confirmed."""
        with self._lock:
            box = self._box(participant)
            for handle in handles:
                if self._confirmed.get(handle) != participant and handle not in box:
                    raise ClientFaultError(
                        f"no message with Id {handle} waits for this participant"
                    )
            for handle in handles:
                self._confirm_locked(participant, handle)

    def _confirm_locked(self, participant: uuid.UUID, handle: str) -> None:
        if self._confirmed.get(handle) == participant:
            return  # confirmed before: idempotent success
        entry = self._box(participant).pop(handle, None)
        if entry is None:
            raise ClientFaultError(f"no message with Id {handle} waits for this participant")
        self._confirmed[handle] = participant
        self._stats["confirmed"] += 1
        rate = self._faults.duplicate_rate
        if rate > 0.0 and (rate >= 1.0 or self._rng.random() < rate):
            self._stats["faults_injected"] += 1
            self._queue_locked(
                participant,
                entry.payload,
                entry.referentienummer,
                entry.berichttype,
                "duplicate_deliveries",
            )

    # -- pushing (the node delivers, receive mode) ------------------------------------

    def push_all(self) -> None:
        """Deliver what waits (oldest first) and from now on every message queued
        (``Pusher``); an entry stays in the messagebox until the receiver acknowledges it."""
        with self._lock:
            if not self._push:
                waiting = [entry for box in self._boxes.values() for entry in box.values()]
                self._to_push.extend(sorted(waiting, key=lambda e: e.seq))
                self._pushable.notify_all()
            self._push = True

    def next_to_push(self, stopping: threading.Event, wait: float = 0.2) -> PushEntry | None:
        """The oldest entry still to deliver, or None after ``wait`` seconds without one."""
        with self._lock:
            if not self._to_push and not stopping.is_set():
                self._pushable.wait(wait)
            if not self._to_push:
                return None
            entry = self._to_push.popleft()
            return PushEntry(entry.id, entry.ontvanger, entry.payload)

    def pushed(self, entry: PushEntry, acknowledged: bool) -> None:
        """Count one delivery attempt; an acknowledged one leaves the messagebox, as a
        confirmed message does (a duplicate delivery fault queues it again)."""
        with self._lock:
            self._stats["pushed"] += 1
            if not acknowledged:
                return
            self._stats["acknowledged"] += 1
            self._acknowledged.append(entry.id)
            if entry.id in self._box(entry.ontvanger):
                self._confirm_locked(entry.ontvanger, entry.id)

    def acknowledged(self) -> list[str]:
        """The handles the receiver acknowledged so far, in order."""
        with self._lock:
            return list(self._acknowledged)

    def send(self, participant: uuid.UUID, payload: bytes) -> str:
        """Record a message the connector sends; return its Referentienummer."""
        try:
            message = decode_message(payload)
        except DecodeError as exc:
            errors = "; ".join(exc.errors[:10])
            raise ClientFaultError(f"the message is not valid: {errors}") from None
        referentienummer = str(message.berichtheader.referentienummer)
        digest = hashlib.sha256(payload).digest()
        with self._lock:
            known = self._sent_by_id.get(referentienummer)
            if known is not None:
                if known != digest:
                    raise ClientFaultError(
                        f"Referentienummer {referentienummer} was sent before "
                        "with different content"
                    )
                self._stats["duplicate_sends"] += 1
                self._resent.append((str(message.berichtheader.afzender), referentienummer))
                return referentienummer
            self._sent_by_id[referentienummer] = digest
            if self._keep_sent:
                self._sent.append(_Sent(message, payload))
            self._stats["sent"] += 1
            return referentienummer


# -- HTTP plumbing -------------------------------------------------------------------------


def _tls_failure_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the client certificate is not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    if isinstance(exc, TimeoutError):
        return f"no TLS handshake within {HANDSHAKE_TIMEOUT:g} s"
    if isinstance(exc, ConnectionResetError):
        return "the client reset the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return type(exc).__name__


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _linger_close(sock: socket.socket) -> None:
    """Half-close, read what the peer still sends for a moment, then close.

    Closing a socket with unread data makes the kernel send a reset, which can destroy the
    TLS alert we just sent before the client reads it (TLS 1.3 clients learn of a refused
    certificate only when they read).
    """
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        socket.socket.shutdown(sock, socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not socket.socket.recv(sock, 4096):
                break
    except OSError:
        pass
    finally:
        _close_quietly(sock)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that wraps TLS in the connection's thread and tracks connections."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        state: NodeState,
        stopping: threading.Event,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.state = state
        self.stopping = stopping
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False
        self._handlers: list[threading.Thread] = []
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which may wait on DNS; not needed
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def _track(self, sock: socket.socket, replaces: socket.socket | None = None) -> bool:
        with self._connections_lock:
            if replaces is not None:
                self._connections.discard(replaces)
            if self._closing:
                return False
            self._connections.add(sock)
            return True

    def _untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="skn-simulator-connection",
            daemon=True,
        )
        with self._connections_lock:
            self._handlers = [handler for handler in self._handlers if handler.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def server_close(self) -> None:
        """Close the listening socket and join every connection's thread."""
        super().server_close()
        with self._connections_lock:
            handlers, self._handlers = self._handlers, []
        deadline = time.monotonic() + JOIN_TIMEOUT
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        stuck = sum(handler.is_alive() for handler in handlers)
        if stuck:
            logger.warning("%d connection threads did not end within %g s", stuck, JOIN_TIMEOUT)

    def close_connections(self) -> None:
        """Shut down every open connection, so that their threads end."""
        with self._connections_lock:
            self._closing = True
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn = cast(socket.socket, request)
        if not self._track(conn):
            return
        with contextlib.suppress(OSError):  # answers are small: do not wait for Nagle
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.ssl_context is not None:
                tls = self._handshake(conn, client_address)
                if tls is None:
                    return
                conn = tls
            handler: Callable[..., object] = self.RequestHandlerClass
            handler(conn, client_address, self)
        finally:
            self._untrack(conn)
            if conn is not request:
                _close_quietly(conn)

    def _handshake(self, raw: socket.socket, client_address: Any) -> ssl.SSLSocket | None:
        assert self.ssl_context is not None
        raw.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as exc:
            self._refused(client_address, exc)
            return None
        if not self._track(tls, replaces=raw):
            _close_quietly(tls)
            return None
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            if self.stopping.is_set():
                _close_quietly(tls)
            else:
                self._refused(client_address, exc)
                _linger_close(tls)
            self._untrack(tls)
            return None
        return tls

    def _refused(self, client_address: Any, exc: BaseException) -> None:
        self.state.count("tls_refusals")
        host, port = client_address[:2]
        logger.warning(
            "refused a TLS connection from %s:%s: %s", host, port, _tls_failure_reason(exc)
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # a connection that broke (client gone, simulator stopping) is no error of ours
        level = logging.DEBUG if isinstance(exc, OSError) else logging.ERROR
        logger.log(level, "connection from %s failed: %s", client_address[0], type(exc).__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "skn-simulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    #: The largest request body this handler reads.
    max_body: ClassVar[int] = MAX_ENVELOPE_BYTES

    @property
    def srv(self) -> _Server:
        return cast(_Server, self.server)

    @property
    def state(self) -> NodeState:
        return self.srv.state

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, body, JSON_CONTENT_TYPE, headers)

    def error_answer(self, status: int, sentence: str) -> None:
        """Answer an HTTP-level problem; subclasses choose the body's form."""
        self.send_json(status, {"error": sentence})

    def read_body(self) -> bytes | None:
        """The request body, or None after answering why it cannot be read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self.error_answer(411, "send the request body with a Content-Length, not chunked")
            return None
        raw_length = self.headers.get("Content-Length", "0").strip()
        if not raw_length.isdigit():
            self.close_connection = True
            self.error_answer(400, "the Content-Length header is not a number")
            return None
        length = int(raw_length)
        if length > self.max_body:
            self.close_connection = True
            self.error_answer(413, f"the request body is over the limit of {self.max_body} bytes")
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return None
        return body


class _SoapHandler(_Handler):
    """The node's messagebox service."""

    def error_answer(self, status: int, sentence: str) -> None:
        self.send_bytes(status, sentence.encode("utf-8") + b"\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        if urlsplit(self.path).path != SOAP_PATH:
            self.error_answer(404, f"no service at {urlsplit(self.path).path}; use {SOAP_PATH}")
            return
        state, stopping = self.state, self.srv.stopping
        latency = state.faults.latency_ms
        if latency and stopping.wait(latency / 1000):
            self.close_connection = True
            return
        if state.roll("timeout_rate"):
            logger.info("fault injection: hanging a SOAP request")
            stopping.wait(HANG_SECONDS)
            self.close_connection = True
            return
        if state.roll("error_rate"):
            logger.info("fault injection: answering a Server fault")
            answer = fault("Server", "the node failed to process the request (fault injection)")
            self.send_bytes(500, answer, SOAP_CONTENT_TYPE)
            return
        status, answer = self._process(body)
        if state.roll("reset_rate"):
            logger.info("fault injection: resetting the connection instead of answering")
            self._reset_connection()
            return
        self.send_bytes(status, answer, SOAP_CONTENT_TYPE)

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self.send_bytes(405, b"the SOAP service takes POST only\n", "text/plain", {"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = _method_not_allowed

    def _reset_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _process(self, body: bytes) -> tuple[int, bytes]:
        try:
            operation = self._operation()
            request = open_envelope(body)
            answer = self._dispatch(operation, request)
        except ClientFaultError as exc:
            logger.info("SOAP Client fault: %s", exc.reason)
            return 500, fault("Client", exc.reason)
        except SoapFault:
            return 500, fault("Client", "the request is a SOAP Fault, not an operation")
        except WireError as exc:
            logger.info("SOAP Client fault: %s", exc)
            return 500, fault("Client", str(exc))
        except Exception as exc:
            logger.error("the simulator failed a SOAP request: %s", type(exc).__name__)
            logger.debug("the simulator failed a SOAP request", exc_info=True)
            return 500, fault("Server", "the simulated node failed to process the request")
        return 200, envelope(answer)

    def _operation(self) -> str:
        action = (self.headers.get("SOAPAction") or "").strip().strip('"')
        if not action:
            raise ClientFaultError("the SOAPAction header is missing")
        if action not in REQUESTS:
            raise ClientFaultError(f"the SOAPAction {action!r} is not an operation of this service")
        return action

    @staticmethod
    def _text(request: Any, name: str) -> str:
        text = request.findtext(f"{{{SERVICE_NS}}}{name}")
        if text is None or not text.strip():
            raise ClientFaultError(f"the request lacks {name}")
        return str(text).strip()

    @staticmethod
    def _ids(request: Any) -> list[str]:
        ids = [(e.text or "").strip() for e in request.iterfind(f"{{{SERVICE_NS}}}Id")]
        if not ids:
            raise ClientFaultError("the request lacks Id")
        if len(ids) > MAX_BATCH:
            raise ClientFaultError(f"the request names more than {MAX_BATCH} Ids")
        if not all(ids):
            raise ClientFaultError("the request has an empty Id")
        if len(set(ids)) != len(ids):
            raise ClientFaultError("the request names an Id twice")
        return ids

    def _participant(self, request: Any) -> uuid.UUID:
        value = self._text(request, "Deelnemer")
        try:
            return uuid.UUID(value)
        except ValueError:
            raise ClientFaultError("Deelnemer is not a UUID") from None

    def _dispatch(self, operation: str, request: Any) -> Any:
        expected, answer_name = REQUESTS[operation]
        if request.tag != f"{{{SERVICE_NS}}}{expected}":
            found = etree.QName(request.tag).localname
            raise ClientFaultError(f"{operation} takes a {expected} element, not {found}")
        participant = self._participant(request)
        state = self.state
        if operation == OP_LIST:
            maximum_text = request.findtext(f"{{{SERVICE_NS}}}Maximum")
            maximum = 100
            if maximum_text is not None:
                if not maximum_text.strip().isdigit() or not 1 <= int(maximum_text) <= MAX_LIST:
                    raise ClientFaultError(f"Maximum must be a whole number from 1 to {MAX_LIST}")
                maximum = int(maximum_text)
            answer = element(SERVICE_NS, answer_name)
            entries = state.list_entries(participant, maximum)
            for handle, placed in entries:
                item = etree.SubElement(answer, f"{{{SERVICE_NS}}}Bericht")
                etree.SubElement(item, f"{{{SERVICE_NS}}}Id").text = handle
                etree.SubElement(item, f"{{{SERVICE_NS}}}Geplaatst").text = placed.isoformat()
            logger.debug("%s for %s: %d entries", operation, participant, len(entries))
            return answer
        if operation == OP_FETCH:
            handle = self._text(request, "Id")
            payload = state.fetch(participant, handle)
            logger.debug("%s for %s: %s", operation, participant, handle)
            return element(
                SERVICE_NS, answer_name, [("Id", handle), ("Inhoud", encode_payload(payload))]
            )
        if operation == OP_FETCH_MANY:
            fetched = state.fetch_many(
                participant, self._ids(request), MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD
            )
            answer = element(SERVICE_NS, answer_name)
            for handle, payload in fetched:
                item = etree.SubElement(answer, f"{{{SERVICE_NS}}}Bericht")
                etree.SubElement(item, f"{{{SERVICE_NS}}}Id").text = handle
                etree.SubElement(item, f"{{{SERVICE_NS}}}Inhoud").text = encode_payload(payload)
            logger.debug("%s for %s: %d messages", operation, participant, len(fetched))
            return answer
        if operation == OP_CONFIRM_MANY:
            handles = self._ids(request)
            state.confirm_many(participant, handles)
            logger.debug("%s for %s: %d messages", operation, participant, len(handles))
            return element(SERVICE_NS, answer_name, [("Id", handle) for handle in handles])
        if operation == OP_CONFIRM:
            handle = self._text(request, "Id")
            state.confirm(participant, handle)
            logger.debug("%s for %s: %s", operation, participant, handle)
            return element(SERVICE_NS, answer_name, [("Id", handle)])
        if operation == OP_SEND_MANY:
            contents = [e.text or "" for e in request.iterfind(f"{{{SERVICE_NS}}}Inhoud")]
            if not contents:
                raise ClientFaultError("the request lacks Inhoud")
            if len(contents) > MAX_BATCH:
                raise ClientFaultError(f"the request holds more than {MAX_BATCH} messages")
            answer = element(SERVICE_NS, answer_name)
            for content in contents:
                # each message is taken or refused on its own, as a single send would be
                result = etree.SubElement(answer, f"{{{SERVICE_NS}}}Resultaat")
                try:
                    referentienummer = self._send(participant, content)
                except (ClientFaultError, WireError) as exc:
                    reason = exc.reason if isinstance(exc, ClientFaultError) else str(exc)
                    etree.SubElement(result, f"{{{SERVICE_NS}}}Fout").text = reason
                else:
                    etree.SubElement(
                        result, f"{{{SERVICE_NS}}}Referentienummer"
                    ).text = referentienummer
            logger.debug("%s from %s: %d messages", operation, participant, len(contents))
            return answer
        content = request.findtext(f"{{{SERVICE_NS}}}Inhoud")
        if content is None:
            raise ClientFaultError("the request lacks Inhoud")
        referentienummer = self._send(participant, content)
        logger.debug("%s from %s: Referentienummer %s", operation, participant, referentienummer)
        return element(SERVICE_NS, answer_name, [("Referentienummer", referentienummer)])

    def _send(self, participant: uuid.UUID, content: str) -> str:
        payload = decode_payload(content)
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ClientFaultError(f"the message is over the limit of {MAX_MESSAGE_BYTES} bytes")
        return self.state.send(participant, payload)


class _AdminHandler(_Handler):
    """The admin API: JSON in, JSON out, on loopback, for programs on this machine only."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _other(self) -> None:
        self._route(self.command)

    do_PUT = do_DELETE = do_PATCH = _other

    ROUTES: ClassVar[dict[str, dict[str, str]]] = {
        "/_admin/messages": {"POST": "_post_message"},
        "/_admin/raw": {"POST": "_post_raw"},
        "/_admin/sent": {"GET": "_get_sent"},
        "/_admin/resent": {"GET": "_get_resent"},
        "/_admin/messagebox": {"GET": "_get_messagebox"},
        "/_admin/stats": {"GET": "_get_stats"},
        "/_admin/faults": {"GET": "_get_faults", "POST": "_post_faults"},
        "/_admin/reset": {"POST": "_post_reset"},
    }

    def _route(self, method: str) -> None:
        body = self.read_body()
        if body is None:
            return
        if not self._from_this_machine():
            return
        parts = urlsplit(self.path)
        methods = self.ROUTES.get(parts.path.rstrip("/") or "/")
        if methods is None:
            self.send_json(404, {"error": f"no admin resource at {parts.path}"})
            return
        name = methods.get(method)
        if name is None:
            allowed = ", ".join(sorted(methods))
            self.send_json(405, {"error": f"{parts.path} takes {allowed}"}, {"Allow": allowed})
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        handler = cast(Callable[[bytes, dict[str, list[str]]], None], getattr(self, name))
        try:
            handler(body, query)
        except Exception as exc:
            logger.error("the admin API failed %s %s: %s", method, parts.path, type(exc).__name__)
            logger.debug("the admin API failed", exc_info=True)
            self.send_json(500, {"error": "the simulator failed to handle this request"})

    def _from_this_machine(self) -> bool:
        """Whether the request may be from a program on this machine, else answered 403.

        A web page open in a developer's browser can reach 127.0.0.1 too: its requests carry
        the page's Origin, and a page whose own name was rebound to 127.0.0.1 (DNS
        rebinding) sends its own name as the Host. Programs (curl, httpx) send no Origin.
        """
        port = self.srv.server_address[1]
        hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if (self.headers.get("Host") or "").strip().lower() not in hosts:
            self._refuse(
                f"the admin API answers only requests addressed to 127.0.0.1:{port} or "
                f"localhost:{port} (the Host header)"
            )
            return False
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in hosts}:
            self._refuse(
                f"the admin API refuses requests from web pages; send no Origin header, or "
                f"http://127.0.0.1:{port} or http://localhost:{port}"
            )
            return False
        return True

    def _refuse(self, sentence: str) -> None:
        # the refused headers are not logged: they are whatever the other side chose
        logger.warning("refused an admin request that may come from a web page (HTTP 403)")
        self.send_json(403, {"error": sentence})

    def _json(self, body: bytes) -> tuple[bool, Any]:
        """The body as JSON, or False after answering why not. Every route that takes JSON
        reads its body here, so each one requires the JSON content type: a web page can
        send text/plain or a form cross-site without asking, but not application/json."""
        if self.headers.get_content_type() != "application/json":
            self.send_json(
                415, {"error": "send the request body as JSON, with Content-Type: application/json"}
            )
            return False, None
        try:
            return True, json.loads(body)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            self.send_json(400, {"error": f"the request body is not valid JSON ({reason})"})
            return False, None

    def _uuid_param(self, query: dict[str, list[str]], name: str) -> tuple[bool, uuid.UUID | None]:
        values = query.get(name)
        if values is None:
            return True, None
        try:
            if len(values) != 1:
                raise ValueError
            return True, uuid.UUID(values[0])
        except ValueError:
            self.send_json(400, {"error": f"the query parameter {name} must be one UUID"})
            return False, None

    def _post_message(self, body: bytes, query: dict[str, list[str]]) -> None:
        ok, data = self._json(body)
        if not ok:
            return
        try:
            referentienummer, handle = self.state.queue_message(data)
        except MessageError as exc:
            self.send_json(422, {"errors": exc.errors})
            return
        except WireError as exc:
            self.send_json(422, {"errors": [str(exc)]})
            return
        logger.info("queued message %s as %s", referentienummer, handle)
        self.send_json(201, {"Referentienummer": referentienummer, "Id": handle})

    def _post_raw(self, body: bytes, query: dict[str, list[str]]) -> None:
        ok, ontvanger = self._uuid_param(query, "ontvanger")
        if not ok:
            return
        if ontvanger is None:
            self.send_json(400, {"error": "the query parameter ontvanger (a UUID) is required"})
            return
        handle = self.state.queue_raw(ontvanger, body)
        logger.info("queued %d raw bytes as %s", len(body), handle)
        self.send_json(201, {"Id": handle})

    def _get_sent(self, body: bytes, query: dict[str, list[str]]) -> None:
        ok, conversation = self._uuid_param(query, "conversation")
        if ok:
            self.send_json(200, self.state.sent(conversation))

    def _get_messagebox(self, body: bytes, query: dict[str, list[str]]) -> None:
        ok, ontvanger = self._uuid_param(query, "ontvanger")
        if ok:
            self.send_json(200, self.state.messagebox(ontvanger))

    def _get_resent(self, body: bytes, query: dict[str, list[str]]) -> None:
        self.send_json(200, self.state.resent())

    def _get_stats(self, body: bytes, query: dict[str, list[str]]) -> None:
        self.send_json(200, self.state.stats())

    def _get_faults(self, body: bytes, query: dict[str, list[str]]) -> None:
        self.send_json(200, self.state.faults.to_json())

    def _post_faults(self, body: bytes, query: dict[str, list[str]]) -> None:
        ok, data = self._json(body)
        if not ok:
            return
        try:
            settings = FaultSettings.from_json(data)
        except FaultSettingsError as exc:
            self.send_json(422, {"errors": exc.errors})
            return
        self.state.set_faults(settings)
        logger.info("fault settings: %s", settings.to_json())
        self.send_json(200, settings.to_json())

    def _post_reset(self, body: bytes, query: dict[str, list[str]]) -> None:
        self.state.reset()
        logger.info("state reset")
        self.send_json(200, {"reset": True})


# -- the simulator -------------------------------------------------------------------------


def server_ssl_context(pki: DevPki) -> ssl.SSLContext:
    """The node's TLS: at least TLS 1.2, a client certificate issued by ``ca.pem`` required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.node_cert), str(pki.node_key))
    return context


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 (naming the wildcard, not binding to it)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class Simulator:
    """The simulated node: ``start()`` serves the SOAP service and the admin API in threads."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8450,
        admin_port: int | None = None,
        tls_dir: Path | None = None,
        push: str | None = None,
        push_workers: int = DEFAULT_WORKERS,
    ) -> None:
        """``push``: the URL of a connector's receive endpoint; the node then delivers each
        message queued to it (``node/pusher.py``) instead of only waiting to be fetched.
        It needs ``tls_dir``: the node's certificate is the client certificate."""
        self._host = host
        self._port = port
        self._admin_port = admin_port if admin_port is not None else (port + 1 if port else 0)
        self._tls_dir = tls_dir
        self.state = NodeState()
        self._stopping = threading.Event()
        self._soap: _Server | None = None
        self._admin: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._push = push
        self._push_workers = push_workers
        self._pusher: Pusher | None = None

    # -- properties --

    @property
    def port(self) -> int:
        return int(self._soap.server_address[1]) if self._soap else self._port

    @property
    def admin_port(self) -> int:
        return int(self._admin.server_address[1]) if self._admin else self._admin_port

    @property
    def tls_dir(self) -> Path | None:
        return self._tls_dir

    @property
    def url(self) -> str:
        scheme = "https" if self._tls_dir is not None else "http"
        return f"{scheme}://{_url_host(self._host)}:{self.port}{SOAP_PATH}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def running(self) -> bool:
        return self._soap is not None

    # -- lifecycle --

    def start(self) -> Simulator:
        """Listen on both ports and serve in background threads; return once listening."""
        if self.running:
            raise SimulatorError("the simulator is already running")
        if self._push is not None and self._tls_dir is None:
            raise SimulatorError(
                "--push needs --tls DIR: the node delivers with its certificate (node.pem)"
            )
        if self._push is not None:
            try:
                push_target(self._push)
            except ValueError:
                raise SimulatorError(
                    "--push takes the https:// URL of a connector's receive endpoint"
                ) from None
        context = None
        if self._tls_dir is not None:
            try:
                context = server_ssl_context(write_dev_pki(self._tls_dir))
            except PkiError as exc:
                raise SimulatorError(str(exc)) from None
            except (OSError, ssl.SSLError) as exc:
                raise SimulatorError(
                    f"cannot set up TLS from {self._tls_dir} ({exc.strerror or exc})"
                ) from None
        self._stopping = threading.Event()
        soap = self._bind(self._host, self._port, _SoapHandler, context)
        try:
            admin = self._bind("127.0.0.1", self._admin_port, _AdminHandler, None)
        except SimulatorError:
            soap.server_close()
            raise
        self._soap, self._admin = soap, admin
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name=f"skn-simulator-{name}",
                daemon=True,
            )
            for name, server in (("soap", soap), ("admin", admin))
        ]
        for thread in self._threads:
            thread.start()
        if self._push is not None and self._tls_dir is not None:
            self._pusher = Pusher(
                self.state, self._push, self._tls_dir, workers=self._push_workers
            ).start()
        logger.info("simulated node at %s, admin API at %s", self.url, self.admin_url)
        return self

    @property
    def pusher(self) -> Pusher | None:
        """What delivers to the receiver (with ``push``), while running."""
        return self._pusher

    def _bind(
        self,
        host: str,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext | None,
    ) -> _Server:
        try:
            return _Server(
                (host, port),
                handler,
                state=self.state,
                stopping=self._stopping,
                ssl_context=context,
            )
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another port"
            ) from None

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread; idempotent."""
        if self._pusher is not None:
            self._pusher.stop()
            self._pusher = None
        servers = [server for server in (self._soap, self._admin) if server is not None]
        if not servers:
            return
        self._stopping.set()
        # both accept loops notice within one poll interval; wait for them side by side
        waiters = [threading.Thread(target=server.shutdown) for server in servers]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()
        for server in servers:
            server.close_connections()
        for server in servers:
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._soap = self._admin = None
        self._threads = []
        logger.info("simulated node stopped")

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_simulator(
    port: int = 8450,
    admin_port: int | None = None,
    tls_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    push: str | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (the CLI's ``simulator`` command).

    Raises SimulatorError, one sentence naming the fix, when it cannot start.
    """
    done = threading.Event()
    simulator = Simulator(host=host, port=port, admin_port=admin_port, tls_dir=tls_dir, push=push)
    with _signals_set(done):
        simulator.start()
        try:
            tls = f"TLS files in {tls_dir}" if tls_dir is not None else "no TLS"
            delivering = f", delivering to {push}" if push is not None else ""
            print(
                f"SKN simulator: SOAP service at {simulator.url}, admin API at "
                f"{simulator.admin_url}, {tls}{delivering}; Ctrl+C stops it",
                flush=True,
            )
            while not done.wait(0.5):
                pass
        finally:
            simulator.stop()


__all__ = [
    "SOAP_PATH",
    "ClientFaultError",
    "FaultSettings",
    "FaultSettingsError",
    "NodeState",
    "Simulator",
    "SimulatorError",
    "run_simulator",
    "server_ssl_context",
]
