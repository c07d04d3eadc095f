"""Telling the service manager how the daemon is doing: systemd's notification protocol.

The protocol, written out (it needs no library): the manager puts the path of a datagram
socket in ``NOTIFY_SOCKET``; a path starting with ``@`` names a socket in the abstract
namespace (the ``@`` stands for a leading NUL byte). Each notification is one datagram of
newline-separated ``KEY=VALUE`` lines: ``READY=1`` once the service is up (``Type=notify``
waits for it), ``WATCHDOG=1`` at least once per ``WATCHDOG_USEC`` microseconds while
``WatchdogSec=`` is set (the manager restarts a service that stays silent longer),
``STOPPING=1`` when it begins to stop. ``WATCHDOG_PID``, when set, names the one process the
watchdog is for. Without ``NOTIFY_SOCKET`` (not started by systemd, or not as
``Type=notify``) every call does nothing.

A notification that cannot be sent is logged at debug level and otherwise ignored: the
manager that asked for it notices its absence by itself.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


class Notifier:
    """Notifications to the service manager at ``address`` (None: to no one)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET") or None
        return cls(address, _watchdog_usec(environ))

    def notify(self, *states: str) -> bool:
        """Send ``states`` (``KEY=VALUE``) in one datagram; whether it was sent."""
        if self.address is None or not states:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as out:
                out.sendto("\n".join(states).encode("utf-8"), target)
        except OSError as exc:
            log.debug("the service manager could not be notified (%s)", exc.strerror or exc)
            return False
        return True

    def ready(self) -> bool:
        return self.notify("READY=1", "STATUS=polling the node")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping after the running job")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between two watchdog notifications: half of ``WATCHDOG_USEC``, as systemd
        advises; None when no watchdog is asked for."""
        if self.address is None or self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2 / 1_000_000


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None  # the watchdog is another process's (a parent that started us)
    return int(usec)


def arm_watchdog(scheduler: BaseScheduler, notifier: Notifier) -> float | None:
    """Have the scheduler's own loop send ``WATCHDOG=1`` every half ``WATCHDOG_USEC``.

    The job runs in the thread of the scheduler's main loop (an executor that runs jobs where
    they are dispatched), not in a thread of its own: a thread of its own would keep the
    watchdog quiet about a scheduler that no longer dispatches anything. It does not wait for
    the worker, whose poll job may rightly take long through a backlog. Returns the interval,
    or None when no watchdog is asked for.
    """
    interval = notifier.watchdog_interval()
    if interval is None:
        return None
    from apscheduler.executors.debug import DebugExecutor

    scheduler.add_executor(DebugExecutor(), alias="main-loop")
    scheduler.add_job(
        notifier.watchdog,
        "interval",
        id="watchdog",
        seconds=interval,
        executor="main-loop",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    return interval
