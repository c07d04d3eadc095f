"""The simulated node delivering (``skn-connector simulator --push URL``): each message
queued for a participant is sent to a connector's receive endpoint, over HTTPS with the
node's certificate as the client certificate, and retried with backoff until the answer is
a 2xx acknowledgement naming it. Until then it stays in the messagebox
(``/_admin/messagebox``); ``/_admin/stats`` counts the attempts (``pushed``) and the
acknowledgements (``acknowledged``). Message contents are personal data: nothing here logs
them.

Each worker keeps one connection open, on the standard library's ``http.client``: the node
is the load a benchmark of the connector's endpoint puts on it, and must not be what that
benchmark measures. Through httpx a delivery cost the node 440 µs of CPU, through
``http.client`` 180 (``bench/receive.py``, 8 pushers): at httpx's cost the node's own turn
was a third of each delivery's round trip.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from ..wire.delivery import DeliveryError, delivery_request, read_acknowledgement
from ..wire.profile import OP_DELIVER
from ..wire.soap import SoapFault, WireError
from .certs import DevPki

if TYPE_CHECKING:
    from .simulator import NodeState, PushEntry

logger = logging.getLogger("skn_connector.simulator")

#: The first wait after a failed delivery, doubled after each further failure up to the most.
FIRST_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 2.0
#: Deliveries in flight at once.
DEFAULT_WORKERS: Final = 8
#: How many acknowledgement times are kept (the latest), for a benchmark to read.
KEPT_LATENCIES: Final = 100_000


def push_ssl_context(pki: DevPki) -> ssl.SSLContext:
    """The node as a client: its certificate, trusting only the development CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.node_cert), str(pki.node_key))
    return context


def push_target(url: str) -> tuple[str, int, str]:
    """The host, port and path of a receive endpoint's https:// URL; ValueError for a URL that
    is not one (another scheme, no host, a port that is no number or 0)."""
    try:
        target = urlsplit(url)
        port = target.port
    except ValueError:  # a port that is no number
        raise ValueError(f"the push URL {url!r} is not an https:// URL") from None
    if target.scheme != "https" or not target.hostname or port == 0:
        raise ValueError(f"the push URL {url!r} is not an https:// URL")
    return target.hostname, port or 443, target.path or "/"


class Pusher:
    """Worker threads that deliver the node's messages to ``url`` until acknowledged."""

    def __init__(
        self,
        state: NodeState,
        url: str,
        tls_dir: Path,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout: float = 10.0,
    ) -> None:
        self._state = state
        self._host, self._port, self._path = push_target(url)
        self._context = push_ssl_context(DevPki.in_directory(tls_dir))
        #: seconds for connecting and for each read and write (not the whole exchange)
        self._timeout = timeout
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"skn-simulator-push-{n}", daemon=True)
            for n in range(workers)
        ]
        #: seconds from sending a delivery to its acknowledgement, the latest ones
        self.latencies: deque[float] = deque(maxlen=KEPT_LATENCIES)

    def start(self) -> Pusher:
        state = self._state
        state.push_all()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(5)

    def _work(self) -> None:
        # kept open between deliveries; http.client opens it again after the endpoint closed
        # it, and sets TCP_NODELAY (without it the body, written after the headers, waits
        # for the receiver's delayed ACK of them: 40 ms a delivery)
        connection = http.client.HTTPSConnection(
            self._host, self._port, context=self._context, timeout=self._timeout
        )
        try:
            while not self._stopping.is_set():
                entry = self._state.next_to_push(self._stopping)
                if entry is not None:
                    self._deliver(connection, entry)
        finally:
            connection.close()

    def _deliver(self, connection: http.client.HTTPSConnection, entry: PushEntry) -> None:
        request = delivery_request(entry.id, entry.payload)
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            started = time.perf_counter()
            acknowledged = self._attempt(connection, request, entry.id)
            self._state.pushed(entry, acknowledged)
            if acknowledged:
                self.latencies.append(time.perf_counter() - started)
                return
            self._stopping.wait(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    def _attempt(
        self, connection: http.client.HTTPSConnection, request: bytes, handle: str
    ) -> bool:
        try:
            connection.request(
                "POST",
                self._path,
                body=request,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": OP_DELIVER},
            )
            response = connection.getresponse()
            content = response.read()
        except (http.client.HTTPException, ssl.SSLError, OSError) as exc:
            logger.debug("delivering %s failed: %s", handle, type(exc).__name__)
            connection.close()  # the next attempt starts on a new connection
            return False
        if not 200 <= response.status < 300:
            logger.debug("delivering %s: HTTP %d", handle, response.status)
            return False
        try:
            return read_acknowledgement(content) == handle
        except (DeliveryError, WireError, SoapFault):
            return False
