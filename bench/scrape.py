"""Scrape benchmark: what one GET /metrics costs with 100,000 messages in the store.

The store is a SQLite file (WAL, the connector's own settings and migrations) filled straight
through SQL with a year of a creditor's work: ``--messages`` received messages (nearly all
answered and delivered, a few pending, failed or waiting for a person), their answers, a
hold for two of every three, the audit trail (four entries a message, some of them failed
back-office calls), quarantined messages and tasks, most of them resolved. The message bytes
are as large as real ones (2 to 3 KB), so a query that reads the table instead of an index
shows it.

Measured, in the same run and on the same file:

- the baseline: ``SELECT count(*) FROM inbox`` on a connection of its own;
- ``status()``: the store's figures as the metrics and doctor read them;
- a scrape: ``GET /metrics`` from the HTTP face served by uvicorn on a loopback port (the
  store's figures, the readiness checks, the exposition, the HTTP round trip).

Each is run ``--repeat`` times after one warm-up; the median and the slowest are printed,
with the median's ratio to the baseline. A ``--backlog`` run puts that many messages in the
pending state instead (a back-office that was down for days); ``--without-indexes`` drops
the indexes migration 0008 adds, to show what they are for. Nothing is asserted about speed.
Run ``python -m bench.scrape --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from skn_connector.ids import new_id

KINDS = ("deadline", "processing_failed", "beoordeling", "quarantined", "hold_not_applied")


@dataclass(frozen=True)
class Mix:
    """How the messages of the store are spread over their states."""

    messages: int
    #: messages still pending (a backlog)
    pending: int
    #: drop the indexes migration 0008 adds for the metrics (to see what they are for)
    without_indexes: bool = False

    @property
    def failed(self) -> int:
        return max(1, self.messages // 500)


def fill(path: Path, mix: Mix, *, seed: int = 7) -> None:
    """Write the store at ``path``: migrated by the connector, then filled with raw SQL."""
    from skn_connector.store import open_store

    open_store(f"sqlite:///{path}").close()  # the schema and the indexes, as in production
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # filling, not measuring
    inbox, outbox, holds, audit, tasks = [], [], [], [], []
    raw = bytes(rng.getrandbits(8) for _ in range(3000))
    for number in range(mix.messages):
        received = start + timedelta(seconds=number * 365 * 86400 / mix.messages)
        referentienummer, conversation = str(uuid.uuid4()), str(uuid.uuid4())
        status = "done"
        if number >= mix.messages - mix.pending:
            status = "pending"
        elif number % 500 == 250:
            status = "failed"
        due = (received + timedelta(days=14)).date()
        inbox.append(
            (
                referentienummer,
                str(rng.getrandbits(32)),
                "Saldoverzoek",
                "Schuldregeling",
                conversation,
                str(uuid.uuid4()),
                raw[: 2000 + number % 1000],
                f"{number:064x}",
                received.strftime("%Y-%m-%d %H:%M:%S.%f"),
                due.isoformat(),
                status,
                1 if status == "failed" else 0,
                0,
                "node",
            )
        )
        at = received.strftime("%Y-%m-%d %H:%M:%S.%f")
        audit.append((at, "received", conversation, referentienummer, '{"berichttype": "x"}'))
        if status == "failed":
            audit.append(
                (
                    at,
                    "processing_failed",
                    conversation,
                    None,
                    '{"attempts": 1, "error_class": "BackOfficeRejected", "retryable": false}',
                )
            )
            tasks.append(("processing_failed", referentienummer, at, due.isoformat(), "open"))
            continue
        if status == "pending":
            continue
        answer = str(new_id())
        sent = "pending" if number >= mix.messages - mix.pending - 20 else "sent"
        outbox.append(
            (answer, conversation, referentienummer, "SaldoverzoekAntwoord", raw, at, sent, "node")
        )
        audit.append((at, "processed", conversation, referentienummer, '{"answer_type": "x"}'))
        audit.append((at, "delivered", conversation, answer, "{}"))
        if number % 3:
            hold_status = "released" if received < now - timedelta(days=240) else "applied"
            if number >= mix.messages - mix.pending - 30:
                hold_status = "to_apply"
            holds.append(
                (
                    str(new_id()),
                    "H_COVENANT",
                    "E04",
                    conversation,
                    "belastingen",
                    f"D{number}",
                    "[]",
                    "[]",
                    "[]",
                    "covenant",
                    received.date().isoformat(),
                    (received + timedelta(days=240)).date().isoformat(),
                    hold_status,
                    0,
                    at,
                )
            )
            audit.append((at, "hold_applied", conversation, None, "{}"))
            if number % 97 == 0:
                failure = '{"error_class": "BackOfficeTimeout"}'
                audit.append((at, "effect_failed", conversation, None, failure))
        if number % 33 == 0:
            kind = KINDS[number % len(KINDS)]
            state = "open" if number % 330 == 0 else "resolved"
            tasks.append((kind, referentienummer, at, due.isoformat(), state))
    db.executemany(
        "INSERT INTO inbox (referentienummer, node_message_id, berichttype, module,"
        " conversation_id, afzender, raw, sha256, received_at, answer_due, status, attempts,"
        " duplicates, channel) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        inbox,
    )
    db.executemany(
        "INSERT INTO outbox (referentienummer, conversation_id, cross_referentienummer,"
        " berichttype, payload, created_at, status, channel, attempts)"
        " VALUES (?,?,?,?,?,?,?,?,1)",
        outbox,
    )
    db.executemany(
        "INSERT INTO holds (hold_id, hold_type, event, conversation_id, adapter, debtor_id,"
        " factuurnummers, measures, lift, basis, starts, ends, status, attempts, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        holds,
    )
    db.executemany(
        "INSERT INTO audit (at, event, conversation_id, referentienummer, detail, prev_hash,"
        " hash) VALUES (?,?,?,?,?,'','')",
        audit,
    )
    db.executemany(
        "INSERT INTO tasks (kind, referentienummer, reason, created_at, due, status)"
        " VALUES (?,?,'a task',?,?,?)",
        tasks,
    )
    quarantined = [
        (f"q{n}", raw[:1500], f"{n:064x}", "not XML", now.isoformat(), "resolved")
        for n in range(max(1, mix.messages // 100))
    ]
    quarantined[:3] = [(*row[:5], "open") for row in quarantined[:3]]
    db.executemany(
        "INSERT INTO quarantine (node_message_id, raw, sha256, reason, received_at, status,"
        " occurrences) VALUES (?,?,?,?,?,?,1)",
        quarantined,
    )
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_poll', ?)",
        (now.isoformat(),),
    )
    if mix.without_indexes:
        for index in ("ix_audit_backoffice_failures", "ix_inbox_pending", "ix_quarantine_status"):
            db.execute(f"DROP INDEX {index}")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# -- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def slowest_ms(self) -> float:
        return max(self.seconds) * 1000


def timed(label: str, action: Callable[[], object], repeat: int) -> Timing:
    action()  # warm-up: the first run reads the file into the operating system's cache
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return Timing(label, seconds)


def write_config(directory: Path, database: Path, port: int) -> Path:
    """A configuration for the face: the store, a plain-http node that is never called."""
    config = directory / "skn-connector.toml"
    config.write_text(
        f"""[node]
url = "http://127.0.0.1:9/skn"
participant_id = "{uuid.uuid4()}"

[store]
url = "sqlite:///{database}"

[creditor]
name = "Benchmark"
kind = "overig"
  [creditor.contact]
  naam = "Team Invordering"

[[adapters]]
name = "none"
use = "gemeentebelastingen"

[http]
listen = "127.0.0.1:{port}"
""",
        encoding="utf-8",
    )
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(directory: Path, mix: Mix, repeat: int) -> list[Timing]:
    import httpx

    from skn_connector.config import load_settings
    from skn_connector.http.face import AdapterChecks, Face, face_store
    from skn_connector.http.server import HttpServer
    from skn_connector.operations.status import status

    database = directory / "skn.db"
    fill(database, mix)
    port = free_port()
    settings = load_settings(write_config(directory, database, port))

    def now() -> datetime:
        return datetime.now(UTC)

    def baseline() -> None:
        with sqlite3.connect(database) as db:
            db.execute("SELECT count(*) FROM inbox").fetchone()

    store = face_store(settings)
    face = Face(settings, store, lambda: True, AdapterChecks([]))
    timings = [
        timed("baseline: SELECT count(*) FROM inbox", baseline, repeat),
        timed("status(): the store's figures", lambda: status(store, settings, now()), repeat),
    ]
    with HttpServer(face, ("127.0.0.1", port)), httpx.Client(timeout=10) as client:

        def scrape() -> None:
            response = client.get(f"http://127.0.0.1:{port}/metrics")
            response.raise_for_status()

        timings.append(timed("GET /metrics over HTTP", scrape, repeat))
    face.close()
    return timings


def report(mix: Mix, timings: Sequence[Timing], size_mb: float) -> list[str]:
    baseline = timings[0].median_ms
    lines = [
        f"store: {mix.messages} messages ({mix.pending} not yet worked), {size_mb:.0f} MB SQLite"
        f" file{'; without the indexes of migration 0008' if mix.without_indexes else ''}",
        f"{'what':<42} {'median ms':>10} {'slowest ms':>11} {'x baseline':>11}",
    ]
    for timing in timings:
        lines.append(
            f"{timing.label:<42} {timing.median_ms:>10.2f} {timing.slowest_ms:>11.2f}"
            f" {timing.median_ms / baseline:>11.1f}"
        )
    return lines


def cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> list[str]:
    return [
        f"platform: {platform.platform()}",
        f"cpu: {cpu()}, {os.cpu_count()} logical cores",
        f"python: {platform.python_implementation()} {platform.python_version()}",
        f"sqlite: {sqlite3.sqlite_version}",
        f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=0, help="messages still pending")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--without-indexes",
        action="store_true",
        help="drop the indexes migration 0008 adds for the metrics",
    )
    parser.add_argument("--json", action="store_true", help="the timings as JSON")
    args = parser.parse_args(argv)
    mix = Mix(args.messages, args.backlog, args.without_indexes)
    with tempfile.TemporaryDirectory(prefix="skn-scrape-") as folder:
        timings = measure(Path(folder), mix, args.repeat)
        size = (Path(folder) / "skn.db").stat().st_size / 2**20
    if args.json:
        figures = {t.label: {"median_ms": t.median_ms, "slowest_ms": t.slowest_ms} for t in timings}
        print(json.dumps(figures))
        return 0
    print(*machine(), sep="\n")
    print(*report(mix, timings, size), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
