"""The fault-injection harness: a world to break, and a count of every effect end to end.

A ``World`` is the simulated node (mutual TLS), the gemeentebelastingen sample back-office
and a connector configuration (creditor kind gemeentebelastingen, covenant lokale_overheid,
so that a Kennisgeving holds enforcement (E03) and an answered Saldoverzoek too (E04)). It
injects questions, drives the connector (``skn-connector run --once`` as a subprocess, killed
by crash points or SIGKILL from outside) and, at the end, ``verdict()`` counts:

- answers: every question's conversation has exactly one answer in the node's ``sent`` list
  (none: lost; two with different Referentienummers: duplicated), of the right Berichttype;
- holds: every question about a debtor the back-office knows has exactly one hold row per
  adapter in the store (none: lost; more: duplicated); each was applied at the back-office
  (a row in its ``opschortingen`` table, by hold_id), and both sides end ``applied``, or
  ``released`` where a SchuldregelingBeeindigd ended the conversation; a hold at the
  back-office that the store does not know is a duplicated effect;
- leftovers: nothing in the messagebox, no inbox message other than ``done``, no outbox
  message other than ``sent``, no hold ``to_apply``/``to_release``/``failed``, nothing in
  quarantine, the audit chain unbroken.

Every table row a test makes is kept in ``ROWS``; ``conftest.py`` prints them at the end.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from skn_connector.adapters.api import SampleBackOffice, SampleDebtor
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import (
    CREDITOR_ID,
    KREDIETBANK_ID,
    Scenario,
    add_receive_mode,
    saldoverzoek_json,
    scenarios,
    write_config,
)
from skn_connector.engine.crashpoints import CRASH_EXIT, POINTS
from skn_connector.node.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "skn-connector")
#: The one adapter of the configuration (its name in the store's ``holds.adapter``).
ADAPTER = "belastingen"
#: Exit codes of a killed run: a crash point (os._exit) and SIGKILL from outside.
KILLED = {CRASH_EXIT, -signal.SIGKILL}

#: Every row a test printed, for the summary at the end of the session.
ROWS: list[Row] = []


# -- questions --------------------------------------------------------------------------------


@dataclass
class Question:
    """One conversation in which exactly one answer is expected."""

    conversation: str
    kind: str  # Saldoverzoek | Kennisgeving
    known: bool  # the back-office knows the debtor: one hold per adapter, a real answer
    debtor: SampleDebtor | None
    released: bool = False  # a SchuldregelingBeeindigd ended it: its hold must be released

    @property
    def answer_type(self) -> str:
        if not self.known:
            return "GeenMedewerking"
        return "KennisgevingAntwoord" if self.kind == "Kennisgeving" else "SaldoverzoekAntwoord"


def _header(berichttype: str, module: str, conversation: str, number: int) -> dict[str, Any]:
    return {
        "Berichttype": berichttype,
        "Module": module,
        "Versie": "2.0",
        "ConversatieReferentienummer": conversation,
        "Afzender": str(KREDIETBANK_ID),
        "Ontvanger": str(CREDITOR_ID),
    }


def kennisgeving_json(debtor: SampleDebtor, number: int) -> dict[str, Any]:
    """A Kennisgeving (module Schuldregeling) about a sample debtor, in a new conversation."""
    return {
        "Berichtheader": _header("Kennisgeving", "Schuldregeling", str(uuid.uuid4()), number),
        "Schuldhulpverlener": "Kredietbank Voorbeeldstad",
        "Contactpersoon": {"Naam": "T. Consulent", "Emailadres": "consulent@kredietbank.example"},
        "KlantnummerSHV": f"KB{number:06d}",
        "Klant": debtor.person.as_klant(),
        "Adres": debtor.as_adres(),
        "DatumAanmelding": "2026-01-05",
        "Vorderingen": [{"FactuurnummerSEVolgensSHV": debtor.factuurnummers[0]}],
    }


def beeindigd_json(question: Question, number: int) -> dict[str, Any]:
    """A SchuldregelingBeeindigd (ended early: release, no write-off) in ``question``'s
    conversation; it asks no answer."""
    assert question.debtor is not None
    return {
        "Berichtheader": _header(
            "SchuldregelingBeeindigd", "Schuldregeling", question.conversation, number
        ),
        "KlantnummerSHV": f"KB{number:06d}",
        "KlantnummerSE": question.debtor.klantnummer_se,
        "DatumBeeindiging": "2026-06-30",
        "Reden": "VOORTIJDIG_BEEINDIGD",
    }


# -- the verdict ------------------------------------------------------------------------------


@dataclass
class Verdict:
    answers_expected: int = 0
    answers_sent: int = 0
    holds_expected: int = 0
    holds_applied: int = 0
    releases_expected: int = 0
    releases_done: int = 0
    lost: int = 0
    duplicated: int = 0
    #: one line per problem found (lost, duplicated, wrong or left over), for the assertion
    problems: list[str] = field(default_factory=list)

    def _lose(self, count: int, what: str) -> None:
        self.lost += count
        self.problems.append(f"LOST {what}")

    def _duplicate(self, count: int, what: str) -> None:
        self.duplicated += count
        self.problems.append(f"DUPLICATED {what}")

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Row:
    tier: str
    scenario: str
    messages: int
    faults: str
    verdict: Verdict
    seconds: float

    HEADER = (
        "| tier | scenario | messages | kills / faults | answers expected/sent "
        "| holds expected/applied | releases expected/done | lost | duplicated | duration |"
    )
    RULE = "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"

    def markdown(self) -> str:
        v = self.verdict
        return (
            f"| {self.tier} | {self.scenario} | {self.messages} | {self.faults} "
            f"| {v.answers_expected}/{v.answers_sent} | {v.holds_expected}/{v.holds_applied} "
            f"| {v.releases_expected}/{v.releases_done} | {v.lost} | {v.duplicated} "
            f"| {self.seconds:.0f} s |"
        )


def report(row: Row) -> Row:
    """Keep and print the row (``-s`` shows it at once; the session summary always does)."""
    ROWS.append(row)
    print(f"\n{Row.HEADER}\n{Row.RULE}\n{row.markdown()}", flush=True)
    return row


# -- runs of the connector --------------------------------------------------------------------


SIGKILL = "SIGKILL"


@dataclass(frozen=True)
class Mode:
    """How one run of ``skn-connector run --once`` is to end: at a crash point (its name, or
    "*" for every point), or by SIGKILL from outside (label ``SIGKILL``) at a random time."""

    label: str


def crash_modes() -> list[Mode]:
    """Each named crash point in turn, then every point at random, then SIGKILL from outside."""
    return [*(Mode(point) for point in POINTS), Mode("*"), Mode(SIGKILL)]


class CrashOdds:
    """The probability given to each crash point, adapted run by run: doubled after a run the
    point did not end (it is passed too rarely), lowered after a kill (so that runs progress).
    How often a point is passed depends on the pipeline's batching, which may change; this
    keeps every point hit without tuning to it. Deterministic: no clock, no randomness."""

    def __init__(self, named: float = 0.2, anywhere: float = 0.02, sigkill: float = 4.0) -> None:
        self.odds = {point: named for point in POINTS}
        self.odds["*"] = anywhere
        #: SIGKILL comes after uniform(0.4, 1) times this many seconds; shortened after a run
        #: that ended before it (a run starts in about 1.5 s, then works)
        self.sigkill = sigkill

    def setting(self, label: str) -> str:
        return f"{label}={self.odds[label]:.4f}"

    def kill_delay(self, seed: int) -> float:
        return random.Random(seed).uniform(0.4, 1.0) * self.sigkill

    def observe(self, label: str, killed: bool) -> None:
        if label == SIGKILL:
            self.sigkill = min(30.0, self.sigkill * 1.1) if killed else self.sigkill * 0.7
            return
        odds = self.odds[label]
        self.odds[label] = max(0.002, odds * 0.8) if killed else min(1.0, odds * 2)


@dataclass
class RunLog:
    runs: int = 0
    clean: int = 0  # exit 0
    incomplete: int = 0  # exit 1: something still pending when the run gave up
    kills: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(self.kills.values())

    def describe(self) -> str:
        named = sum(n for label, n in self.kills.items() if label in POINTS)
        return (
            f"{self.killed} kills ({named} at named points, {self.kills['*']} at random "
            f"points, {self.kills['SIGKILL']} SIGKILL from outside) in {self.runs} runs"
        )

    def breakdown(self) -> str:
        """Kills per crash point, e.g. ``after_fetch 31, after_intake_commit 28, ...``."""
        return ", ".join(f"{label} {count}" for label, count in self.kills.items())


# -- the world --------------------------------------------------------------------------------


class World:
    """The node, the back-office, the configuration, the questions asked; see the module."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int = 1,
        batch_size: int = 25,
        read_timeout: float = 5.0,
        max_wait: float = 10.0,
        store_dir: Path | None = None,
        receive_port: int | None = None,
    ) -> None:
        """``receive_port``: receive mode; the node delivers to the connector's endpoint on
        127.0.0.1 at that port (retrying until acknowledged) instead of waiting to be
        fetched."""
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.seed = seed
        self.max_wait = max_wait
        self.backoffice: SampleBackOffice = resolve_adapter_class(
            "gemeentebelastingen"
        ).create_sample(workdir / "backoffice")
        self.backoffice_db = Path(
            str(self.backoffice.options["database_url"]).removeprefix("sqlite:///")
        )
        self.mix: list[Scenario] = scenarios(self.backoffice.debtors)
        push = f"https://127.0.0.1:{receive_port}/skn" if receive_port is not None else None
        self.simulator = Simulator(port=0, tls_dir=workdir / "tls", push=push).start()
        try:
            self.config = write_config(workdir, self.simulator, self.backoffice.options)
            if receive_port is not None:
                add_receive_mode(self.config, workdir / "tls", receive_port)
            text = self.config.read_text(encoding="utf-8")
            text = text.replace(
                'poll_interval = "1m"\n',
                f'poll_interval = "1m"\nbatch_size = {batch_size}\n'
                f"read_timeout = {read_timeout}\nconnect_timeout = {read_timeout}\n",
                1,
            )
            self.store_db = (store_dir or workdir) / "skn-connector.db"
            text = text.replace(
                f'url = "sqlite:///{workdir / "skn-connector.db"}"',
                f'url = "sqlite:///{self.store_db}"',
            )
            self.config.write_text(text, encoding="utf-8")
            self.admin = httpx.Client(base_url=self.simulator.admin_url, timeout=30)
        except BaseException:
            self.simulator.stop()
            raise
        self.questions: dict[str, Question] = {}
        self.messages = 0  # every message injected (questions and Beeindigd)
        self.log = RunLog()
        self.odds = CrashOdds()

    def close(self) -> None:
        self.admin.close()
        self.simulator.stop()

    def __enter__(self) -> World:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- asking ----------------------------------------------------------------------------

    def _post(self, message: dict[str, Any]) -> None:
        self.admin.post("/_admin/messages", json=message).raise_for_status()
        self.messages += 1

    def inject(self, count: int, *, kennisgeving_share: float = 0.25) -> list[Question]:
        """Queue ``count`` questions: Kennisgevingen about known debtors and Saldoverzoeken
        in the demo's mix (among them an unknown debtor, answered GeenMedewerking)."""
        asked = []
        for _ in range(count):
            number = self.messages + 1
            if self.rng.random() < kennisgeving_share:
                debtor = self.rng.choice(self.backoffice.debtors)
                message = kennisgeving_json(debtor, number)
                question = Question(
                    message["Berichtheader"]["ConversatieReferentienummer"],
                    "Kennisgeving",
                    True,
                    debtor,
                )
            else:
                scenario = self.rng.choice(self.mix)
                message = saldoverzoek_json(scenario, number)
                known = next(
                    (d for d in self.backoffice.debtors if d.person == scenario.person), None
                )
                question = Question(
                    message["Berichtheader"]["ConversatieReferentienummer"],
                    "Saldoverzoek",
                    known is not None,
                    known,
                )
            self._post(message)
            self.questions[question.conversation] = question
            asked.append(question)
        return asked

    def end_schuldregelingen(self, share: float) -> list[Question]:
        """Send SchuldregelingBeeindigd in ``share`` of the Kennisgeving conversations whose
        Kennisgeving was answered and that were not ended before (the release phase). Only
        answered ones: the table refuses a Kennisgeving after the end, and the node promises
        no order, so a test that sent both at once would test the SHV, not the connector."""
        answered = {
            m["Berichtheader"]["ConversatieReferentienummer"]
            for m in self.admin.get("/_admin/sent").json()
        }
        open_ones = [
            q
            for q in self.questions.values()
            if q.kind == "Kennisgeving"
            and q.known
            and not q.released
            and q.conversation in answered
        ]
        chosen = self.rng.sample(open_ones, round(len(open_ones) * share))
        for question in chosen:
            self._post(beeindigd_json(question, self.messages + 1))
            question.released = True
        return chosen

    def faults(self, **settings: Any) -> None:
        self.admin.post("/_admin/faults", json=settings).raise_for_status()

    # -- running ---------------------------------------------------------------------------

    def run_cli(self, mode: Mode | None = None, *, seed: int = 0) -> int:
        """One ``skn-connector run --once``, ended as ``mode`` says; returns its exit code."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("SKN_CRASHPOINTS", None)
        if mode is not None and mode.label != SIGKILL:
            env["SKN_CRASHPOINTS"] = self.odds.setting(mode.label)
            env["SKN_CRASH_SEED"] = str(seed)
        command = [CLI, "run", "--once", "--config", str(self.config)]
        command += ["--max-wait", str(self.max_wait)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        limit = None
        if mode is not None and mode.label == SIGKILL:
            limit = self.odds.kill_delay(seed)
        try:
            _, stderr = process.communicate(timeout=limit if limit is not None else 600)
        except subprocess.TimeoutExpired:
            if limit is None:
                process.kill()
                process.communicate()
                raise
            process.send_signal(signal.SIGKILL)
            _, stderr = process.communicate()
        code = process.returncode
        self.log.runs += 1
        if mode is not None:
            self.odds.observe(mode.label, code in KILLED)
        if code in KILLED:
            self.log.kills[mode.label if mode is not None else "?"] += 1
        elif code == 0:
            self.log.clean += 1
        elif code == 1:
            self.log.incomplete += 1
        else:
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            self.log.errors.append(f"exit {code}: {tail}")
        return code

    def drive(
        self,
        modes: Sequence[Mode | None],
        *,
        until: Callable[[], bool],
        before_each: Callable[[int], object] | None = None,
        max_runs: int = 5000,
        start_seed: int = 0,
    ) -> None:
        """Run the connector again and again, cycling through ``modes`` (None: a run nothing
        ends early), calling ``before_each(index)`` first (to ask more), until ``until()``."""
        index = 0
        while not until():
            if self.log.runs >= max_runs:
                raise AssertionError(
                    f"not done after {self.log.runs} runs: {self.backlog()}; "
                    f"errors: {self.log.errors[-3:]}"
                )
            if before_each is not None:
                before_each(index)
            self.run_cli(modes[index % len(modes)], seed=start_seed + index)
            index += 1
            if self.log.runs % 50 == 0:  # progress, for ``pytest -s`` on a long run
                print(f"  {self.messages} messages, {self.log.describe()}", flush=True)

    def finish(self, *, max_runs: int = 5000) -> None:
        """Runs that nothing ends early, until every question is answered and every effect
        carried out."""
        self.drive([None], until=self.done, max_runs=max_runs)

    # -- looking ---------------------------------------------------------------------------

    def _store(self) -> sqlite3.Connection | None:
        if not self.store_db.exists():
            return None
        return sqlite3.connect(f"file:{self.store_db}?mode=ro", uri=True, timeout=30)

    def backlog(self) -> dict[str, int]:
        """What is still to do: in the messagebox, the inbox, the outbox, holds."""
        waiting = len(self.admin.get("/_admin/messagebox").json())
        counts = {"messagebox": waiting, "inbox": 0, "outbox": 0, "holds": 0}
        db = self._store()
        if db is None:
            counts["inbox"] = -1  # nothing stored yet
            return counts
        with db:
            try:
                counts["inbox"] = db.execute(
                    "SELECT count(*) FROM inbox WHERE status = 'pending'"
                ).fetchone()[0]
                counts["outbox"] = db.execute(
                    "SELECT count(*) FROM outbox WHERE status = 'pending'"
                ).fetchone()[0]
                counts["holds"] = db.execute(
                    "SELECT count(*) FROM holds WHERE status IN ('to_apply', 'to_release')"
                ).fetchone()[0]
            except sqlite3.OperationalError:  # killed before the schema was made
                counts["inbox"] = -1
        db.close()
        return counts

    def done(self) -> bool:
        return not any(self.backlog().values())

    def verdict(self) -> Verdict:
        """Count every effect end to end; see the module's docstring."""
        v = Verdict()
        sent = self.admin.get("/_admin/sent").json()
        waiting = self.admin.get("/_admin/messagebox").json()
        answers: dict[str, list[str]] = {}
        for message in sent:
            header = message["Berichtheader"]
            answers.setdefault(header["ConversatieReferentienummer"], []).append(
                header["Berichttype"]
            )
        db = self._store()
        assert db is not None, "the connector never created its store"
        with db:
            holds: dict[str, list[tuple[str, str, str]]] = {}
            for hold_id, conversation, adapter, status in db.execute(
                "SELECT hold_id, conversation_id, adapter, status FROM holds"
            ):
                holds.setdefault(conversation, []).append((hold_id, adapter, status))
            inbox = Counter(
                dict(db.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
            )
            outbox = Counter(
                dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
            )
            quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
            chain = db.execute("SELECT prev_hash, hash FROM audit ORDER BY id").fetchall()
        db.close()
        with sqlite3.connect(f"file:{self.backoffice_db}?mode=ro", uri=True) as bo:
            at_backoffice = dict(bo.execute("SELECT hold_id, status FROM opschortingen"))
        bo.close()

        for question in self.questions.values():
            got = answers.get(question.conversation, [])
            v.answers_expected += 1
            v.answers_sent += min(len(got), 1)
            if not got:
                v._lose(1, f"answer: {question.kind} in {question.conversation}")
            elif len(got) > 1:
                v._duplicate(len(got) - 1, f"answer: {got} in {question.conversation}")
            elif got[0] != question.answer_type:
                v.problems.append(
                    f"WRONG answer {got[0]} (expected {question.answer_type}) "
                    f"in {question.conversation}"
                )
            rows = holds.get(question.conversation, [])
            expected = 1 if question.known else 0
            v.holds_expected += expected
            per_adapter = Counter(adapter for _, adapter, _ in rows)
            if per_adapter[ADAPTER] < expected:
                v._lose(expected, f"hold: none planned in {question.conversation}")
            if per_adapter[ADAPTER] > expected or set(per_adapter) - {ADAPTER}:
                v._duplicate(
                    len(rows) - expected, f"hold: {len(rows)} rows in {question.conversation}"
                )
            final = "released" if question.released else "applied"
            if question.released and question.known:
                v.releases_expected += 1
            for hold_id, _, status in rows:
                there = at_backoffice.get(hold_id)
                if there is not None:
                    v.holds_applied += 1
                if there is None:
                    v._lose(1, f"hold {hold_id}: never applied at the back-office ({status})")
                elif status != final or there != final:
                    v._lose(
                        1,
                        f"hold {hold_id}: {final} expected, store {status}, back-office {there}",
                    )
                elif final == "released":
                    v.releases_done += 1
        for conversation, got in answers.items():
            if conversation not in self.questions:
                v._duplicate(len(got), f"answer {got} in a conversation nobody asked about")
        for conversation, rows in holds.items():
            if conversation not in self.questions:
                v._duplicate(len(rows), f"hold in conversation {conversation} nobody asked about")
        in_store = {hold_id for rows in holds.values() for hold_id, _, _ in rows}
        orphans = set(at_backoffice) - in_store
        if orphans:
            v._duplicate(len(orphans), f"{len(orphans)} holds at the back-office the store lacks")

        if waiting:
            v.problems.append(f"LEFT {len(waiting)} messages in the messagebox")
        if set(inbox) - {"done"}:
            v.problems.append(f"LEFT inbox statuses {dict(inbox)}")
        if set(outbox) - {"sent"}:
            v.problems.append(f"LEFT outbox statuses {dict(outbox)}")
        if inbox["done"] != self.messages:
            v.problems.append(f"inbox holds {inbox['done']} messages, {self.messages} were sent")
        if quarantined:
            v.problems.append(f"{quarantined} messages in quarantine")
        for (_, previous), (prev_hash, _) in itertools.pairwise(chain):
            if prev_hash != previous:
                v.problems.append("the audit chain is broken")
                break
        return v


def timed() -> Callable[[], float]:
    started = time.monotonic()
    return lambda: time.monotonic() - started
