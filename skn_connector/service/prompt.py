"""Run a job soon after it is asked for, in a thread of its own.

The receive endpoint asks after every commit that stored a new message, so that the answer
goes out at once and not at the next interval. Asks that come while the job runs make it
run once more afterwards, so none is lost; they never make it run twice at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Prompt:
    def __init__(self, job: Callable[[], None], *, name: str = "skn-prompt") -> None:
        self._job = job
        self._asked = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def ask(self) -> None:
        self._asked.set()

    def start(self) -> Prompt:
        self._thread.start()
        return self

    def stop(self, timeout: float) -> None:
        """Run no more (a run in progress finishes; the caller waits for it elsewhere)."""
        self._stopping.set()
        self._asked.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._asked.wait()
            if self._stopping.is_set():
                return
            self._asked.clear()
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
