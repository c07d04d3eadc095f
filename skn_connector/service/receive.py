"""Receive mode: the HTTPS SOAP endpoint the node (or a gateway) delivers messages to.

One ASGI function on uvicorn (httptools' parser, uvloop's event loop), in a thread of its
own with its own event loop, beside the daemon's scheduler. What it guarantees:

- TLS with a client certificate from ``receive.tls.client_trust`` (the node's CA), required
  in the handshake: a client without one, or with one from another CA, never reaches the
  application;
- a body larger than the limit is refused before it is read (its Content-Length), and a
  stream that grows past the limit is cut there; a client that takes longer than
  ``request_timeout`` to send its request (headers and body) is cut off;
- a delivery is decoded in the request's turn, then stored exactly as a fetched message is
  (``Pipeline.intake_many``: inbox or quarantine, the same duplicate rules) by the writer
  thread, several in one transaction (``group_commit.py``), and acknowledged only after
  that commit. A redelivery is
  acknowledged without a second effect; a message that cannot be decoded is quarantined
  and acknowledged;
- with several creditors, one endpoint serves them all: a delivery goes to the creditor its
  Berichtheader names as Ontvanger; one that names none of them (or cannot be decoded) to
  the first, whose intake quarantines it with the reason;
- with ``max_waiting`` deliveries waiting to be stored, the next is answered 503 with
  Retry-After; a request that is not a delivery gets a SOAP Client fault or a 4xx.

The event loop never waits for the store: a request waits on a future the writer settles.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import ConfigError, ReceiveSettings, Settings
from ..engine.intake import predecode
from ..messages import Message
from ..wire.delivery import Delivered, DeliveryError, acknowledgement, read_delivery
from ..wire.profile import MAX_ENVELOPE_BYTES, OP_DELIVER, RECEIVE_PATH
from ..wire.soap import SoapFault, WireError, fault
from .group_commit import Delivery, GroupWriter, NotStored, Stored

if TYPE_CHECKING:
    from ..engine.pipeline import Pipeline

log = logging.getLogger(__name__)

SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
#: The key of a request's deadline in the ASGI scope's extensions (our protocol sets it).
DEADLINE: Final = "skn.request_deadline"
#: Seconds a busy endpoint asks the node to wait before it delivers again.
BUSY_RETRY_AFTER: Final = 1
#: Envelopes larger than this are read in a worker thread, not in the event loop.
PARSE_IN_THREAD_BYTES: Final = 256 * 1024
#: How long ``start`` waits for the server to listen.
START_WAIT_SECONDS: Final = 10.0
#: At a stop, how long an answer just written has to leave before its connection is cut.
ANSWER_LINGER_SECONDS: Final = 0.5
#: The interpreter's switch interval while the endpoint runs (Python's default is 5 ms).
SWITCH_INTERVAL_SECONDS: Final = 0.001
#: uvicorn's event loop for the endpoint: uvloop, a dependency wherever it installs.
EVENT_LOOP: Final = "asyncio" if sys.platform == "win32" else "uvloop"
#: An idle keep-alive connection is closed after this many seconds.
KEEP_ALIVE_SECONDS: Final = 5


class ReceiveError(ConfigError):
    """The receive endpoint cannot start; one sentence naming what to fix (exit 2)."""


# -- the request's deadline, at the connection ---------------------------------------------


class _Deadline:
    """The time a connection's client has to send its next request, from the connection's
    start or the end of the last answer: past it, the connection is cut."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float, cut: Callable[[], None]):
        self._loop = loop
        self._seconds = seconds
        self._cut = cut
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.stop()
        self._timer = self._loop.call_later(self._seconds, self._cut)

    def stop(self) -> None:
        """The request is in (or the connection gone): what follows is our time, not the
        client's."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _OneWrite:
    """The connection as an answer sees it: the status line and headers are held until the
    body follows, and the two leave together, as one TLS record and one TCP segment (uvicorn
    writes them apart: two records, two system calls here and two reads at the client)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = data
            return
        held, self._held = self._held, None
        self._transport.write(held + data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _timed_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline for each request (uvicorn cuts only idle
    keep-alive connections: a client sending its headers or body slowly would hold its
    connection for ever)."""

    class TimedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.closing_down = False
            self.deadline = _Deadline(self.loop, seconds, self._too_slow)
            inner = self.app

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})[DEADLINE] = self.deadline
                await inner(scope, receive, send)

            self.app = app

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.deadline.start()

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.cycle.transport = _OneWrite(self.transport)  # type: ignore[assignment]

        def connection_lost(self, exc: Exception | None) -> None:
            self.deadline.stop()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.closing_down:  # the answer gets a moment to leave, then the connection ends
                self.loop.call_later(ANSWER_LINGER_SECONDS, self.transport.abort)
            elif not self.transport.is_closing():
                self.deadline.start()

        def shutdown(self) -> None:
            # a TLS connection closed politely waits for the peer's goodbye (30 s for a
            # client that keeps it idle in its pool): one with nothing in flight is cut
            self.closing_down = True
            if self.cycle is None or self.cycle.response_complete:
                self.transport.abort()
            else:
                super().shutdown()

        def _too_slow(self) -> None:
            log.info("a client took over %g s to send its request; connection cut", seconds)
            self.transport.abort()

    return TimedProtocol


# -- the application -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer, sent as two ASGI messages."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    media_type: bytes = SOAP_CONTENT_TYPE.encode()

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.media_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


#: a body left unread must not be read on: the connection ends with the answer
_CLOSE: Final = ((b"connection", b"close"),)


def _soap(status: int, body: bytes, *, close: bool = False) -> _Answer:
    return _Answer(status, body, _CLOSE if close else ())


def _client_fault(reason: str, status: int = 500, *, close: bool = False) -> _Answer:
    # SOAP 1.1: a fault travels with HTTP 500, unless the problem is HTTP's (4xx)
    return _soap(status, fault("Client", reason), close=close)


def _busy(reason: str, retry_after: int) -> _Answer:
    retry = ((b"retry-after", str(retry_after).encode()),)
    return _Answer(503, fault("Server", reason), retry)


def _text(status: int, text: str, *headers: tuple[bytes, bytes]) -> _Answer:
    return _Answer(status, text.encode(), (*headers, *_CLOSE), b"text/plain; charset=utf-8")


@dataclass(frozen=True)
class _Limits:
    body_bytes: int


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The body, at most ``limit`` bytes: the stream is cut as soon as it passes them."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _is_soap(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("text/xml", "application/soap+xml", "application/xml")


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by their (lower-case) names; of one given twice, the first."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def receive_app(writer: GroupWriter, limits: _Limits) -> ASGIApp:
    """The endpoint at RECEIVE_PATH; every other path is 404, every other method 405.

    A plain ASGI function: for its one route, a framework's router, middleware, request
    and response objects cost a tenth of the endpoint's time per request."""

    settler: _Settler | None = None
    too_large = f"the request body is over the limit of {limits.body_bytes} bytes"

    async def deliver(scope: Scope, receive: Receive) -> _Answer:
        try:
            return await _deliver(scope, receive)
        except Exception as exc:  # a bug of ours: the class only, never the request
            log.error("the receive endpoint failed a request: %s", type(exc).__name__)
            answer = fault("Server", "the connector failed to take the request")
            return _soap(500, answer, close=True)

    async def _deliver(scope: Scope, receive: Receive) -> _Answer:
        if scope["method"] != "POST":
            return _text(405, f"{RECEIVE_PATH} takes POST only\n", (b"allow", b"POST"))
        headers = _headers(scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or len(declared) > 18):
            return _client_fault("the Content-Length header is not a number", 400, close=True)
        if declared is not None and int(declared) > limits.body_bytes:
            return _client_fault(too_large, 413, close=True)
        if not _is_soap(headers.get("content-type", "")):
            reason = "send a SOAP envelope, with Content-Type text/xml"
            return _client_fault(reason, 415, close=True)
        try:
            body = await _read_body(receive, limits.body_bytes)
        except _TooLarge:
            return _client_fault(too_large, 413, close=True)
        except _Disconnected:
            return _Answer(400, b"")  # nobody is listening; nothing was stored
        deadline = scope.get("extensions", {}).get(DEADLINE)
        if isinstance(deadline, _Deadline):
            deadline.stop()
        return await _take(headers.get("soapaction"), body)

    async def _take(action: str | None, body: bytes) -> _Answer:
        try:
            if len(body) > PARSE_IN_THREAD_BYTES:
                delivered, decoded = await asyncio.to_thread(_read, action, body)
            else:
                delivered, decoded = _read(action, body)
        except (DeliveryError, WireError) as exc:
            return _client_fault(str(exc))
        except SoapFault:
            return _client_fault(f"the request is a SOAP Fault, not a {OP_DELIVER}")
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[Stored | NotStored] = loop.create_future()
        nonlocal settler
        if settler is None or settler.loop is not loop:
            settler = _Settler(loop)
        done = functools.partial(settler.settle, settled)
        if not writer.submit(delivered.handle, delivered.payload, decoded, done):
            return _busy("the connector is busy; deliver again shortly", BUSY_RETRY_AFTER)
        outcome = await settled
        if isinstance(outcome, NotStored):
            return _busy(str(outcome), outcome.retry_after)
        return _soap(200, acknowledgement(delivered.handle))

    missing = _text(404, f"no service at this path; deliveries go to {RECEIVE_PATH}\n")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        answer = await deliver(scope, receive) if scope["path"] == RECEIVE_PATH else missing
        await answer.send(send)

    return app


def _read(action: str | None, body: bytes) -> tuple[Delivered, Message | str]:
    """The delivery in a request, and its message decoded: here, beside the writer, which
    then only stores (a message that cannot be read is still stored: in quarantine)."""
    delivered = read_delivery(action, body)
    return delivered, predecode(delivered.payload, delivered.handle)


class _Settler:
    """Hands the writer's outcomes to the requests waiting in the event loop: one wake-up of
    the loop for all the outcomes of a commit, not one each (a wake-up is a system call and
    a turn of the loop, a twentieth of the endpoint's time when each delivery had its own)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[tuple[asyncio.Future[Stored | NotStored], Stored | NotStored]] = []

    def settle(
        self, future: asyncio.Future[Stored | NotStored], outcome: Stored | NotStored
    ) -> None:
        """From the writer's thread."""
        with self._lock:
            self._pending.append((future, outcome))
            wake = len(self._pending) == 1
        if wake:
            self.loop.call_soon_threadsafe(self._settle_pending)

    def _settle_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for future, outcome in pending:
            if not future.done():  # a request whose client went away is cancelled
                future.set_result(outcome)


# -- the server ----------------------------------------------------------------------------


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it an answer's body waits for the client's delayed ACK of its headers (40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # a restarted daemon gets its port back at once, past connections in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ReceiveError(
            f"receive.listen: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another address or port"
        ) from None
    sock.setblocking(False)
    return sock


class ReceiveServer:
    """The endpoint and its writer: ``start()`` listens, ``stop()`` lets the deliveries in
    flight finish their commit and answer, then ends both."""

    def __init__(
        self,
        settings: ReceiveSettings,
        context: ssl.SSLContext,
        writer: GroupWriter,
        *,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        host, configured = settings.address
        self.host = host
        self._port = configured if port is None else port
        seconds = settings.request_timeout.total_seconds()
        self._config = uvicorn.Config(
            receive_app(writer, _Limits(settings.max_body_bytes or MAX_ENVELOPE_BYTES)),
            http=_timed_protocol(seconds),
            proxy_headers=False,  # the node connects itself; no proxy's headers to believe
            # httptools and uvloop (uvicorn's "standard" set): the event loop is the
            # endpoint's bottleneck on one CPU, and they take a fifth off its time per request
            loop=EVENT_LOOP,
            lifespan="off",
            ws="none",
            interface="asgi3",
            log_config=None,
            access_log=False,
            server_header=False,
            limit_concurrency=settings.max_connections,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=int(max(1.0, seconds)),
            ssl_context_factory=lambda _config, _default: context,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._switch_interval = sys.getswitchinterval()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{RECEIVE_PATH}"

    def start(self) -> ReceiveServer:
        # the event loop and the writer each need the interpreter for a moment per request;
        # at Python's 5 ms switch interval they wait that long behind the receive job's
        # deciding (the acknowledgements' p99 at 32 pushers fell by a third at 1 ms)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_SECONDS))
        sock = _listening_socket(self.host, self._port)
        self._port = int(sock.getsockname()[1])
        self.writer.start()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="skn-receive", daemon=True
        )
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < START_WAIT_SECONDS:
            self._thread.join(0.02)
            waited += 0.02
        if not self._server.started:
            self.stop()
            reason = type(self._failure).__name__ if self._failure else "it did not start in time"
            raise ReceiveError(f"the receive endpoint could not start ({reason})")
        log.info("receiving deliveries at %s", self.url)
        return self

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits when it cannot start
            self._failure = exc
            log.error("the receive endpoint stopped: %s", type(exc).__name__)
        finally:
            sock.close()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop taking deliveries; those in flight are stored and answered first (at most
        ``timeout`` seconds). Whether everything ended in time."""
        self._server.should_exit = True
        sys.setswitchinterval(self._switch_interval)
        ended = True
        if self._thread is not None:
            self._thread.join(timeout)
            ended = not self._thread.is_alive()
        return self.writer.stop(timeout) and ended


def routed_intake(pipelines: Sequence[Pipeline]) -> Callable[[Sequence[Delivery]], list[Any]]:
    """Store a batch of deliveries, each with the pipeline of the creditor it is addressed
    to (its Ontvanger); what names no creditor here, or cannot be read, with the first's.
    One transaction per creditor in the batch."""
    first = pipelines[0]
    by_participant = {str(p.creditor.participant_id): p for p in pipelines}

    def addressee(decoded: Message | str) -> Pipeline:
        if isinstance(decoded, str):  # undecodable: the first creditor's intake quarantines it
            return first
        return by_participant.get(str(decoded.berichtheader.ontvanger), first)

    def intake(batch: Sequence[Delivery]) -> list[Any]:
        groups: dict[int, list[int]] = {}
        owners: dict[int, Pipeline] = {}
        for index, (_, _, decoded) in enumerate(batch):
            owner = first if len(pipelines) == 1 else addressee(decoded)
            groups.setdefault(id(owner), []).append(index)
            owners[id(owner)] = owner
        outcomes: list[Any] = [None] * len(batch)
        for key, indexes in groups.items():
            stored = owners[key].intake_many(
                [batch[i][:2] for i in indexes],
                channel="node",
                decoded=[batch[i][2] for i in indexes],
            )
            for index, outcome in zip(indexes, stored, strict=True):
                outcomes[index] = outcome
        return outcomes

    return intake


@contextmanager
def receiving(
    settings: Settings,
    context: ssl.SSLContext | None,
    pipeline: Pipeline,
    *,
    others: Sequence[Pipeline] = (),
    wake: Callable[[int], None],
    may_store: Callable[[], bool],
) -> Iterator[ReceiveServer | None]:
    """The receive endpoint while the block runs, when ``node.mode`` receives (else None):
    deliveries are stored through ``pipeline`` (or, with ``others``, the pipeline of the
    creditor each is addressed to), and ``wake`` is called after each commit that took new
    messages (with how many), so that their answers go out at once."""
    if not settings.node.mode.receives or settings.receive is None or context is None:
        yield None
        return

    def after_commit(outcomes: list[Stored]) -> None:
        accepted = outcomes.count(Stored.ACCEPTED)
        if accepted:
            wake(accepted)

    for each in (pipeline, *others):
        # the calendar of holidays loads on first use: in the writer, 90 ms before the first
        # acknowledgement
        each.working_days.add(each.today(), each.answer_days)
    writer = GroupWriter(
        routed_intake((pipeline, *others)),
        max_waiting=settings.receive.max_waiting,
        batch_size=pipeline.batch_size,
        may_store=may_store,
        after_commit=after_commit,
        around=pipeline.store.keeping,
    )
    server = ReceiveServer(settings.receive, context, writer).start()
    try:
        yield server
    finally:
        if not server.stop():
            log.warning("the receive endpoint did not stop within its wait; exiting anyway")


__all__ = ["ReceiveError", "ReceiveServer", "receive_app", "receiving"]
