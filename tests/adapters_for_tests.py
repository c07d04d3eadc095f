"""Adapters that break the contract on purpose, for the registry's load-time checks."""

from __future__ import annotations

from skn_connector.adapters.api import BaseAdapter, Capability, Claim, Debtor, DebtorQuery


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
