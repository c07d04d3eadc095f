"""Approval before sending ([policy] approve_before_sending): a creditor's first weeks.

Over real sockets against the simulated node, with the command line a person uses: the
answer waits as a task while the hold it follows from is applied at once; a person approves
it and it goes out; one left waiting raises its escalation on the 7th working day after its
question came in, before the usual warning of the 8th.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import write_config
from skn_connector.engine.deadlines import AMSTERDAM, WorkingDays
from skn_connector.node.simulator import Simulator

from . import factories as f
from .test_conversations import about, new_conversation

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


class World:
    def __init__(self, workdir: Path, admin: httpx.Client, sample: Any, config: Path) -> None:
        self.workdir, self.admin, self.sample, self.config = workdir, admin, sample, config

    def ask_saldo(self, klantnummer: str) -> str:
        debtor = next(d for d in self.sample.debtors if d.klantnummer_se == klantnummer)
        message = f.saldoverzoek(module="Schuldregeling", invoices=debtor.factuurnummers)
        response = self.admin.post(
            "/_admin/messages", json=about(message, debtor, new_conversation())
        )
        assert response.status_code == 201, response.text
        return str(response.json()["Referentienummer"])

    def answered(self) -> list[str]:
        """The questions the node received an answer to, in order."""
        sent = self.admin.get("/_admin/sent").json()
        return [m["Berichtheader"].get("CrossReferentienummer") for m in sent]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = cli(*args, "-c", str(self.config))
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def rows(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.workdir / "skn-connector.db") as db:
            return db.execute(query, args).fetchall()

    def tasks(self, kind: str) -> list[dict[str, Any]]:
        listed = self.run("tasks", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        return [t for t in json.loads(listed.stdout) if t["kind"] == kind]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        with config.open("a", encoding="utf-8") as out:
            out.write('\n[policy]\napprove_before_sending = ["SaldoverzoekAntwoord"]\n')
        with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
            yield World(tmp_path, admin, sample, config)


def _working_days_back(count: int) -> datetime:
    """Now, moved back to the same hour ``count`` working days earlier (Amsterdam's dates)."""
    days = WorkingDays()
    now = datetime.now(UTC)
    today: date = now.astimezone(AMSTERDAM).date()
    day = today
    while days.between(day, today) < count:
        day -= timedelta(days=1)
    return now - timedelta(days=(today - day).days)


def test_an_answer_waits_for_approval_and_goes_out_when_a_person_approves(
    world: World,
) -> None:
    first, second = world.ask_saldo("100001"), world.ask_saldo("100002")
    done = world.run("run", "--once", "--max-wait", "5")
    assert done.returncode == 0, done.stderr
    assert "answered: 2 SaldoverzoekAntwoord" in done.stdout
    assert "2 for approval (see 'tasks list')" in done.stdout
    assert world.answered() == []  # nothing went out
    # the enforcement stop does not wait for the answer: both holds are applied
    assert [s for (s,) in world.rows("SELECT status FROM holds")] == ["applied", "applied"]
    waiting = world.tasks("approve_answer")
    assert len(waiting) == 2
    by_question = {
        cross: answer
        for answer, cross in world.rows(
            "SELECT referentienummer, cross_referentienummer FROM outbox"
        )
    }
    [task] = [t for t in waiting if t["referentienummer"] == by_question[first]]
    assert f"SaldoverzoekAntwoord to Saldoverzoek {first} waits for approval" in task["reason"]
    assert task["due"] is not None

    wrong = world.run("tasks", "resolve", str(task["id"]))  # the default choice: done
    assert wrong.returncode == 2
    assert "--choice approve or --choice withhold" in wrong.stderr

    approved = world.run("tasks", "resolve", str(task["id"]), "--choice", "approve")
    assert approved.returncode == 0, approved.stderr
    assert "SaldoverzoekAntwoord is approved and goes out next" in approved.stdout
    again = world.run("tasks", "resolve", str(task["id"]), "--choice", "approve")
    assert again.returncode == 2 and "was resolved before" in again.stderr

    done = world.run("run", "--once", "--max-wait", "5")
    assert done.returncode == 0, done.stderr
    assert world.answered() == [first]  # the approved one, once; the other still waits
    assert "1 for approval" in done.stdout
    [(detail,)] = world.rows("SELECT detail FROM audit WHERE event = 'answer_approved'")
    assert json.loads(detail)["actor"]["via"] == "cli"
    assert world.rows("SELECT status FROM outbox WHERE cross_referentienummer = ?", second) == [
        ("to_approve",)
    ]


def test_an_answer_left_waiting_is_escalated_before_day_8(world: World) -> None:
    question = world.ask_saldo("100001")
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    assert world.answered() == []

    def received(working_days_ago: int) -> None:
        with sqlite3.connect(world.workdir / "skn-connector.db") as db:
            db.execute(
                "UPDATE inbox SET received_at = ? WHERE referentienummer = ?",
                (_working_days_back(working_days_ago).isoformat(), question),
            )

    received(6)
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    assert world.tasks("deadline") == []  # six working days: no escalation yet
    received(7)
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    [escalation] = world.tasks("deadline")
    assert escalation["referentienummer"] == question
    assert escalation["reason"].startswith("the answer still waits for approval; it is due on")
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    assert len(world.tasks("deadline")) == 1  # raised once
    assert world.answered() == []  # the escalation never sends on its own


def test_a_withheld_answer_is_never_sent_and_its_question_stays_watched(world: World) -> None:
    question = world.ask_saldo("100001")
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    [task] = world.tasks("approve_answer")
    withheld = world.run(
        "tasks", "resolve", str(task["id"]), "--choice", "withhold", "--note", "saldo wrong"
    )
    assert withheld.returncode == 0, withheld.stderr
    assert "will not be sent" in withheld.stdout
    with sqlite3.connect(world.workdir / "skn-connector.db") as db:
        db.execute(
            "UPDATE inbox SET received_at = ? WHERE referentienummer = ?",
            (_working_days_back(8).isoformat(), question),
        )
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    assert world.answered() == []
    [warning] = world.tasks("deadline")
    assert warning["reason"].startswith("the answer was withheld and not sent")
    # the note is free text: kept with the task, not in the audit trail
    assert "saldo wrong" not in " ".join(d for (d,) in world.rows("SELECT detail FROM audit"))


def test_an_unknown_answer_type_is_refused_by_config_check(world: World) -> None:
    world.config.write_text(
        world.config.read_text().replace('["SaldoverzoekAntwoord"]', '["Saldoverzoek"]')
    )
    for command in (("config", "check"), ("run", "--once")):
        done = world.run(*command)
        assert done.returncode == 2, done.stdout + done.stderr
        [line] = [x for x in done.stderr.splitlines() if x.startswith("skn-connector:")]
        assert "approve_before_sending: 'Saldoverzoek' is not an answer the connector sends" in (
            line
        )
