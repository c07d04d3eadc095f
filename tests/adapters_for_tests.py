"""Adapters that break the contract on purpose: for the registry's load-time checks, and a
careless plugin whose errors quote the debtor, for the redaction scan."""

from __future__ import annotations

from typing import Any

from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter

from skn_connector.adapters.api import (
    BackOfficeUnavailable,
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


class LeakyTaxes(GemeentebelastingenAdapter):
    """The municipal-tax adapter with the bugs of a careless plugin: its errors quote the
    debtor. A lookup of ``keyerror_bsn`` fails as ``cache[query.bsn]`` would (a KeyError
    holding the BSN); a lookup without invoice numbers (a Kennisgeving) fails with the name,
    BSN and an IBAN in its text; every hold is refused with the debtor's name, BSN and IBAN
    from its own database."""

    name = "leaky-taxes"

    class Options(GemeentebelastingenAdapter.Options):
        keyerror_bsn: str
        iban: str

    options: Options

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        if query.bsn == self.options.keyerror_bsn:
            cache: dict[str, Debtor] = {}
            return cache[query.bsn]
        if not query.factuurnummers:
            raise RuntimeError(
                f"no cache entry for {query.achternaam} (BSN {query.bsn}), "
                f"rekening {self.options.iban}"
            )
        return super().find_debtor(query)

    def _refusal(self, hold: Any) -> BackOfficeUnavailable:
        import sqlite3

        path = self.options.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            row = db.execute(
                "SELECT voornamen, achternaam, bsn FROM debiteuren WHERE debiteur_id = ?",
                (int(hold.debtor_id),),
            ).fetchone()
        voornamen, achternaam, bsn = row
        return BackOfficeUnavailable(
            f"opschorting geweigerd voor {voornamen} {achternaam} ({bsn}), "
            f"rekening {self.options.iban}"
        )

    def apply_hold(self, hold: Any) -> Any:
        raise self._refusal(hold)

    def apply_holds(self, holds: Any) -> list[Any]:
        return [self._refusal(hold) for hold in holds]


class StuckTaxes(GemeentebelastingenAdapter):
    """The municipal-tax adapter behind a back-office that hangs: every debtor lookup waits
    until the file ``release_file`` exists (at most a minute), as a call to a back-office
    that does not answer waits for its timeout."""

    name = "stuck-taxes"

    class Options(GemeentebelastingenAdapter.Options):
        release_file: str

    options: Options

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        import time
        from pathlib import Path

        give_up = time.monotonic() + 60
        while not Path(self.options.release_file).exists() and time.monotonic() < give_up:
            time.sleep(0.05)
        return super().find_debtor(query)
