"""Tier 1: kill -9 at every step boundary and at random points, and SIGKILL from outside.

``skn-connector run --once`` runs as a subprocess again and again; each run is ended by a
named crash point (``SKN_CRASHPOINTS``, each point in turn), by every point at random
(``*=p``), or by SIGKILL from a timer; until everything is answered. Then every effect is
counted (tests/faults/harness.py): nothing lost, nothing twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skn_connector.engine.crashpoints import POINTS

from .harness import SIGKILL, CrashOdds, Mode, Row, World, crash_modes, report, timed


def test_quick_sample_kill9_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """About 50 messages: five new questions before each run, each run ended at one named
    crash point (certain to hit: probability 1), at random points, or by SIGKILL; then a
    release phase, again killed. Seeded: the same kills every time (SIGKILL aside)."""
    elapsed = timed()
    with World(tmp_path, seed=5, batch_size=10) as world:
        world.odds = CrashOdds(named=1.0, anywhere=0.1, sigkill=2.5)
        modes = crash_modes()
        world.drive(
            modes,
            until=lambda: world.log.runs >= len(modes),
            before_each=lambda _: world.inject(5, kennisgeving_share=0.3),
        )
        world.finish()
        world.end_schuldregelingen(0.5)  # releases, killed between release and its record
        world.odds.odds["after_effect"] = 1.0
        kills = world.log.killed
        world.drive([Mode("after_effect")], until=lambda: world.log.killed > kills, max_runs=30)
        world.drive(  # until one SIGKILL lands (the timer shortens after each miss)
            [Mode(SIGKILL)],
            until=lambda: world.log.kills[SIGKILL] > 0,
            before_each=lambda _: world.inject(1),
            max_runs=40,
        )
        world.finish()
        verdict = world.verdict()
        report(
            Row(
                "1 kill -9",
                "quick sample",
                world.messages,
                world.log.describe(),
                verdict,
                elapsed(),
            )
        )
    assert not world.log.errors, world.log.errors
    assert all(world.log.kills[point] for point in POINTS), world.log.breakdown()
    assert world.log.kills["after_effect"] >= 2, world.log.breakdown()
    assert verdict.ok, verdict.problems


@pytest.mark.faults_full
def test_full_kill9_two_hundred_kills_over_two_thousand_messages(tmp_path: Path) -> None:
    """Ten new questions before each run, and every 25th run SchuldregelingBeeindigd in 40 %
    of the answered Kennisgevingen; each run ended at a crash point (each named point in
    turn, then every point at random) or by SIGKILL from outside, until at least 2,000
    messages and 200 kills; then runs to the end, and every effect counted."""
    elapsed = timed()
    with World(tmp_path, seed=2024, batch_size=25) as world:
        modes = crash_modes()

        def ask(index: int) -> None:
            world.inject(10)  # until both counts are reached: a run needs work to be killed
            if index % 25 == 24:
                world.end_schuldregelingen(0.4)

        world.drive(
            modes,
            until=lambda: world.messages >= 2000 and world.log.killed >= 200,
            before_each=ask,
        )
        world.end_schuldregelingen(0.4)
        world.finish()
        verdict = world.verdict()
        report(
            Row("1 kill -9", "full run", world.messages, world.log.describe(), verdict, elapsed())
        )
        print(world.log.breakdown())
    assert not world.log.errors, world.log.errors
    assert world.log.killed >= 200 and world.messages >= 2000, world.log.describe()
    assert all(world.log.kills[point] for point in (*POINTS, "*", SIGKILL)), world.log.kills
    assert verdict.ok, verdict.problems
