"""The receive endpoint's writer: one thread stores the deliveries waiting, together.

The store is synchronous and SQLite has one writer, so the requests do not each write: they
put their delivery here and wait. The writer takes everything waiting (up to a batch) and
stores it in one transaction (``Pipeline.intake_many``: a group commit, as a fetched batch
is stored), then tells each request its outcome. A request is acknowledged only after that
commit. A batch that fails is stored again one delivery at a time, so that one bad delivery
fails alone. Each delivery comes decoded (``engine.intake.predecode``, in the request's
turn): the writer is the one part of receiving that cannot run beside another, so it does
only what must be serial.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum

from ..engine.crashpoints import crashpoint
from ..messages import Message
from ..store.errors import StoreError

log = logging.getLogger(__name__)

#: How long ``stop`` waits for the writer to store what is waiting.
STOP_WAIT_SECONDS = 10.0


class Stored(StrEnum):
    """What intake did with a delivery; every one is durable, so each is acknowledged."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    CONFLICT = "conflict"
    KNOWN = "known"


class NotStored(Exception):
    """A delivery that was not stored; ``retry_after`` seconds is when to deliver it again.
    The text is one sentence for the node, without the message's content."""

    def __init__(self, reason: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


#: Called once per delivery, from the writer's thread, with its outcome.
Done = Callable[[Stored | NotStored], None]
#: A delivery: node handle, bytes, and their ``predecode`` (the message, or why it cannot be
#: read).
Delivery = tuple[str, bytes, Message | str]
#: Stores deliveries in one transaction; returns each one's outcome.
Intake = Callable[[Sequence[Delivery]], Sequence[str]]


@dataclass(frozen=True)
class _Waiting:
    handle: str
    payload: bytes
    decoded: Message | str
    done: Done


class GroupWriter:
    """Deliveries waiting to be stored, and the thread that stores them."""

    def __init__(
        self,
        intake: Intake,
        *,
        max_waiting: int,
        batch_size: int,
        may_store: Callable[[], bool] = lambda: True,
        after_commit: Callable[[list[Stored]], None] = lambda _outcomes: None,
        around: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._intake = intake
        self._max_waiting = max_waiting
        self._batch_size = batch_size
        self._may_store = may_store
        self._after_commit = after_commit
        #: what the writer's thread runs in (the store's ``keeping``: one connection for it)
        self._around = around
        self._waiting: deque[_Waiting] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="skn-receive-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, handle: str, payload: bytes, decoded: Message | str, done: Done) -> bool:
        """Queue a delivery; False when as many as ``max_waiting`` wait already (or the
        writer stops): the caller answers that it is busy."""
        with self._changed:
            if self._stopping or len(self._waiting) >= self._max_waiting:
                return False
            self._waiting.append(_Waiting(handle, payload, decoded, done))
            self._changed.notify()
        return True

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> bool:
        """Store what is waiting, then end the thread; whether it ended within ``timeout``."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _take(self) -> list[_Waiting] | None:
        """The next batch; None once stopping with nothing left."""
        with self._changed:
            while not self._waiting and not self._stopping:
                self._changed.wait()
            if not self._waiting:
                return None
            count = min(len(self._waiting), self._batch_size)
            return [self._waiting.popleft() for _ in range(count)]

    def _run(self) -> None:
        with self._around():
            self._write_until_stopped()

    def _write_until_stopped(self) -> None:
        while (batch := self._take()) is not None:
            try:
                outcomes = self._store(batch)
            except Exception as exc:  # the thread must go on: each request gets its answer
                # the class only: a driver's error repeats the statement's values
                log.error("storing a batch of deliveries failed: %s", type(exc).__name__)
                outcomes = [NotStored("the connector failed to store the message", 30)] * len(batch)
            for waiting, outcome in zip(batch, outcomes, strict=True):
                try:
                    waiting.done(outcome)
                except Exception:
                    log.exception("answering a delivery failed")
            stored = [o for o in outcomes if isinstance(o, Stored)]
            if stored:
                try:
                    self._after_commit(stored)
                except Exception:
                    log.exception("the work after storing deliveries could not be started")

    def _store(self, batch: list[_Waiting]) -> list[Stored | NotStored]:
        if not self._may_store():
            busy = NotStored("this instance stands by; another one works the store", 30)
            return [busy] * len(batch)
        try:
            outcomes = self._commit(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [self._failure(exc)]
            # one bad delivery (or another instance storing the same message meanwhile) must
            # not fail the others: each alone, once
            log.info(
                "a batch of %d deliveries failed (%s); storing each alone",
                len(batch),
                type(exc).__name__,
            )
            results: list[Stored | NotStored] = []
            for waiting in batch:
                try:
                    results += self._commit([waiting])
                except Exception as alone:
                    results.append(self._failure(alone))
            return results
        return list(outcomes)

    def _commit(self, batch: list[_Waiting]) -> list[Stored]:
        deliveries = [(w.handle, w.payload, w.decoded) for w in batch]
        outcomes = [Stored(o) for o in self._intake(deliveries)]
        # stored and committed, not yet acknowledged: the node delivers these again
        crashpoint("after_receive_commit")
        return outcomes

    @staticmethod
    def _failure(exc: Exception) -> NotStored:
        if isinstance(exc, StoreError):  # its sentence names the file and what to do
            log.error("a delivery could not be stored: %s", exc)
            return NotStored("the connector cannot store messages now; deliver again later", 60)
        log.error("a delivery could not be stored: %s", type(exc).__name__)
        return NotStored("the connector failed to store the message; deliver again later", 30)
