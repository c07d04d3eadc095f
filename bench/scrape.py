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
the indexes migration 0008 adds, to show what they are for. ``--creditors N`` spreads the
same rows over N creditors of one deployment (a configuration with N ``[[creditors]]``; a
scrape then reads the figures of each, in its scope), and ``--without-creditor-indexes``
puts the indexes back as they were before migration 0013 (without creditor_id). Nothing is
asserted about speed. Run ``python -m bench.scrape --help``.
"""

from __future__ import annotations

import argparse
import importlib.util
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
    #: the creditors the rows are spread over (1: a deployment of one creditor)
    creditors: int = 1
    #: the indexes as before migration 0013, without creditor_id
    without_creditor_indexes: bool = False

    @property
    def creditor_ids(self) -> list[str]:
        """The participant ids; none for one creditor, whose rows are of no creditor until
        it opens the store (as a store from before migration 0010)."""
        if self.creditors == 1:
            return []
        return [
            str(uuid.UUID(int=0x5B8F2A8E_0000_4000_8000_000000000000 + n))
            for n in range(self.creditors)
        ]

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
    ids = mix.creditor_ids or [""]
    for number in range(mix.messages):
        # the creditors' messages interleave, as they arrive in one messagebox each
        creditor = ids[number % len(ids)]
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
                creditor,
            )
        )
        at = received.strftime("%Y-%m-%d %H:%M:%S.%f")
        audit.append(
            (at, "received", conversation, referentienummer, '{"berichttype": "x"}', creditor)
        )
        if status == "failed":
            audit.append(
                (
                    at,
                    "processing_failed",
                    conversation,
                    None,
                    '{"attempts": 1, "error_class": "BackOfficeRejected", "retryable": false}',
                    creditor,
                )
            )
            tasks.append(
                ("processing_failed", referentienummer, at, due.isoformat(), "open", creditor)
            )
            continue
        if status == "pending":
            continue
        answer = str(new_id())
        sent = "pending" if number >= mix.messages - mix.pending - 20 else "sent"
        outbox.append(
            (
                answer,
                conversation,
                referentienummer,
                "SaldoverzoekAntwoord",
                raw,
                at,
                sent,
                "node",
                creditor,
            )
        )
        audit.append(
            (at, "processed", conversation, referentienummer, '{"answer_type": "x"}', creditor)
        )
        audit.append((at, "delivered", conversation, answer, "{}", creditor))
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
                    creditor,
                )
            )
            audit.append((at, "hold_applied", conversation, None, "{}", creditor))
            if number % 97 == 0:
                failure = '{"error_class": "BackOfficeTimeout"}'
                audit.append((at, "effect_failed", conversation, None, failure, creditor))
        if number % 33 == 0:
            kind = KINDS[number % len(KINDS)]
            state = "open" if number % 330 == 0 else "resolved"
            tasks.append((kind, referentienummer, at, due.isoformat(), state, creditor))
    db.executemany(
        "INSERT INTO inbox (referentienummer, node_message_id, berichttype, module,"
        " conversation_id, afzender, raw, sha256, received_at, answer_due, status, attempts,"
        " duplicates, channel, creditor_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        inbox,
    )
    db.executemany(
        "INSERT INTO outbox (referentienummer, conversation_id, cross_referentienummer,"
        " berichttype, payload, created_at, status, channel, creditor_id, attempts)"
        " VALUES (?,?,?,?,?,?,?,?,?,1)",
        outbox,
    )
    db.executemany(
        "INSERT INTO holds (hold_id, hold_type, event, conversation_id, adapter, debtor_id,"
        " factuurnummers, measures, lift, basis, starts, ends, status, attempts, created_at,"
        " creditor_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        holds,
    )
    db.executemany(
        "INSERT INTO audit (at, event, conversation_id, referentienummer, detail, creditor_id,"
        " prev_hash, hash) VALUES (?,?,?,?,?,?,'','')",
        audit,
    )
    db.executemany(
        "INSERT INTO tasks (kind, referentienummer, reason, created_at, due, status, creditor_id)"
        " VALUES (?,?,'a task',?,?,?,?)",
        tasks,
    )
    quarantined = [
        (
            f"q{n}",
            raw[:1500],
            f"{n:064x}",
            "not XML",
            now.isoformat(),
            "open" if n < 3 * len(ids) else "resolved",
            ids[n % len(ids)],
        )
        for n in range(max(1, mix.messages // 100))
    ]
    db.executemany(
        "INSERT INTO quarantine (node_message_id, raw, sha256, reason, received_at, status,"
        " creditor_id, occurrences) VALUES (?,?,?,?,?,?,?,1)",
        quarantined,
    )
    db.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(f"last_poll@{c}" if c else "last_poll", now.isoformat()) for c in ids],
    )
    if mix.without_indexes:
        for index in ("ix_audit_backoffice_failures", "ix_inbox_pending", "ix_quarantine_status"):
            db.execute(f"DROP INDEX {index}")
    if mix.without_creditor_indexes:
        for statement in indexes_before_0013():
            db.execute(statement)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def indexes_before_0013() -> list[str]:
    """The SQL that puts the indexes back as migration 0012 left them (the store stays at
    revision 0013, so that the face reads it): 0013's own list of what it changed."""
    path = Path(__file__).parents[1] / "skn_connector/store/migrations/versions"
    spec = importlib.util.spec_from_file_location("m0013", path / "0013_creditor_indexes.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    statements = [f"DROP INDEX {name}" for name, _table, _columns in migration._ADDED]
    for name, table, before, _after, where in migration._WIDENED:
        condition = f" WHERE {where}" if where else ""
        statements.append(f"DROP INDEX {name}")
        statements.append(f"CREATE INDEX {name} ON {table} ({', '.join(before)}){condition}")
    statements.append("CREATE INDEX ix_holds_status ON holds (status)")
    return statements


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


def write_config(directory: Path, database: Path, port: int, creditors: Sequence[str] = ()) -> Path:
    """A configuration for the face: the store, a plain-http node that is never called; one
    creditor, or one ``[[creditors]]`` entry for each of ``creditors``."""
    config = directory / "skn-connector.toml"
    shared = f"""[store]
url = "sqlite:///{database}"

[http]
listen = "127.0.0.1:{port}"
"""
    if not creditors:
        body = f"""[node]
url = "http://127.0.0.1:9/skn"
participant_id = "{uuid.uuid4()}"

{shared}
[creditor]
name = "Benchmark"
kind = "overig"
  [creditor.contact]
  naam = "Team Invordering"

[[adapters]]
name = "none"
use = "gemeentebelastingen"
"""
    else:
        body = f"""[node]
url = "http://127.0.0.1:9/skn"

{shared}"""
        for number, creditor in enumerate(creditors):
            body += f"""
[[creditors]]
name = "Benchmark {number}"
participant_id = "{creditor}"
kind = "overig"
  [creditors.contact]
  naam = "Team Invordering"
  [[creditors.adapters]]
  name = "none"
  use = "gemeentebelastingen"
"""
    config.write_text(body, encoding="utf-8")
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(directory: Path, mix: Mix, repeat: int) -> list[Timing]:
    import httpx

    from skn_connector.config import load_deployment
    from skn_connector.http.face import AdapterChecks, Face, face_store
    from skn_connector.http.server import HttpServer
    from skn_connector.operations.status import status

    database = directory / "skn.db"
    fill(database, mix)
    port = free_port()
    every = load_deployment(write_config(directory, database, port, mix.creditor_ids)).creditors
    settings = every[0]

    def now() -> datetime:
        return datetime.now(UTC)

    def baseline() -> None:
        with sqlite3.connect(database) as db:
            db.execute("SELECT count(*) FROM inbox").fetchone()

    store = face_store(settings)
    face = Face(settings, store, lambda: True, AdapterChecks([]), every_creditor=every)

    def figures() -> None:
        # as the metrics read them: each creditor's in its scope
        for each in every:
            status(store.scoped(each.creditor_id) if mix.creditor_ids else store, each, now())

    timings = [
        timed("baseline: SELECT count(*) FROM inbox", baseline, repeat),
        timed("status(): the store's figures", figures, repeat),
    ]
    # long: with many creditors and without their indexes a scrape takes more than 10 s
    with HttpServer(face, ("127.0.0.1", port)), httpx.Client(timeout=300) as client:

        def scrape() -> None:
            response = client.get(f"http://127.0.0.1:{port}/metrics")
            response.raise_for_status()

        timings.append(timed("GET /metrics over HTTP", scrape, repeat))
    face.close()
    return timings


def report(mix: Mix, timings: Sequence[Timing], size_mb: float) -> list[str]:
    baseline = timings[0].median_ms
    spread = f" over {mix.creditors} creditors" if mix.creditors > 1 else ""
    lines = [
        f"store: {mix.messages} messages{spread} ({mix.pending} not yet worked),"
        f" {size_mb:.0f} MB SQLite file"
        f"{'; without the indexes of migration 0008' if mix.without_indexes else ''}"
        f"{'; without the indexes by creditor (0013)' if mix.without_creditor_indexes else ''}",
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
    parser.add_argument(
        "--creditors", type=int, default=1, help="spread the messages over this many creditors"
    )
    parser.add_argument(
        "--without-creditor-indexes",
        action="store_true",
        help="the indexes as before migration 0013 (without creditor_id)",
    )
    parser.add_argument("--json", action="store_true", help="the timings as JSON")
    args = parser.parse_args(argv)
    mix = Mix(
        args.messages,
        args.backlog,
        args.without_indexes,
        max(1, args.creditors),
        args.without_creditor_indexes,
    )
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
