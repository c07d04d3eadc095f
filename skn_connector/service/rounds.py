"""One info line for each round of the daemon that did work; none for a round that did not.

A round is one run of a job (poll, delivery, daily). Its line says what it fetched, decided,
answered (by Berichttype), held, released and sent, counted from the audit entries the round
wrote: every one of those actions is audited in the transaction that does it, so the line
counts what was committed, whichever step did it, and needs no counter in the pipeline. The
entries hold no personal data and neither does the line (counts and Berichttypes).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..store.db import Store
from ..store.schema import AuditEntry

log = logging.getLogger(__name__)

#: The audit events a round line counts.
ROUND_EVENTS = (
    "received",
    "quarantined",
    "duplicate_ignored",
    "processed",
    "hold_applied",
    "hold_released",
    "written_off",
    "delivered",
)


@dataclass
class Round:
    """What one round committed."""

    events: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)

    @property
    def fetched(self) -> int:
        return sum(self.events[e] for e in ("received", "quarantined", "duplicate_ignored"))

    @property
    def did_work(self) -> bool:
        return bool(self.events)

    def line(self, job: str) -> str:
        fetched = f"fetched {self.fetched}"
        labels = (("quarantined", "quarantined"), ("duplicate_ignored", "duplicates"))
        aside = [f"{label} {self.events[e]}" for e, label in labels if self.events[e]]
        if aside:
            fetched += f" ({', '.join(aside)})"
        answered = f"answered {sum(self.answered.values())}"
        if self.answered:
            answered += f" ({', '.join(f'{t} {n}' for t, n in sorted(self.answered.items()))})"
        parts = [
            fetched,
            f"decided {self.events['processed']}",
            answered,
            f"held {self.events['hold_applied']}",
            f"released {self.events['hold_released']}",
        ]
        if self.events["written_off"]:
            parts.append(f"written off {self.events['written_off']}")
        parts.append(f"sent {self.events['delivered']}")
        return f"{job} round: {', '.join(parts)}"


class RoundLog:
    """``begin()`` before a round's steps, ``end(job, mark)`` after them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(self) -> int | None:
        """The audit trail's last id before the round; None when the store cannot say (the
        round's own steps report that)."""
        try:
            with self.store.connect() as connection:
                return int(connection.execute(select(func.max(AuditEntry.id))).scalar() or 0)
        except Exception:
            log.debug("the round's start in the audit trail could not be read", exc_info=True)
            return None

    def end(self, job: str, mark: int | None) -> Round | None:
        """Log the round's line if it did work; returns what it counted."""
        if mark is None:
            return None
        done = Round()
        try:
            with self.store.connect() as connection:
                rows = connection.execute(
                    select(AuditEntry.event, AuditEntry.detail).where(
                        AuditEntry.id > mark, AuditEntry.event.in_(ROUND_EVENTS)
                    )
                )
                for event, detail in rows:
                    done.events[event] += 1
                    if event == "processed":
                        answer_type = json.loads(detail).get("answer_type")
                        if answer_type:
                            done.answered[str(answer_type)] += 1
        except Exception:
            log.debug("the round's audit entries could not be read", exc_info=True)
            return None
        if done.did_work:
            log.info("%s", done.line(job))
        return done
