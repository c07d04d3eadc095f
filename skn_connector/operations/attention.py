"""What in the state of the work needs a person: ``doctor``'s lines about the work.

A line fails when a person must act: an answer past its deadline, a quarantined message
nobody resolved, a task past its due date, the node not polled (nor a message received)
within a working day (it deletes what is not fetched within 5). It warns of what is coming:
answers due within 2 working days, a store never polled. The sentences carry counts, dates
and commands, no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .status import AMSTERDAM, DUE_SOON_WORKING_DAYS, Status


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    sentence: str


def _local(moment: datetime) -> str:
    return moment.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M")


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


def findings(status: Status) -> list[Finding]:
    return [
        _polling(status),
        _answers(status),
        _quarantine(status),
        _tasks(status),
        _holds(status),
        Finding(Verdict.OK, status.lease.describe()),
    ]


def _polling(status: Status) -> Finding:
    last = status.last_activity
    if last is None:
        return Finding(
            Verdict.WARN,
            "the node has not been polled from this store yet: start the connector "
            "(skn-connector run)",
        )
    if status.poll_overdue:
        return Finding(
            Verdict.FAIL,
            f"the node was last polled (or a message received) on {_local(last)}, more than a "
            "working day ago: start the connector or find why it does not reach the node (the "
            "node deletes messages not fetched within 5 working days)",
        )
    assert status.poll_due is not None
    return Finding(
        Verdict.OK,
        f"the node was last polled (or a message received) on {_local(last)}; next due by "
        f"{_local(status.poll_due)}",
    )


def _answers(status: Status) -> Finding:
    if status.answers_overdue:
        return Finding(
            Verdict.FAIL,
            f"{_count(status.answers_overdue, 'answer')} past the deadline and not delivered "
            f"(of {status.answers_pending} waiting): see 'skn-connector messages list' and "
            "'skn-connector tasks list'",
        )
    if status.answers_due_soon:
        return Finding(
            Verdict.WARN,
            f"{_count(status.answers_due_soon, 'answer')} due within {DUE_SOON_WORKING_DAYS} "
            f"working days and not delivered (of {status.answers_pending} waiting): see "
            "'skn-connector tasks list'",
        )
    return Finding(
        Verdict.OK,
        f"no answer is overdue or due within {DUE_SOON_WORKING_DAYS} working days "
        f"({status.answers_pending} waiting)",
    )


def _quarantine(status: Status) -> Finding:
    if status.quarantine_open:
        return Finding(
            Verdict.FAIL,
            f"{_count(status.quarantine_open, 'quarantined message')} not resolved: see "
            "'skn-connector quarantine list'",
        )
    return Finding(Verdict.OK, "no quarantined message waits for a person")


def _tasks(status: Status) -> Finding:
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(status.tasks_open.items()) if n)
    opened = f"{_count(status.tasks_open_total, 'open task')}{f' ({kinds})' if kinds else ''}"
    if status.tasks_overdue:
        return Finding(
            Verdict.FAIL,
            f"{_count(status.tasks_overdue, 'task')} past the due date, of {opened}: see "
            "'skn-connector tasks list'",
        )
    return Finding(Verdict.OK, f"{opened}, none past its due date")


def _holds(status: Status) -> Finding:
    return Finding(
        Verdict.OK,
        f"{_count(status.holds_active, 'hold')} on enforcement in force; waiting for the "
        f"back-office: {status.holds_to_apply} to apply, {status.holds_to_release} to release",
    )
