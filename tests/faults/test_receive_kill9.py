"""Tier 5: kill -9 of the daemon while it receives (receive mode).

The simulated node delivers every message it queues to the daemon's endpoint (``--push``),
retrying until it is acknowledged; the daemon (``skn-connector run`` in receive mode, a
subprocess) stores each delivery, acknowledges it after the commit, decides it and sends
the answer through the node's send operation. It is killed again and again while messages
arrive: by SIGKILL from outside at a random moment, or by the crash point between the
commit and the acknowledgement (``after_receive_commit``, so that the node delivers stored
messages again). After each kill, every delivery the node saw acknowledged must be in the
store; at the end every effect is counted (tests/faults/harness.py): nothing lost, nothing
twice, nothing left in the messagebox.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from ..receiving import Daemon, free_port, listening
from .harness import KILLED, Row, World, report, timed

#: How long the last daemon may take to work off what is left.
FINISH_SECONDS = 180.0


def _stored_handles(world: World) -> set[str]:
    if not world.store_db.exists():
        return set()
    with sqlite3.connect(f"file:{world.store_db}?mode=ro", uri=True, timeout=30) as db:
        try:
            rows = db.execute(
                "SELECT node_message_id FROM inbox UNION SELECT node_message_id FROM quarantine"
            ).fetchall()
        except sqlite3.OperationalError:  # killed before the schema was made
            rows = []
    db.close()
    return {handle for (handle,) in rows}


class Receiving:
    """The daemon's runs in one world, each ended by a kill, and what was checked after it."""

    def __init__(self, world: World, port: int, seed: int) -> None:
        self.world = world
        self.port = port
        self.rng = random.Random(seed)
        self.kills = {"SIGKILL": 0, "after_receive_commit": 0}
        self.runs = 0
        self.unstored_acknowledged: list[str] = []

    def _daemon(self, crash: float) -> Daemon:
        env = {"SKN_CRASHPOINTS": f"after_receive_commit={crash}"} if crash else {}
        env["SKN_CRASH_SEED"] = str(self.rng.randrange(1 << 30))
        log = self.world.workdir / f"daemon-{self.runs}.log"
        self.runs += 1
        return Daemon(self.world.config, log, env=env).start()

    def round(self, messages: int, *, crash: float) -> None:
        """Start the daemon, deliver ``messages`` while it runs, and kill it (or let the
        crash point end it); then check that everything acknowledged was stored."""
        daemon = self._daemon(crash)
        assert listening(self.port), daemon.stderr()[-2000:]
        self.world.inject(messages)
        deadline = time.monotonic() + self.rng.uniform(0.2, 1.5)
        assert daemon.process is not None
        while time.monotonic() < deadline and daemon.process.poll() is None:
            time.sleep(0.02)
        if daemon.process.poll() is None:
            daemon.kill()
            self.kills["SIGKILL"] += 1
        elif daemon.process.returncode in KILLED:
            self.kills["after_receive_commit"] += 1
        else:
            raise AssertionError(f"the daemon ended with {daemon.process.returncode}")
        self._check_acknowledged()

    def _check_acknowledged(self) -> None:
        stored = _stored_handles(self.world)
        for handle in self.world.simulator.state.acknowledged():
            if handle not in stored:
                self.unstored_acknowledged.append(handle)

    def finish(self) -> None:
        """A daemon nothing ends, until everything is answered and carried out."""
        daemon = self._daemon(0.0)
        try:
            # up before it is stopped: a SIGTERM before its handler is set ends it at once
            assert listening(self.port), daemon.stderr()[-2000:]
            deadline = time.monotonic() + FINISH_SECONDS
            while not self.world.done() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert self.world.done(), (self.world.backlog(), daemon.stderr()[-3000:])
        finally:
            daemon.stop()
        assert daemon.process is not None and daemon.process.returncode == 0, daemon.stderr()
        self._check_acknowledged()

    @property
    def killed(self) -> int:
        return sum(self.kills.values())

    def describe(self) -> str:
        stats = self.world.simulator.state.stats()
        return (
            f"{self.killed} kills ({self.kills['SIGKILL']} SIGKILL from outside, "
            f"{self.kills['after_receive_commit']} after the commit, before the "
            f"acknowledgement) in {self.runs} runs; {stats['pushed']} deliveries, "
            f"{stats['acknowledged']} acknowledged"
        )


def _run(
    tmp_path: Path, *, seed: int, rounds: int, per_round: int, crash: float, scenario: str
) -> None:
    elapsed = timed()
    port = free_port()
    with World(tmp_path, seed=seed, batch_size=25, receive_port=port) as world:
        receiving = Receiving(world, port, seed)
        for index in range(rounds):
            # every third run may die between the commit and the acknowledgement
            receiving.round(per_round, crash=crash if index % 3 == 2 else 0.0)
            if index % 5 == 4:
                world.end_schuldregelingen(0.4)
        receiving.finish()
        world.end_schuldregelingen(0.4)  # and the releases, with a daemon that is not killed
        receiving.finish()
        verdict = world.verdict()
        report(
            Row(
                "5 receive kill -9",
                scenario,
                world.messages,
                receiving.describe(),
                verdict,
                elapsed(),
            )
        )
    assert receiving.unstored_acknowledged == [], receiving.unstored_acknowledged[:10]
    assert receiving.killed >= rounds * 0.9, receiving.describe()
    assert receiving.kills["after_receive_commit"] > 0, receiving.describe()
    assert verdict.ok, verdict.problems
    assert verdict.lost == verdict.duplicated == 0


def test_quick_sample_receive_kill9_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """About 50 messages delivered over four runs of the daemon, each killed; the third at
    its first commit, before the acknowledgement."""
    _run(tmp_path, seed=7, rounds=4, per_round=12, crash=1.0, scenario="quick sample")


@pytest.mark.faults_full
def test_full_receive_kill9_over_five_hundred_messages(tmp_path: Path) -> None:
    """Over 500 messages delivered over 24 runs of the daemon, each killed while it
    receives (and from the fifth on, releases in 40 % of the answered Kennisgevingen)."""
    _run(tmp_path, seed=2026, rounds=24, per_round=22, crash=0.3, scenario="full run")
