"""Console benchmark: each page's server time with 100,000 messages and 10,000 holds.

The store is a SQLite file (WAL, the connector's own settings and migrations) filled straight
through SQL with a year of a creditor's work: ``--messages`` received messages of the
catalog's incoming types (real encoded messages, 2 to 3 KB each, so that a page that decodes
one decodes a real one and a query that reads the table instead of an index shows it), their
answers, one conversation each (KlantnummerSE spread over a fifth as many debtors),
``--holds`` holds on enforcement in every state, tasks (most resolved, some open proposals
waiting for a person), the audit trail (four entries a message, a person's actions among
them), quarantined messages and one console account.

The console is served by uvicorn on a loopback port (the HTTP face with the console, as the
daemon and ``skn-connector console`` serve it); a logged-in client asks each page
``--repeat`` times after one warm-up. The server time is the request's round trip on
loopback: the session check, the operations' reads, the template, the response. The median,
the 95th percentile and the slowest are printed per page, and whether the 95th percentile is
under ``--budget`` ms (200). Run ``python -m bench.console --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
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
from typing import Any

from bench.scrape import free_port, machine
from skn_connector.ids import new_id

PASSWORD = "benchmark password"
#: (Berichttype, module, share of the messages)
INCOMING = (
    ("Saldoverzoek", "Schuldregeling", 0.55),
    ("Kennisgeving", "Schuldregeling", 0.2),
    ("Betaalvoorstel", "Schuldregeling", 0.15),
    ("StatusberichtSHV", "Schuldregeling", 0.06),
    ("Heroverweging", "Schuldregeling", 0.04),
)
ANSWER = {
    "Saldoverzoek": "SaldoverzoekAntwoord",
    "Kennisgeving": "KennisgevingAntwoord",
    "Betaalvoorstel": "BetaalvoorstelAntwoord",
    "Heroverweging": "BetaalvoorstelAntwoord",
}
HOLD_STATES = (("applied", 0.8), ("released", 0.15), ("to_apply", 0.03), ("failed", 0.02))
TASK_KINDS = ("deadline", "processing_failed", "beoordeling", "hold_not_applied", "wsnp_einde")


#: The indexes migration 0009 adds for the console's pages (``--without-indexes`` drops them).
CONSOLE_INDEXES = (
    "ix_conversations_klantnummer_se",
    "ix_inbox_berichttype",
    "ix_inbox_received_at",
    "ix_outbox_berichttype",
    "ix_outbox_created_at",
    "ix_tasks_kind_status",
    "ix_audit_actions",
)


@dataclass(frozen=True)
class Mix:
    messages: int = 100_000
    holds: int = 10_000
    without_indexes: bool = False

    @property
    def debtors(self) -> int:
        return max(1, self.messages // 5)


def _templates() -> dict[str, bytes]:
    """One real encoded message per type (the catalog's factories in tests/ are not used:
    the benchmark builds its own few)."""
    from skn_connector.messages import message_from_json
    from skn_connector.wire.soap import encode_message

    def header(kind: str, sender: str, receiver: str) -> dict[str, Any]:
        return {
            "Referentienummer": str(uuid.uuid4()),
            "ConversatieReferentienummer": str(uuid.uuid4()),
            "Versie": "2.0",
            "Berichttype": kind,
            "Module": "Schuldregeling",
            "Afzender": sender,
            "Ontvanger": receiver,
            "Verzonden": "2026-11-27T09:30:00+01:00",
        }

    shv, se = str(uuid.uuid4()), str(uuid.uuid4())
    klant = {
        "Geslacht": "V",
        "Voorletters": "T.",
        "Voornamen": "Tessa",
        "Achternaam": "Testpersoon-Voorbeeld",
        "Geboortedatum": "1980-02-29",
        "Bsn": "123456782",
    }
    adres = {
        "Straatnaam": "Proefstraat",
        "Huisnummer": 12,
        "Postcode": "1234AB",
        "Woonplaats": "Teststad",
    }
    contact = {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"}
    claims = [{"FactuurnummerSEVolgensSHV": f"2025.{n:06d}.01"} for n in range(1, 6)]
    proposal_claims = [
        {
            "FactuurnummerSE": "2025.000001.01",
            "ActueelVorderingsbedrag": "1234.50",
            "Afkooppercentage": "12.50",
            "PrognoseEindbedrag": "154.31",
        }
    ]
    documents: dict[str, dict[str, Any]] = {
        "Saldoverzoek": {
            "Berichtheader": header("Saldoverzoek", shv, se),
            "Schuldhulpverlener": "Kredietbank Teststad",
            "Contactpersoon": contact,
            "KlantnummerSHV": "KB000001",
            "Klant": klant,
            "Adres": adres,
            "Vorderingen": claims,
        },
        "Kennisgeving": {
            "Berichtheader": header("Kennisgeving", shv, se),
            "Schuldhulpverlener": "Kredietbank Teststad",
            "Contactpersoon": contact,
            "KlantnummerSHV": "KB000001",
            "Klant": {k: v for k, v in klant.items() if k != "Bsn"},
            "Adres": adres,
            "DatumAanmelding": "2026-11-20",
            "Vorderingen": claims,
        },
        "Betaalvoorstel": {
            "Berichtheader": header("Betaalvoorstel", shv, se),
            "KlantnummerSHV": "KB000001",
            "KlantnummerSE": "SE-778899",
            "TypeSchuldregeling": "SB",
            "Looptijd": 36,
            "DatumEersteBetaling": "2027-01-01",
            "Vorderingen": proposal_claims,
        },
        "Heroverweging": {
            "Berichtheader": header("Heroverweging", shv, se),
            "KlantnummerSHV": "KB000001",
            "KlantnummerSE": "SE-778899",
            "TypeSchuldregeling": "SB",
            "Looptijd": 18,
            "DatumEersteBetaling": "2027-01-01",
            "Vorderingen": proposal_claims,
            "Toelichting": "Alle andere schuldeisers zijn akkoord.",
        },
        "StatusberichtSHV": {
            "Berichtheader": header("StatusberichtSHV", shv, se),
            "KlantnummerSHV": "KB000001",
            "Status": "Saldi worden verzameld",
        },
        "SaldoverzoekAntwoord": {
            "Berichtheader": header("SaldoverzoekAntwoord", se, shv),
            "KlantnummerSE": "SE-778899",
            "Contactpersoon": {"Naam": "S. Invordering", "Telefoonnummer": "+31 30 1234567"},
            "KlantOnbekend": False,
            "StandaardAkkoord": False,
            "Datum": "2026-11-30",
            "Vorderingen": [
                {
                    "Schuldtype": "openstaande schuld",
                    "FactuurnummerSEVolgensSHV": "2025.000001.01",
                    "FactuurnummerSE": "2025.000001.01",
                    "Openstaand": "1234.50",
                }
            ],
        },
        "KennisgevingAntwoord": {
            "Berichtheader": header("KennisgevingAntwoord", se, shv),
            "Contactpersoon": {"Naam": "S. Invordering", "Telefoonnummer": "+31 30 1234567"},
            "Antwoord": "ONTVANGEN",
            "KlantnummerSE": "SE-778899",
            "Factuurnummers": ["2025.000001.01"],
        },
        "BetaalvoorstelAntwoord": {
            "Berichtheader": header("BetaalvoorstelAntwoord", se, shv),
            "KlantnummerSE": "SE-778899",
            "Contactpersoon": {"Naam": "S. Invordering", "Telefoonnummer": "+31 30 1234567"},
            "Antwoord": "NIET_AKKOORD",
            "Reden": "Het afkooppercentage is te laag.",
        },
    }
    return {kind: encode_message(message_from_json(doc)) for kind, doc in documents.items()}


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, ...]]) -> Any:
    roll, total = rng.random(), 0.0
    for item in weighted:
        total += item[-1]
        if roll <= total:
            return item
    return weighted[-1]


def fill(path: Path, mix: Mix, *, seed: int = 11) -> dict[str, Any]:
    """Write the store at ``path`` (migrated by the connector, then filled with raw SQL);
    returns what the pages ask for (a task, a conversation, a debtor, a quarantined one)."""
    from skn_connector.actor import Actor
    from skn_connector.operations.accounts import add_account
    from skn_connector.store import open_store
    from skn_connector.store.status import AccountRole

    store = open_store(f"sqlite:///{path}")
    add_account(store, "beheerder", AccountRole.ADMIN, PASSWORD, actor=Actor.on_the_console("b"))
    store.close()
    templates = _templates()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # filling, not measuring
    inbox, outbox, conversations, audit, tasks = [], [], [], [], []
    picked: dict[str, Any] = {}
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    for number in range(mix.messages):
        received = start + timedelta(seconds=number * 365 * 86400 / mix.messages)
        at = received.strftime(stamp)
        kind, module, _ = _pick(rng, INCOMING)
        referentienummer, conversation = str(uuid.uuid4()), str(uuid.uuid4())
        klantnummer = f"K{rng.randrange(mix.debtors):06d}"
        status = "done"
        if number % 500 == 250:
            status = "failed"
        elif number >= mix.messages - 200:
            status = "pending"
        due = (received + timedelta(days=14)).date().isoformat()
        inbox.append(
            (referentienummer, str(rng.getrandbits(32)), kind, module, conversation,
             str(uuid.uuid4()), templates[kind], f"{number:064x}", at, due, status, 0, 0, "node")
        )  # fmt: skip
        conversations.append(
            (conversation, module, "SALDO_OPGEGEVEN", str(uuid.uuid4()), klantnummer,
             f"belastingen:D{klantnummer}", at, at)
        )  # fmt: skip
        audit.append((at, "received", conversation, referentienummer, '{"berichttype": "x"}'))
        answer_kind = ANSWER.get(kind)
        if status == "done" and answer_kind is not None:
            answer = str(new_id())
            outbox.append(
                (answer, conversation, referentienummer, answer_kind, templates[answer_kind], at,
                 "sent", "node")
            )  # fmt: skip
            audit.append((at, "processed", conversation, referentienummer, '{"answer": "x"}'))
            audit.append((at, "delivered", conversation, answer, "{}"))
        if number % 40 == 0:
            task_kind = TASK_KINDS[(number // 40) % len(TASK_KINDS)]
            state = "open" if number % 400 == 0 else "resolved"
            if task_kind == "beoordeling" and kind not in ("Betaalvoorstel", "Heroverweging"):
                task_kind = "deadline"
            tasks.append(
                (task_kind, conversation, referentienummer, "a task for a person", at, due, state)
            )
            if state == "resolved":
                detail = json.dumps(
                    {"actor": {"name": "beheerder", "via": "console"}, "choice": "done",
                     "kind": task_kind, "note": False, "task": len(tasks)},
                    sort_keys=True,
                )  # fmt: skip
                audit.append((at, "task_resolved", conversation, referentienummer, detail))
            if kind == "Betaalvoorstel" and state == "open":
                picked.setdefault("task_index", len(tasks))
        if number == mix.messages // 2:
            picked["conversation"] = conversation
    holds = []
    for number in range(mix.holds):
        conversation, _, _, _, klantnummer, debtor, at, _ = conversations[
            (number * 7919) % len(conversations)
        ]
        starts = datetime.strptime(at, stamp).date()
        state = _pick(rng, HOLD_STATES)[0]
        holds.append(
            (str(new_id()), rng.choice(("H_COV_SALDO", "H_COV_KG", "H_PROPOSAL", "H_REGELING")),
             rng.choice(("E03", "E04", "E07", "E06")), conversation, "belastingen", debtor,
             json.dumps([f"2025.{number % 999:06d}.01", f"2025.{number % 997:06d}.02"]),
             json.dumps(["AANMANING", "DWANGBEVEL", "BESLAG_LOON", "RENTE"]), "[]", "convenant",
             starts.isoformat(), (starts + timedelta(days=240)).isoformat(), state, 0, at)
        )  # fmt: skip
        audit.append((at, "hold_applied", conversation, None, "{}"))
        picked.setdefault("klantnummer", klantnummer)
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
        "INSERT INTO conversations (id, module, state, counterparty, klantnummer_se, debtor_ref,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        conversations,
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
        sorted(audit, key=lambda entry: entry[0]),
    )
    db.executemany(
        "INSERT INTO tasks (kind, conversation_id, referentienummer, reason, created_at, due,"
        " status) VALUES (?,?,?,?,?,?,?)",
        tasks,
    )
    quarantined = [
        (f"q{n}", b"<not-a-message/>" * 100, f"{n:064x}", "not XML", now.isoformat(), "resolved")
        for n in range(max(1, mix.messages // 100))
    ]
    quarantined[:3] = [(*row[:5], "open") for row in quarantined[:3]]
    db.executemany(
        "INSERT INTO quarantine (node_message_id, raw, sha256, reason, received_at, status,"
        " occurrences) VALUES (?,?,?,?,?,?,1)",
        quarantined,
    )
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_poll', ?)", (now.isoformat(),)
    )
    if mix.without_indexes:
        for index in CONSOLE_INDEXES:
            db.execute(f"DROP INDEX {index}")
    db.commit()
    picked["task"] = picked.get("task_index", 1)
    picked["quarantine"] = 1
    picked["busy_day"] = (start + timedelta(days=200)).date().isoformat()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return picked


def write_config(directory: Path, database: Path, port: int) -> Path:
    config = directory / "skn-connector.toml"
    config.write_text(
        f"""[node]
url = "http://127.0.0.1:9/skn"
participant_id = "{uuid.uuid4()}"

[store]
url = "sqlite:///{database}"

[creditor]
name = "Benchmark"
kind = "gemeentebelastingen"
covenant = "lokale_overheid"
  [creditor.contact]
  naam = "Team Invordering"

[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
  database_url = "sqlite:///{directory / "bo.db"}"

[http]
listen = "127.0.0.1:{port}"

[console]
enabled = true
""",
        encoding="utf-8",
    )
    return config


def pages(picked: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, path) of every page measured: each page of the console, and its filters."""
    day = picked["busy_day"]
    return [
        ("Overzicht", "/"),
        ("Taken", "/taken"),
        ("Taken: resolved, by kind", "/taken?status=resolved&soort=deadline"),
        ("Taken: overdue", "/taken?status=&termijn=overdue"),
        ("Taak (a proposal)", f"/taken/{picked['task']}"),
        ("Opschortingen", "/opschortingen"),
        ("Opschortingen: page 20", "/opschortingen?pagina=20"),
        ("Opschortingen of a debtor", f"/opschortingen?klantnummer={picked['klantnummer']}"),
        ("Berichten", "/berichten"),
        ("Berichten: by type", "/berichten?type=Heroverweging"),
        ("Berichten: by type and state", "/berichten?type=Betaalvoorstel&status=done"),
        ("Berichten: one day", f"/berichten?van={day}&tot={day}"),
        ("Berichten: from a day on", f"/berichten?van={day}"),
        ("Berichten: page 10", "/berichten?pagina=10"),
        ("Berichten: a conversation", f"/berichten?gesprek={picked['conversation']}"),
        ("Gesprek", f"/gesprekken/{picked['conversation']}"),
        ("Quarantaine", "/quarantaine"),
        ("Quarantaine: all", "/quarantaine?status="),
        ("Quarantainebericht", f"/quarantaine/{picked['quarantine']}"),
        ("Audit", "/audit"),
        ("Audit: by person", "/audit?persoon=beheerder"),
        ("Audit: by date", f"/audit?tot={day}"),
        ("Audit: by person and date", f"/audit?persoon=beheerder&van={day}&tot={day}"),
        ("Beleid", "/beleid"),
    ]


@dataclass(frozen=True)
class Timing:
    name: str
    path: str
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000

    @property
    def slowest_ms(self) -> float:
        return max(self.seconds) * 1000


def measure(directory: Path, mix: Mix, repeat: int) -> tuple[list[Timing], float]:
    import httpx

    from skn_connector.config import load_settings
    from skn_connector.http.console import Console
    from skn_connector.http.face import AdapterChecks, Face, face_store
    from skn_connector.http.server import HttpServer

    database = directory / "skn.db"
    picked = fill(database, mix)
    size = database.stat().st_size / 2**20
    port = free_port()
    settings = load_settings(write_config(directory, database, port))
    face = Face(settings, face_store(settings), lambda: True, AdapterChecks([]))
    console = Console(settings)
    timings: list[Timing] = []
    url = f"http://127.0.0.1:{port}"
    with (
        HttpServer(face, ("127.0.0.1", port), console),
        httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client,
    ):
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        done = client.post(
            "/login",
            data={"csrf_token": token.group(1), "username": "beheerder", "password": PASSWORD},
        )
        assert done.status_code == 303, done.text
        for name, path in pages(picked):
            timings.append(_timed(client, name, path, repeat))
        with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as anonymous:
            timings.append(_timed(anonymous, "Login (no session)", "/login", repeat))
    console.close()
    face.close()
    return timings, size


def _timed(client: Any, name: str, path: str, repeat: int) -> Timing:
    def ask() -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

    ask()  # warm-up: the first run reads the file into the operating system's cache
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        ask()
        seconds.append(time.perf_counter() - started)
    return Timing(name, path, seconds)


def report(mix: Mix, timings: Sequence[Timing], size_mb: float, budget_ms: float) -> list[str]:
    lines = [
        f"store: {mix.messages} messages, {mix.holds} holds, {mix.debtors} debtors, "
        f"{size_mb:.0f} MB SQLite file"
        + ("; without the indexes of migration 0009" if mix.without_indexes else ""),
        f"{'page':<34} {'median ms':>10} {'p95 ms':>8} {'slowest ms':>11}"
        f"  p95 < {budget_ms:.0f} ms",
    ]
    for timing in timings:
        verdict = "yes" if timing.p95_ms < budget_ms else "NO"
        lines.append(
            f"{timing.name:<34} {timing.median_ms:>10.1f} {timing.p95_ms:>8.1f}"
            f" {timing.slowest_ms:>11.1f}  {verdict}"
        )
    return lines


def main(argv: Sequence[str] | None = None, *, out: Callable[..., None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--holds", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--budget", type=float, default=200.0, help="p95 per page, ms")
    parser.add_argument(
        "--without-indexes",
        action="store_true",
        help="drop the indexes migration 0009 adds for the console",
    )
    parser.add_argument("--json", action="store_true", help="the timings as JSON")
    args = parser.parse_args(argv)
    mix = Mix(args.messages, args.holds, args.without_indexes)
    with tempfile.TemporaryDirectory(prefix="skn-console-") as folder:
        timings, size = measure(Path(folder), mix, args.repeat)
    if args.json:
        out(
            json.dumps(
                {
                    t.name: {"path": t.path, "median_ms": t.median_ms, "p95_ms": t.p95_ms}
                    for t in timings
                }
            )
        )
    else:
        out(*machine(), sep="\n")
        out(*report(mix, timings, size, args.budget), sep="\n")
    return 0 if all(t.p95_ms < args.budget for t in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
