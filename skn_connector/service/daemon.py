"""Running the connector: once (``run_once``), or as a daemon (``run_daemon``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..config import Settings
from ..engine.pipeline import Pipeline
from ..engine.records import Delivery, RunSummary
from ..node.client import NodeError, NodeTLSError
from ..store.creditor_leases import CreditorLeases
from ..store.errors import StoreError
from ..store.lease import StoreLease
from .notify import Notifier, arm_watchdog
from .prompt import Prompt
from .receive import receiving
from .rounds import RoundLog
from .wiring import build_receive_context, connectors

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


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
    summary.to_approve = pipeline.answers_to_approve()
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
    waiting_said = False
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
            summary.tasks_raised += pipeline.watch.deadlines()
            deadlines_due = time.monotonic() + DEADLINE_WATCH_SECONDS
        if node_error is None and idle:
            break
        if busy or delivered:
            give_up_at = time.monotonic() + max_wait
            pause = 0.2
            waiting_said = False
            continue
        if time.monotonic() > give_up_at:
            if node_error is not None:
                summary.errors.append(f"the node stayed unavailable: {node_error}")
            break
        if not waiting_said:  # say once what the silence that follows is
            log.warning(
                "waiting up to %.0f s for %s (run --once --max-wait); Ctrl-C stops",
                max(0.0, give_up_at - time.monotonic()),
                "the node" if node_error is not None else "the back-office or a retry",
            )
            waiting_said = True
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


class Standby:
    """Whether this instance may work now: it holds the store's lease, taken when it is free.
    Another instance working the same store makes this one stand by (logged once a change).
    ``creditors``: whose work the lease covers (the faces show them)."""

    def __init__(
        self,
        lease: StoreLease,
        creditors: Sequence[Settings] = (),
        *,
        leases: CreditorLeases | None = None,
    ) -> None:
        self.lease = lease
        self.creditors = tuple(creditors)
        #: a lease per creditor (several instances on PostgreSQL share the creditors)
        self.leases = leases
        self.working: bool | None = None

    def works_for(self, creditor_id: str | None) -> bool:
        """Whether this instance works that creditor now (its lease, or the store's)."""
        return self.leases is None or creditor_id in self.leases.held

    def may_work(self) -> bool:
        try:
            held = bool(self.leases.settle()) if self.leases else self.lease.acquire()
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


#: One step of a job, for one creditor's pipeline.
Step = Callable[[Pipeline], object]

#: How long a stop waits for the running job to finish its step and commit; then the process
#: exits anyway (every step commits on its own, so the next start resumes where it stopped).
STOP_WAIT_SECONDS = 10.0


class Jobs:
    """The daemon's jobs: each a list of steps (poll, process, carry out, deliver), each step
    on its own, so that one failing does not keep the others from running. A stop lets the
    running step finish and commit, and starts no other."""

    def __init__(
        self,
        pipeline: Pipeline,
        standby: Standby,
        *,
        others: Sequence[Pipeline] = (),
        parallel: int = 1,
    ) -> None:
        #: the pipeline of the creditor whose work the job does now; ``others``: those of the
        #: deployment's other creditors, each worked in turn by every job
        self.pipeline = pipeline
        self.pipelines = (pipeline, *others)
        self.standby = standby
        self.stopping = threading.Event()
        #: held while a job runs: a stop waits for it
        self.running = threading.Lock()
        self._rounds = {id(p): RoundLog(p.store) for p in self.pipelines}
        self.rounds = self._rounds[id(pipeline)]
        workers = min(len(self.pipelines), parallel)
        #: the creditors' work of one job runs side by side: their node calls and back-offices
        #: wait apart (the store still takes one transaction at a time)
        self._workers = (
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skn-creditor")
            if workers > 1
            else None
        )

    def _run(self, job: str, steps: tuple[tuple[str, Step], ...]) -> None:
        """The job's steps, for every creditor this instance works: side by side (at most
        ``node.parallel_creditors`` at once), each creditor's in order. A job ends when every
        creditor's steps did, so jobs never overlap and no conversation is worked twice."""
        with self.running:
            if self.stopping.is_set() or not self.standby.may_work():
                return
            mine = [p for p in self.pipelines if self.standby.works_for(p.store.creditor_id)]
            if self._workers is None or len(mine) < 2:
                for pipeline in mine:
                    if self.stopping.is_set():
                        break
                    self._run_steps(job, pipeline, steps)
                return
            running = [self._workers.submit(self._run_steps, job, p, steps) for p in mine]
            for done in futures.as_completed(running):
                if (error := done.exception()) is not None:  # _run_steps keeps its own errors
                    log.error("the %s job failed for a creditor: %s", job, type(error).__name__)

    def close(self) -> None:
        """Let go of the creditors' workers (after the last job)."""
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)

    def _run_steps(self, job: str, pipeline: Pipeline, steps: tuple[tuple[str, Step], ...]) -> None:
        rounds = self._rounds[id(pipeline)]
        mark = rounds.begin()
        for name, step in steps:
            if self.stopping.is_set():
                break
            try:
                step(pipeline)
            except NodeError:
                pass  # logged once by the pipeline when the node goes down
            except StoreError as exc:  # its sentence says what to do; no traceback
                log.error("%s (the %s job runs again at the next interval)", exc, job)
                break  # the other steps need the store too
            except Exception:
                log.exception(
                    "the %s step of the %s job failed; the other steps go on, and it runs "
                    "again at the next interval",
                    name,
                    job,
                )
        rounds.end(job, mark)

    def _poll_until_empty(self, pipeline: Pipeline) -> None:
        while not self.stopping.is_set() and pipeline.poll() > 0:
            pipeline.process_due()

    def poll(self) -> None:
        self._run(
            "poll",
            (
                ("poll", self._poll_until_empty),
                ("process", Pipeline.process_due),
                ("carry out", Pipeline.carry_out),
                ("deliver", Pipeline.deliver_due),
            ),
        )

    def deliver(self) -> None:
        self._run(
            "delivery",
            (
                ("process", Pipeline.process_due),
                ("carry out", Pipeline.carry_out),
                ("deliver", Pipeline.deliver_due),
            ),
        )

    def received(self) -> None:
        """After the receive endpoint stored new messages: decide them, carry out and deliver
        at once; again while a whole batch was due (there may be more)."""
        due = [self.pipeline.batch_size]
        counting = threading.Lock()

        def process(pipeline: Pipeline) -> None:
            worked = pipeline.process_due()
            with counting:  # creditors are worked side by side: the most any of them had
                due[0] = max(due[0], worked)

        while due[0] >= self.pipeline.batch_size and not self.stopping.is_set():
            due[0] = 0
            self._run(
                "receive",
                (
                    ("process", process),
                    ("carry out", Pipeline.carry_out),
                    ("deliver", Pipeline.deliver_due),
                ),
            )

    def daily(self) -> None:
        self._run(
            "daily",
            (
                ("carry out", Pipeline.carry_out),  # expires the holds whose end passed
                ("watch deadlines", lambda pipeline: pipeline.watch.deadlines()),
            ),
        )

    def wait_for_the_running_job(self, timeout: float) -> bool:
        """After a stop: whether the running job (if any) finished within ``timeout``."""
        if self.running.acquire(timeout=timeout):
            self.running.release()
            return True
        return False


class Stoppable(Protocol):
    def stop(self) -> None: ...


#: A face the daemon serves beside its work (the HTTP face): started once the store is open,
#: with the daemon's pipelines (one a creditor, the first creditor's first) and its standby;
#: None when its settings leave it off. The faces are given by the caller: the service layer
#: knows no face.
FaceStarter = Callable[[Settings, Sequence[Pipeline], "Standby"], Stoppable | None]


def _decide_delay_max(settings: Settings) -> float | None:
    """How long deciding may wait for deliveries to pause (None: it does not wait for one)."""
    if settings.receive is None or not settings.receive.decide_delay_max:
        return None
    return settings.receive.decide_delay_max.total_seconds()


def run_daemon(
    settings: Settings, *, insecure_dev: bool = False, faces: Sequence[FaceStarter] = ()
) -> None:
    """Run the scheduler until SIGINT or SIGTERM: poll jobs and delivery jobs, ``faces``, and
    in receive mode the receive endpoint (started before the scheduler, stopped after it so
    that the deliveries in flight finish their commit). A stop starts no new job and lets
    the running one finish its step (at most STOP_WAIT_SECONDS)."""
    run_daemon_for((settings,), insecure_dev=insecure_dev, faces=faces)


def run_daemon_for(
    creditors: Sequence[Settings],
    *,
    insecure_dev: bool = False,
    faces: Sequence[FaceStarter] = (),
) -> None:
    """``run_daemon`` for every creditor of a deployment: each job works the creditors side
    by side (``node.parallel_creditors`` at once), each with its own pipeline (participant
    id, certificate, adapters, policy); one lease on the store covers them all. The faces
    show every creditor."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = creditors[0]
    receive_context = build_receive_context(settings)  # refused before anything is created
    with (
        connectors(creditors, insecure_dev=insecure_dev) as pipelines,
        StoreLease(pipelines[0].store) as lease,
        contextlib.ExitStack() as shared,
    ):
        pipeline = pipelines[0]
        leases = None
        if len(creditors) > 1 and pipeline.store.engine.dialect.name == "postgresql":
            # several instances share the creditors: a lease each, not one for the store
            leases = shared.enter_context(
                CreditorLeases(pipeline.store, [c.creditor_id for c in creditors])
            )
        # one worker: jobs never overlap, so one conversation is never worked on twice at once
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)}, timezone=UTC
        )
        standby = Standby(lease, creditors, leases=leases)
        jobs = Jobs(
            pipeline, standby, others=pipelines[1:], parallel=settings.node.parallel_creditors
        )
        shared.callback(jobs.close)
        now = datetime.now(UTC)
        polls = settings.node.mode.polls
        if polls:
            scheduler.add_job(
                jobs.poll,
                "interval",
                id="poll",
                seconds=settings.node.poll_interval.total_seconds(),
                next_run_time=now,
                max_instances=1,
                coalesce=True,
            )
        scheduler.add_job(
            jobs.daily, "cron", id="daily", hour=6, minute=0, max_instances=1, coalesce=True
        )
        scheduler.add_job(
            jobs.deliver,
            "interval",
            id="deliver",
            seconds=settings.node.deliver_interval.total_seconds(),
            next_run_time=None if polls else now,  # what was stored before a stop, at once
            max_instances=1,
            coalesce=True,
        )

        notifier = Notifier.from_environment()  # systemd Type=notify; inert without it
        arm_watchdog(scheduler, notifier)

        def stop(signum: int, _frame: Any) -> None:
            if jobs.stopping.is_set():  # a second signal while stopping: already on its way
                return
            notifier.stopping()
            log.info("received %s; stopping after the running job", signal.Signals(signum).name)
            jobs.stopping.set()
            shut_down()

        def shut_down() -> None:
            stop_scheduler(scheduler)

        def stop_if_asked_during_start() -> None:
            # a signal before the scheduler ran (while the faces and the receive endpoint
            # started) could not shut it down: its first job does
            if jobs.stopping.is_set():
                shut_down()

        scheduler.add_job(
            stop_if_asked_during_start,
            "date",
            id="stop-if-asked",
            run_date=now,
            misfire_grace_time=None,
        )

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        started = [face(settings, jobs.pipelines, jobs.standby) for face in faces]
        served = [face for face in started if face is not None]
        log.info(
            "skn-connector running: %s, delivering every %s",
            f"polling every {settings.node.poll_interval}" if polls else "not polling",
            settings.node.deliver_interval,
        )
        if settings.node.mode.receives:  # the endpoint stores only while this instance works
            jobs.standby.may_work()
        try:
            with (
                Prompt(
                    jobs.received,
                    batch=pipeline.batch_size,
                    within=_decide_delay_max(settings),
                ) as prompt,
                receiving(
                    settings,
                    receive_context,
                    pipeline,
                    others=pipelines[1:],
                    wake=prompt.ask,
                    may_store=lambda: jobs.standby.working is True,
                ),
            ):
                notifier.ready()  # the store is open and the first round is armed
                scheduler.start()
        finally:
            for face in served:
                face.stop()
        if not jobs.wait_for_the_running_job(STOP_WAIT_SECONDS):
            log.warning(
                "the running job did not finish its step within %.0f s; exiting now, the next "
                "start resumes it",
                STOP_WAIT_SECONDS,
            )
            logging.shutdown()
            os._exit(EXIT_STOPPED_UNFINISHED)
        log.info("skn-connector stopped")


def stop_scheduler(scheduler: BaseScheduler) -> None:
    """Shut the scheduler down from a signal handler or a job, without waiting for its jobs.

    A signal is handled in the main thread, which is the scheduler's own loop, often in the
    middle of dispatching a job that runs there (the watchdog). A shutdown there would take
    the loop's own (reentrant) lock and empty the job store under the loop, which then fails
    to update the job it dispatched (``JobLookupError``: a traceback and exit code 1 on a
    SIGTERM). From a thread of its own the shutdown waits until the loop let go of its jobs."""

    from apscheduler.schedulers import SchedulerNotRunningError

    def shut_down() -> None:
        with contextlib.suppress(SchedulerNotRunningError):  # not yet, or already
            if scheduler.running:
                scheduler.shutdown(wait=False)

    threading.Thread(target=shut_down, name="skn-stop", daemon=True).start()


#: The exit code when a stop could not wait for the running job (systemd logs it).
EXIT_STOPPED_UNFINISHED = 1
