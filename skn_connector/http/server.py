"""Serving the HTTP face with uvicorn in a thread of the daemon.

The socket is bound here, before uvicorn starts: an address that cannot be used (a port
taken, a host not on this machine) is refused at start with one sentence, instead of a
server thread that dies on its own. uvicorn's own logging is left to the connector's (its
access log is off: a scrape every 15 s is not news).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn

from ..config import ConfigError, Settings
from .app import build_app
from .console import Console
from .face import AdapterChecks, Face, face_store
from .metrics import NodeMetrics

if TYPE_CHECKING:
    from ..adapters.registry import LoadedAdapter
    from ..engine.pipeline import Pipeline
    from ..service.daemon import Standby

log = logging.getLogger(__name__)

#: How long a start waits for the server to listen, and a stop for it to end.
START_SECONDS = 10.0
STOP_SECONDS = 5.0


class HttpServer:
    """The face served on ``address`` from a thread of its own, until ``stop()``; with the
    console's pages when ``console`` is given."""

    def __init__(
        self, face: Face, address: tuple[str, int], console: Console | None = None
    ) -> None:
        self.face = face
        self.address = address
        self.console = console
        app, self.node_metrics = build_app(face, console.routes() if console else ())
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
        )
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def start(self) -> None:
        self._socket = _bind(self.address)
        self.address = self._socket.getsockname()[:2]
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="skn-http",
            daemon=True,  # a stop that cannot wait (exit code 1) does not wait for it either
        )
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"http.listen: the HTTP face on {self.url} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(address: tuple[str, int]) -> socket.socket:
    host, port = address
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(
            f"http.listen: {host}:{port} cannot be used ({exc.strerror or exc}): "
            "give a host of this machine, e.g. 127.0.0.1"
        ) from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(where)
        listener.listen(64)
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"http.listen: {host}:{port} cannot be used ({exc.strerror or exc}): choose "
            "another port, or stop what listens there"
        ) from None
    listener.setblocking(False)
    return listener


class Served:
    """The daemon's face: its server and the store connections it reads with."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server

    @property
    def node_metrics(self) -> NodeMetrics:
        return self.server.node_metrics

    def stop(self) -> None:
        self.server.stop()
        self.server.face.close()
        if self.server.console is not None:
            self.server.console.close()


def start_face(
    settings: Settings, pipelines: Sequence[Pipeline], standby: Standby
) -> Served | None:
    """Serve the face for the daemon when ``[http] listen`` is set (None otherwise): the
    store's figures, this instance's part in the lease, the adapters' checks of every
    creditor, and the durations of the node's calls made through the pipelines' clients."""
    address = settings.http.address
    if address is None:
        return None
    face = Face(
        settings,
        face_store(settings),
        lambda: standby.working,
        _adapter_checks([(p.store.creditor_id or "", p.adapters) for p in pipelines]),
        every_creditor=standby.creditors,
    )
    try:
        console = (
            Console(settings, creditors=standby.creditors) if settings.console.enabled else None
        )
    except BaseException:
        face.close()
        raise
    server = HttpServer(face, address, console)
    try:
        server.start()
    except BaseException:
        face.close()
        if console is not None:
            console.close()
        raise
    for pipeline in pipelines:
        observe = getattr(pipeline.node, "observe", None)
        if observe is not None:
            observe(server.node_metrics.observe)
    log.info(
        "serving /health/live, /health/ready and /metrics%s on %s",
        " and the console" if console is not None else "",
        server.url,
    )
    return Served(server)


def _adapter_checks(
    by_creditor: Sequence[tuple[str, Sequence[LoadedAdapter]]],
) -> AdapterChecks:
    """The adapters' checks; each named by its creditor too where there are several."""
    adapters = [loaded for _, group in by_creditor for loaded in group]
    if len(by_creditor) < 2:
        return AdapterChecks(adapters)
    return AdapterChecks(
        adapters, creditors=[creditor for creditor, group in by_creditor for _ in group]
    )


def serve_console(
    settings: Settings,
    address: tuple[str, int],
    on_ready: Callable[[str], object] = lambda _url: None,
    *,
    creditors: Sequence[Settings] = (),
) -> None:
    """``skn-connector console``: the HTTP face with the console, alone, against the store
    (no polling, no delivering: the working instance does that), until SIGINT or SIGTERM."""
    import signal

    from ..service.wiring import build_adapters

    # opens (and migrates) the store, makes the session key
    console = Console(settings, creditors=creditors)
    by_creditor = [(c.creditor_id, build_adapters(c)) for c in creditors or (settings,)]
    adapters = [loaded for _, group in by_creditor for loaded in group]
    face = Face(
        settings,
        face_store(settings),
        lambda: False,
        _adapter_checks(by_creditor),
        every_creditor=creditors,
    )
    server = HttpServer(face, address, console)
    stopped = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        log.info("serving the console on %s", server.url)
        on_ready(server.url)
        stopped.wait()
    finally:
        Served(server).stop()
        for loaded in adapters:
            loaded.adapter.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
