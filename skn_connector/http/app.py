"""The HTTP face as a Starlette application: liveness, readiness and metrics.

- ``GET /health/live``: the process answers (200), nothing more is looked at;
- ``GET /health/ready``: the checks of ``health.readiness`` as ``application/health+json``,
  200 when they pass or warn, 503 when one fails;
- ``GET /metrics``: the Prometheus text format (``metrics``);
- the console's pages when ``[console] enabled`` (``console/``).

The endpoints are plain functions: Starlette runs them in its worker threads, so a slow
store or back-office check never holds up the server's event loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .face import Face
from .health import Health, readiness
from .metrics import NodeMetrics, metrics_registry

HEALTH_JSON = "application/health+json"
#: The classic text format, which every Prometheus reads (the default names a newer one).
METRICS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store"}


def _health(document: dict[str, Any], status_code: int) -> Response:
    return Response(
        json.dumps(document, ensure_ascii=False),
        status_code=status_code,
        media_type=HEALTH_JSON,
        headers=_NO_STORE,
    )


def build_app(face: Face, console: Sequence[BaseRoute] = ()) -> tuple[Starlette, NodeMetrics]:
    """The application, and the process-local metrics the daemon feeds (the node's calls);
    with the console's routes when it is on (``http.console.Console.routes``)."""
    registry, node_metrics = metrics_registry(face)

    def live(_request: Request) -> Response:
        return _health({"status": Health.PASS.value}, 200)

    def ready(_request: Request) -> Response:
        report = readiness(face)
        return _health(report.to_json(), 503 if report.status is Health.FAIL else 200)

    def metrics(_request: Request) -> Response:
        return Response(exposition(registry), media_type=METRICS_TEXT, headers=_NO_STORE)

    app = Starlette(
        routes=[
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *console,
        ]
    )
    return app, node_metrics


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
