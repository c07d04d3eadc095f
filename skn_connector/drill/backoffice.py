"""A sample back-office as the drill plays it: down on the days of a planned outage (every
call fails as a real outage does, and its collection round does not run), and, as a planted
fault, one that says it released a hold and did not."""

from __future__ import annotations

from collections.abc import Sequence

from ..adapters.api import (
    AdapterError,
    Arrangement,
    BackOfficeUnavailable,
    BaseAdapter,
    Claim,
    Debtor,
    DebtorQuery,
    Hold,
    HoldResult,
    Proposal,
    ProposalAssessment,
    WriteOff,
    WriteOffResult,
)


class DrillBackOffice(BaseAdapter):
    """Wraps a reference adapter; forwards every call unless the back-office is down."""

    def __init__(self, inner: BaseAdapter, *, drop_one_release: bool = False) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self.down = False
        #: the planted fault: the first release is answered as done but not carried out
        self._drop_next_release = drop_one_release
        self.dropped: list[str] = []

    def _up(self) -> None:
        if self.down:
            raise BackOfficeUnavailable("the back-office is down (a planned outage of the drill)")

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        self._up()
        return self.inner.find_debtor(query)

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        self._up()
        return self.inner.list_claims(debtor)

    def apply_hold(self, hold: Hold) -> HoldResult:
        self._up()
        return self.inner.apply_hold(hold)

    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        self._up()
        return self.inner.apply_holds(holds)

    def release_hold(self, hold: Hold) -> HoldResult:
        return self._released([hold])[0]  # type: ignore[return-value]

    def release_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        return self._released(holds)

    def _released(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        self._up()
        if not self._drop_next_release or not holds:
            return self.inner.release_holds(holds)
        self._drop_next_release = False
        dropped, rest = holds[0], holds[1:]
        self.dropped.append(str(dropped.hold_id))
        said: HoldResult | AdapterError = HoldResult(
            hold_id=dropped.hold_id, applied=False, detail="released"
        )
        return [said, *self.inner.release_holds(rest)]

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        self._up()
        return self.inner.assess_proposal(debtor, proposal)

    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        self._up()
        self.inner.record_arrangement(debtor, arrangement)

    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        self._up()
        return self.inner.write_off(debtor, write_off)

    def close(self) -> None:
        self.inner.close()
