"""Adapters that break the contract on purpose, for the registry's load-time checks."""

from __future__ import annotations

from skn_connector.adapters.api import (
    BaseAdapter,
    Capability,
    Claim,
    Debtor,
    DebtorQuery,
    Proposal,
    ProposalAssessment,
)


class PromisesClaimsButCannotList(BaseAdapter):
    """Declares CLAIMS but implements only find_debtor."""

    name = "broken-claims"
    capabilities = frozenset({Capability.CLAIMS})

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        return None


class AlwaysDown(BaseAdapter):
    """A back-office that is never reachable (retryable errors)."""

    name = "always-down"
    capabilities = frozenset({Capability.CLAIMS})

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        from skn_connector.adapters.api import BackOfficeUnavailable

        raise BackOfficeUnavailable("the test back-office is down")

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        return []


class ProposalDesk(BaseAdapter):
    """Assesses proposals by a threshold: accept at or above, reject below, a person between."""

    name = "proposal-desk"
    capabilities = frozenset({Capability.CLAIMS, Capability.PROPOSALS})

    class Options(BaseAdapter.Options):
        klantnummers: list[str]
        accept_from: float = 10.0
        manual_from: float = 5.0

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        if query.klantnummer_se in self.options.klantnummers:
            return Debtor(
                debtor_id=f"desk-{query.klantnummer_se}", klantnummer_se=query.klantnummer_se
            )
        return None

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        return []

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        lowest = min(float(c.afkooppercentage) for c in proposal.claims)
        if lowest >= self.options.accept_from:
            return ProposalAssessment(decision="accept")
        if lowest >= self.options.manual_from:
            return ProposalAssessment(decision="manual", reason="between the thresholds")
        return ProposalAssessment(decision="reject", reason="percentage below policy")
