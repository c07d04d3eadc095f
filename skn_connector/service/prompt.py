"""Run a job soon after it is asked for, in a thread of its own.

The receive endpoint asks after every commit that stored new messages, so that their answers
go out at once and not at the next interval. The job waits a moment (``settle``) after the
first ask, or until a whole batch was asked for, so that a stream of deliveries is decided
in batches, as a fetch is, rather than a few at a time: each batch's commits cost the same
however many messages it holds. Asks that come while the job runs make it run once more
afterwards, so none is lost; they never make it run twice at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

#: How long the job waits after the first ask for more to come.
SETTLE_SECONDS = 0.1


class Prompt:
    def __init__(
        self,
        job: Callable[[], None],
        *,
        batch: int = 1,
        settle: float = SETTLE_SECONDS,
        name: str = "skn-prompt",
    ) -> None:
        self._job = job
        self._batch = batch
        self._settle = settle
        self._asked = 0
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def ask(self, count: int = 1) -> None:
        """Run the job soon; ``count``: how many new items it has to work on."""
        with self._changed:
            self._asked += max(1, count)
            self._changed.notify()

    def start(self) -> Prompt:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> None:
        """Run no more (a run in progress finishes; the caller waits for it elsewhere)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout)

    def _next(self) -> bool:
        """Wait until the job is due; False once stopping."""
        with self._changed:
            while not self._asked and not self._stopping:
                self._changed.wait()
            until = time.monotonic() + self._settle
            while not self._stopping and self._asked < self._batch:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            if self._stopping:
                return False
            self._asked = 0
            return True

    def _run(self) -> None:
        while self._next():
            try:
                self._job()
            except Exception:  # the job logs its own steps' failures; this is a last resort
                log.exception("a prompted job failed; it runs again when asked")

    def __enter__(self) -> Prompt:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(0)
