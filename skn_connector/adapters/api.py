"""The adapter SDK: what a plugin implements to connect a creditor's back-office.

This module and ``skn_connector.messages`` are the whole contract for plugin
authors (docs/plugins.md). Adapters import nothing else of skn_connector.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

SDK_VERSION = "1.0"


class Capability(enum.StrEnum):
    """What an adapter can do; each capability promises the calls in ``CAPABILITY_CALLS``."""

    CLAIMS = "claims"
    HOLDS = "holds"
    PROPOSALS = "proposals"
    ARRANGEMENTS = "arrangements"
    WRITE_OFF = "write_off"


#: The calls each capability promises; the registry refuses an adapter lacking one.
CAPABILITY_CALLS: dict[Capability, tuple[str, ...]] = {
    Capability.CLAIMS: ("find_debtor", "list_claims"),
    Capability.HOLDS: ("apply_hold", "release_hold"),
    Capability.PROPOSALS: ("assess_proposal",),
    Capability.ARRANGEMENTS: ("record_arrangement",),
    Capability.WRITE_OFF: ("write_off",),
}


class MeasureCode(enum.StrEnum):
    """Enforcement measures a hold can stop or lift (docs/plugins.md)."""

    AANMANING = "AANMANING"
    DWANGBEVEL = "DWANGBEVEL"
    HERNIEUWD_BEVEL = "HERNIEUWD_BEVEL"
    BESLAG_LOON = "BESLAG_LOON"
    BESLAG_BANK = "BESLAG_BANK"
    BESLAG_ZAKEN = "BESLAG_ZAKEN"
    VERREKENING = "VERREKENING"
    RENTE = "RENTE"
    KOSTEN = "KOSTEN"
    DEURWAARDER = "DEURWAARDER"
    VERHOGING = "VERHOGING"
    GIJZELING = "GIJZELING"
    RIJBEWIJS = "RIJBEWIJS"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DebtorQuery(_Data):
    """What a message tells about the debtor; an adapter matches on what it trusts."""

    bsn: str | None = None
    klantnummer_se: str | None = None
    factuurnummers: tuple[str, ...] = ()
    achternaam: str | None = None
    geboortedatum: date | None = None
    postcode: str | None = None
    huisnummer: int | None = None

    def __repr__(self) -> str:  # never print personal data, not even in a traceback
        bsn = "***" if self.bsn else None
        return f"DebtorQuery(factuurnummers={len(self.factuurnummers)}, bsn={bsn})"

    __str__ = __repr__


class Debtor(_Data):
    debtor_id: str = Field(min_length=1)
    klantnummer_se: str = Field(min_length=1)

    def __repr__(self) -> str:
        return f"Debtor(debtor_id={self.debtor_id!r})"


ClaimStatus = Literal["open", "overgedragen", "betwist"]
#: How a fraud claim was qualified; kwijtschelding in a schuldregeling is excluded for
#: opzet and grove schuld (Participatiewet after Wet 35374).
FraudeKwalificatie = Literal["geen", "verwijtbaar", "grove_schuld", "opzet"]


class Claim(_Data):
    factuurnummer: str = Field(min_length=1)
    omschrijving: str
    ontstaansdatum: date
    originele_vordering: Decimal
    hoofdsom: Decimal
    rente: Decimal = Decimal("0.00")
    kosten: Decimal = Decimal("0.00")
    openstaand: Decimal
    status: ClaimStatus = "open"
    overgedragen_aan: str | None = None
    saneerbaar: bool = True
    fraude: bool = False
    preferent: bool = False
    measures: frozenset[MeasureCode] = frozenset()
    #: only for fraud claims; None when the back-office does not qualify them
    fraude_kwalificatie: FraudeKwalificatie | None = None


HoldBasis = Literal["convenant", "wet", "rechter", "regeling"]


class Hold(_Data):
    hold_id: uuid.UUID
    debtor_id: str
    factuurnummers: tuple[str, ...] = ()
    measures: frozenset[MeasureCode]
    lift: frozenset[MeasureCode] = frozenset()
    reason: str
    basis: HoldBasis
    starts: date
    ends: date | None = None
    conversation_id: uuid.UUID


class HoldResult(_Data):
    hold_id: uuid.UUID
    applied: bool
    #: measures the back-office actually stopped or lifted (for the audit trail)
    measures: frozenset[MeasureCode] = frozenset()
    detail: str = ""


class ProposalClaim(_Data):
    factuurnummer: str
    actueel_vorderingsbedrag: Decimal
    afkooppercentage: Decimal
    prognose_eindbedrag: Decimal


class Proposal(_Data):
    type_schuldregeling: str
    looptijd_maanden: int
    claims: tuple[ProposalClaim, ...]


class ProposalAssessment(_Data):
    decision: Literal["accept", "reject", "manual"]
    reason: str = ""


class Arrangement(_Data):
    type_schuldregeling: str
    datum_akkoord: date
    claims: tuple[ProposalClaim, ...]
    conversation_id: uuid.UUID


class WriteOff(_Data):
    """Write off the remainder of claims after a successful end (idempotent by write_off_id)."""

    write_off_id: uuid.UUID
    debtor_id: str
    factuurnummers: tuple[str, ...]
    #: e.g. SCHULDREGELING_GESLAAGD
    reason: str
    datum: date
    conversation_id: uuid.UUID


class WriteOffResult(_Data):
    write_off_id: uuid.UUID
    #: the claims whose remainder was written off, and what was written off in total
    written_off: tuple[str, ...]
    amount: Decimal = Decimal("0.00")
    detail: str = ""


class CheckResult(_Data):
    """One check of ``BaseAdapter.check()``: aspect is settings, connection or credentials."""

    aspect: Literal["settings", "connection", "credentials"]
    ok: bool
    message: str


class SamplePerson(_Data):
    """A synthetic person of a sample back-office (never a real one)."""

    geslacht: Literal["M", "V", "X"]
    voorletters: str
    voornamen: str
    voorvoegsel: str | None = None
    achternaam: str
    geboortedatum: date
    bsn: str | None = None

    def as_klant(self) -> dict[str, Any]:
        """The person as a message's ``Klant`` (or ``Partner``) in the JSON form names them:
        what an SHV would send of them, the absent parts left out."""
        data: dict[str, Any] = {
            "Geslacht": self.geslacht,
            "Voorletters": self.voorletters,
            "Voornamen": self.voornamen,
            "Voorvoegsel": self.voorvoegsel,
            "Achternaam": self.achternaam,
            "Geboortedatum": self.geboortedatum.isoformat(),
            "Bsn": self.bsn,
        }
        return {k: v for k, v in data.items() if v is not None}


class SampleDebtor(_Data):
    """A debtor the sample back-office knows, with what an SHV would know of them."""

    klantnummer_se: str
    person: SamplePerson
    partner: SamplePerson | None = None
    straatnaam: str
    huisnummer: int
    postcode: str
    woonplaats: str
    factuurnummers: tuple[str, ...]

    def as_adres(self) -> dict[str, Any]:
        """The debtor's address as a message's ``Adres`` in the JSON form."""
        return {
            "Straatnaam": self.straatnaam,
            "Huisnummer": self.huisnummer,
            "Postcode": self.postcode,
            "Woonplaats": self.woonplaats,
        }


class SampleBackOffice(_Data):
    """What ``create_sample`` made: the adapter options that reach it and its debtors."""

    options: dict[str, Any]
    debtors: tuple[SampleDebtor, ...]


class AdapterError(Exception):
    """Base of the errors an adapter raises; the message never contains personal data."""

    retryable: ClassVar[bool] = False


class BackOfficeUnavailable(AdapterError):
    """The back-office cannot be reached now; the connector retries later."""

    retryable = True


class BackOfficeTimeout(BackOfficeUnavailable):
    """The back-office did not answer in time; the connector retries later."""


class BackOfficeRejected(AdapterError):
    """The back-office refused the request; retrying will not help, a person must look."""


class BaseAdapter:
    """Base class of adapters. Subclasses set ``name``, ``capabilities`` and ``Options``."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability] | set[Capability]] = frozenset()
    sdk_version: ClassVar[str] = SDK_VERSION

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: Any) -> None:
        self.options = options

    # -- CLAIMS
    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        raise NotImplementedError

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        raise NotImplementedError

    # -- HOLDS (idempotent by hold.hold_id)
    def apply_hold(self, hold: Hold) -> HoldResult:
        raise NotImplementedError

    def release_hold(self, hold: Hold) -> HoldResult:
        raise NotImplementedError

    # -- HOLDS in a batch (optional: the defaults call the single calls)
    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        """Apply several holds; the default calls ``apply_hold`` for each.

        One result per hold, in order; an ``AdapterError`` in place of a hold that failed
        (the others still count). Any other exception propagates: it is an adapter bug.
        The connector calls it with up to about 100 holds at a time.

        Override it to do the whole batch in one back-office transaction (one commit),
        idempotent by ``hold_id`` exactly like ``apply_hold`` (the same hold in a later
        batch, or twice in one, gives the same result and changes nothing more); a hold
        that is refused must not stop the others (e.g. a savepoint per hold). After a
        retryable failure (the back-office went away) the holds not yet done may get the
        same error; when the transaction as a whole fails, every hold gets its error.
        """
        results: list[HoldResult | AdapterError] = []
        for hold in holds:
            try:
                results.append(self.apply_hold(hold))
            except AdapterError as exc:
                results.append(exc)
        return results

    def release_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        """Release several holds; the default calls ``release_hold`` for each.

        The same contract as ``apply_holds``: one result per hold, in order, an
        ``AdapterError`` in place of a hold that failed, idempotent by ``hold_id`` (an
        unknown or already released hold is a successful no-op, as for ``release_hold``).
        """
        results: list[HoldResult | AdapterError] = []
        for hold in holds:
            try:
                results.append(self.release_hold(hold))
            except AdapterError as exc:
                results.append(exc)
        return results

    # -- PROPOSALS
    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        raise NotImplementedError

    # -- ARRANGEMENTS
    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        raise NotImplementedError

    # -- WRITE_OFF (idempotent by write_off.write_off_id)
    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        raise NotImplementedError

    def check(self) -> list[CheckResult]:
        """Read-only checks of settings, connection and credentials (``skn-connector doctor``)."""
        return [CheckResult(aspect="settings", ok=True, message="options validated")]

    def close(self) -> None:
        """Release connections; called once when the connector stops."""

    @classmethod
    def create_sample(cls, directory: Path) -> SampleBackOffice:
        """Optional: create a sample back-office with synthetic data in ``directory``.

        Returns the adapter options that reach it and the debtors it knows. Used by
        ``skn-connector demo`` and the conformance kit.
        """
        raise NotImplementedError


__all__ = [
    "CAPABILITY_CALLS",
    "SDK_VERSION",
    "AdapterError",
    "Arrangement",
    "BackOfficeRejected",
    "BackOfficeTimeout",
    "BackOfficeUnavailable",
    "BaseAdapter",
    "Capability",
    "CheckResult",
    "Claim",
    "Debtor",
    "DebtorQuery",
    "FraudeKwalificatie",
    "Hold",
    "HoldResult",
    "MeasureCode",
    "Proposal",
    "ProposalAssessment",
    "ProposalClaim",
    "SampleBackOffice",
    "SampleDebtor",
    "SamplePerson",
    "WriteOff",
    "WriteOffResult",
]
