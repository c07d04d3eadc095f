"""The hostile-input harness: one guarded call per case, counted.

Every case goes through ``guarded``: the call must return, or raise the module's own error
type with a non-empty message, within ``CASE_LIMIT`` seconds. Anything else is a crash (any
other exception) or a hang (over the limit); both are counted, and the case fails so that
hypothesis shrinks it to a small reproducer. ``TALLY`` collects the counts; the session
prints them (conftest.py).

Budgets: ``hostile_settings(weight)`` scales the active profile. The default profile
(``hostile``, used by plain ``pytest`` and ``make test``) draws a few hundred cases in all
and is derandomised, so CI sees the same cases each run; ``HYPOTHESIS_PROFILE=faults``
selects ``hostile-faults`` (at least 10,000 cases, random, with the example database).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

T = TypeVar("T")

#: Every case finishes within this many seconds (measured around the call alone).
CASE_LIMIT = 2.0
#: A hang in C code (lxml) cannot be interrupted by a signal handler: past this many seconds
#: faulthandler dumps every thread's stack and ends the run, rather than hanging CI.
HARD_LIMIT = 60.0

#: ``HYPOTHESIS_PROFILE=faults`` selects the full run.
FULL = os.environ.get("HYPOTHESIS_PROFILE", "") == "faults"
PROFILE = "hostile-faults" if FULL else "hostile"

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "hostile",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)
settings.register_profile(
    "hostile-faults",
    max_examples=1500,
    deadline=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)


def hostile_settings(weight: float) -> settings:
    """The active hostile profile with ``weight`` times its number of examples."""
    parent = settings.get_profile(PROFILE)
    return settings(parent=parent, max_examples=max(1, round(parent.max_examples * weight)))


class Hang(BaseException):
    """A case ran over CASE_LIMIT (raised by the alarm inside the call; a BaseException, so
    that no ``except Exception`` in the code under test can swallow it)."""


@dataclass
class Tally:
    """What the hostile tier saw in this session."""

    cases: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    slowest: float = 0.0
    slowest_target: str = ""
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        per_target = ", ".join(
            f"{name} {count} ({self.refused[name]} refused, {self.accepted[name]} accepted)"
            for name, count in sorted(self.cases.items())
        )
        return (
            f"hostile inputs (profile {PROFILE}): {sum(self.cases.values())} cases "
            f"({per_target}); refused {sum(self.refused.values())}, "
            f"accepted {sum(self.accepted.values())}, crashes {len(self.crashes)} "
            f"({len(set(self.crashes))} distinct), hangs {len(self.hangs)}; "
            f"slowest case {self.slowest:.3f} s "
            f"({self.slowest_target or '-'}); {time.monotonic() - self.started:.1f} s"
        )


TALLY = Tally()


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the call after ``seconds`` (main thread, POSIX); a hard stop later."""
    use_alarm = hasattr(signal, "setitimer") and _in_main_thread()
    if use_alarm:

        def _alarm(signum: int, frame: Any) -> None:
            raise Hang(f"over {seconds:g} s")

        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(HARD_LIMIT, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def guarded(
    target: str,
    call: Callable[[], T],
    own: tuple[type[BaseException], ...],
    *,
    limit: float = CASE_LIMIT,
) -> tuple[T | None, BaseException | None]:
    """Run one case: (result, None) when accepted, (None, error) when refused with ``own``.

    A crash (another exception) or a hang (over ``limit``) is counted and fails the case.
    """
    TALLY.cases[target] += 1
    started = time.perf_counter()
    try:
        with _time_limit(limit):
            result = call()
    except Hang:
        TALLY.hangs.append(target)
        raise AssertionError(f"{target}: the case did not finish within {limit:g} s") from None
    except own as exc:
        _timed(target, started, limit)
        message = str(exc)
        errors = getattr(exc, "errors", None)
        assert message.strip(), f"{target}: {type(exc).__name__} without a message"
        if errors is not None:
            assert errors and all(str(e).strip() for e in errors), f"{target}: empty error"
        TALLY.refused[target] += 1
        return None, exc
    except Exception as exc:
        TALLY.crashes.append(f"{target}: {type(exc).__name__}: {str(exc)[:200]}")
        raise
    _timed(target, started, limit)
    TALLY.accepted[target] += 1
    return result, None


def _timed(target: str, started: float, limit: float) -> None:
    elapsed = time.perf_counter() - started
    if elapsed > TALLY.slowest:
        TALLY.slowest, TALLY.slowest_target = elapsed, target
    if elapsed > limit:
        TALLY.hangs.append(target)
        raise AssertionError(f"{target}: the case took {elapsed:.2f} s, over {limit:g} s")
