"""Readiness in the form of the IETF health-check draft (``application/health+json``).

``status`` is pass, warn or fail; ``checks`` maps ``component:measurement`` to a list of
results, each with its own status, and ``output`` (a sentence) where it is not pass:

- ``store:responseTime``: the store answers (fail: missing, damaged, out of reach);
- ``store:schema``: its schema is at the revision this release knows (fail otherwise);
- ``lease:holder``: this instance works the store or stands by (both pass);
- ``node:lastPoll``: the node was polled, or a message received, within twice
  ``node.poll_interval`` plus a minute (warn otherwise: the node may be down, or the
  working instance stuck; the alerts say when a person must act);
- ``adapters:check``: each adapter's own ``check()``, cached (warn when one fails: the
  connector goes on and retries; the back-office is what is wrong).

The worst status is the answer's: 200 for pass and warn, 503 for fail. No output carries
personal data: the store's sentences name files, the adapters' are masked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from alembic.migration import MigrationContext

from .. import __version__
from ..operations.status import activity
from ..redaction import redact
from ..store.db import head_revision, sqlite_path
from ..store.errors import StoreError, store_name
from ..store.identity import missing_store, other_store, read_store_id, recorded_id
from .face import Face

#: Slack on top of twice the poll interval before a late poll is a warning.
POLL_GRACE = timedelta(minutes=1)


class Health(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return (Health.PASS, Health.WARN, Health.FAIL).index(self)


@dataclass(frozen=True)
class Result:
    """One result of a check, as the draft names its fields."""

    status: Health
    component_type: str
    observed_value: Any = None
    observed_unit: str | None = None
    output: str | None = None
    component_id: str | None = None
    time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "componentType": self.component_type}
        if self.component_id is not None:
            out["componentId"] = self.component_id
        if self.observed_value is not None:
            out["observedValue"] = self.observed_value
        if self.observed_unit is not None:
            out["observedUnit"] = self.observed_unit
        if self.time is not None:
            out["time"] = self.time.isoformat()
        if self.output:
            out["output"] = self.output
        return out


@dataclass
class Readiness:
    checks: dict[str, list[Result]] = field(default_factory=dict)

    def add(self, key: str, result: Result) -> None:
        self.checks.setdefault(key, []).append(result)

    @property
    def status(self) -> Health:
        worst = Health.PASS
        for results in self.checks.values():
            for result in results:
                if result.status.rank > worst.rank:
                    worst = result.status
        return worst

    @property
    def ready(self) -> bool:
        return self.status is not Health.FAIL

    @property
    def store_readable(self) -> bool:
        """The store answered and its schema is this release's: its figures can be read."""
        return [r.status for r in self.checks.get("store:schema", [])] == [Health.PASS]

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "status": self.status.value,
            "version": "1",
            "releaseId": __version__,
            "description": "skn-connector: the creditor's connector to the Schuldenknooppunt",
            "checks": {k: [r.to_json() for r in v] for k, v in self.checks.items()},
        }
        if self.status is not Health.PASS:
            document["output"] = "; ".join(
                f"{key}: {r.output}"
                for key, results in self.checks.items()
                for r in results
                if r.status is not Health.PASS and r.output
            )
        return document


def readiness(face: Face) -> Readiness:
    report = Readiness()
    if _store(face, report):
        _poll(face, report)
    _lease(face, report)
    _adapters(face, report)
    return report


def _store(face: Face, report: Readiness) -> bool:
    """The store answers and its schema is current; True when it can be read further."""
    path = sqlite_path(face.settings.store.url)
    name = store_name(face.store.engine.url)
    started = time.perf_counter()
    try:
        if path is not None and not path.exists():
            # never connect to a missing SQLite file: connecting would create an empty one
            refusal = missing_store(path)
            raise refusal or StoreError(f"the store {path} is missing")
        with face.store.engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            store_id = read_store_id(connection)
        if path is not None and (swapped := other_store(path, store_id, recorded_id(path))):
            raise swapped
    except StoreError as exc:
        report.add("store:responseTime", Result(Health.FAIL, "datastore", output=str(exc)))
        return False
    except Exception as exc:  # a driver error the store did not name: its class only
        output = f"{name} cannot be read ({type(exc).__name__})"
        report.add("store:responseTime", Result(Health.FAIL, "datastore", output=output))
        return False
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    report.add("store:responseTime", Result(Health.PASS, "datastore", elapsed, "ms"))
    head = head_revision()
    if revision != head:
        output = (
            f"{name} is at schema revision {revision or '(none)'}, this release's is {head}: "
            "restart the connector to migrate it, or install the release that made it"
        )
        report.add("store:schema", Result(Health.FAIL, "datastore", revision, output=output))
        return False
    report.add("store:schema", Result(Health.PASS, "datastore", revision))
    return True


def _poll(face: Face, report: Readiness) -> None:
    now = face.clock()
    expected = 2 * face.settings.node.poll_interval + POLL_GRACE
    try:
        last = activity(face.store).last
    except StoreError as exc:
        report.add("node:lastPoll", Result(Health.FAIL, "system", output=str(exc)))
        return
    if last is None:
        since_start = now - face.started
        if since_start <= expected:
            report.add("node:lastPoll", Result(Health.PASS, "system", output=None))
        else:
            output = f"the node has not been polled since the start {_ago(since_start)} ago"
            report.add("node:lastPoll", Result(Health.WARN, "system", output=output))
        return
    age = max(timedelta(0), now - last)
    seconds = round(age.total_seconds())
    if age <= expected:
        report.add("node:lastPoll", Result(Health.PASS, "system", seconds, "s", time=last))
        return
    output = (
        f"the node was last polled (or a message received) {_ago(age)} ago; expected within "
        f"{_ago(expected)}"
    )
    report.add("node:lastPoll", Result(Health.WARN, "system", seconds, "s", output, time=last))


def _lease(face: Face, report: Readiness) -> None:
    working = face.working()
    value = {True: "working", False: "standing by", None: "starting"}[working]
    report.add("lease:holder", Result(Health.PASS, "component", value))


def _adapters(face: Face, report: Readiness) -> None:
    for check in face.adapter_checks.results():
        status = Health.PASS if check.ok else Health.WARN
        report.add(
            "adapters:check",
            Result(
                status,
                "component",
                output=redact(check.output) or None,
                component_id=check.adapter,
                time=check.at,
            ),
        )


def _ago(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
