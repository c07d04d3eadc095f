"""A failed attempt, recorded the same way for every kind of work: a received message, an
answer to deliver, a hold or a write-off to carry out.

The attempt is counted; a retryable failure waits (exponential backoff with jitter), a final
one marks the row failed and raises a task for a person. The row keeps the error's class
and its redacted text (``redaction.error_text``); the audit trail gets the class only: it
cannot be purged, so no text that might name a person goes in.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ..redaction import error_text
from ..store.db import Store
from ..store.errors import StoreError
from ..store.schema import Task
from ..store.status import HoldStatus, InboxStatus, OutboxStatus, TaskStatus, WriteOffStatus

log = logging.getLogger(__name__)


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3 * 3600.0) -> timedelta:
    """Exponential backoff with jitter (half to full), capped; ``attempts`` counts from 1."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * (0.5 + random.random() / 2))


#: The status a final failure gives a row, by its table.
_FAILED = {
    "inbox": InboxStatus.FAILED,
    "outbox": OutboxStatus.FAILED,
    "holds": HoldStatus.FAILED,
    "write_offs": WriteOffStatus.FAILED,
}


def store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the store failing (disk full, read-only, damaged, the connection
    lost: a StoreError with its sentence, or a driver error the store did not name) rather
    than a fault of the one item being written (a value its row cannot hold)."""
    if isinstance(exc, StoreError):
        return True
    return isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError | DataError)


@dataclass(frozen=True)
class Failure:
    """What went wrong, without personal data: the error's class and its redacted text."""

    error_class: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(*error_text(exc))

    @classmethod
    def because(cls, error_class: str, message: str) -> Failure:
        """A failure the connector itself states (no exception behind it)."""
        return cls(error_class, message)

    @property
    def text(self) -> str:
        return f"{self.error_class}: {self.message}" if self.message else self.error_class


@dataclass(frozen=True)
class FinalTask:
    """The task a final failure raises: its kind, what it says and when it is due."""

    kind: str
    reason: str
    due: date | None = None


def record_failure(
    store: Store,
    session: Session,
    row: Any,
    failure: Failure,
    *,
    retryable: bool,
    now: datetime,
    event: str,
    task: FinalTask | None,
    **audit: Any,
) -> None:
    """Count a failed attempt on ``row`` (an inbox, outbox, hold or write-off record) in
    ``session``: wait and retry, or mark it failed and raise ``task``; audit ``event``."""
    row.attempts += 1
    row.last_error = failure.text[:2000]
    row.last_error_class = failure.error_class[:64]
    if retryable:
        row.next_attempt_at = now + backoff(row.attempts)
    else:
        row.status = _FAILED[type(row).__tablename__]
        if task is not None:
            session.add(
                Task(
                    kind=task.kind,
                    conversation_id=row.conversation_id,
                    referentienummer=getattr(row, "referentienummer", None),
                    reason=f"{task.reason}: {failure.text}"[:2000],
                    created_at=now,
                    due=task.due,
                    status=TaskStatus.OPEN,
                )
            )
    store.audit(
        session,
        event,
        conversation_id=row.conversation_id,
        retryable=retryable,
        attempts=row.attempts,
        error_class=failure.error_class,
        **audit,
    )
    log.warning(
        "%s (%s): %s",
        event.replace("_", " "),
        "will retry" if retryable else "a person must look",
        failure.text,
    )
