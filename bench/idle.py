"""One instance configured with many creditors, idle: its memory (RSS) and its PostgreSQL
connections.

A new PostgreSQL database, the simulated node (mutual TLS on loopback, in this process,
every messagebox empty) and ``skn-connector run`` with ``--creditors`` creditors (each the
gemeentebelastingen adapter on one sample back-office), polling every second.
After ``--seconds`` the daemon's RSS (/proc) and the connections to the database
(pg_stat_activity) are read, at most and at the end. Nothing is asserted.
``python -m bench.idle --help``; needs PostgreSQL as bench/instances.py does.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.node.simulator import Simulator

from .instances import ADMIN_URL, CLI, _config, _database, _drop


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _connections(store: str) -> int:
    name = store.rsplit("/", 1)[-1]
    with psycopg.connect(ADMIN_URL) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creditors", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    store = _database()
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            Simulator(port=0, tls_dir=Path(folder) / "tls") as simulator,
        ):
            home = Path(folder)
            sample = resolve_adapter_class("gemeentebelastingen").create_sample(home / "bo")
            ids = [str(uuid.uuid4()) for _ in range(args.creditors)]
            config = _config(home, simulator, store, ids, sample.options["database_url"])
            with (home / "daemon.log").open("ab") as log:
                daemon = subprocess.Popen([CLI, "run", "-c", str(config)], stderr=log)
            most_rss = most_connections = 0.0
            ends = time.monotonic() + args.seconds
            try:
                while time.monotonic() < ends and daemon.poll() is None:
                    most_rss = max(most_rss, _rss_mib(daemon.pid))
                    most_connections = max(most_connections, _connections(store))
                    time.sleep(1.0)
                rss, connections = _rss_mib(daemon.pid), _connections(store)
                polled = simulator.state.stats()
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(60)
        print(
            f"{args.creditors} creditors, idle {args.seconds:.0f} s: RSS {rss:.0f} MiB "
            f"(most {most_rss:.0f}), PostgreSQL connections {connections} "
            f"(most {most_connections:.0f}); node calls: {polled}"
        )
    finally:
        _drop(store)


if __name__ == "__main__":
    main()
