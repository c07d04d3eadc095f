"""What must never happen, counted against the drill's own account of the debtors' grounds.

The grounds come from what the counsellors sent and when the connector could have known
it, never from the connector's records: a message is known on the first working day the
node is up from its placement (the fetch day), and can be acted on on the first day from
then that the back-office is up (its hold is due that day). A ground stops the measures
the packaged policy's rule for its event stops (for the creditor kind and covenant), on
the debtor's claims, from that day until the ground ends: the message that ends it is
acted on, or its term runs out. A creditor's ``[policy]`` override that stops less than
the packaged rule is therefore a finding: the drill measures against the rules the
product ships.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from ..adapters.api import MeasureCode
from ..engine.deadlines import WorkingDays
from ..engine.holds import add_months


class Rule(enum.StrEnum):
    """The drill's rules: a finding names one."""

    ANSWER_LATE = "answer late"
    HOLD_LATE = "hold applied more than 1 working day after its event"
    MEASURE_ON_HELD_CLAIM = "measure taken on a held claim"
    HOLD_AFTER_GROUND = "hold still active after its ground ended"
    WRITE_OFF_MISSING = "write-off missing after a finale kwijting"
    LOST = "message lost"
    ANSWERED_TWICE = "message answered twice"
    TASK_NOT_ESCALATED = "task unresolved past its deadline without an escalation"


@dataclass(frozen=True)
class Finding:
    day: date
    creditor: str
    rule: Rule
    #: the claim's reference, or the message's Referentienummer
    reference: str
    detail: str

    def line(self) -> str:
        where = f"{self.day.isoformat()} {self.creditor}"
        return f"{where}: {self.rule.value}: {self.reference}: {self.detail}"


@dataclass
class Ground:
    """Why the debtor's claims at a creditor must not be collected: an event of the policy."""

    event: str
    conversation: str
    #: the day its hold is due (the first day the connector could act on it)
    start: date
    codes: frozenset[MeasureCode]
    claims: frozenset[str]
    #: (claim, measure) the law keeps going under this ground (verrekening on a fraud claim
    #: at werk en inkomen, Participatiewet)
    exempt: frozenset[tuple[str, MeasureCode]] = frozenset()
    #: the day the ending message could be acted on (held before it, not on it)
    ended_on: date | None = None
    #: the last day of its term (held on it)
    term_end: date | None = None

    def active(self, day: date) -> bool:
        if day < self.start:
            return False
        if self.ended_on is not None and day >= self.ended_on:
            return False
        return not (self.term_end is not None and day > self.term_end)

    def end(self) -> date | None:
        """The day from which nothing of the ground may be held any more."""
        ends = [d for d in (self.ended_on, self.term_after()) if d is not None]
        return min(ends) if ends else None

    def term_after(self) -> date | None:
        return date.fromordinal(self.term_end.toordinal() + 1) if self.term_end else None


def term(start: date, months: int | None) -> date | None:
    return add_months(start, months) if months else None


def late_by(working: WorkingDays, due: date, done: date) -> int:
    """Working days ``done`` is after ``due`` (0 when on time)."""
    return working.between(due, done) if done > due else 0
