"""The conversation state machine: every row of the transition table through the simulator,
and out-of-order, duplicate and conflicting-duplicate messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from skn_connector.adapters.api import SampleBackOffice, SampleDebtor
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.conversations import TableError, TransitionTable
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.records import CreditorProfile
from skn_connector.engine.tasks import TaskError
from skn_connector.messages import CATALOG, Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import run_once
from skn_connector.store import Store, open_store
from skn_connector.store.schema import InboxMessage, QuarantinedMessage, Task
from skn_connector.store.statements import find_conversation

from . import factories as f
from .factories import TESTER

CREDITOR = f.CREDITOR


@dataclass
class Harness:
    simulator: Simulator
    store: Store
    pipeline: Pipeline
    admin: httpx.Client
    debtor: SampleDebtor

    def deliver(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Put a message in our messagebox, run the connector once, return what it sent."""
        before = len(self.admin.get("/_admin/sent").json())
        self.admin.post("/_admin/messages", json=message).raise_for_status()
        run_once(self.pipeline, max_wait=5)
        return list(self.admin.get("/_admin/sent").json()[before:])

    def state(self, conversation: str) -> str | None:
        with self.store.transaction() as session:
            row = find_conversation(session, conversation)
            return row.state if row else None

    def tasks(self, conversation: str | None = None) -> list[Task]:
        with self.store.transaction() as session:
            query = select(Task).order_by(Task.id)
            if conversation:
                query = query.where(Task.conversation_id == conversation)
            return list(session.scalars(query))


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    sample: SampleBackOffice = resolve_adapter_class("gemeentebelastingen").create_sample(
        tmp_path / "bo"
    )
    debtor = sample.debtors[0]
    adapters = load_adapters(
        [
            ("belastingen", "gemeentebelastingen", sample.options),
            (
                "desk",
                "tests.adapters_for_tests:ProposalDesk",
                {"klantnummers": [debtor.klantnummer_se], "accept_from": 10, "manual_from": 5},
            ),
        ]
    )
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        assert simulator.tls_dir is not None
        tls = simulator.tls_dir
        context = build_ssl_context(tls / "client.pem", tls / "client.key", tls / "ca.pem")
        with NodeClient(simulator.url, CREDITOR, ssl_context=context) as client:
            pipeline = Pipeline(
                store=store,
                node=client,
                adapters=adapters,
                creditor=CreditorProfile(
                    participant_id=CREDITOR,
                    contact=Contactpersoon(naam="Team Invordering"),
                ),
            )
            with httpx.Client(base_url=simulator.admin_url, timeout=10) as admin:
                yield Harness(simulator, store, pipeline, admin, debtor)
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def person(debtor: SampleDebtor) -> dict[str, Any]:
    p = debtor.person
    data = {
        "Geslacht": p.geslacht,
        "Voorletters": p.voorletters,
        "Voornamen": p.voornamen,
        "Voorvoegsel": p.voorvoegsel,
        "Achternaam": p.achternaam,
        "Geboortedatum": p.geboortedatum.isoformat(),
        "Bsn": p.bsn,
    }
    return {k: v for k, v in data.items() if v is not None}


def address(debtor: SampleDebtor) -> dict[str, Any]:
    return {
        "Straatnaam": debtor.straatnaam,
        "Huisnummer": debtor.huisnummer,
        "Postcode": debtor.postcode,
        "Woonplaats": debtor.woonplaats,
    }


def about(message: dict[str, Any], debtor: SampleDebtor, conversation: str) -> dict[str, Any]:
    """The same message about our sample debtor, in the given conversation."""
    message["Berichtheader"]["ConversatieReferentienummer"] = conversation
    if "Klant" in message:
        message["Klant"] = person(debtor)
        message["Adres"] = address(debtor)
    if "KlantnummerSE" in message:
        message["KlantnummerSE"] = debtor.klantnummer_se
    for claim in message.get("Vorderingen", []):
        if "FactuurnummerSE" in claim:
            claim["FactuurnummerSE"] = debtor.factuurnummers[0]
    return message


def proposal(
    debtor: SampleDebtor, conversation: str, percentage: str, *, kind: str = "Betaalvoorstel"
) -> dict[str, Any]:
    message = f.betaalvoorstel(berichttype=kind)
    message["Vorderingen"][0]["Afkooppercentage"] = percentage
    return about(message, debtor, conversation)


def new_conversation() -> str:
    return str(uuid.uuid4())


# -- the table itself ------------------------------------------------------------------------


def test_the_packaged_table_loads_and_covers_every_incoming_message() -> None:
    table = TransitionTable.load(known_events=CATALOG)
    covered = {e.split(":")[0] for r in table.rules for e in r.events}
    incoming = {name for name, cls in CATALOG.items() if cls.INCOMING}
    assert incoming <= covered
    assert {s for r in table.rules for s in r.to_states} - {"="} <= set(table.states)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rule"][0].update({"to": ["NOWHERE"]}), "unknown to-state 'NOWHERE'"),
        (
            lambda d: d["rule"][0].update({"from": ["BEEINDIGD"]}),
            "a final state (BEEINDIGD) has no way out",
        ),
        (lambda d: d["rule"][0].update({"on": ["Telegram"]}), "'Telegram' is not a message type"),
        (lambda d: d["rule"].append(dict(d["rule"][0])), "rules 1 and 13 both apply"),
        (lambda d: d["rule"][0].pop("modules"), "the key 'modules' is required"),
    ],
)
def test_a_broken_table_is_refused_naming_the_rule(change: Any, message: str) -> None:
    import tomllib
    from importlib import resources

    data = tomllib.loads(
        (resources.files("skn_connector.engine") / "rules" / "conversations.toml").read_text()
    )
    change(data)
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TransitionTable.from_dict(data, known_events=CATALOG)


# -- every row through the simulator ---------------------------------------------------------


def test_rule_1_kennisgeving_known_and_unknown(harness: Harness) -> None:
    known = new_conversation()
    sent = harness.deliver(about(f.kennisgeving(), harness.debtor, known))
    assert [m["Berichtheader"]["Berichttype"] for m in sent] == ["KennisgevingAntwoord"]
    assert sent[0]["KlantnummerSE"] == harness.debtor.klantnummer_se
    assert set(harness.debtor.factuurnummers) & set(sent[0]["Factuurnummers"])
    assert harness.state(known) == "STABILISATIE"

    publiek = new_conversation()
    sent = harness.deliver(about(f.kennisgeving_publiek(), harness.debtor, publiek))
    assert (
        sent[0]["Berichttype" if False else "Berichtheader"]["Berichttype"]
        == "KennisgevingAntwoord"
    )

    stranger = new_conversation()
    message = f.kennisgeving()
    message["Berichtheader"]["ConversatieReferentienummer"] = stranger
    sent = harness.deliver(message)
    assert sent[0]["Berichtheader"]["Berichttype"] == "GeenMedewerking"
    assert sent[0]["Reden"] == "KLANT_ONBEKEND"
    assert harness.state(stranger) == "GEEN_MEDEWERKING"


@pytest.mark.parametrize(
    ("module", "expected_state"),
    [("Schuldinventarisatie", "AFGEROND"), ("Betalingsregeling", "SALDO_OPGEGEVEN")],
)
def test_rules_2_and_3_saldoverzoek_per_module(
    harness: Harness, module: str, expected_state: str
) -> None:
    conversation = new_conversation()
    message = about(
        f.saldoverzoek(module=module, invoices=harness.debtor.factuurnummers),
        harness.debtor,
        conversation,
    )
    sent = harness.deliver(message)
    assert [m["Berichtheader"]["Berichttype"] for m in sent] == ["SaldoverzoekAntwoord"]
    assert harness.state(conversation) == expected_state


def test_rule_4_saldoverzoek_after_kennisgeving_and_vooraf_akkoord(harness: Harness) -> None:
    conversation = new_conversation()
    harness.deliver(about(f.kennisgeving(), harness.debtor, conversation))
    sent = harness.deliver(
        about(f.saldoverzoek(module="Schuldregeling"), harness.debtor, conversation)
    )
    assert sent[0]["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoord"
    assert harness.state(conversation) == "SALDO_OPGEGEVEN"

    harness.pipeline.decider.creditor = type(harness.pipeline.decider.creditor)(
        Contactpersoon(naam="Team Invordering"), vooraf_akkoord=True
    )
    vooraf = new_conversation()
    sent = harness.deliver(about(f.saldoverzoek(module="Schuldregeling"), harness.debtor, vooraf))
    # the sample debtor has no disputed, fraud or non-saneerbaar claim: no obstacle
    assert sent[0]["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoordVoorafAkkoord"
    assert sent[0]["StandaardAkkoord"] is True
    assert harness.state(vooraf) == "VOORAF_AKKOORD"
    # in an inventory there is no advance consent, whatever the creditor's setting
    inventory = new_conversation()
    sent = harness.deliver(
        about(f.saldoverzoek(module="Schuldinventarisatie"), harness.debtor, inventory)
    )
    assert sent[0]["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoord"
    assert sent[0]["StandaardAkkoord"] is False


def saldo_given(harness: Harness, module: str = "Schuldregeling") -> str:
    conversation = new_conversation()
    harness.deliver(about(f.saldoverzoek(module=module), harness.debtor, conversation))
    assert harness.state(conversation) == "SALDO_OPGEGEVEN"
    return conversation


@pytest.mark.parametrize(
    ("percentage", "state", "answer"),
    [
        ("12.50", "AKKOORD_SE", "AKKOORD"),
        ("2.00", "AFGEWEZEN_SE", "NIET_AKKOORD"),
        ("7.00", "WACHT_OP_BEOORDELING", None),
    ],
)
def test_rule_5_betaalvoorstel(
    harness: Harness, percentage: str, state: str, answer: str | None
) -> None:
    conversation = saldo_given(harness)
    sent = harness.deliver(proposal(harness.debtor, conversation, percentage))
    assert harness.state(conversation) == state
    if answer is None:
        assert sent == []
        tasks = harness.tasks(conversation)
        assert [t.kind for t in tasks] == ["beoordeling"] and tasks[0].due is not None
    else:
        assert [m["Antwoord"] for m in sent] == [answer]
        assert ("Reden" in sent[0]) is (answer == "NIET_AKKOORD")


def test_rule_6_heroverweging_after_a_refusal(harness: Harness) -> None:
    conversation = saldo_given(harness)
    harness.deliver(proposal(harness.debtor, conversation, "1.00"))
    assert harness.state(conversation) == "AFGEWEZEN_SE"
    sent = harness.deliver(proposal(harness.debtor, conversation, "15.00", kind="Heroverweging"))
    assert [m["Antwoord"] for m in sent] == ["AKKOORD"]
    assert harness.state(conversation) == "AKKOORD_SE"


@pytest.mark.parametrize(
    ("choice", "state", "answer"),
    [("accept", "AKKOORD_SE", "AKKOORD"), ("reject", "AFGEWEZEN_SE", "NIET_AKKOORD")],
)
def test_rule_7_a_persons_decision_is_sent(
    harness: Harness, choice: str, state: str, answer: str
) -> None:
    conversation = saldo_given(harness)
    harness.deliver(proposal(harness.debtor, conversation, "7.00"))
    task = harness.tasks(conversation)[0]
    outcome = harness.pipeline.tasks.resolve(
        task.id, choice=choice, note="te laag aanbod", actor=TESTER
    )
    assert "BetaalvoorstelAntwoord" in outcome
    run_once(harness.pipeline, max_wait=5)
    sent = harness.admin.get("/_admin/sent", params={"conversation": conversation}).json()
    assert [m.get("Antwoord") for m in sent][-1] == answer
    assert harness.state(conversation) == state
    with pytest.raises(TaskError, match="resolved before"):
        harness.pipeline.tasks.resolve(task.id, choice=choice, note=None, actor=TESTER)


def test_rule_8_schuldregeling_akkoord(harness: Harness) -> None:
    conversation = saldo_given(harness)
    harness.deliver(proposal(harness.debtor, conversation, "20.00"))
    sent = harness.deliver(about(f.schuldregeling_akkoord(), harness.debtor, conversation))
    assert sent == []
    assert harness.state(conversation) == "REGELING_LOOPT"
    # the gemeentebelastingen adapter records the arrangement: no task for a person
    assert [t.kind for t in harness.tasks(conversation)] == []


def test_rule_9_beeindigd_is_final(harness: Harness) -> None:
    conversation = saldo_given(harness)
    harness.deliver(about(f.schuldregeling_beeindigd(), harness.debtor, conversation))
    assert harness.state(conversation) == "BEEINDIGD"


def test_rule_10_statusbericht_changes_nothing(harness: Harness) -> None:
    conversation = saldo_given(harness)
    assert harness.deliver(about(f.statusbericht_shv(), harness.debtor, conversation)) == []
    assert harness.state(conversation) == "SALDO_OPGEGEVEN"


def test_rules_11_and_12_melding_bewind(harness: Harness) -> None:
    conversation = new_conversation()
    start = about(f.melding_bewind(), harness.debtor, conversation)
    start["Gebeurtenis"] = "START"
    harness.deliver(start)
    assert harness.state(conversation) == "BEWIND"
    end = about(f.melding_bewind(), harness.debtor, conversation)
    end["Gebeurtenis"] = "EINDE"
    harness.deliver(end)
    assert harness.state(conversation) == "BEWIND_BEEINDIGD"


# -- out of order, final, duplicates ---------------------------------------------------------


def inbox_status(harness: Harness, referentienummer: str) -> str:
    with harness.store.transaction() as session:
        row = session.scalars(
            select(InboxMessage).where(InboxMessage.referentienummer == referentienummer)
        ).one()
        return row.status


def test_out_of_order_message_is_kept_marked_and_a_task(harness: Harness) -> None:
    conversation = new_conversation()
    message = proposal(harness.debtor, conversation, "20.00")
    sent = harness.deliver(message)
    assert sent == []
    assert harness.state(conversation) is None  # no conversation was made up
    assert inbox_status(harness, message["Berichtheader"]["Referentienummer"]) == "unexpected"
    [task] = harness.tasks(conversation)
    assert task.kind == "unexpected_message" and "out of order" in task.reason


def test_message_for_a_final_conversation_changes_nothing(harness: Harness) -> None:
    conversation = saldo_given(harness)
    harness.deliver(about(f.schuldregeling_beeindigd(), harness.debtor, conversation))
    late = about(f.saldoverzoek(module="Schuldregeling"), harness.debtor, conversation)
    assert harness.deliver(late) == []
    assert harness.state(conversation) == "BEEINDIGD"
    assert inbox_status(harness, late["Berichtheader"]["Referentienummer"]) == "unexpected"
    assert "has ended (BEEINDIGD)" in harness.tasks(conversation)[-1].reason


def test_duplicate_has_no_second_effect_and_answer_is_not_sent_twice(harness: Harness) -> None:
    conversation = new_conversation()
    message = about(f.saldoverzoek(module="Schuldregeling"), harness.debtor, conversation)
    first = harness.deliver(message)
    again = harness.deliver(message)  # the node delivers the same message once more
    assert len(first) == 1 and again == []
    with harness.store.transaction() as session:
        row = session.scalars(
            select(InboxMessage).where(
                InboxMessage.referentienummer == message["Berichtheader"]["Referentienummer"]
            )
        ).one()
        assert row.duplicates == 1
    assert harness.state(conversation) == "SALDO_OPGEGEVEN"


def test_conflicting_duplicate_is_quarantined_with_a_task(harness: Harness) -> None:
    conversation = new_conversation()
    message = about(f.saldoverzoek(module="Schuldregeling"), harness.debtor, conversation)
    harness.deliver(message)
    changed = about(
        f.saldoverzoek(module="Schuldregeling", invoices=("OTHER-1",)), harness.debtor, conversation
    )
    changed["Berichtheader"]["Referentienummer"] = message["Berichtheader"]["Referentienummer"]
    assert harness.deliver(changed) == []
    with harness.store.transaction() as session:
        kept = list(session.scalars(select(QuarantinedMessage)))
    assert len(kept) == 1 and "conflicting duplicate" in kept[0].reason
    assert [t.kind for t in harness.tasks() if t.kind == "conflict"] == ["conflict"]
    assert harness.state(conversation) == "SALDO_OPGEGEVEN"
