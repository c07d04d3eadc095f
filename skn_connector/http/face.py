"""What the HTTP face reads: the store (over connections of its own), the settings, this
instance's part in the store's lease, the adapters' own checks (cached) and the figures
only this process knows (the node's request durations)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..adapters.api import CheckResult
from ..adapters.registry import LoadedAdapter
from ..config import Settings
from ..redaction import redact
from ..store.db import Store, create_store_engine, sqlite_path

#: How long the adapters' check() results are reused: a back-office is not asked on every
#: probe or scrape (Prometheus scrapes every 15 to 60 s, a probe may come every few seconds).
ADAPTER_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class AdapterCheck:
    """One adapter's checks: ``ok`` when every one passed; ``output`` says what did not."""

    adapter: str
    ok: bool
    output: str
    at: datetime


class AdapterChecks:
    """The adapters' ``check()``, run at most once per ``seconds`` (adapters are thread-safe,
    so the face may ask while the pipeline works). An adapter whose check raises fails it."""

    def __init__(
        self,
        adapters: Sequence[LoadedAdapter],
        *,
        seconds: float = ADAPTER_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        creditors: Sequence[str] | None = None,
    ) -> None:
        # ``creditors[i]``: the creditor of ``adapters[i]``, where a deployment has several:
        # two creditors' back-offices may have the same adapter name
        if creditors is not None and len(creditors) != len(adapters):
            raise ValueError("one creditor for each adapter")
        self._adapters = [
            (f"{creditors[i]}/{loaded.name}" if creditors is not None else loaded.name, loaded)
            for i, loaded in enumerate(adapters)
        ]
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._results: list[AdapterCheck] | None = None
        self._taken = 0.0

    def results(self) -> list[AdapterCheck]:
        with self._lock:
            if self._results is None or self._clock() - self._taken >= self._seconds:
                self._results = [_check(label, loaded) for label, loaded in self._adapters]
                self._taken = self._clock()
            return list(self._results)


def _check(label: str, loaded: LoadedAdapter) -> AdapterCheck:
    now = datetime.now(UTC)
    try:
        results: list[CheckResult] = loaded.adapter.check()
    except Exception as exc:  # an adapter's bug fails its check, not the face
        # the exception's text may quote what the adapter was handling: its class only
        return AdapterCheck(label, False, f"check() failed: {type(exc).__name__}", now)
    failed = [f"{r.aspect}: {r.message}" for r in results if not r.ok]
    # the SDK asks adapters to keep personal data out of check messages; masked anyway
    return AdapterCheck(label, not failed, redact("; ".join(failed))[:500], now)


@dataclass
class Face:
    """Everything the endpoints read. ``working`` says whether this instance works the store
    (it holds the lease), stands by (False) or has not yet looked (None)."""

    settings: Settings
    store: Store
    working: Callable[[], bool | None]
    adapter_checks: AdapterChecks
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: the creditors the face shows (the metrics, one series each); default: ``settings``'
    every_creditor: Sequence[Settings] = ()

    def creditors(self) -> Sequence[Settings]:
        return self.every_creditor or (self.settings,)

    def close(self) -> None:
        self.store.close()


def face_store(settings: Settings) -> Store:
    """The store as the face reads it: its own engine, so that a probe never waits for a
    connection the pipeline holds. With SQLite each request opens a connection of its own
    (a pooled one could go on reading a file that was deleted or damaged under it); the
    face never creates or migrates the store."""
    return Store(
        create_store_engine(
            settings.store.url,
            sqlite_cache_mib=settings.store.sqlite_cache_mib,
            pooled=sqlite_path(settings.store.url) is None,
        ),
        holds_one_creditor=settings.sole,
    )
