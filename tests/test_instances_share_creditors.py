"""Three instances on one PostgreSQL store share six creditors (a lease each): every message
is answered exactly once (none lost, none twice) while one instance is killed with kill -9
midway and another started; the dead one's creditors are taken over and the leases end
spread evenly over the live instances. Real daemons (skn-connector run) against the
simulated node over mutual TLS on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter
from sqlalchemy import create_engine, text

from skn_connector.node.certs import DevPki
from skn_connector.node.simulator import Simulator
from skn_connector.store.creditor_leases import CREDITOR_SPACE, creditor_key

from .factories import saldoverzoek

REPO = Path(__file__).resolve().parents[1]
CLI = str(REPO / ".venv" / "bin" / "skn-connector")
#: SKN_SCALE=CREDITORSxMESSAGES (e.g. 50x200, the issue's scale test; default 6x20)
_SCALE = os.environ.get("SKN_SCALE", "6x20").split("x")
CREDITORS = [f"3f1c9a52-1b7e-4d2a-9c11-2a5e8f{n:06d}" for n in range(int(_SCALE[0]))]
PER_CREDITOR = int(_SCALE[1])


def write_config(tmp_path: Path, simulator: Simulator, pki: DevPki, store_url: str) -> Path:
    sample = GemeentebelastingenAdapter.create_sample(tmp_path / "bo")
    entries = "".join(
        f"""
[[creditors]]
name = "Gemeente {n}, Belastingen"
participant_id = "{creditor}"
kind = "gemeentebelastingen"
  [creditors.contact]
  naam = "Team Invordering"
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
    database_url = {json.dumps(sample.options["database_url"])}
"""
        for n, creditor in enumerate(CREDITORS)
    )
    path = tmp_path / "skn-connector.toml"
    path.write_text(
        f"""
[node]
url = "{simulator.url}"
poll_interval = "1s"
deliver_interval = "1s"
batch_size = 5
  [node.tls]
  certificate = "{pki.client_cert}"
  private_key = "{pki.client_key}"
  trust = "{pki.ca_cert}"
[store]
url = "{store_url}"
{entries}""",
        encoding="utf-8",
    )
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as sink:
        return subprocess.Popen([CLI, "run", "-c", str(config)], stderr=sink, env=env)


def live_backends(store_url: str) -> set[int]:
    """The pids of the PostgreSQL backends alive now."""
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT pid FROM pg_stat_activity")).scalars())
    finally:
        engine.dispose()


def leases(store_url: str) -> dict[int, set[str]]:
    """pid of each instance -> the creditors whose lease it holds (from pg_locks)."""
    keys = {creditor_key(c) & 0xFFFF_FFFF: c for c in CREDITORS}
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objsubid = 2 AND classid = :space"
                ),
                {"space": CREDITOR_SPACE},
            ).all()
    finally:
        engine.dispose()
    held: dict[int, set[str]] = {}
    for pid, objid in rows:
        held.setdefault(int(pid), set()).add(keys[int(objid)])
    return held


def wait(until: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_three_instances_answer_every_message_once_through_a_kill(
    tmp_path: Path, simulator: Simulator, pki: DevPki, admin: httpx.Client, postgres_url: str
) -> None:
    config = write_config(tmp_path, simulator, pki, postgres_url)
    assert subprocess.run([CLI, "config", "check", "-c", str(config)], check=False).returncode == 0
    logs = tmp_path / "daemons.log"
    daemons = [start(config, logs) for _ in range(3)]
    try:
        # every instance works some creditors before the messages come, so that the one
        # killed midway holds leases (under load, one that started late held none yet)
        wait(lambda: len(leases(postgres_url)) == 3, 120)
        conversations: dict[str, str] = {}
        for creditor in CREDITORS:
            for _ in range(PER_CREDITOR):
                message = saldoverzoek(Ontvanger=creditor)
                assert admin.post("/_admin/messages", json=message).status_code == 201
                conversations[message["Berichtheader"]["ConversatieReferentienummer"]] = creditor
        total = len(conversations)
        wait(lambda: admin.get("/_admin/stats").json()["sent"] >= total // 3, 600)
        before = leases(postgres_url)
        victim = daemons.pop(0)
        victim.send_signal(signal.SIGKILL)  # kill -9, midway
        victim.wait(10)
        # the victim's creditors: those whose lease was on a connection that died with it
        wait(lambda: not set(before) <= live_backends(postgres_url), 30)
        gone = set(before) - live_backends(postgres_url)
        victims = {c for pid in gone for c in before[pid]}
        assert victims, before
        daemons.append(start(config, logs))
        wait(lambda: admin.get("/_admin/stats").json()["sent"] >= total, 900)
        # spread evenly again over the three live instances
        fair = -(-len(CREDITORS) // 3)
        wait(
            lambda: (
                sorted(len(c) for c in leases(postgres_url).values())
                in (
                    [fair, fair, len(CREDITORS) - 2 * fair],
                    [len(CREDITORS) - 2 * fair, fair, fair],
                )
            ),
            60,
        )
        spread = leases(postgres_url)
        time.sleep(2)  # a few more rounds: nothing is sent twice
        sent = admin.get("/_admin/sent").json()
        stats = admin.get("/_admin/stats").json()
        resent = admin.get("/_admin/resent").json()
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(30)
    answered = Counter(m["Berichtheader"]["ConversatieReferentienummer"] for m in sent)
    assert set(answered) == set(conversations)  # none lost
    assert set(answered.values()) == {1}  # none twice
    # an answer sent again (its own Referentienummer, taken once by the node) only where the
    # killed instance had sent it without recording so: never by two instances at a time
    assert stats["duplicate_sends"] == len(resent)
    assert {r["Afzender"] for r in resent} <= victims, (resent, victims)
    for message in sent:  # each as its creditor
        conversation = message["Berichtheader"]["ConversatieReferentienummer"]
        assert message["Berichtheader"]["Afzender"] == conversations[conversation]
    held = [c for creditors in spread.values() for c in creditors]
    assert sorted(held) == sorted(CREDITORS)  # each creditor by exactly one instance
    assert all(d.returncode == 0 for d in daemons), logs.read_text()[-3000:]
