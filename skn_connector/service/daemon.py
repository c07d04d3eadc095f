"""Building the connector from its settings, and running it: once, or as a daemon."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from ..adapters.registry import LoadedAdapter, load_adapters
from ..config import Settings
from ..engine.deadlines import WorkingDays
from ..engine.pipeline import CreditorProfile, Delivery, Pipeline, RunSummary
from ..engine.policy import load_policy
from ..messages import Contactpersoon
from ..node.client import NodeClient, NodeError, NodeTLSError, build_ssl_context
from ..secrets import is_secret_ref, resolve_secret
from ..security import exposed_files, refuse_invalid_client_certificate
from ..store import Store, open_configured_store
from ..store.errors import StoreError
from ..store.lease import StoreLease

log = logging.getLogger(__name__)


def resolve_option_secrets(value: Any) -> Any:
    """Adapter options may hold ``secret:NAME`` values; they are resolved only in memory."""
    if isinstance(value, str) and is_secret_ref(value):
        return resolve_secret(value)
    if isinstance(value, dict):
        return {k: resolve_option_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_option_secrets(v) for v in value]
    return value


def build_node_client(settings: Settings, *, insecure_dev: bool = False) -> NodeClient:
    node = settings.node
    context = None
    if node.tls is not None:
        refuse_invalid_client_certificate(node.tls.certificate)
        password = (
            resolve_secret(node.tls.private_key_password) if node.tls.private_key_password else None
        )
        context = build_ssl_context(
            node.tls.certificate, node.tls.private_key, node.tls.trust, password
        )
    timeout = httpx.Timeout(
        connect=node.connect_timeout.total_seconds(),
        read=node.read_timeout.total_seconds(),
        write=node.read_timeout.total_seconds(),
        pool=node.connect_timeout.total_seconds(),
    )
    return NodeClient(
        node.url,
        node.participant_id,
        ssl_context=context,
        timeout=timeout,
        allow_insecure=insecure_dev,
    )


def build_adapters(settings: Settings) -> list[LoadedAdapter]:
    return load_adapters(
        (a.name, a.use, resolve_option_secrets(a.options)) for a in settings.adapters
    )


def creditor_profile(settings: Settings) -> CreditorProfile:
    contact = settings.creditor.contact
    return CreditorProfile(
        participant_id=settings.node.participant_id,
        vooraf_akkoord=settings.creditor.vooraf_akkoord,
        contact=Contactpersoon(
            naam=contact.naam, telefoonnummer=contact.telefoon, emailadres=contact.email
        ),
    )


@contextmanager
def connector(settings: Settings, *, insecure_dev: bool = False) -> Iterator[Pipeline]:
    """The pipeline with its store, node client and adapters; all closed on exit."""
    for deprecated in settings.deprecations():
        log.warning("%s: %s", settings.source, deprecated)
    for exposed in exposed_files(settings):
        log.warning("%s", exposed)
    adapters = build_adapters(settings)
    store: Store | None = None
    client: NodeClient | None = None
    try:
        store = open_configured_store(settings.store)
        client = build_node_client(settings, insecure_dev=insecure_dev)
        yield Pipeline(
            store=store,
            node=client,
            adapters=adapters,
            creditor=creditor_profile(settings),
            working_days=WorkingDays(good_friday=settings.policy.good_friday),
            answer_within_working_days=settings.policy.answer_within_working_days,
            batch_size=settings.node.batch_size,
            policy=load_policy(settings.creditor.kind, settings.creditor.covenant, settings.policy),
            warn_at_working_days=settings.policy.warn_at_working_days,
            outage_task_after=settings.policy.backoffice_outage_task_after,
        )
    finally:
        if client is not None:
            client.close()
        for loaded in adapters:
            loaded.adapter.close()
        if store is not None:
            store.close()


#: How often a run through a long backlog looks at the deadlines.
DEADLINE_WATCH_SECONDS = 30.0


def run_once(pipeline: Pipeline, *, max_wait: float = 120.0) -> RunSummary:
    """Fetch, process and deliver until the messagebox and the outbox are empty.

    Waits for retries (node or back-office briefly down) at most ``max_wait`` seconds
    after the last progress; what is still pending then is reported in the summary.

    While the node takes a batch of answers, the next batch is fetched and decided: the
    send runs in a second thread, which touches only the network (the store is read and
    written by this thread alone); its outcome is recorded in the next round.
    """
    summary = RunSummary()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skn-send") as sender:
        in_flight: list[Future[Delivery]] = []
        try:
            _run_rounds(pipeline, summary, sender, in_flight, max_wait)
        finally:
            for sending in in_flight:  # what the node took is recorded before we leave
                try:
                    pipeline.settle_delivery(sending.result(), summary)
                except NodeTLSError as exc:
                    summary.errors.append(str(exc))
                except StoreError as exc:  # the round's own error says it too
                    log.error("recording the last batch of answers sent failed: %s", exc)
                except Exception:  # the round's own error is the one to raise; this one is logged
                    log.exception("recording the last batch of answers sent failed")
            if in_flight:
                summary.pending_inbox, summary.pending_outbox = pipeline.backlog()
    return summary


def _settle(
    pipeline: Pipeline, sending: Future[Delivery], summary: RunSummary
) -> tuple[int, NodeError | None]:
    """Record a batch sent in the other thread (waiting for it if need be): (how many the
    node took, why the batch stopped early if it did)."""
    delivery = sending.result()
    return pipeline.settle_delivery(delivery, summary), delivery.stopped


def _run_rounds(
    pipeline: Pipeline,
    summary: RunSummary,
    sender: ThreadPoolExecutor,
    in_flight: list[Future[Delivery]],
    max_wait: float,
) -> None:
    give_up_at = time.monotonic() + max_wait
    deadlines_due = time.monotonic()
    pause = 0.2
    while True:
        listed = delivered = carried = processed = 0
        node_error: NodeError | None = None
        try:
            listed = pipeline.poll(summary)
        except NodeTLSError as exc:
            summary.errors.append(str(exc))
            break
        except NodeError as exc:
            node_error = exc
        # what is stored is decided and held even while the node is down
        processed = pipeline.process_due(summary)
        carried = pipeline.carry_out()
        summary.effects += carried
        busy = bool(listed or processed or carried)
        try:
            # the batch sent last round, if the node has taken it; then the next batch goes
            # out (also when the poll failed: sending may work when listing did not), unless
            # the node just refused a send; with nothing else to do, wait for it here
            stopped: NodeError | None = None
            if in_flight and in_flight[0].done():
                delivered, stopped = _settle(pipeline, in_flight.pop(), summary)
            if not in_flight and stopped is None:
                due = pipeline.due_outbox()
                if due:
                    in_flight.append(sender.submit(pipeline.send_outbox, due))
            if in_flight and not busy:
                sent, stopped = _settle(pipeline, in_flight.pop(), summary)
                delivered += sent
            node_error = node_error or stopped
        except NodeTLSError as exc:
            summary.errors.append(str(exc))
            break
        summary.pending_inbox, summary.pending_outbox = pipeline.backlog()
        idle = listed == 0 and not summary.pending_inbox and not summary.pending_outbox
        # deadlines are days away: a long backlog looks at them every half minute, not
        # every round; the last round always looks
        if idle or node_error is not None or time.monotonic() >= deadlines_due:
            summary.tasks_raised += pipeline.watch_deadlines()
            deadlines_due = time.monotonic() + DEADLINE_WATCH_SECONDS
        if node_error is None and idle:
            break
        if busy or delivered:
            give_up_at = time.monotonic() + max_wait
            pause = 0.2
            continue
        if time.monotonic() > give_up_at:
            if node_error is not None:
                summary.errors.append(f"the node stayed unavailable: {node_error}")
            break
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


class Standby:
    """Whether this instance may work now: it holds the store's lease, taken when it is free.
    Another instance working the same store makes this one stand by (logged once a change)."""

    def __init__(self, lease: StoreLease) -> None:
        self.lease = lease
        self.working: bool | None = None

    def may_work(self) -> bool:
        try:
            held = self.lease.acquire()
        except StoreError as exc:
            log.error("%s (not working this round)", exc)
            held = False
        except Exception:
            log.exception("the store's lease could not be checked; not working this round")
            held = False
        if held != self.working:
            if held:
                log.info("holding the store's lease: this instance works")
            else:
                log.warning("another instance holds the store's lease: this one stands by")
            self.working = held
        return held


def run_daemon(settings: Settings, *, insecure_dev: bool = False) -> None:
    """Run the scheduler until SIGINT or SIGTERM: poll jobs and delivery jobs."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    with (
        connector(settings, insecure_dev=insecure_dev) as pipeline,
        StoreLease(pipeline.store) as lease,
    ):
        # one worker: jobs never overlap, so one conversation is never worked on twice at once
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)}, timezone=UTC
        )
        standby = Standby(lease)

        def poll_job() -> None:
            if not standby.may_work():
                return
            try:
                while pipeline.poll() > 0:
                    pipeline.process_due()
                pipeline.process_due()
                pipeline.carry_out()
                pipeline.deliver_due()
            except NodeError:
                pass  # logged once by the pipeline when the node goes down
            except StoreError as exc:
                log.error("%s (the poll job runs again at the next interval)", exc)
            except Exception:
                log.exception("the poll job failed; it runs again at the next interval")

        def deliver_job() -> None:
            if not standby.may_work():
                return
            try:
                pipeline.process_due()
                pipeline.carry_out()
                pipeline.deliver_due()
            except NodeError:
                pass
            except StoreError as exc:
                log.error("%s (the delivery job runs again at the next interval)", exc)
            except Exception:
                log.exception("the delivery job failed; it runs again at the next interval")

        now = datetime.now(UTC)
        scheduler.add_job(
            poll_job,
            "interval",
            id="poll",
            seconds=settings.node.poll_interval.total_seconds(),
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )

        def daily_job() -> None:
            if not standby.may_work():
                return
            try:
                pipeline.carry_out()  # expires the holds whose end has passed
                pipeline.watch_deadlines()
            except StoreError as exc:
                log.error("%s (the daily job runs again tomorrow)", exc)
            except Exception:
                log.exception("the daily job failed; it runs again tomorrow")

        scheduler.add_job(
            daily_job, "cron", id="daily", hour=6, minute=0, max_instances=1, coalesce=True
        )
        scheduler.add_job(
            deliver_job,
            "interval",
            id="deliver",
            seconds=settings.node.deliver_interval.total_seconds(),
            max_instances=1,
            coalesce=True,
        )

        def stop(signum: int, _frame: Any) -> None:
            log.info("received %s; stopping after the running job", signal.Signals(signum).name)
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info(
            "skn-connector running: polling every %s, delivering every %s",
            settings.node.poll_interval,
            settings.node.deliver_interval,
        )
        scheduler.start()
        log.info("skn-connector stopped")
