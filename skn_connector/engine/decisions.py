"""What to do with each incoming message: ask the adapters, choose the answer and next state.

One handler per message type. A handler never writes to the store: it returns a
Decision, which the pipeline checks against the transition table and commits
in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..adapters.api import (
    Arrangement,
    Capability,
    Claim,
    Debtor,
    DebtorQuery,
    Proposal,
    ProposalClaim,
)
from ..adapters.registry import LoadedAdapter
from ..messages import (
    Betaalvoorstel,
    Contactpersoon,
    Heroverweging,
    KennisgevingBasis,
    MeldingBewind,
    Message,
    Saldoverzoek,
    SchuldregelingAkkoord,
    SchuldregelingBeeindigd,
    StatusberichtSHV,
)
from .answers import geen_medewerking, kennisgeving_answer, proposal_answer, saldo_answer
from .conversations import SAME


@dataclass(frozen=True)
class TaskRequest:
    """A task for a person that the decision asks for (kind, reason)."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Decision:
    answer: Message | None
    state: str
    klantnummer_se: str | None = None
    debtor_ref: str | None = None
    tasks: tuple[TaskRequest, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CreditorFacts:
    """What the decisions need to know about us."""

    referentie: str
    contact: Contactpersoon
    vooraf_akkoord: bool = False


class Decider:
    def __init__(
        self,
        adapters: Sequence[LoadedAdapter],
        creditor: CreditorFacts,
        *,
        clock: Callable[[], datetime],
        today: Callable[[], date],
    ) -> None:
        self.adapters = list(adapters)
        self.creditor = creditor
        self.clock = clock
        self.today = today
        self._handlers: dict[type[Message], Callable[[Message], Decision]] = {
            Saldoverzoek: self._saldoverzoek,  # type: ignore[dict-item]
            Betaalvoorstel: self._proposal,  # type: ignore[dict-item]
            Heroverweging: self._proposal,  # type: ignore[dict-item]
            SchuldregelingAkkoord: self._arrangement,  # type: ignore[dict-item]
            SchuldregelingBeeindigd: self._ended,  # type: ignore[dict-item]
            StatusberichtSHV: self._status,  # type: ignore[dict-item]
            MeldingBewind: self._bewind,  # type: ignore[dict-item]
        }

    def decide(self, message: Message) -> Decision:
        if isinstance(message, KennisgevingBasis):
            return self._kennisgeving(message)
        handler = self._handlers.get(type(message))
        if handler is None:
            raise LookupError(f"no handler for {message.BERICHTTYPE}")
        return handler(message)

    # -- the back-office ------------------------------------------------------------------

    def _with(self, capability: Capability) -> list[LoadedAdapter]:
        return [a for a in self.adapters if capability in a.capabilities]

    def find(self, query: DebtorQuery) -> list[tuple[LoadedAdapter, Debtor]]:
        found = []
        for loaded in self._with(Capability.CLAIMS):
            debtor = loaded.adapter.find_debtor(query)
            if debtor is not None:
                found.append((loaded, debtor))
        return found

    def claims(self, found: Sequence[tuple[LoadedAdapter, Debtor]]) -> list[Claim]:
        return [claim for loaded, debtor in found for claim in loaded.adapter.list_claims(debtor)]

    @staticmethod
    def debtor_ref(found: Sequence[tuple[LoadedAdapter, Debtor]]) -> str | None:
        return ",".join(f"{a.name}:{d.debtor_id}" for a, d in found) or None

    def _unknown(self, request: Message) -> Decision:
        answer = geen_medewerking(
            request,
            reden="KLANT_ONBEKEND",
            toelichting="Op de opgegeven gegevens is geen klant gevonden bij deze schuldeiser.",
            contact=self.creditor.contact,
            referentie=self.creditor.referentie,
            now=self.clock(),
        )
        return Decision(answer, "GEEN_MEDEWERKING")

    # -- handlers -------------------------------------------------------------------------

    def _person_query(
        self, message: KennisgevingBasis | Saldoverzoek, invoices: tuple[str, ...]
    ) -> DebtorQuery:
        return DebtorQuery(
            bsn=message.klant.bsn,
            klantnummer_se=message.klantnummer_se_volgens_shv,
            factuurnummers=invoices,
            achternaam=message.klant.achternaam,
            geboortedatum=message.klant.geboortedatum,
            postcode=message.adres.postcode,
            huisnummer=message.adres.huisnummer,
        )

    def _kennisgeving(self, request: KennisgevingBasis) -> Decision:
        found = self.find(self._person_query(request, ()))
        if not found:
            return self._unknown(request)
        claims = self.claims(found)
        klantnummer = found[0][1].klantnummer_se
        answer = kennisgeving_answer(
            request,
            klantnummer_se=klantnummer,
            factuurnummers=[c.factuurnummer for c in claims],
            contact=self.creditor.contact,
            referentie=self.creditor.referentie,
            now=self.clock(),
        )
        return Decision(answer, "STABILISATIE", klantnummer, self.debtor_ref(found))

    def _saldoverzoek(self, request: Saldoverzoek) -> Decision:
        invoices = tuple(v.factuurnummer_se_volgens_shv for v in request.vorderingen)
        found = self.find(self._person_query(request, invoices))
        if not found:
            return self._unknown(request)
        claims = self.claims(found)
        module = request.berichtheader.module
        obstacles = [c for c in claims if c.fraude or not c.saneerbaar or c.status == "betwist"]
        vooraf = module == "Schuldregeling" and self.creditor.vooraf_akkoord and not obstacles
        klantnummer = found[0][1].klantnummer_se
        answer = saldo_answer(
            request,
            klantnummer_se=klantnummer,
            claims=claims,
            contact=self.creditor.contact,
            referentie=self.creditor.referentie,
            now=self.clock(),
            today=self.today(),
            vooraf_akkoord=vooraf,
        )
        state = {"Schuldinventarisatie": "AFGEROND"}.get(
            module, "VOORAF_AKKOORD" if vooraf else "SALDO_OPGEGEVEN"
        )
        return Decision(answer, state, klantnummer, self.debtor_ref(found))

    def _proposal(self, request: Betaalvoorstel | Heroverweging) -> Decision:
        found = self.find(DebtorQuery(klantnummer_se=request.klantnummer_se))
        deciders = [(a, d) for a, d in found if Capability.PROPOSALS in a.capabilities]
        if not found:
            return Decision(
                None,
                "WACHT_OP_BEOORDELING",
                tasks=(
                    TaskRequest(
                        "beoordeling",
                        "KlantnummerSE of the proposal is unknown in "
                        "the back-office; decide and answer before the deadline",
                    ),
                ),
            )
        klantnummer = found[0][1].klantnummer_se
        if not deciders:
            return Decision(
                None,
                "WACHT_OP_BEOORDELING",
                klantnummer,
                self.debtor_ref(found),
                (
                    TaskRequest(
                        "beoordeling",
                        f"a {request.BERICHTTYPE} waits for a person's "
                        "decision (no adapter assesses proposals)",
                    ),
                ),
            )
        proposal = Proposal(
            type_schuldregeling=request.type_schuldregeling,
            looptijd_maanden=request.looptijd,
            claims=tuple(
                ProposalClaim(
                    factuurnummer=v.factuurnummer_se,
                    actueel_vorderingsbedrag=v.actueel_vorderingsbedrag,
                    afkooppercentage=v.afkooppercentage,
                    prognose_eindbedrag=v.prognose_eindbedrag,
                )
                for v in request.vorderingen
            ),
        )
        loaded, debtor = deciders[0]
        assessment = loaded.adapter.assess_proposal(debtor, proposal)
        if assessment.decision == "manual":
            return Decision(
                None,
                "WACHT_OP_BEOORDELING",
                klantnummer,
                self.debtor_ref(found),
                (TaskRequest("beoordeling", assessment.reason or "the adapter asks a person"),),
            )
        accept = assessment.decision == "accept"
        answer = proposal_answer(
            request,
            klantnummer_se=klantnummer,
            accept=accept,
            reden=assessment.reason,
            contact=self.creditor.contact,
            referentie=self.creditor.referentie,
            now=self.clock(),
        )
        return Decision(
            answer, "AKKOORD_SE" if accept else "AFGEWEZEN_SE", klantnummer, self.debtor_ref(found)
        )

    def _arrangement(self, request: SchuldregelingAkkoord) -> Decision:
        found = self.find(DebtorQuery(klantnummer_se=request.klantnummer_se))
        arrangement = Arrangement(
            type_schuldregeling=request.type_schuldregeling,
            datum_akkoord=request.datum_akkoord,
            conversation_id=request.berichtheader.conversatie_referentienummer,
            claims=tuple(
                ProposalClaim(
                    factuurnummer=v.factuurnummer_se,
                    actueel_vorderingsbedrag=v.actueel_vorderingsbedrag,
                    afkooppercentage=v.afkooppercentage,
                    prognose_eindbedrag=v.prognose_eindbedrag,
                )
                for v in request.vorderingen
            ),
        )
        recorded = False
        for loaded, debtor in found:
            if Capability.ARRANGEMENTS in loaded.capabilities:
                loaded.adapter.record_arrangement(debtor, arrangement)
                recorded = True
        tasks = (
            ()
            if recorded
            else (
                TaskRequest("regeling", "record the agreed arrangement in the back-office by hand"),
            )
        )
        klantnummer = found[0][1].klantnummer_se if found else None
        return Decision(None, "REGELING_LOOPT", klantnummer, self.debtor_ref(found), tasks)

    def _ended(self, request: SchuldregelingBeeindigd) -> Decision:
        return Decision(None, "BEEINDIGD")

    def _status(self, request: StatusberichtSHV) -> Decision:
        return Decision(None, SAME)

    def _bewind(self, request: MeldingBewind) -> Decision:
        state = "BEWIND" if request.gebeurtenis == "START" else "BEWIND_BEEINDIGD"
        return Decision(None, state)
