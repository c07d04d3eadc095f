"""Several instances on one PostgreSQL store: answers a second with 1, 2 and 3 instances
sharing the creditors (a lease each), and the time another instance takes to take over the
creditors of one killed with kill -9.

Each run: a new PostgreSQL database, the simulated node (mutual TLS on loopback, in this
process) with ``--creditors`` x ``--messages`` Saldoverzoeken waiting, then N daemons
(``skn-connector run``, each its own process) started together. The rate is the answers the
node received from the first to the last, divided by that time (the daemons' start is not
in it). Then, with two instances, one is killed with kill -9 and the time is measured from
the kill until the other holds every creditor's lease (pg_locks, read every 20 ms); the
daemons poll every second, so a takeover waits for the survivor's next job. Nothing is
asserted. ``python -m bench.instances --help``; needs PostgreSQL (``scripts/ensure-postgres``,
``SKN_TEST_POSTGRES`` for another server than postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import make_url

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.node.simulator import Simulator
from skn_connector.store.creditor_leases import CREDITOR_SPACE
from tests.factories import saldoverzoek

CLI = str(Path(sys.executable).parent / "skn-connector")
ADMIN_URL = os.environ.get("SKN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _database() -> str:
    name = f"skn_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _config(
    home: Path, simulator: Simulator, store: str, creditors: list[str], database: str
) -> Path:
    tls = simulator.tls_dir
    assert tls is not None
    entries = "".join(
        f"""
[[creditors]]
name = "Gemeente {n}"
participant_id = "{creditor}"
kind = "gemeentebelastingen"
  [creditors.contact]
  naam = "Team Invordering"
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
    database_url = {json.dumps(database)}
"""
        for n, creditor in enumerate(creditors)
    )
    path = home / "skn-connector.toml"
    path.write_text(
        f"""[node]
url = "{simulator.url}"
poll_interval = "1s"
deliver_interval = "1s"
  [node.tls]
  certificate = "{tls / "client.pem"}"
  private_key = "{tls / "client.key"}"
  trust = "{tls / "ca.pem"}"
[store]
url = "{store}"
{entries}""",
        encoding="utf-8",
    )
    return path


def _held(store: str) -> dict[int, int]:
    with psycopg.connect(store) as db:
        rows = db.execute(
            "SELECT pid, count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 2 AND classid = %s GROUP BY pid",
            (CREDITOR_SPACE,),
        ).fetchall()
    return {int(pid): int(count) for pid, count in rows}


def _run(instances: int, creditors: int, messages: int, home: Path) -> dict[str, float]:
    ids = [str(uuid.uuid4()) for _ in range(creditors)]
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(home / "bo")
    store = _database()
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        with (
            Simulator(port=0, tls_dir=home / "tls") as simulator,
            httpx.Client(base_url=simulator.admin_url, timeout=30) as admin,
        ):
            config = _config(home, simulator, store, ids, sample.options["database_url"])
            for creditor in ids:
                for _ in range(messages):
                    admin.post("/_admin/messages", json=saldoverzoek(Ontvanger=creditor))
            total = creditors * messages
            with (home / "daemons.log").open("ab") as log:
                daemons = [
                    subprocess.Popen([CLI, "run", "-c", str(config)], stderr=log)
                    for _ in range(instances)
                ]
            first = last = None
            while True:
                sent = admin.get("/_admin/stats").json()["sent"]
                now = time.monotonic()
                if sent and first is None:
                    first = now
                if sent >= total:
                    last = now
                    break
                time.sleep(0.05)
            assert first is not None
            figures = {"answers_per_second": total / max(last - first, 1e-6)}
            if instances >= 2:
                while len(_held(store)) < instances:  # every instance has its share
                    time.sleep(0.05)
                victim = daemons.pop(0)
                victim.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                victim.wait()
                # the victim's leases end with its connection: the others hold them all again
                while sum(_held(store).values()) < creditors:
                    time.sleep(0.02)
                figures["takeover_seconds"] = time.monotonic() - killed
            return figures
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(30)
        _drop(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creditors", type=int, default=12)
    parser.add_argument("--messages", type=int, default=50, help="per creditor")
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    results = {}
    for instances in args.instances:
        with tempfile.TemporaryDirectory() as home:
            results[instances] = _run(instances, args.creditors, args.messages, Path(home))
        print(f"{instances} instance(s): {results[instances]}", flush=True)
    base = results.get(1, {}).get("answers_per_second")
    if base:
        for instances, figures in results.items():
            ratio = figures["answers_per_second"] / base
            print(f"{instances} instance(s): {ratio:.2f} x the rate of 1")


if __name__ == "__main__":
    main()
