"""The sample back-offices' collection calendar: every working day a round over every open
claim; an applied hold stops what it asks on its claims, its release lets collection go on."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from skn_connector.adapters.api import DebtorQuery, Hold, MeasureCode
from skn_connector.adapters.calendar import MeasureTaken, Step
from skn_connector.adapters.registry import resolve_adapter_class

USES = ("gemeentebelastingen", "werk_en_inkomen", "cjib")
START = date(2027, 1, 4)
EVERYTHING = frozenset(MeasureCode)


def _rounds(calendar: object, first: date, days: int) -> list[MeasureTaken]:
    taken: list[MeasureTaken] = []
    for offset in range(days):
        taken.extend(calendar.collection_round(first + timedelta(days=offset)))  # type: ignore[attr-defined]
    return taken


@pytest.mark.parametrize("use", USES)
def test_a_hold_stops_the_round_on_its_claims_and_its_release_resumes_it(
    use: str, tmp_path: Path
) -> None:
    cls = resolve_adapter_class(use)
    sample = cls.create_sample(tmp_path)
    adapter = cls(cls.Options(**sample.options))
    calendar = adapter.collection_calendar()  # type: ignore[attr-defined]
    debtor_sample = sample.debtors[0]
    claims = set(debtor_sample.factuurnummers)
    # unheld, collection runs on the debtor's claims: starts and runs
    before = [t for t in _rounds(calendar, START, 60) if t.factuurnummer in claims]
    assert before
    assert {Step.START, Step.RUN} <= {t.step for t in before}
    debtor = adapter.find_debtor(DebtorQuery(klantnummer_se=debtor_sample.klantnummer_se))
    assert debtor is not None
    hold = Hold(
        hold_id=uuid.uuid4(),
        debtor_id=debtor.debtor_id,
        measures=EVERYTHING,
        reason="test: everything stops",
        basis="wet",
        starts=START,
        conversation_id=uuid.uuid4(),
    )
    assert adapter.apply_hold(hold).applied
    assert str(hold.hold_id) in calendar.holds_in_force()
    held_from = START + timedelta(days=60)
    during = [t for t in _rounds(calendar, held_from, 90) if t.factuurnummer in claims]
    assert during == []
    adapter.release_hold(hold)
    assert str(hold.hold_id) not in calendar.holds_in_force()
    after = [
        t
        for t in _rounds(calendar, held_from + timedelta(days=90), 60)
        if t.factuurnummer in claims
    ]
    assert after  # collection goes on once the ground has ended
    adapter.close()
    calendar.close()
