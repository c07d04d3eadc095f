"""``GET /metrics``: the Prometheus text format.

The store's figures are read at scrape time by a collector (``StoreCollector``), from the
store itself (``operations.status``): the totals too (received, quarantined and sent, which the
store's triggers keep in a row per creditor), so every instance on a store reports the same
figures, also right after a restart, and a counter never goes back. Beside them are the
figures only this process knows: how long the node took to answer (``NodeMetrics``).

Every label comes from a fixed set: task kinds, hold actions, node operations and outcomes,
certificate roles (and the certificate's common name, an organisation's or a CA's). No
label or value carries personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..operations.status import Status, status
from ..wire.profile import (
    OP_CONFIRM,
    OP_CONFIRM_MANY,
    OP_FETCH,
    OP_FETCH_MANY,
    OP_LIST,
    OP_SEND,
    OP_SEND_MANY,
)
from .face import Face
from .health import readiness

log = logging.getLogger(__name__)

#: Node calls take from milliseconds (a list on loopback) to the read timeout (30 s).
NODE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: The node's SOAP operations (a label of the durations) and how a call ended.
NODE_OPERATIONS = frozenset(
    {OP_LIST, OP_FETCH, OP_CONFIRM, OP_SEND, OP_FETCH_MANY, OP_CONFIRM_MANY, OP_SEND_MANY}
)
NODE_OUTCOMES = frozenset({"ok", "refused", "error"})


class NodeMetrics:
    """How long each call to the node took, by operation and outcome (this process only)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.durations = Histogram(
            "skn_node_request_duration_seconds",
            "Time the node took to answer a SOAP call (this process), by operation and outcome.",
            ["operation", "outcome"],
            buckets=NODE_BUCKETS,
            registry=registry,
        )

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        if operation not in NODE_OPERATIONS:
            operation = "other"
        if outcome not in NODE_OUTCOMES:
            outcome = "error"
        self.durations.labels(operation, outcome).observe(seconds)


class StoreCollector(Collector):
    """The store's figures, read at each scrape; readiness and the lease beside them."""

    def __init__(self, face: Face) -> None:
        self.face = face

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "skn_build_info", "The connector's release (always 1).", labels=["version"]
        )
        build.add_metric([__version__], 1)
        yield build
        ready = readiness(self.face)
        yield _gauge(
            "skn_ready",
            "1 when /health/ready passes or warns, 0 when it fails.",
            1 if ready.ready else 0,
        )
        yield _gauge(
            "skn_lease_held",
            "1 when this instance works the store (holds its lease).",
            1 if self.face.working() else 0,
        )
        up = "1 when the store answered this scrape."
        # a store that is missing is not opened (with SQLite that would create an empty one)
        # and one that is damaged or of another schema has no figures worth showing; the
        # daemon's jobs log the store's sentence, /health/ready says it
        if not ready.store_readable:
            yield _gauge("skn_store_up", up, 0)
            return
        try:
            figures = [
                (each.creditor_id, status(self.face.store.scoped(each.creditor_id), each, now))
                for each in self.face.creditors()
                for now in (self.face.clock(),)
            ]
        except Exception as exc:  # the scrape still answers, with the figures it has
            log.debug("the metrics could not read the store (%s)", type(exc).__name__)
            yield _gauge("skn_store_up", up, 0)
            return
        yield _gauge("skn_store_up", up, 1)
        yield from store_metrics(figures)


_Figure = Callable[[Status], float | None]
#: (counter or gauge, name, help, the figure): one series per creditor, labelled with its
#: participant id
_SERIES: tuple[tuple[bool, str, str, _Figure], ...] = (
    (
        True,
        "skn_messages_received",
        "Messages received and stored (the inbox).",
        lambda f: f.received,
    ),
    (
        True,
        "skn_messages_quarantined",
        "Messages that could not be accepted and were kept in quarantine.",
        lambda f: f.quarantined,
    ),
    (
        True,
        "skn_answers_sent",
        "Answers and other messages delivered to the node.",
        lambda f: f.answers_sent,
    ),
    (
        True,
        "skn_backoffice_errors",
        "Failed calls to a back-office: holds, releases, write-offs and decisions.",
        lambda f: f.backoffice_errors,
    ),
    (
        False,
        "skn_answers_pending",
        "Questions waiting for their answer.",
        lambda f: f.answers_pending,
    ),
    (
        False,
        "skn_answers_due_soon",
        "Questions whose answer is due within 2 working days and not yet delivered.",
        lambda f: f.answers_due_soon,
    ),
    (
        False,
        "skn_answers_overdue",
        "Questions whose answer deadline has passed without an answer delivered.",
        lambda f: f.answers_overdue,
    ),
    (
        False,
        "skn_oldest_unanswered_age_seconds",
        "Age of the oldest question waiting for its answer (0 when none waits).",
        lambda f: f.oldest_unanswered_age.total_seconds() if f.oldest_unanswered_age else 0,
    ),
    (
        False,
        "skn_last_successful_poll_timestamp_seconds",
        "When the node's messagebox was last listed (written once a minute).",
        lambda f: f.last_poll.timestamp() if f.last_poll is not None else None,
    ),
    (
        False,
        "skn_last_received_timestamp_seconds",
        "When the newest message was received (from the node or a portal download).",
        lambda f: f.last_received.timestamp() if f.last_received is not None else None,
    ),
    (
        False,
        "skn_poll_deadline_timestamp_seconds",
        "By when the node must be polled again: the last poll or receipt plus one Dutch "
        "working day.",
        lambda f: f.poll_due.timestamp() if f.poll_due is not None else None,
    ),
    (
        False,
        "skn_quarantine_messages",
        "Quarantined messages a person has not resolved.",
        lambda f: f.quarantine_open,
    ),
    (False, "skn_tasks_overdue", "Open tasks past their due date.", lambda f: f.tasks_overdue),
    (
        False,
        "skn_holds_active",
        "Holds on enforcement in force in the back-office (applied, or waiting to be released).",
        lambda f: f.holds_active,
    ),
)


def store_metrics(figures: Sequence[tuple[str, Status]]) -> Iterator[Metric]:
    """The store's figures of each creditor, labelled ``creditor`` with its participant id
    (never a name)."""
    for counter, name, documentation, figure in _SERIES:
        family: Metric = (
            CounterMetricFamily(name, documentation, labels=["creditor"])
            if counter
            else GaugeMetricFamily(name, documentation, labels=["creditor"])
        )
        for creditor, status_of in figures:
            value = figure(status_of)
            if value is not None:
                family.add_metric([creditor], value)  # type: ignore[attr-defined]
        if family.samples or not name.endswith("timestamp_seconds"):
            yield family
    tasks = GaugeMetricFamily(
        "skn_tasks_open", "Open tasks for a person, by kind.", labels=["creditor", "kind"]
    )
    pending = GaugeMetricFamily(
        "skn_holds_pending",
        "Holds waiting for the back-office, by what it must do (apply or release).",
        labels=["creditor", "action"],
    )
    expiry = GaugeMetricFamily(
        "skn_certificate_expiry_timestamp_seconds",
        "When a certificate expires: our client certificate and each CA in node.tls.trust.",
        labels=["creditor", "role", "cn"],
    )
    for creditor, status_of in figures:
        for kind, count in sorted(status_of.tasks_open.items()):
            tasks.add_metric([creditor, kind], count)
        pending.add_metric([creditor, "apply"], status_of.holds_to_apply)
        pending.add_metric([creditor, "release"], status_of.holds_to_release)
        for certificate in status_of.certificates:
            expiry.add_metric(
                [creditor, certificate.role.value, certificate.common_name],
                certificate.not_after.timestamp(),
            )
    yield tasks
    yield pending
    yield expiry


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def metrics_registry(face: Face) -> tuple[CollectorRegistry, NodeMetrics]:
    """A registry of its own (not the process-wide default): the store's collector and the
    node's durations."""
    # a _created series beside each histogram says nothing here
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(face))
    return registry, NodeMetrics(registry)
