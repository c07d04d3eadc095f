"""Run a job soon after it is asked for, in a thread of its own.

The receive endpoint asks after every commit that stored new messages, so that their answers
go out at once and not at the next interval. Asks that come while the job runs make it run
once more afterwards, so none is lost; they never make it run twice at once. When it runs:

- with ``within`` (the receive endpoint's ``decide_delay_max``): in a lull. While asks keep
  coming the job waits, until none came for ``settle`` seconds, but never longer than
  ``within`` after the oldest ask it has not yet run for. Deciding shares the one CPU with
  the endpoint; a stream of deliveries is acknowledged first and decided when it pauses
  (or every ``within`` seconds while it does not), in large batches;
- without: ``settle`` seconds after the first ask, or as soon as a whole batch was asked
  for, so that a stream is decided in batches, as a fetch is, rather than a few at a time.
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
        within: float | None = None,
        name: str = "skn-prompt",
    ) -> None:
        self._job = job
        self._batch = batch
        self._settle = settle
        self._within = within or None
        self._asked = 0
        #: when the oldest ask the job has not run for came, and the latest (monotonic)
        self._first_ask = self._last_ask = 0.0
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def ask(self, count: int = 1) -> None:
        """Run the job soon; ``count``: how many new items it has to work on."""
        with self._changed:
            now = time.monotonic()
            if not self._asked:
                self._first_ask = now
            self._last_ask = now
            waiting_for_first = not self._asked
            self._asked += max(1, count)
            # the job's thread needs waking only to start counting or for a whole batch; a
            # later ask only moves the lull's end, which it reads when its wait is over (at
            # one ask per commit, a wake-up each cost the endpoint a few per cent)
            if waiting_for_first or (self._within is None and self._asked >= self._batch):
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
            if self._within is None:
                until = time.monotonic() + self._settle
                while not self._stopping and self._asked < self._batch:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            else:
                while not self._stopping:
                    # the bound counts from the oldest ask not yet run for: asks that came
                    # while the job ran have waited since then
                    until = min(self._last_ask + self._settle, self._first_ask + self._within)
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
