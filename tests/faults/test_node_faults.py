"""Tier 2: the node misbehaves (the simulator's fault modes) while the connector works.

Server errors, requests that hang past the connector's read timeout, connections reset
after the node processed the request (a lost answer: the retry must be idempotent),
confirmed messages delivered again, slow answers. ``skn-connector run --once`` with a
bounded ``--max-wait`` runs again and again (a run may give up, exit 1, with work left: the
next one goes on), then a release phase under the same faults; every effect is counted.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import KILLED, CrashOdds, Mode, Row, World, report, timed


@dataclass(frozen=True)
class Profile:
    name: str
    faults: dict[str, Any]
    questions: int
    read_timeout: float = 2.0
    #: small batches: more requests to the node, so more faults per message
    batch_size: int = 5


def run_profile(workdir: Path, profile: Profile, seed: int) -> tuple[Row, World]:
    elapsed = timed()
    workdir.mkdir(parents=True, exist_ok=True)
    with World(
        workdir,
        seed=seed,
        batch_size=profile.batch_size,
        read_timeout=profile.read_timeout,
        max_wait=3.0,
    ) as world:
        world.faults(**profile.faults, seed=seed)
        for _ in range(2):  # two waves of questions
            world.inject(profile.questions // 2)
            world.finish(max_runs=300)
        world.end_schuldregelingen(0.5)
        world.finish(max_runs=300)
        world.faults()  # off, to read the verdict
        stats = world.admin.get("/_admin/stats").json()
        verdict = world.verdict()
        faults = (
            f"{stats['faults_injected']} faults "
            f"({stats['duplicate_deliveries']} redeliveries, {stats['duplicate_sends']} "
            f"repeated sends); {world.log.runs} runs, {world.log.incomplete} gave up"
        )
    return Row("2 node faults", profile.name, world.messages, faults, verdict, elapsed()), world


def check(row: Row, world: World) -> None:
    assert not world.log.errors, world.log.errors
    assert row.verdict.ok, (row.scenario, row.verdict.problems)


def test_quick_sample_redeliveries_and_a_slow_node(tmp_path: Path) -> None:
    """Faults that cost no backoff wait, so that it stays quick: half of the confirmed
    messages delivered again, every answer 50 ms late."""
    profile = Profile(
        "redeliveries 50 %, 50 ms latency", {"duplicate_rate": 0.5, "latency_ms": 50}, 20
    )
    row, world = run_profile(tmp_path, profile, seed=7)
    report(row)
    check(row, world)


FULL_PROFILES = (
    Profile("30 % server errors", {"error_rate": 0.3}, 100),
    Profile("10 % timeouts (read timeout 1 s)", {"timeout_rate": 0.1}, 100, read_timeout=1.0),
    Profile("15 % connection resets", {"reset_rate": 0.15}, 100),
    Profile("30 % duplicate deliveries", {"duplicate_rate": 0.3}, 100),
    Profile("slow node: 300 ms per request", {"latency_ms": 300}, 100),
    Profile(
        "all at once",
        {
            "error_rate": 0.1,
            "timeout_rate": 0.03,
            "reset_rate": 0.05,
            "duplicate_rate": 0.2,
            "latency_ms": 30,
        },
        100,
        read_timeout=1.0,
    ),
)


@pytest.mark.faults_full
def test_full_node_faults(tmp_path: Path) -> None:
    """Each fault mode on its own world, the worlds side by side (they mostly wait)."""
    with ThreadPoolExecutor(max_workers=len(FULL_PROFILES)) as pool:
        jobs = [
            pool.submit(run_profile, tmp_path / f"profile{i}", profile, 100 + i)
            for i, profile in enumerate(FULL_PROFILES)
        ]
        results = [job.result() for job in jobs]
    for row, _ in results:
        report(row)
    for row, world in results:
        check(row, world)


def test_stored_questions_are_decided_and_held_while_the_node_is_down(tmp_path: Path) -> None:
    """Messages stored (and confirmed) before a crash, then the node goes down: a run must
    still decide them and apply their holds (the back-office is up: enforcement must stop);
    only the answers wait for the node."""
    with World(tmp_path, seed=3, max_wait=3.0) as world:
        world.inject(10, kennisgeving_share=0.5)
        world.odds = CrashOdds(named=1.0)
        assert world.run_cli(Mode("after_confirm")) in KILLED
        assert world.backlog()["inbox"] == 10
        world.faults(error_rate=1.0)  # every request to the node fails from now on
        world.run_cli(None)
        backlog = world.backlog()
    assert backlog["inbox"] == 0, backlog  # decided: the answers wait in the outbox
    assert backlog["holds"] == 0, backlog  # the holds are applied at the back-office
