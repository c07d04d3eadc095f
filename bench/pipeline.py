"""Pipeline benchmark (issue 6): the whole path at 1,000 to 100,000 messages, against its floor.

The connector runs as ``skn-connector demo`` does: a SQLite file store (WAL,
synchronous=FULL), the gemeentebelastingen reference adapter with its sample back-office, and
the connector's own ``run_once`` (poll -> intake -> confirm -> process -> carry out holds ->
deliver) until the messagebox and the outbox are empty. The simulated node runs in a process
of its own, reached over loopback with mutual TLS (as in production), on the other CPU: it is
the other party, so its CPU time and its memory are not the connector's. The backlog is a
realistic mix of Saldoverzoeken and KennisgevingenPubliek, for the sample's debtors (answered
with their claims; a hold is applied in the back-office) and for unknown debtors
(GeenMedewerking, no hold). It is put straight into the node's memory
(``NodeState.queue_raw``) before the clock starts.

Each size runs in a fresh subprocess, pinned to one CPU, so that sizes do not share memory or
caches. The same subprocess then measures the FLOOR: SQLite's rate for the same number of
durable transactions (same file settings, same schema, raw ``sqlite3``), each doing the writes
one message's path does in the store. Throughput is reported as a ratio to that floor.

Nothing about speed is asserted. Run ``python -m bench.pipeline --help``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from skn_connector.ids import new_id

#: Placeholders in a message template, replaced per message (same length as any UUID).
BERICHT_SLOT = "00000000-0000-4000-8000-0000000000b1"
CONVERSATIE_SLOT = "00000000-0000-4000-8000-0000000000c1"
DEFAULT_SIZES = (1_000, 10_000)


# -- the workload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One kind of message in the mix, as bytes with two UUID slots."""

    label: str
    berichttype: str
    known: bool
    payload: bytes


def kennisgeving_json(debtor_person: Any, address: dict[str, Any], number: int) -> dict[str, Any]:
    from skn_connector.demo import CREDITOR_ID, KREDIETBANK_ID

    return {
        "Berichtheader": {
            "Referentienummer": BERICHT_SLOT,
            "ConversatieReferentienummer": CONVERSATIE_SLOT,
            "Versie": "2.0",
            "Berichttype": "KennisgevingPubliek",
            "Module": "Schuldregeling",
            "Afzender": str(KREDIETBANK_ID),
            "Ontvanger": str(CREDITOR_ID),
            "Verzonden": "2026-11-27T09:30:00+01:00",
        },
        "Schuldhulpverlener": "Kredietbank Voorbeeldstad",
        "Contactpersoon": {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"},
        "KlantnummerSHV": f"KB{number:06d}",
        "Klant": debtor_person.as_klant(),
        "Adres": address,
        "DatumAanmelding": "2026-11-20",
    }


def templates(debtors: Sequence[Any]) -> list[Template]:
    """The mix: the demo's five Saldoverzoek situations (one unknown debtor) and four
    KennisgevingenPubliek (three sample debtors, one unknown): 7 of 9 get a hold."""
    from skn_connector.demo import saldoverzoek_json, scenarios
    from skn_connector.messages import message_from_json
    from skn_connector.wire.soap import encode_message

    def encoded(data: dict[str, Any]) -> bytes:
        header = data["Berichtheader"]
        header.update(
            Referentienummer=BERICHT_SLOT,
            ConversatieReferentienummer=CONVERSATIE_SLOT,
            Verzonden="2026-11-27T09:30:00+01:00",
        )
        data = {"Berichtheader": {k: header[k] for k in _HEADER_ORDER if k in header}, **data}
        return encode_message(message_from_json(data))

    out = []
    situations = scenarios(tuple(debtors))
    for number, scenario in enumerate(situations, start=1):
        out.append(
            Template(
                f"Saldoverzoek, {scenario.label}",
                "Saldoverzoek",
                scenario.label != "unknown debtor",
                encoded(saldoverzoek_json(scenario, number)),
            )
        )
    unknown = situations[-1]
    people = [(d.person, d.as_adres(), True) for d in debtors if d.partner is None][:3]
    people.append((unknown.person, unknown.address, False))
    for number, (person, address, known) in enumerate(people, start=len(out) + 1):
        label = "KennisgevingPubliek, " + ("sample debtor" if known else "unknown debtor")
        out.append(
            Template(
                label,
                "KennisgevingPubliek",
                known,
                encoded(kennisgeving_json(person, address, number)),
            )
        )
    return out


_HEADER_ORDER = (
    "Referentienummer",
    "ConversatieReferentienummer",
    "Versie",
    "Berichttype",
    "Module",
    "Afzender",
    "Ontvanger",
    "Verzonden",
)


def payloads(mix: Sequence[Template], count: int) -> Iterator[bytes]:
    """``count`` messages, cycling through the mix, each with its own Referentienummer and
    ConversatieReferentienummer (so each opens its own conversation)."""
    bericht, conversatie = BERICHT_SLOT.encode(), CONVERSATIE_SLOT.encode()
    for index in range(count):
        template = mix[index % len(mix)].payload
        yield template.replace(bericht, str(uuid.uuid4()).encode()).replace(
            conversatie, str(uuid.uuid4()).encode()
        )


# -- measuring memory -----------------------------------------------------------------------


def _status_kb(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """VmHWM (the peak resident set), or ru_maxrss where /proc is absent."""
    peak = _status_kb("VmHWM")
    if not peak:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024


class RssSampler:
    """Samples VmRSS every ``interval`` seconds in a thread (cheap: one small read)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_mb())


# -- one size, in a subprocess --------------------------------------------------------------


@dataclass
class Result:
    size: int
    seconds: float
    cpu_seconds: float
    rate: float
    floor_seconds: float
    floor_rate: float
    #: the floor's rate in its half before and its half after the pipeline ran
    floor_halves: tuple[float, float]
    hold_p50: float
    hold_p99: float
    hold_max: float
    answer_p50: float
    answer_p99: float
    holds: int
    answers: int
    rss_start: float
    rss_backlog: float
    rss_peak: float
    rss_end: float
    backlog_mb: float
    transactions: int
    adapter_seconds: float
    cpu: int | None
    load: tuple[float, float, float]
    timestamp_resolution_us: float
    #: answers sent a second in each tenth of the run
    tenths: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.rate / self.floor_rate


# -- the node, in its own process ----------------------------------------------------------


class NodeProcess:
    """The simulated node in a process of its own (on another CPU where there is one), with
    the backlog in its memory: the node is the other party, so neither its CPU time nor
    its memory is the connector's. The connector reaches it over loopback with mutual TLS."""

    def __init__(self, tls_dir: Path, mix: Sequence[Template], size: int, cpu: int | None):
        self.tls_dir = tls_dir
        self._args = (tls_dir, list(mix), size, cpu)
        self._context = multiprocessing.get_context("spawn")
        self._parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve_node, args=(child, *self._args), name="simulated-node", daemon=True
        )
        self.url = ""
        self.backlog_bytes = 0

    def __enter__(self) -> NodeProcess:
        self._process.start()
        if not self._parent.poll(600):
            raise RuntimeError("the simulated node did not start within 10 minutes")
        self.url, self.backlog_bytes = self._parent.recv()
        return self

    def stats(self) -> dict[str, int]:
        self._parent.send("stats")
        stats: dict[str, int] = self._parent.recv()
        return stats

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()


def _serve_node(
    connection: Any, tls_dir: Path, mix: list[Template], size: int, cpu: int | None
) -> None:
    from skn_connector.demo import CREDITOR_ID
    from skn_connector.node.simulator import NodeState, Simulator

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    simulator = Simulator(port=0, tls_dir=tls_dir)
    simulator.state = NodeState(keep_sent=False)
    backlog = 0
    for payload in payloads(mix, size):
        backlog += len(payload)
        simulator.state.queue_raw(CREDITOR_ID, payload)
    with simulator:
        connection.send((simulator.url, backlog))
        while (request := connection.recv()) != "stop":
            if request == "stats":
                connection.send(dict(simulator.state.stats()))


def node_cpu(connector_cpu: int | None) -> int | None:
    """Another CPU than the connector's, if the machine has one."""
    try:
        others = sorted(set(range(os.cpu_count() or 1)) - {connector_cpu})
    except TypeError:
        return None
    return others[-1] if others and connector_cpu is not None else None


def pin_to_one_cpu() -> int | None:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return cpus[-1]
    except (AttributeError, OSError):
        return None


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def tenths(db: Path, started: datetime) -> list[float]:
    """The rate (answers sent a second) in each tenth of the run, from outbox.sent_at (UTC)
    and the start of the run: the first and the last tenth show whether a message costs more
    late in a long run. (Answers sent in one call share their sent_at.)"""
    connection = sqlite3.connect(db)
    try:
        sent = [
            datetime.fromisoformat(row[0])
            for row in connection.execute("SELECT sent_at FROM outbox ORDER BY sent_at")
        ]
    finally:
        connection.close()
    step = len(sent) // 10
    if step < 1:
        return []
    bounds = [started.replace(tzinfo=None)] + [sent[(k + 1) * step - 1] for k in range(10)]
    rates = []
    for first, last in itertools.pairwise(bounds):
        span = (last - first).total_seconds()
        rates.append(step / span if span > 0 else float("nan"))
    return rates


def latencies(db: Path) -> tuple[list[float], list[float], float]:
    """Fetch-to-hold-applied and fetch-to-answer-written, in seconds, from the store's rows;
    and the finest timestamp step seen (µs). SQLite keeps the text the engine writes:
    microseconds."""
    connection = sqlite3.connect(db)
    try:
        answers = connection.execute(
            "SELECT i.received_at, o.created_at FROM inbox i "
            "JOIN outbox o ON o.cross_referentienummer = i.referentienummer"
        ).fetchall()
        holds = connection.execute(
            "SELECT i.received_at, h.applied_at FROM inbox i "
            "JOIN holds h ON h.conversation_id = i.conversation_id "
            "WHERE h.applied_at IS NOT NULL"
        ).fetchall()
    finally:
        connection.close()

    def seconds(pairs: list[tuple[str, str]]) -> list[float]:
        return [
            (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
            for a, b in pairs
        ]

    # the engine writes 'YYYY-MM-DD HH:MM:SS.ffffff': microseconds, always six digits
    texts = [text for pair in answers[:100] + holds[:100] for text in pair]
    micro = all(len(text) == 26 and text[19] == "." for text in texts)
    resolution = 1.0 if micro else 1e6
    return seconds(holds), seconds(answers), resolution


def run_size(
    size: int, workdir: Path, *, batch_size: int | None = None, cpu: int | None = None
) -> Result:
    """The whole path for ``size`` messages, between the two halves of the floor (as many
    durable transactions as messages). ``cpu``: the CPU the process is pinned to, if any."""
    from skn_connector.adapters.registry import resolve_adapter_class
    from skn_connector.config import load_settings
    from skn_connector.demo import write_config
    from skn_connector.service.daemon import run_once
    from skn_connector.service.wiring import connector

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(workdir / "backoffice")
    mix = templates(sample.debtors)
    # the floor runs in two halves, before and after the pipeline, so that a change in the
    # disk's speed during the run (a shared machine) weighs on both alike
    floor_db = workdir / "floor.db"
    floor_before = run_floor(size // 2, floor_db, mix[0].payload)
    notes: list[str] = []
    with NodeProcess(workdir / "tls", mix, size, node_cpu(cpu)) as node:
        settings = load_settings(write_config(workdir, node, sample.options))
        with connector(settings) as pipeline:
            if batch_size is not None:
                pipeline.batch_size = batch_size
            adapter_time = _time_adapters(pipeline)
            rss_start = rss_mb()
            backlog_bytes = node.backlog_bytes
            rss_backlog = rss_mb()
            transactions = _count_commits(pipeline.store.engine)
            cpu_before = _cpu_seconds()
            with RssSampler() as sampler:
                started_at = datetime.now(UTC)
                started = time.perf_counter()
                summary = run_once(pipeline, max_wait=30)
                elapsed = time.perf_counter() - started
            cpu_used = _cpu_seconds() - cpu_before
            rss_peak = max(peak_rss_mb(), *sampler.samples)
            rss_end = rss_mb()
            commits = transactions()
        stats = node.stats()
    if not summary.ok or summary.fetched != size or stats["sent"] != size:
        raise RuntimeError(
            f"the run did not complete: fetched {summary.fetched}, sent {stats['sent']}, "
            f"errors {summary.errors}, pending {summary.pending_inbox}/{summary.pending_outbox}"
        )
    holds, answers, resolution = latencies(workdir / "skn-connector.db")
    by_tenth = tenths(workdir / "skn-connector.db", started_at)
    expected_holds = sum(mix[i % len(mix)].known for i in range(size))
    if len(holds) != expected_holds or len(answers) != size:
        notes.append(f"expected {expected_holds} holds and {size} answers")
    load = os.getloadavg()
    floor_after = run_floor(size - size // 2, floor_db, mix[0].payload)
    floor_seconds = floor_before + floor_after
    return Result(
        size=size,
        seconds=elapsed,
        cpu_seconds=cpu_used,
        rate=size / elapsed,
        floor_seconds=floor_seconds,
        floor_rate=size / floor_seconds,
        floor_halves=(
            (size // 2) / floor_before if floor_before else float("nan"),
            (size - size // 2) / floor_after if floor_after else float("nan"),
        ),
        hold_p50=_percentile(holds, 0.5),
        hold_p99=_percentile(holds, 0.99),
        hold_max=max(holds, default=float("nan")),
        answer_p50=_percentile(answers, 0.5),
        answer_p99=_percentile(answers, 0.99),
        holds=len(holds),
        answers=len(answers),
        rss_start=rss_start,
        rss_backlog=rss_backlog,
        rss_peak=rss_peak,
        rss_end=rss_end,
        backlog_mb=backlog_bytes / 2**20,
        transactions=commits,
        adapter_seconds=adapter_time(),
        cpu=cpu,
        load=load,
        timestamp_resolution_us=resolution,
        tenths=by_tenth,
        notes=notes,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count_commits(engine: Any) -> Any:
    """Count the store's commits from now on; returns a function giving the count."""
    from sqlalchemy import event

    count = [0]

    def on_commit(_connection: Any) -> None:
        count[0] += 1

    event.listen(engine, "commit", on_commit)
    return lambda: count[0]


def _time_adapters(pipeline: Any) -> Any:
    """Wrap the adapters' methods to add up the time spent in the back-office."""
    spent = [0.0]
    for loaded in pipeline.adapters:
        adapter = loaded.adapter
        for name in (
            "find_debtor",
            "list_claims",
            "apply_hold",
            "release_hold",
            "apply_holds",
            "release_holds",
        ):
            original = getattr(adapter, name)

            def timed(*args: Any, _original: Any = original) -> Any:
                started = time.perf_counter()
                try:
                    return _original(*args)
                finally:
                    spent[0] += time.perf_counter() - started

            setattr(adapter, name, timed)
    return lambda: spent[0]


# -- the floor ------------------------------------------------------------------------------


def run_floor(size: int, path: Path, payload: bytes) -> float:
    """SQLite alone: ``size`` durable transactions, each doing what one message's path writes
    in the store (inbox row and its status, conversation, outbox row and its status, hold row
    and its status, four audit entries), on a file with the store's schema and pragmas."""
    from skn_connector.store import open_store
    from skn_connector.store.db import sqlite_pragmas

    if size < 1:
        return 0.0
    store = open_store(f"sqlite:///{path}")
    store.close()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        sqlite_pragmas(connection)  # the store's: WAL, FULL sync, page cache, checkpoints
        answer = payload + payload[: len(payload) // 2]  # an answer is about 1.5x the request
        now = datetime.now().isoformat(" ")
        today = date.today().isoformat()
        started = time.perf_counter()
        first = connection.execute("SELECT count(*) FROM inbox").fetchone()[0]
        for index in range(first, first + size):
            _floor_transaction(connection, index, payload, answer, now, today)
        return time.perf_counter() - started
    finally:
        connection.close()


def _floor_transaction(
    c: sqlite3.Connection, index: int, raw: bytes, answer: bytes, now: str, today: str
) -> None:
    # the node's ids are random; the ids the connector mints are time-ordered, as there
    bericht, conversation = str(uuid.uuid4()), str(uuid.uuid4())
    reply, hold = str(new_id()), str(new_id())
    audit = "INSERT INTO audit (at, event, conversation_id, referentienummer, detail, prev_hash,"
    audit += " hash) VALUES (?, ?, ?, ?, '{}', ?, ?)"
    digest = "0" * 64
    c.execute("BEGIN")
    c.execute(
        "INSERT INTO inbox (referentienummer, node_message_id, berichttype, module,"
        " conversation_id, afzender, raw, sha256, received_at, answer_due, status, attempts,"
        " duplicates, channel)"
        " VALUES (?, ?, 'Saldoverzoek', 'Schuldinventarisatie', ?, ?, ?, ?, ?, ?, 'pending',"
        " 0, 0, 'node')",
        (bericht, f"node-{index}", conversation, conversation, raw, digest, now, today),
    )
    c.execute(audit, (now, "received", conversation, bericht, digest, digest))
    c.execute(
        "INSERT INTO conversations (id, module, state, counterparty, klantnummer_se,"
        " debtor_ref, created_at, updated_at) VALUES (?, 'Schuldinventarisatie', 'AFGEROND',"
        " ?, '100001', 'belastingen:1', ?, ?)",
        (conversation, conversation, now, now),
    )
    c.execute(
        "INSERT INTO outbox (referentienummer, conversation_id, cross_referentienummer,"
        " berichttype, payload, created_at, status, attempts, channel)"
        " VALUES (?, ?, ?, 'SaldoverzoekAntwoord', ?, ?, 'pending', 0, 'node')",
        (reply, conversation, bericht, answer, now),
    )
    c.execute(
        "INSERT INTO holds (hold_id, hold_type, event, conversation_id, adapter, debtor_id,"
        " factuurnummers, measures, lift, basis, starts, ends, status, attempts, created_at)"
        " VALUES (?, 'H_COV_SALDO', 'E04', ?, 'belastingen', '1', '[\"2024.000001.01\"]',"
        " '[\"AANMANING\", \"DWANGBEVEL\"]', '[]', 'convenant', ?, ?, 'to_apply', 0, ?)",
        (hold, conversation, today, today, now),
    )
    c.execute(
        "UPDATE inbox SET status = 'done', processed_at = ? WHERE referentienummer = ?",
        (now, bericht),
    )
    c.execute(audit, (now, "processed", conversation, bericht, digest, digest))
    c.execute("UPDATE holds SET status = 'applied', applied_at = ? WHERE hold_id = ?", (now, hold))
    c.execute(audit, (now, "hold_applied", conversation, None, digest, digest))
    c.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ? WHERE referentienummer = ?", (now, reply)
    )
    c.execute(audit, (now, "delivered", conversation, reply, digest, digest))
    c.execute("COMMIT")


# -- the CLI's start-up ---------------------------------------------------------------------


def help_seconds(runs: int = 5) -> list[float]:
    """Wall time of ``skn-connector --help`` in a fresh process, ``runs`` times."""
    script = Path(sys.executable).parent / "skn-connector"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "skn_connector.cli"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*command, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


# -- report ---------------------------------------------------------------------------------


def machine() -> list[str]:
    from lxml import etree

    from bench.codec import _cpu_model

    def dotted(version: Sequence[int]) -> str:
        return ".".join(str(part) for part in version)

    return [
        f"platform: {platform.platform()}",
        f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores (the connector pinned to one, "
        "the node on another)",
        f"python: {platform.python_implementation()} {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {metadata.version('sqlalchemy')}, "
        f"lxml {dotted(etree.LXML_VERSION)}, httpx {metadata.version('httpx')}, "
        f"pydantic {metadata.version('pydantic')}",
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    results: Sequence[Result], help_times: Sequence[float], spread: dict[int, list[float]]
) -> list[str]:
    """The table, the details per size, the linearity and the targets of issue 6."""
    lines = [
        f"{'messages':>9}{'seconds':>9}{'msg/s':>8}{'floor/s':>9}{'ours/floor':>11}"
        f"{'hold p50':>10}{'hold p99':>10}{'answer p50':>11}{'answer p99':>11}"
        f"{'peak RSS':>10}",
    ]
    for r in results:
        lines.append(
            f"{r.size:>9}{r.seconds:>9.1f}{r.rate:>8.0f}{r.floor_rate:>9.0f}{r.ratio:>10.0%} "
            f"{r.hold_p50:>9.3f}s{r.hold_p99:>9.3f}s{r.answer_p50:>10.3f}s{r.answer_p99:>10.3f}s"
            f"{r.rss_peak:>8.0f}MB"
        )
    lines.append("")
    for r in results:
        own = r.seconds - r.adapter_seconds
        rounds = spread.get(r.size, [])
        lines += [
            f"{r.size} messages: {r.answers} answers, {r.holds} holds applied; "
            f"{r.transactions} store commits ({r.transactions / r.size:.2f} a message)"
            + (
                f"; rounds (msg/s): {' '.join(f'{x:.0f}' for x in rounds)}"
                if len(rounds) > 1
                else ""
            ),
            f"  back-office calls (find_debtor, list_claims, apply_holds): "
            f"{r.adapter_seconds:.1f} s"
            f" ({r.adapter_seconds / r.seconds:.0%}); the rest: {own:.1f} s, "
            f"{r.size / own:.0f} msg/s ({own / r.size * 1000:.2f} ms a message)",
            f"  floor: {r.floor_halves[0]:.0f} tx/s in the half before, "
            f"{r.floor_halves[1]:.0f} tx/s in the half after",
            f"  connector RSS: {r.rss_start:.0f} MB at the start, peak {r.rss_peak:.0f} MB, "
            f"end {r.rss_end:.0f} MB ({r.backlog_mb:.0f} MB of payloads waited in the node's "
            "own process)",
            f"  fetch to hold applied: p50 {r.hold_p50:.3f} s, p99 {r.hold_p99:.3f} s, "
            f"max {r.hold_max:.3f} s",
            f"  answers sent a second, by tenth of the run: "
            f"{' '.join(f'{t:.0f}' for t in r.tenths)}",
            f"  CPU {r.cpu_seconds:.1f} s ({r.cpu_seconds / r.seconds:.0%} of the wall time, "
            f"pinned to CPU {r.cpu}); load average {r.load[0]:.1f}"
            + (f"; NOTE {'; '.join(r.notes)}" if r.notes else ""),
        ]
    by_size = {r.size: r for r in results}
    base = by_size.get(1000)
    linear: list[tuple[int, float]] = []
    if base is not None:
        for r in results:
            if r.size > base.size:
                linear.append((r.size, r.seconds / base.seconds))
                lines.append(
                    f"cost: {r.size} messages take {r.seconds / base.seconds:.1f}x the time of "
                    f"1000 ({r.size // 1000}x the messages; at most {r.size // 1000 * 1.1:.0f}x)"
                )
    help_median = statistics.median(help_times)
    lines.append(
        f"skn-connector --help: median {help_median:.3f} s of {len(help_times)} runs "
        f"({' '.join(f'{t:.3f}' for t in help_times)})"
    )
    largest = max(results, key=lambda r: r.size)
    lines += [
        "",
        f"targets (issue 6), at {largest.size} messages:",
        f"  >= 1000 msg/s end to end, durable: {largest.rate:.0f} msg/s: "
        f"{_met(largest.rate >= 1000)}",
        f"  >= 30 % of the SQLite floor: {largest.ratio:.0%}: {_met(largest.ratio >= 0.3)}",
        f"  p99 fetch to hold applied < 1 s: {largest.hold_p99:.3f} s: "
        f"{_met(largest.hold_p99 < 1)}",
    ]
    if linear:
        size, factor = linear[-1]
        limit = size // 1000 * 1.1
        lines.append(
            f"  cost linear ({size} at most {limit:.0f}x 1000): {factor:.1f}x: "
            f"{_met(factor <= limit)}"
        )
    lines += [
        f"  peak RSS < 200 MB (the connector's process): {largest.rss_peak:.0f} MB: "
        f"{_met(largest.rss_peak < 200)}",
        f"  skn-connector --help < 0.3 s: {help_median:.3f} s: {_met(help_median < 0.3)}",
    ]
    return lines


def _child(size: int, batch_size: int | None) -> Result:
    cpu = pin_to_one_cpu()
    with tempfile.TemporaryDirectory(prefix="skn-bench-pipeline-") as tmp:
        return run_size(size, Path(tmp), batch_size=batch_size, cpu=cpu)


def run_in_subprocess(size: int, batch_size: int | None) -> Result:
    """One size in a fresh interpreter; its Result comes back as JSON on stdout."""
    command = [sys.executable, "-m", "bench.pipeline", "--child", str(size)]
    if batch_size is not None:
        command += ["--batch-size", str(batch_size)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the run of {size} messages failed:\n{done.stderr[-4000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["load"] = tuple(data["load"])
    data["floor_halves"] = tuple(data["floor_halves"])
    return Result(**data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description="Pipeline benchmark: the whole path at 1k/10k/100k messages (issue 6).",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated numbers of messages (default 1000,10000; the full run: "
        "--sizes 1000,10000,100000)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs per size, each in a fresh process; the median run is shown (default 1)",
    )
    parser.add_argument("--batch-size", type=int, help="node.batch_size (default: the config's)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(asdict(_child(args.child, args.batch_size))))
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas")
    if not sizes or min(sizes) < 1 or args.rounds < 1:
        parser.error("--sizes takes positive whole numbers and --rounds at least 1")
    print(
        "Pipeline benchmark: list -> fetch -> store (durable) -> confirm -> decide -> answer,"
        " state and hold (durable) -> hold applied at the back-office -> deliver, until empty"
    )
    print(*machine(), sep="\n")
    print(
        "mix: 5 Saldoverzoek situations and 4 KennisgevingPubliek (7 of 9 about sample "
        "debtors: answered with their claims and held; 2 unknown: GeenMedewerking); "
        f"node.batch_size {args.batch_size or 'default (250)'}; each size in a fresh process"
    )
    results = []
    spread: dict[int, list[float]] = {}
    for size in sizes:
        runs = []
        for _ in range(args.rounds):
            runs.append(run_in_subprocess(size, args.batch_size))
            print(f"... {size} messages: {runs[-1].rate:.0f} msg/s", file=sys.stderr, flush=True)
        runs.sort(key=lambda r: r.rate)
        results.append(runs[len(runs) // 2])
        spread[size] = [r.rate for r in runs]
    print()
    print("\n".join(report(results, help_seconds(), spread)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
