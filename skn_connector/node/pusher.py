"""The simulated node delivering (``skn-connector simulator --push URL``): each message
queued for a participant is sent to a connector's receive endpoint, over HTTPS with the
node's certificate as the client certificate, and retried with backoff until the answer is
a 2xx acknowledgement naming it. Until then it stays in the messagebox
(``/_admin/messagebox``); ``/_admin/stats`` counts the attempts (``pushed``) and the
acknowledgements (``acknowledged``). Message contents are personal data: nothing here logs
them.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx

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
        self._url = url
        self._context = push_ssl_context(DevPki.in_directory(tls_dir))
        self._timeout = httpx.Timeout(timeout)
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
        # without TCP_NODELAY the body, written after the headers, waits for the receiver's
        # delayed ACK of them: 40 ms a delivery
        transport = httpx.HTTPTransport(
            verify=self._context, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        with httpx.Client(
            transport=transport, timeout=self._timeout, trust_env=False, follow_redirects=False
        ) as client:
            while not self._stopping.is_set():
                entry = self._state.next_to_push(self._stopping)
                if entry is not None:
                    self._deliver(client, entry)

    def _deliver(self, client: httpx.Client, entry: PushEntry) -> None:
        request = delivery_request(entry.id, entry.payload)
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            started = time.perf_counter()
            acknowledged = self._attempt(client, request, entry.id)
            self._state.pushed(entry, acknowledged)
            if acknowledged:
                self.latencies.append(time.perf_counter() - started)
                return
            self._stopping.wait(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    def _attempt(self, client: httpx.Client, request: bytes, handle: str) -> bool:
        try:
            response = client.post(
                self._url,
                content=request,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": OP_DELIVER},
            )
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            logger.debug("delivering %s failed: %s", handle, type(exc).__name__)
            return False
        if not 200 <= response.status_code < 300:
            logger.debug("delivering %s: HTTP %d", handle, response.status_code)
            return False
        try:
            return read_acknowledgement(response.content) == handle
        except (DeliveryError, WireError, SoapFault):
            return False
