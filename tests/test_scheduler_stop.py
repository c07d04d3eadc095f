"""A stop asked while the scheduler's own loop dispatches a job that runs in it (the watchdog;
a SIGTERM is handled in that thread) ends the scheduler cleanly. Shut down in place, the
loop found its job store emptied under it: a JobLookupError, a traceback and exit code 1 on
a SIGTERM (seen in CI once)."""

from __future__ import annotations

import threading

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from skn_connector.service.daemon import stop_scheduler


def test_a_stop_from_inside_the_loop_ends_the_scheduler_cleanly() -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_executor(DebugExecutor(), alias="main-loop")
    ran = threading.Event()

    def watchdog() -> None:  # runs in the loop's thread, as a signal handler would
        ran.set()
        stop_scheduler(scheduler)

    scheduler.add_job(watchdog, "interval", seconds=0.05, executor="main-loop", id="watchdog")
    finished = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scheduler.start()
        except BaseException as exc:  # the failure this test is about
            errors.append(exc)
        finally:
            finished.set()

    # the scheduler runs in the main thread in the daemon; here in a thread of its own, so
    # that a scheduler that never stops fails the test instead of hanging it
    threading.Thread(target=run, daemon=True).start()
    assert finished.wait(10), "the scheduler did not stop"
    assert ran.is_set()
    assert errors == []
    assert not scheduler.running
