"""What to do with each incoming message: ask the adapters, choose the answer and next state.

One handler per message type. A handler never writes to the store: it returns a
Decision, which the pipeline checks against the transition table and commits
in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ..adapters.api import (
    Arrangement,
    Capability,
    Claim,
    Debtor,
    DebtorQuery,
    Proposal,
    ProposalAssessment,
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
from ..store.status import TaskKind
from .answers import geen_medewerking, kennisgeving_answer, proposal_answer, saldo_answer
from .conversations import SAME, Rule
from .holds import Found, HoldPlan, ReleasePlan, WriteOffPlan, plan_holds, plan_write_offs
from .policy import Policy

log = logging.getLogger(__name__)


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
    holds: tuple[HoldPlan, ...] = ()
    releases: tuple[ReleasePlan, ...] = ()
    write_offs: tuple[WriteOffPlan, ...] = ()
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversationContext:
    """What the store knows about the conversation a message belongs to."""

    conversation_id: str
    klantnummer_se: str | None = None
    #: the FactuurnummerSE list of the conversation's SchuldregelingAkkoord, if any
    arrangement_claims: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CreditorFacts:
    """What the decisions need to know about us."""

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
        policy: Policy,
    ) -> None:
        self.adapters = list(adapters)
        self.creditor = creditor
        self.clock = clock
        self.today = today
        self.policy = policy
        self._handlers: dict[type[Message], Callable[[Message], Decision]] = {
            Saldoverzoek: self._saldoverzoek,  # type: ignore[dict-item]
            Betaalvoorstel: self._proposal,  # type: ignore[dict-item]
            Heroverweging: self._proposal,  # type: ignore[dict-item]
            SchuldregelingAkkoord: self._arrangement,  # type: ignore[dict-item]
            SchuldregelingBeeindigd: self._ended,  # type: ignore[dict-item]
            StatusberichtSHV: self._status,  # type: ignore[dict-item]
            MeldingBewind: self._bewind,  # type: ignore[dict-item]
        }

    def decide(self, message: Message, context: ConversationContext | None = None) -> Decision:
        self._context = context or ConversationContext(
            str(message.berichtheader.conversatie_referentienummer)
        )
        if isinstance(message, KennisgevingBasis):
            return self._kennisgeving(message)
        handler = self._handlers.get(type(message))
        if handler is None:
            raise LookupError(f"no handler for {message.BERICHTTYPE}")
        return handler(message)

    # -- policy effects -------------------------------------------------------------------

    def _holds(
        self, event: str, found: Sequence[Found]
    ) -> tuple[tuple[HoldPlan, ...], tuple[TaskRequest, ...]]:
        plans, notes = plan_holds(self.policy, event, found, self.today())
        return tuple(plans), tuple(TaskRequest(TaskKind.HOLD_BY_HAND, n) for n in notes)

    def _release(self, reason: str, *hold_types: str) -> ReleasePlan:
        return ReleasePlan(
            reason=reason, conversation_id=self._context.conversation_id, hold_types=hold_types
        )

    def _found(self, query: DebtorQuery) -> list[Found]:
        return [
            Found(loaded, debtor, tuple(loaded.adapter.list_claims(debtor)))
            for loaded, debtor in self.find(query)
        ]

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

    def _unknown(self, request: Message) -> Decision:
        # a person trying the connector out wants to know why: no adapter knew the debtor
        log.debug(
            "no adapter knows the debtor of %s %s (looked up by BSN, the SE's client number, "
            "the invoice numbers, or name, birth date and address): answered GeenMedewerking "
            "KLANT_ONBEKEND",
            request.BERICHTTYPE,
            request.berichtheader.referentienummer,
        )
        answer = geen_medewerking(
            request,
            reden="KLANT_ONBEKEND",
            toelichting="Op de opgegeven gegevens is geen klant gevonden bij deze schuldeiser.",
            contact=self.creditor.contact,
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
        found = self._found(self._person_query(request, ()))
        if not found:
            return self._unknown(request)
        claims = [c for item in found for c in item.claims]
        klantnummer = found[0].debtor.klantnummer_se
        answer = kennisgeving_answer(
            request,
            klantnummer_se=klantnummer,
            factuurnummers=[c.factuurnummer for c in claims],
            contact=self.creditor.contact,
            now=self.clock(),
        )
        holds, tasks = self._holds("E03", found)
        return Decision(
            answer, "STABILISATIE", klantnummer, self._ref(found), tasks, holds, events=("E03",)
        )

    def _saldoverzoek(self, request: Saldoverzoek) -> Decision:
        invoices = tuple(v.factuurnummer_se_volgens_shv for v in request.vorderingen)
        found = self._found(self._person_query(request, invoices))
        if not found:
            return self._unknown(request)
        claims = [c for item in found for c in item.claims]
        module = request.berichtheader.module
        obstacles = [c for c in claims if c.fraude or not c.saneerbaar or c.status == "betwist"]
        vooraf = module == "Schuldregeling" and self.creditor.vooraf_akkoord and not obstacles
        klantnummer = found[0].debtor.klantnummer_se
        answer = saldo_answer(
            request,
            klantnummer_se=klantnummer,
            claims=claims,
            contact=self.creditor.contact,
            now=self.clock(),
            today=self.today(),
            vooraf_akkoord=vooraf,
            obstacles={c.factuurnummer: _obstacle(c) for c in obstacles},
        )
        state = {"Schuldinventarisatie": "AFGEROND"}.get(
            module, "VOORAF_AKKOORD" if vooraf else "SALDO_OPGEGEVEN"
        )
        holds, tasks = self._holds("E04", found)
        return Decision(answer, state, klantnummer, self._ref(found), tasks, holds, events=("E04",))

    def _criteria(
        self, request: Betaalvoorstel | Heroverweging, claims: Sequence[Claim]
    ) -> str | None:
        """Why the proposal falls outside the configured criteria ([policy] max_term_months,
        preferent_factor), or None."""
        settings = self.policy.settings
        if request.looptijd > settings.max_term_months:
            return f"the term of {request.looptijd} months exceeds {settings.max_term_months}"
        known = {c.factuurnummer: c for c in claims}
        unknown = [
            v.factuurnummer_se for v in request.vorderingen if v.factuurnummer_se not in known
        ]
        if unknown:
            return f"{len(unknown)} claim(s) of the proposal are not known in the back-office"
        concurrent = [
            v.afkooppercentage
            for v in request.vorderingen
            if not known[v.factuurnummer_se].preferent
        ]
        floor = min(concurrent) if concurrent else None
        for v in request.vorderingen:
            claim = known[v.factuurnummer_se]
            if (
                claim.preferent
                and floor is not None
                and (v.afkooppercentage < floor * Decimal(str(settings.preferent_factor)))
            ):
                return (
                    f"preferent claim {claim.factuurnummer} gets {v.afkooppercentage} %, less "
                    f"than {settings.preferent_factor}x the concurrent {floor} %"
                )
        return None

    def _proposal(self, request: Betaalvoorstel | Heroverweging) -> Decision:
        event = "E05" if request.berichtheader.module == "Betalingsregeling" else "E07"
        found = self._found(DebtorQuery(klantnummer_se=request.klantnummer_se))
        if not found:
            return Decision(
                None,
                "WACHT_OP_BEOORDELING",
                tasks=(
                    TaskRequest(
                        TaskKind.BEOORDELING,
                        "KlantnummerSE of the proposal is unknown in "
                        "the back-office; decide and answer before the deadline",
                    ),
                ),
            )
        klantnummer = found[0].debtor.klantnummer_se
        claims = [c for item in found for c in item.claims]
        deciders = [item for item in found if Capability.PROPOSALS in item.adapter.capabilities]
        outside = self._criteria(request, claims)
        assessment = None
        if outside is None and deciders:
            # every back-office that knows the debtor has its say: one refusal refuses,
            # one doubt goes to a person, only unanimous consent accepts
            verdicts = [
                item.adapter.adapter.assess_proposal(item.debtor, _proposal_of(request))
                for item in deciders
            ]
            for decision in ("reject", "manual", "accept"):
                chosen = [v for v in verdicts if v.decision == decision]
                if chosen:
                    assessment = ProposalAssessment(
                        decision=chosen[0].decision,
                        reason="; ".join(v.reason for v in chosen if v.reason),
                    )
                    break
        if assessment is None or assessment.decision == "manual":
            reason = (
                f"outside the criteria: {outside}"
                if outside
                else "no adapter assesses proposals"
                if assessment is None
                else assessment.reason or "the back-office asks a person"
            )
            holds, tasks = self._holds(event, found)
            return Decision(
                None,
                "WACHT_OP_BEOORDELING",
                klantnummer,
                self._ref(found),
                (
                    TaskRequest(
                        TaskKind.BEOORDELING,
                        f"a {request.BERICHTTYPE} waits for a person: {reason}",
                    ),
                    *tasks,
                ),
                holds,
                events=(event,),
            )
        accept = assessment.decision == "accept"
        answer = proposal_answer(
            request,
            klantnummer_se=klantnummer,
            accept=accept,
            reden=assessment.reason,
            contact=self.creditor.contact,
            now=self.clock(),
        )
        agreed: tuple[HoldPlan, ...] = ()
        agreed_tasks: tuple[TaskRequest, ...] = ()
        events: tuple[str, ...] = ()
        if accept and request.berichtheader.module == "Betalingsregeling":
            agreed, agreed_tasks = self._holds("E06", found)  # a betalingsregeling is agreed here
            events = ("E06",)
        return Decision(
            answer,
            "AKKOORD_SE" if accept else "AFGEWEZEN_SE",
            klantnummer,
            self._ref(found),
            agreed_tasks,
            agreed,
            events=events,
        )

    def _arrangement(self, request: SchuldregelingAkkoord) -> Decision:
        found = self._found(DebtorQuery(klantnummer_se=request.klantnummer_se))
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
        for item in found:
            if Capability.ARRANGEMENTS in item.adapter.capabilities:
                item.adapter.adapter.record_arrangement(item.debtor, arrangement)
                recorded = True
        tasks: tuple[TaskRequest, ...] = (
            ()
            if recorded
            else (
                TaskRequest(
                    TaskKind.REGELING, "record the agreed arrangement in the back-office by hand"
                ),
            )
        )
        holds, hold_tasks = self._holds("E08", found)
        klantnummer = found[0].debtor.klantnummer_se if found else None
        return Decision(
            None,
            "REGELING_LOOPT",
            klantnummer,
            self._ref(found),
            tasks + hold_tasks,
            holds,
            (self._release("arrangement agreed", "H_PROPOSAL"),),
            events=("E08",),
        )

    def _ended(self, request: SchuldregelingBeeindigd) -> Decision:
        klantnummer = request.klantnummer_se or self._context.klantnummer_se
        found = self._found(DebtorQuery(klantnummer_se=klantnummer)) if klantnummer else []
        release = self._release(f"schuldregeling ended: {request.reden}")
        if request.reden == "GESLAAGD":
            plans, notes = plan_write_offs(
                found,
                self._context.arrangement_claims,
                "SCHULDREGELING_GESLAAGD",
                request.datum_beeindiging,
            )
            return Decision(
                None,
                "BEEINDIGD",
                klantnummer,
                self._ref(found),
                tuple(TaskRequest(TaskKind.WRITE_OFF, n) for n in notes),
                (),
                (release,),
                tuple(plans),
                events=("E09",),
            )
        if request.reden == "OVERLIJDEN":
            holds, tasks = self._holds("E20", found)
            return Decision(
                None,
                "BEEINDIGD",
                klantnummer,
                self._ref(found),
                tasks,
                holds,
                (release,),
                events=("E20",),
            )
        if request.reden == "WSNP":
            holds, tasks = self._holds("E14", found)
            return Decision(
                None,
                "BEEINDIGD",
                klantnummer,
                self._ref(found),
                (
                    TaskRequest(
                        TaskKind.WSNP,
                        "the debtor went to the Wsnp: check the ruling; the Wsnp "
                        "hold ends when the Wsnp ends",
                    ),
                    *tasks,
                ),
                holds,
                (release,),
                events=("E14",),
            )
        return Decision(
            None, "BEEINDIGD", klantnummer, self._ref(found), (), (), (release,), events=("E09F",)
        )

    def _status(self, request: StatusberichtSHV) -> Decision:
        return Decision(None, SAME)

    def _bewind(self, request: MeldingBewind) -> Decision:
        state = "BEWIND" if request.gebeurtenis == "START" else "BEWIND_BEEINDIGD"
        query = DebtorQuery(
            bsn=request.klant.bsn,
            achternaam=request.klant.achternaam,
            geboortedatum=request.klant.geboortedatum,
            postcode=request.adres.postcode,
            huisnummer=request.adres.huisnummer,
        )
        found = self._found(query)
        if not found:
            return Decision(
                None,
                state,
                tasks=(
                    TaskRequest(
                        TaskKind.BEWIND,
                        f"a MeldingBewind ({request.soort} {request.gebeurtenis}) concerns a "
                        "person unknown in the back-office",
                    ),
                ),
            )
        klantnummer = found[0].debtor.klantnummer_se
        if request.soort == "BESCHERMINGSBEWIND":
            rule = self.policy.rule("E16")
            note = rule.task or "beschermingsbewind reported"
            return Decision(
                None,
                state,
                klantnummer,
                self._ref(found),
                (TaskRequest(TaskKind.BEWIND, f"{note} ({request.gebeurtenis})"),),
                events=("E16",),
            )
        if request.gebeurtenis == "START":
            holds, tasks = self._holds("E14", found)
            return Decision(
                None, state, klantnummer, self._ref(found), tasks, holds, events=("E14",)
            )
        return Decision(
            None,
            state,
            klantnummer,
            self._ref(found),
            (
                TaskRequest(
                    TaskKind.WSNP_EINDE,
                    "the Wsnp has ended: resolve with --choice schone_lei "
                    "or --choice zonder_schone_lei",
                ),
            ),
        )

    @staticmethod
    def _ref(found: Sequence[Found]) -> str | None:
        return ",".join(f"{f.adapter.name}:{f.debtor.debtor_id}" for f in found) or None


def _obstacle(claim: Claim) -> str:
    if claim.fraude:
        return "belemmering: fraudevordering"
    if not claim.saneerbaar:
        return "belemmering: niet saneerbaar"
    return "belemmering: betwist"


def _proposal_of(request: Betaalvoorstel | Heroverweging) -> Proposal:
    return Proposal(
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


class PermanentFailure(Exception):
    """Processing cannot succeed by retrying; a person must look."""


def check_decision(rule: Rule, current: str, decision: Decision) -> None:
    """Refuse a decision the transition table's rule does not allow (PermanentFailure)."""
    if not rule.allows(current, decision.state):
        raise PermanentFailure(f"rule {rule.number} does not allow {current} -> {decision.state}")
    if decision.answer is not None and decision.answer.BERICHTTYPE not in rule.answers:
        raise PermanentFailure(
            f"rule {rule.number} does not allow the answer {decision.answer.BERICHTTYPE}"
        )
