"""The drill on a sample of days: answers on time, none lost or doubled, the same table for
the same seed; and each planted fault fails it, naming the day, the claim and the rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from skn_connector.drill import DrillOptions, DrillReport, run_drill
from skn_connector.drill.table import table
from skn_connector.drill.verdict import Rule

DAYS, SEED = 45, 3
CLI = str(Path(sys.executable).parent / "skn-connector")


@pytest.fixture(scope="module")
def plain() -> DrillReport:
    return run_drill(DrillOptions(days=DAYS, seed=SEED))


def test_the_sample_answers_every_question_once_and_in_time(plain: DrillReport) -> None:
    assert sum(c.questions for c in plain.counts.values()) > 10
    assert {c.late for c in plain.counts.values()} == {0}
    assert {c.lost for c in plain.counts.values()} == {0}
    assert {c.duplicated for c in plain.counts.values()} == {0}
    assert sum(c.holds for c in plain.counts.values()) > 0
    assert sum(c.measures for c in plain.counts.values()) > 0
    assert plain.ok, "\n".join(f.line() for f in plain.findings)


def test_the_same_seed_gives_the_same_table(plain: DrillReport) -> None:
    again = run_drill(DrillOptions(days=DAYS, seed=SEED))
    assert table(again) == table(plain)
    assert [f.line() for f in again.findings] == [f.line() for f in plain.findings]


def test_a_policy_that_forgets_verrekening_fails_naming_day_claim_and_rule() -> None:
    faulty = run_drill(DrillOptions(days=DAYS, seed=SEED, forget_verrekening=True))
    assert not faulty.ok
    hits = [
        f
        for f in faulty.findings
        if f.rule == Rule.MEASURE_ON_HELD_CLAIM and "VERREKENING" in f.detail
    ]
    assert hits, "\n".join(f.line() for f in faulty.findings)
    assert "E03" in hits[0].detail
    assert hits[0].reference  # the claim's reference
    assert hits[0].line().startswith(hits[0].day.isoformat())


def test_a_back_office_that_drops_a_release_fails_naming_day_claim_and_rule() -> None:
    faulty = run_drill(DrillOptions(days=DAYS, seed=SEED, drop_one_release=True))
    hits = [f for f in faulty.findings if f.rule == Rule.HOLD_AFTER_GROUND]
    assert len(hits) == 1, "\n".join(f.line() for f in faulty.findings)
    assert hits[0].creditor == "belastingen"  # the back-office that dropped it
    assert hits[0].reference != "(all claims)"  # the claim's reference
    assert hits[0].detail.startswith("E0")  # the rule whose hold it was


def test_proposals_nobody_decides_are_counted_as_unanswered() -> None:
    away = run_drill(DrillOptions(days=120, seed=1, person_away=True))
    # every other task left open past its due date was escalated by the deadline watch
    assert not [f for f in away.findings if f.rule == Rule.TASK_NOT_ESCALATED], "\n".join(
        f.line() for f in away.findings
    )
    lost = [f for f in away.findings if f.rule == Rule.LOST]
    assert lost, "\n".join(f.line() for f in away.findings)
    assert all("Betaalvoorstel" in f.detail or "Heroverweging" in f.detail for f in lost)
    assert sum(c.lost for c in away.counts.values()) == len(lost)


@pytest.mark.parametrize(
    ("args", "says"), [(["--days", "0"], "--days"), (["--seed", "-1"], "--seed")]
)
def test_bad_arguments_are_one_sentence_and_exit_2(args: list[str], says: str) -> None:
    done = subprocess.run([CLI, "drill", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr
