"""Planning holds, releases and write-offs from a policy event (pure: no store, no adapters).

A plan is written to the store in the same transaction as the decision; the
pipeline then carries it out through the adapters, idempotently.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..adapters.api import Capability, Claim, Debtor, MeasureCode
from ..adapters.registry import LoadedAdapter
from ..ids import new_id
from .policy import Policy

#: Fraud qualifications for which kwijtschelding in a schuldregeling is excluded (Pw, Wet 35374);
#: an unqualified fraud claim is treated as excluded too, and left for a person.
EXCLUDED_FRAUD = frozenset({"opzet", "grove_schuld", None})


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Found:
    """A debtor as one adapter knows them, with the claims it listed."""

    adapter: LoadedAdapter
    debtor: Debtor
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class HoldPlan:
    hold_id: uuid.UUID
    hold_type: str
    event: str
    adapter: str
    debtor_id: str
    factuurnummers: tuple[str, ...]
    measures: frozenset[MeasureCode]
    lift: frozenset[MeasureCode]
    basis: str
    starts: date
    ends: date | None


@dataclass(frozen=True)
class ReleasePlan:
    """Release the applied holds of a conversation (or of a debtor, for hold types that
    outlive their conversation, such as the Wsnp)."""

    reason: str
    conversation_id: str | None = None
    debtor_ids: tuple[tuple[str, str], ...] = ()
    hold_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteOffPlan:
    write_off_id: uuid.UUID
    adapter: str
    debtor_id: str
    factuurnummers: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    reason: str
    datum: date


def plan_holds(
    policy: Policy, event: str, found: Sequence[Found], start: date
) -> tuple[list[HoldPlan], list[str]]:
    """Holds for ``event`` on the claims that exist at ``start``; and notes for a person
    (claims at a back-office whose adapter cannot hold)."""
    rule = policy.rule(event)
    if not rule.active or rule.hold_type is None:
        return [], []
    measures = rule.measures(policy.groups)
    if not measures:
        return [], []
    ends = add_months(start, rule.months) if rule.until == "months" and rule.months else None
    plans: list[HoldPlan] = []
    notes: list[str] = []
    for item in found:
        # claims that arise during the trajectory are not held by it
        existing = tuple(
            c.factuurnummer for c in item.claims if c.ontstaansdatum <= start and c.openstaand > 0
        )
        if not existing:
            continue
        if Capability.HOLDS not in item.adapter.capabilities:
            notes.append(
                f"adapter {item.adapter.name} cannot hold: stop {', '.join(sorted(measures))} "
                f"on {len(existing)} claim(s) by hand ({rule.title})"
            )
            continue
        plans.append(
            HoldPlan(
                hold_id=new_id(),
                hold_type=rule.hold_type,
                event=event,
                adapter=item.adapter.name,
                debtor_id=item.debtor.debtor_id,
                factuurnummers=existing,
                measures=measures,
                lift=rule.lifts(policy.groups),
                basis=rule.basis,
                starts=start,
                ends=ends,
            )
        )
    return plans, notes


def plan_write_offs(
    found: Sequence[Found], included: Sequence[str] | None, reason: str, datum: date
) -> tuple[list[WriteOffPlan], list[str]]:
    """Write off the remainder of the included claims, except those the law excludes:
    fraud with opzet or grove schuld, and claims that are not saneerbaar (CJIB criminal
    sanctions keep their remainder). Returns the plans and notes for a person."""
    plans: list[WriteOffPlan] = []
    notes: list[str] = []
    wanted = set(included) if included is not None else None
    for item in found:
        write, kept = [], []
        for claim in item.claims:
            if wanted is not None and claim.factuurnummer not in wanted:
                continue
            if claim.fraude and claim.fraude_kwalificatie in EXCLUDED_FRAUD:
                kept.append(
                    (claim.factuurnummer, "fraud claim (opzet or grove schuld): no kwijtschelding")
                )
            elif not claim.saneerbaar:
                kept.append((claim.factuurnummer, "not saneerbaar: the remainder stays payable"))
            else:
                write.append(claim.factuurnummer)
        for number, why in kept:
            notes.append(
                f"claim {number} at {item.adapter.name} keeps its remainder: {why}; "
                "start its own payment track"
            )
        if not write:
            continue
        if Capability.WRITE_OFF not in item.adapter.capabilities:
            notes.append(
                f"adapter {item.adapter.name} cannot write off: write off "
                f"{len(write)} claim(s) by hand"
            )
            continue
        plans.append(
            WriteOffPlan(
                write_off_id=new_id(),
                adapter=item.adapter.name,
                debtor_id=item.debtor.debtor_id,
                factuurnummers=tuple(write),
                excluded=tuple(kept),
                reason=reason,
                datum=datum,
            )
        )
    return plans, notes
