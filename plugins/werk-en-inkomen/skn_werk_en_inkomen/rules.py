"""What the werk en inkomen back-office concludes from its own data: pure functions, no I/O.

- A claim's SDK view (``Claim``): amounts, fraud flags, saneerbaar.
- Whether kwijtschelding of a fraud claim is allowed: since Wet 35374 the college may
  not cooperate in a schuldregeling insofar as it leads to kwijtschelding of a fraud
  claim qualified opzet or grove schuld [PW-art-60c] [KST-35374].
- The assessment of a payment proposal (``assess``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from skn_connector.adapters.api import (
    Claim,
    ClaimStatus,
    FraudeKwalificatie,
    MeasureCode,
    Proposal,
    ProposalAssessment,
)

from .backoffice import OPEN_STATUSES, normalise_factuurnummer

#: the kwalificaties for which the law excludes kwijtschelding (Participatiewet, Wet 35374)
LEGALLY_EXCLUDED: tuple[FraudeKwalificatie, ...] = ("grove_schuld", "opzet")

SOORT_LABEL = {
    "terugvordering_bijstand": "Terugvordering",
    "bestuurlijke_boete": "Bestuurlijke boete",
    "verhaal": "Verhaal onderhoudsplicht",
    "leenbijstand": "Leenbijstand",
}
WET_LABEL = {"PW": "Participatiewet", "IOAW": "IOAW", "IOAZ": "IOAZ", "BBZ": "Bbz"}

Barrier = Literal["excluded", "unqualified"]


@dataclass(frozen=True)
class Vordering:
    """The facts of one vordering that the rules look at."""

    besluitnummer: str
    soort: str
    wet: str
    besluitdatum: date
    oorspronkelijk: Decimal
    afgelost: Decimal
    kosten: Decimal
    status: str
    overgedragen_aan: str | None
    fraude: bool
    kwalificatie: FraudeKwalificatie | None
    hoofdelijk: bool

    @property
    def is_fraud(self) -> bool:
        """A bestuurlijke boete is always a fraud claim (it punishes a breach of the
        inlichtingenplicht); a terugvordering is one when the back-office says so."""
        return self.fraude or self.soort == "bestuurlijke_boete"

    @property
    def hoofdsom(self) -> Decimal:
        return self.oorspronkelijk - self.afgelost

    @property
    def openstaand(self) -> Decimal:
        return self.hoofdsom + self.kosten

    @property
    def omschrijving(self) -> str:
        text = f"{SOORT_LABEL[self.soort]} {WET_LABEL[self.wet]} {self.besluitdatum.year}"
        return text + (", hoofdelijk met partner" if self.hoofdelijk else "")


def write_off_barrier(v: Vordering, excluded: Collection[str]) -> Barrier | None:
    """Why the remainder of ``v`` may not be written off (kwijtgescholden), if it may not.

    ``excluded``: the kwalificaties for which kwijtschelding is excluded (at least
    opzet and grove schuld). A fraud claim without a kwalificatie cannot be shown to
    be allowed, so it is not written off either ("unqualified").
    """
    if not v.is_fraud:
        return None
    if v.kwalificatie is None:
        return "unqualified"
    return "excluded" if v.kwalificatie in excluded else None


def to_claim(v: Vordering, measures: Collection[MeasureCode], excluded: Collection[str]) -> Claim:
    status: ClaimStatus
    if v.status == "betwist":
        status = "betwist"
    elif v.status == "overgedragen":
        status = "overgedragen"
    else:
        status = "open"
    return Claim(
        factuurnummer=v.besluitnummer,
        omschrijving=v.omschrijving,
        ontstaansdatum=v.besluitdatum,
        originele_vordering=v.oorspronkelijk,
        hoofdsom=v.hoofdsom,
        rente=Decimal("0.00"),
        kosten=v.kosten,
        openstaand=v.openstaand,
        status=status,
        overgedragen_aan=v.overgedragen_aan if status == "overgedragen" else None,
        # a fraud claim that cannot be kwijtgescholden is not (fully) saneerbaar
        saneerbaar=write_off_barrier(v, excluded) is None,
        fraude=v.is_fraud,
        # werk en inkomen claims have no voorrecht: concurrent in a schuldregeling
        preferent=False,
        measures=frozenset(measures),
        fraude_kwalificatie=v.kwalificatie if v.is_fraud else None,
    )


def _numbers(items: Sequence[str], limit: int = 2) -> str:
    if len(items) > limit:
        return f"{', '.join(items[:limit])} en {len(items) - limit} andere"
    return " en ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else items[0]


def refusal_reason(besluitnummers: Sequence[str]) -> str:
    """The reason of a refusal, in Dutch for the SHV (at most 200 characters)."""
    one = len(besluitnummers) == 1
    which = "voor deze vordering" if one else "hiervoor"
    text = (
        f"{'Fraudevordering' if one else 'Fraudevorderingen'} {_numbers(besluitnummers)}: "
        "het college mag niet meewerken voor zover de regeling tot kwijtschelding leidt "
        f"(Participatiewet); akkoord alleen bij 100% {which}."
    )
    return text[:200]


def _shown(value: str) -> str:
    """A factuurnummer as the SHV wrote it, shortened for a task text."""
    value = " ".join(value.split())
    return value if len(value) <= 40 else value[:37] + "..."


def assess(
    proposal: Proposal,
    known: Mapping[str, Vordering],
    *,
    excluded: Collection[str],
    excluded_decision: Literal["reject", "manual"],
    max_looptijd_maanden: int,
) -> ProposalAssessment:
    """The back-office's view of a payment proposal.

    ``known``: the debtor's vorderingen (any status) by normalised besluitnummer.
    A refusal (``reject``) carries a Dutch reason for the SHV; ``manual`` reasons are
    tasks for a person.
    """
    refused: list[str] = []
    manual: list[str] = []
    seen: set[str] = set()
    if not proposal.claims:
        manual.append("the proposal lists no claims")
    if proposal.looptijd_maanden > max_looptijd_maanden:
        manual.append(
            f"the term of {proposal.looptijd_maanden} months is longer than "
            f"{max_looptijd_maanden} months"
        )
    for pc in proposal.claims:
        key = normalise_factuurnummer(pc.factuurnummer)
        if key in seen:
            manual.append(f"claim {_shown(pc.factuurnummer)} is listed twice")
            continue
        seen.add(key)
        v = known.get(key)
        if v is None:
            manual.append(
                f"FactuurnummerSE {_shown(pc.factuurnummer)} is not a claim of this debtor "
                "in the back-office"
            )
            continue
        nr = v.besluitnummer
        if v.status not in OPEN_STATUSES:
            manual.append(f"claim {nr} is {v.status} in the back-office")
            continue
        if v.status == "betwist":
            manual.append(f"claim {nr} is betwist (bezwaar or beroep pending)")
        if pc.actueel_vorderingsbedrag < v.openstaand:
            manual.append(
                f"the proposal states a lower current amount for claim {nr} than the back-office"
            )
        if pc.afkooppercentage >= 100:
            continue  # paid in full: nothing is kwijtgescholden
        barrier = write_off_barrier(v, excluded)
        if barrier == "excluded":
            refused.append(nr)
        elif barrier == "unqualified":
            manual.append(
                f"fraud claim {nr} has no kwalificatie: decide whether kwijtschelding is allowed"
            )
        elif v.is_fraud and v.kwalificatie == "verwijtbaar":
            manual.append(
                f"fraud claim {nr} is qualified verwijtbaar: the law allows kwijtschelding, "
                "the college decides"
            )
        if v.hoofdelijk:
            manual.append(
                f"claim {nr} is hoofdelijk with the partner: decide whether the partner "
                "is in the arrangement or stays liable for the remainder"
            )
    if refused and excluded_decision == "reject":
        return ProposalAssessment(decision="reject", reason=refusal_reason(refused))
    if refused:
        manual.insert(
            0,
            f"fraud claim(s) {', '.join(refused)} may not be kwijtgescholden "
            "(Participatiewet: opzet or grove schuld); only 100% is acceptable for them",
        )
    if manual:
        return ProposalAssessment(decision="manual", reason="; ".join(manual))
    return ProposalAssessment(
        decision="accept",
        reason=f"all {len(proposal.claims)} claims are known and may be part of the arrangement",
    )
