"""The hardening defects: what a poisoned answer, a buggy adapter, a stop and a curious user
did to the connector, each reproduced over real sockets against the simulated node.

Each test names its defect (docs/reliability.md, "Hardening"). The fault is real where it
can be: a back-office value XML cannot carry, a daemon stopped with SIGTERM while a node call
is slow; a bug in recording a decision is planted by replacing one method.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from skn_connector.actor import Actor
from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import write_config
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import Jobs, Standby, run_once
from skn_connector.service.wiring import connector
from skn_connector.store.lease import StoreLease
from skn_connector.store.schema import AuditEntry, InboxMessage, Task

from . import factories as f
from .test_conversations import about, new_conversation

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
#: the sample debtor whose transferred claim names its bailiff with a vertical tab
POISONED = "100005"
POISON = "Deurwaarderskantoor\x0bNoord"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        check=False,
    )


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


@dataclass
class World:
    workdir: Path
    node: Simulator
    admin: httpx.Client
    sample: SampleBackOffice
    config: Path

    @property
    def store(self) -> Path:
        return self.workdir / "skn-connector.db"

    @property
    def backoffice(self) -> Path:
        return Path(self.sample.options["database_url"].removeprefix("sqlite:///"))

    def debtor(self, klantnummer: str) -> Any:
        return next(d for d in self.sample.debtors if d.klantnummer_se == klantnummer)

    def queue(self, message: dict[str, Any]) -> str:
        response = self.admin.post("/_admin/messages", json=message)
        assert response.status_code == 201, response.text
        return str(response.json()["Referentienummer"])

    def sent(self) -> list[dict[str, Any]]:
        return list(self.admin.get("/_admin/sent").json())

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.store) as db:
            return db.execute(sql, args).fetchall()

    def backoffice_holds(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.backoffice) as db:
            return db.execute("SELECT hold_id, status FROM opschortingen").fetchall()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        config.write_text(
            config.read_text().replace(
                'poll_interval = "1m"', 'poll_interval = "1s"\ndeliver_interval = "1s"'
            )
        )
        with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
            yield World(tmp_path, node, admin, sample, config)


def poison(world: World) -> None:
    """A claim of one debtor handed to a bailiff whose name holds a vertical tab."""
    number = world.debtor(POISONED).factuurnummers[-1]
    with sqlite3.connect(world.backoffice) as db:
        db.execute(
            "UPDATE aanslagen SET status = 'overgedragen', overgedragen_aan = ? "
            "WHERE aanslagnummer = ?",
            (POISON, number),
        )


def seven_questions(world: World) -> tuple[list[str], str]:
    """Six Saldoverzoeken about three debtors (two each) and one about the poisoned one."""
    good = []
    for klantnummer in ("100001", "100002", "100004") * 2:
        debtor = world.debtor(klantnummer)
        message = f.saldoverzoek(module="Schuldregeling", invoices=debtor.factuurnummers)
        good.append(world.queue(about(message, debtor, new_conversation())))
    debtor = world.debtor(POISONED)
    message = f.saldoverzoek(module="Schuldregeling", invoices=debtor.factuurnummers)
    return good, world.queue(about(message, debtor, new_conversation()))


def check_the_poison_stayed_with_its_message(world: World, good: list[str], bad: str) -> None:
    answered = {m["Berichtheader"].get("CrossReferentienummer") for m in world.sent()}
    assert answered == set(good)  # six answers, each once; none for the poisoned one
    assert len(world.sent()) == 6
    statuses = dict(world.rows("SELECT referentienummer, status FROM inbox"))
    assert {statuses[r] for r in good} == {"done"} and statuses[bad] == "failed"
    [(kind, reason, due)] = world.rows(
        "SELECT kind, reason, due FROM tasks WHERE referentienummer = ?", bad
    )
    assert kind == "processing_failed" and due is not None
    # the reason names the element and the character, not the value
    assert "OvergedragenAan/Naam holds a character that XML cannot carry (U+000B)" in reason
    assert "Deurwaarderskantoor" not in reason
    # the holds of the six were carried out: the back-office has them
    applied = world.rows("SELECT hold_id FROM holds WHERE status = 'applied'")
    assert len(applied) == 6
    assert sorted(h for h, _ in world.backoffice_holds()) == sorted(h for (h,) in applied)


def test_1_a_poisoned_answer_fails_alone_in_run_once(world: World) -> None:
    poison(world)
    good, bad = seven_questions(world)
    done = cli("run", "--once", "-c", str(world.config), "--max-wait", "5")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1  # a message failed: a person must look
    assert "answered: 6 SaldoverzoekAntwoord" in done.stdout
    check_the_poison_stayed_with_its_message(world, good, bad)
    again = cli("run", "--once", "-c", str(world.config), "--max-wait", "5")
    assert again.returncode == 0, again.stderr  # nothing left stuck: the next run is clean
    assert len(world.sent()) == 6


def _wait(until: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_1_a_poisoned_answer_fails_alone_in_the_daemon(world: World) -> None:
    poison(world)
    good, bad = seven_questions(world)
    daemon = subprocess.Popen(
        [CLI, "run", "-c", str(world.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        _wait(lambda: len(world.sent()) >= 6 and world.store.exists())
        _wait(lambda: len(world.rows("SELECT 1 FROM holds WHERE status = 'applied'")) == 6)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert "failed; the other steps go on" not in stderr  # no step failed: the message did
    assert "Traceback" not in stderr
    check_the_poison_stayed_with_its_message(world, good, bad)


def test_1_a_note_that_cannot_be_sent_is_one_sentence(world: World) -> None:
    debtor = world.debtor("100001")
    conversation = new_conversation()
    world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, conversation))
    proposal = about(f.betaalvoorstel(), debtor, conversation)
    proposal["Looptijd"] = 36  # past the policy's term: a person decides
    world.queue(proposal)
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode == 0
    [(task_id,)] = world.rows("SELECT id FROM tasks WHERE kind = 'beoordeling'")
    sent = len(world.sent())

    refused = cli(
        "tasks", "resolve", str(task_id), "--choice", "reject", "--note", "x\x0by",
        "-c", str(world.config),
    )  # fmt: skip
    assert refused.returncode == 2
    assert one_sentence(refused.stderr) == (
        f"skn-connector: task {task_id}: the note cannot be sent as the answer's Reden (it "
        "holds a character that XML cannot carry); write it again without control characters"
    )
    assert world.rows("SELECT status FROM tasks WHERE id = ?", task_id) == [("open",)]
    assert world.rows("SELECT count(*) FROM outbox WHERE status = 'pending'") == [(0,)]
    # the person writes it again: it goes out
    resolved = cli(
        "tasks", "resolve", str(task_id), "--choice", "reject", "--note", "te lang",
        "-c", str(world.config),
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode == 0
    assert len(world.sent()) == sent + 1


def test_1_a_decision_that_cannot_be_recorded_fails_alone(world: World) -> None:
    """A bug in recording one decision's effects rolled back the whole group commit, and
    every message of the batch stayed pending on every round."""
    conversations = []
    for klantnummer in ("100001", "100002", "100004"):
        debtor = world.debtor(klantnummer)
        conversations.append(new_conversation())
        world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, conversations[-1]))
    settings = load_settings(world.config)
    with connector(settings) as pipeline:
        record = pipeline.effects.record

        def buggy(session: Any, conversation_id: str, decision: Any, **kwargs: Any) -> None:
            if conversation_id == conversations[1]:
                raise ZeroDivisionError("a bug in recording this one decision")
            record(session, conversation_id, decision, **kwargs)

        pipeline.effects.record = buggy  # type: ignore[method-assign]
        summary = run_once(pipeline, max_wait=5)
    assert summary.processing_failures == 1
    assert sum(summary.answered.values()) == 2
    by_conversation = dict(world.rows("SELECT conversation_id, status FROM inbox"))
    assert [by_conversation[c] for c in conversations] == ["done", "failed", "done"]
    assert world.rows("SELECT kind FROM tasks WHERE conversation_id = ?", conversations[1]) == [
        ("processing_failed",)
    ]
    answered = {m["Berichtheader"]["ConversatieReferentienummer"] for m in world.sent()}
    assert answered == {conversations[0], conversations[2]}


def test_1_each_daemon_step_runs_on_its_own(world: World) -> None:
    """A failing step (here: deciding) no longer keeps the answers already in the outbox
    from being delivered, nor the holds from being carried out."""
    debtor = world.debtor("100001")
    world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, new_conversation()))
    settings = load_settings(world.config)
    with connector(settings) as pipeline, StoreLease(pipeline.store) as lease:
        pipeline.poll()
        pipeline.process_due()  # the answer and the hold wait; nothing delivered yet
        assert world.sent() == [] and world.backoffice_holds() == []

        def broken(*_args: Any) -> int:
            raise RuntimeError("the decide step fails")

        pipeline.process_due = broken  # type: ignore[method-assign]
        Jobs(pipeline, Standby(lease)).poll()
    assert len(world.sent()) == 1
    assert [status for _, status in world.backoffice_holds()] == ["applied"]


# -- 4. who did it ----------------------------------------------------------------------------


def test_4_a_person_is_the_real_account_not_the_environment(world: World) -> None:
    debtor = world.debtor("100001")
    conversation = new_conversation()
    world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, conversation))
    proposal = about(f.betaalvoorstel(), debtor, conversation)
    proposal["Looptijd"] = 36
    asked = world.queue(proposal)
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode == 0
    [(task_id,)] = world.rows("SELECT id FROM tasks WHERE kind = 'beoordeling'")
    forged = {"LOGNAME": "mallory", "USER": "mallory", "SUDO_USER": "alice"}
    resolved = cli(
        "tasks", "resolve", str(task_id), "--choice", "accept", "-c", str(world.config),
        env=forged,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    shown = cli("messages", "show", asked, "--reveal", "-c", str(world.config), env=forged)
    assert shown.returncode == 0, shown.stderr

    account = pwd.getpwuid(os.getuid()).pw_name
    assert account != "mallory"
    expected = {"name": account, "via": "cli", "uid": os.getuid(), "sudo_user": "alice"}
    details = [
        (event, json.loads(detail))
        for event, detail in world.rows(
            "SELECT event, detail FROM audit WHERE event IN "
            "('task_resolved', 'personal_data_revealed') ORDER BY id"
        )
    ]
    assert [(event, detail["actor"]) for event, detail in details] == [
        ("task_resolved", expected),
        ("personal_data_revealed", expected),
    ]
    assert world.rows("SELECT resolved_by FROM tasks WHERE id = ?", task_id) == [
        (f"{account} (sudo by alice)",)
    ]


def test_4_the_actor_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "mallory")
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.delenv("SUDO_USER", raising=False)
    actor = Actor.at_the_command_line()
    assert (actor.name, actor.uid, actor.sudo_user) == (
        pwd.getpwuid(os.getuid()).pw_name,
        os.getuid(),
        None,
    )
    assert actor.label == actor.name


# -- 5. what config check passes, run takes ---------------------------------------------------


def _broken(world: World, case: str) -> str:
    """Break the configuration as the case says; returns what the one sentence names."""
    text = world.config.read_text()
    if case == "unknown event":
        text += '\n[policy.events.E99]\nRUNSEIZE = "stop"\n'
        named = "[policy.events.E99]: unknown event"
    elif case == "telephone":
        text = text.replace('telefoon = "0201234567"', 'telefoon = "(020) 123 4567"')
        named = "creditor.contact.telefoon: must be a telephone number"
    elif case == "store url":
        text = text.replace(f'url = "sqlite:///{world.store}"', 'url = "mysql://db/skn"')
        named = "store.url uses 'mysql'; use sqlite or postgresql"
    elif case == "store folder":
        text = text.replace(
            f'url = "sqlite:///{world.store}"', f'url = "sqlite:///{world.workdir}/gone/skn.db"'
        )
        named = f"store.url: the folder {world.workdir}/gone of the store does not exist"
    else:
        tls = world.node.tls_dir
        assert tls is not None
        (tls / "client.pem").rename(tls / "elsewhere.pem")
        named = f"the client certificate file {tls / 'client.pem'} does not exist"
    world.config.write_text(text)
    return named


@pytest.mark.parametrize(
    "case", ["unknown event", "telephone", "store url", "store folder", "certificate"]
)
def test_5_what_config_check_and_doctor_pass_run_accepts(world: World, case: str) -> None:
    named = _broken(world, case)
    f_saldo = about(f.saldoverzoek(), world.debtor("100001"), new_conversation())
    world.queue(f_saldo)
    commands = [("config", "check"), ("run", "--once", "--max-wait", "2")]
    if case != "certificate":  # a person's actions need no node client, so no certificate
        commands += [("tasks", "resolve", "1", "--choice", "done"), ("quarantine", "retry", "1")]
    for command in commands:
        done = cli(*command, "-c", str(world.config))
        assert done.returncode == 2, (command, done.stderr)
        assert named in one_sentence(done.stderr), (command, done.stderr)
    if case == "certificate":  # what needs only the store still works
        listed = cli("tasks", "list", "--json", "-c", str(world.config))
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
    doctor = cli("doctor", "-c", str(world.config), "--json")
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    failed = [c["message"] for c in report["checks"] if c["status"] == "fail"]
    assert any(named in message for message in failed), failed
    assert world.sent() == []  # nothing reached the node


# -- 8. a stop waits for the running job ------------------------------------------------------


def _daemon(world: World) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", "-c", str(world.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_8_sigterm_lets_the_running_step_finish(world: World) -> None:
    for klantnummer in ("100001", "100002"):
        debtor = world.debtor(klantnummer)
        world.queue(about(f.saldoverzoek(), debtor, new_conversation()))
    world.admin.post("/_admin/faults", json={"latency_ms": 1500}).raise_for_status()
    daemon = _daemon(world)
    _wait(world.store.exists, 30)
    time.sleep(1.5)  # started: a node call is in flight (each takes 1.5 s)
    stopped_at = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    daemon.send_signal(signal.SIGTERM)  # an impatient second stop changes nothing
    _, stderr = daemon.communicate(timeout=30)
    took = time.monotonic() - stopped_at
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopping after the running job" in stderr and "skn-connector stopped" in stderr
    assert " ERROR " not in stderr and "failed" not in stderr, stderr
    assert took < 10
    # what was fetched is stored and consistent; the next start finishes the rest, once
    world.admin.post("/_admin/faults", json={"latency_ms": 0}).raise_for_status()
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode == 0
    crosses = [m["Berichtheader"]["CrossReferentienummer"] for m in world.sent()]
    assert len(crosses) == len(set(crosses)) == 2


def test_8_a_step_that_does_not_finish_in_time_is_left_to_the_next_start(world: World) -> None:
    debtor = world.debtor("100001")
    asked = world.queue(about(f.saldoverzoek(), debtor, new_conversation()))
    world.admin.post("/_admin/faults", json={"latency_ms": 25_000}).raise_for_status()
    daemon = _daemon(world)
    _wait(world.store.exists, 30)
    time.sleep(1.5)  # started: the first node call hangs for 25 s
    stopped_at = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=40)
    took = time.monotonic() - stopped_at
    assert daemon.returncode == 1
    assert "did not finish its step within 10 s; exiting now" in stderr
    assert 9 < took < 20
    world.admin.post("/_admin/faults", json={"latency_ms": 0}).raise_for_status()
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode == 0
    assert [m["Berichtheader"]["CrossReferentienummer"] for m in world.sent()] == [asked]


def test_8_jobs_start_no_step_after_a_stop(world: World) -> None:
    settings = load_settings(world.config)
    with connector(settings) as pipeline, StoreLease(pipeline.store) as lease:
        jobs = Jobs(pipeline, Standby(lease))
        jobs.stopping.set()
        world.queue(about(f.saldoverzoek(), world.debtor("100001"), new_conversation()))
        jobs.poll()
        with pipeline.store.transaction() as session:
            assert list(session.scalars(select(InboxMessage))) == []
            assert list(session.scalars(select(Task))) == []
            assert [e.event for e in session.scalars(select(AuditEntry))] == []
