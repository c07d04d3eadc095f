"""The reads and actions behind the console, on a store a scenario filled through the
simulator: a proposal left to a person (its task, advice and choices), the holds of a
debtor, a conversation as one thread, a quarantined message handled with its task, the
audit trail by person, and the same at the command line (tasks show, filtered lists)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from skn_connector.actor import Actor
from skn_connector.config import load_settings
from skn_connector.demo import CREDITOR_ID
from skn_connector.operations import (
    AuditFilter,
    MessageFilter,
    Operations,
    RevealRefused,
    TaskError,
    TaskFilter,
)

from . import factories as f
from .test_conversations import about, new_conversation
from .test_hardening import World, cli, world  # noqa: F401  (the fixture)

HANDLER = Actor.on_the_console("hanna")


@pytest.fixture
def played(world: World) -> Iterator[tuple[World, str]]:
    """A Saldoverzoek, then a Betaalvoorstel with Looptijd 36 that waits for a person; and a
    message that cannot be read (quarantined)."""
    debtor = world.debtor("100001")
    conversation = new_conversation()
    world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, conversation))
    proposal = about(f.betaalvoorstel(), debtor, conversation)
    proposal["Looptijd"] = 36
    world.queue(proposal)
    response = world.admin.post(
        "/_admin/raw", content=b"<not-a-message/>", params={"ontvanger": str(CREDITOR_ID)}
    )
    assert response.status_code in (200, 201), response.text
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode in (0, 1)
    yield world, conversation


def test_a_proposal_task_with_its_advice_and_choices(played: tuple[World, str]) -> None:
    world, conversation = played
    with Operations.on(load_settings(world.config)) as ops:
        [task] = ops.task_page(TaskFilter(kind="beoordeling")).rows
        detail = ops.task(task["id"])
        assert detail.open and detail.conversation is not None
        assert detail.conversation["id"] == conversation
        assert detail.advice["kind"] == "proposal" and detail.advice["event"]["event"] == "E07"
        assert detail.advice["max_term_months"] == 18
        accept, reject = detail.choices
        assert (accept.value, accept.antwoord) == ("accept", "AKKOORD")
        assert (reject.value, reject.antwoord, reject.note_as) == (
            "reject",
            "NIET_AKKOORD",
            "Reden",
        )
        assert [ended["hold_type"] for ended in accept.ends] == ["H_PROPOSAL"]
        # the message is shown masked: its thread holds the proposal
        [proposal] = [
            m
            for m in detail.message["thread"]
            if m["Berichttype"] == "Betaalvoorstel"  # type: ignore[index]
        ]
        assert proposal["message"]["Looptijd"] == 36

        thread = ops.conversation(conversation)
        kinds = [m["Berichttype"] for m in thread["thread"]]
        assert kinds[0] == "Saldoverzoek"
        assert {"SaldoverzoekAntwoord", "Betaalvoorstel"} <= set(kinds)
        assert thread["thread"][0]["message"]["Klant"]["Achternaam"] == "***"
        assert thread["holds"] and thread["tasks"]
        with pytest.raises(RevealRefused):
            ops.conversation(conversation, reveal=HANDLER, reason=" ")
        clear = ops.conversation(conversation, reveal=HANDLER, reason="bezwaar van de klant")
        assert clear["thread"][0]["message"]["Klant"]["Achternaam"] != "***"

        klantnummer = detail.conversation["klantnummer_se"]
        debtors = ops.debtors_with_holds().rows
        assert [d["klantnummer_se"] for d in debtors] == [klantnummer]
        holds = ops.debtor_holds(klantnummer)
        assert {h["hold_type"] for h in holds["holds"]} >= {"H_COV_SALDO", "H_PROPOSAL"}
        assert all(h["rule"]["sources"] for h in holds["holds"])

        page = ops.message_page(MessageFilter(berichttype="Betaalvoorstel"))
        assert [m["berichttype"] for m in page.rows] == ["Betaalvoorstel"]
        assert ops.message_page(MessageFilter(conversation_id=conversation, direction="out")).rows

        ops.resolve_task(task["id"], choice="reject", note="te lange looptijd", actor=HANDLER)
        mine = ops.audit_page(AuditFilter(person="hanna")).rows
        assert [e["event"] for e in mine] == ["task_resolved", "personal_data_revealed"]
        revealed = mine[1]
        assert revealed["detail"]["reason"] == "bezwaar van de klant"
        assert ops.verify_audit().ok


def test_the_quarantine_follows_its_task_and_back(played: tuple[World, str]) -> None:
    world, _ = played
    with Operations.on(load_settings(world.config)) as ops:
        [entry] = ops.quarantine_page().rows
        with pytest.raises(TaskError, match="a reason is required"):
            ops.handle_quarantined(entry["id"], reason="  ", actor=HANDLER)
        ops.handle_quarantined(
            entry["id"], reason="afzender gevraagd opnieuw te sturen", actor=HANDLER
        )
        kept = ops.quarantine_entry(entry["id"])
        assert kept["status"] == "resolved"
        assert [t["status"] for t in kept["tasks"]] == ["resolved"]
        assert not ops.quarantine_page().rows
    # and the other way: a new one, its task resolved, resolves the entry
    world.admin.post(
        "/_admin/raw", content=b"<still-not-a-message/>", params={"ontvanger": str(CREDITOR_ID)}
    )
    assert cli("run", "--once", "-c", str(world.config), "--max-wait", "5").returncode in (0, 1)
    with Operations.on(load_settings(world.config)) as ops:
        [entry] = ops.quarantine_page().rows
        [task] = ops.quarantine_entry(entry["id"])["tasks"]
        ops.resolve_task(task["id"], choice="done", note="bekeken", actor=HANDLER)
        assert ops.quarantine_entry(entry["id"])["status"] == "resolved"


def test_the_command_line_shows_a_task_and_filters_messages(played: tuple[World, str]) -> None:
    world, conversation = played
    tasks = json.loads(cli("tasks", "list", "--json", "-c", str(world.config)).stdout)
    [task] = [t for t in tasks if t["kind"] == "beoordeling"]
    shown = cli("tasks", "show", str(task["id"]), "-c", str(world.config))
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert [c["value"] for c in detail["choices"]] == ["accept", "reject"]
    assert cli("tasks", "show", "999", "-c", str(world.config)).returncode == 2
    listed = cli(
        "messages", "list", "--json", "--type", "Betaalvoorstel", "--conversation", conversation,
        "-c", str(world.config),
    )  # fmt: skip
    assert [m["berichttype"] for m in json.loads(listed.stdout)] == ["Betaalvoorstel"]
