"""A scenario per debt-help event of the policy table (docs/sources.md has the sources of
each): messages through the
simulator, then the holds and releases the back-office received and the answers sent.
The witness is the sample back-office's own record (its opschortingen and afboekingen
tables), not the connector's store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.api import MeasureCode, SampleDebtor
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.holds import add_months
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.operations.queries import list_holds, list_tasks
from skn_connector.service.daemon import run_once
from skn_connector.store import Store, open_store

from . import factories as f
from .factories import TESTER
from .test_conversations import about, new_conversation


class World:
    def __init__(
        self,
        pipeline: Pipeline,
        admin: httpx.Client,
        store: Store,
        debtor: SampleDebtor,
        backoffice: Path,
    ) -> None:
        self.pipeline, self.admin, self.store, self.debtor = pipeline, admin, store, debtor
        self.backoffice = backoffice

    def send(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.admin.get("/_admin/sent").json())
        self.admin.post("/_admin/messages", json=message).raise_for_status()
        run_once(self.pipeline, max_wait=5)
        return list(self.admin.get("/_admin/sent").json()[before:])

    def backoffice_holds(self) -> dict[str, str]:
        """hold_id -> status, as the back-office recorded them."""
        with sqlite3.connect(self.backoffice) as db:
            return dict(db.execute("SELECT hold_id, status FROM opschortingen").fetchall())

    def written_off(self) -> list[str]:
        with sqlite3.connect(self.backoffice) as db:
            return [r[0] for r in db.execute("SELECT aanslagnummers FROM afboekingen").fetchall()]

    def holds(self, **kwargs: Any) -> list[dict[str, Any]]:
        return list_holds(self.store, **kwargs)

    def tasks(self) -> list[dict[str, Any]]:
        return list_tasks(self.store)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    adapters = load_adapters([("belastingen", "gemeentebelastingen", sample.options)])
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        tls = simulator.tls_dir
        assert tls is not None
        context = build_ssl_context(tls / "client.pem", tls / "client.key", tls / "ca.pem")
        with (
            NodeClient(simulator.url, f.CREDITOR, ssl_context=context) as client,
            httpx.Client(base_url=simulator.admin_url, timeout=10) as admin,
        ):
            pipeline = Pipeline(
                store=store,
                node=client,
                adapters=adapters,
                creditor=CreditorProfile(f.CREDITOR, Contactpersoon(naam="Team")),
                policy=load_policy("gemeentebelastingen", "lokale_overheid"),
            )
            yield World(
                pipeline,
                admin,
                store,
                sample.debtors[0],
                Path(sample.options["database_url"].removeprefix("sqlite:///")),
            )
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def proposal(
    world: World,
    conversation: str,
    percentage: str,
    *,
    module: str = "Schuldregeling",
    kind: str = "Betaalvoorstel",
) -> dict[str, Any]:
    kind_of_regeling = "BR" if module == "Betalingsregeling" else "SB"
    message = about(
        f.betaalvoorstel(berichttype=kind, module=module, type_schuldregeling=kind_of_regeling),
        world.debtor,
        conversation,
    )
    # after about(), which points every claim at the debtor's first invoice number
    message["Vorderingen"] = [
        {
            "FactuurnummerSE": number,
            "ActueelVorderingsbedrag": "100.00",
            "Afkooppercentage": percentage,
            "PrognoseEindbedrag": "0.00" if percentage == "0.00" else "10.00",
        }
        for number in world.debtor.factuurnummers
    ]
    return message


def saldo(world: World, conversation: str, module: str = "Schuldregeling") -> None:
    world.send(about(f.saldoverzoek(module=module), world.debtor, conversation))


def test_e03_and_e04_holds_reach_the_back_office(world: World) -> None:
    conversation = new_conversation()
    world.send(about(f.kennisgeving(), world.debtor, conversation))
    saldo(world, conversation)
    holds = world.holds()
    assert sorted(h["hold_type"] for h in holds) == ["H_COV_KG", "H_COV_SALDO"]
    assert world.backoffice_holds() == {h["hold_id"]: "applied" for h in holds}
    # edge case 4: from the Kennisgeving the claim is not made heavier: no costs, no interest
    assert {"RENTE", "KOSTEN"} <= set(holds[0]["measures"])


def test_e05_e06_betalingsregeling_accepted_is_held_until_it_ends(world: World) -> None:
    conversation = new_conversation()
    saldo(world, conversation, module="Betalingsregeling")
    sent = world.send(proposal(world, conversation, "100.00", module="Betalingsregeling"))
    assert [m["Antwoord"] for m in sent] == ["AKKOORD"]
    regeling = [h for h in world.holds() if h["hold_type"] == "H_REGELING"]
    assert len(regeling) == 1 and regeling[0]["event"] == "E06" and regeling[0]["ends"] is None
    end = about(f.schuldregeling_beeindigd(module="Betalingsregeling"), world.debtor, conversation)
    end["Reden"] = "VOORTIJDIG_BEEINDIGD"
    world.send(end)
    assert set(world.backoffice_holds().values()) == {"released"}


def test_e07_proposal_waiting_for_a_person_is_held_until_the_decision(world: World) -> None:
    conversation = new_conversation()
    saldo(world, conversation)
    # a term over the configured maximum is outside the criteria: a person decides
    message = proposal(world, conversation, "20.00")
    message["Looptijd"] = 36
    assert world.send(message) == []
    [proposal_hold] = [h for h in world.holds() if h["hold_type"] == "H_PROPOSAL"]
    assert world.backoffice_holds()[proposal_hold["hold_id"]] == "applied"
    [task] = [t for t in world.tasks() if t["kind"] == "beoordeling"]
    assert "outside the criteria" in task["reason"]
    world.pipeline.tasks.resolve(task["id"], choice="reject", note="looptijd te lang", actor=TESTER)
    run_once(world.pipeline, max_wait=5)
    assert world.backoffice_holds()[proposal_hold["hold_id"]] == "released"
    sent = world.admin.get("/_admin/sent", params={"conversation": conversation}).json()
    assert sent[-1]["Antwoord"] == "NIET_AKKOORD" and sent[-1]["Reden"] == "looptijd te lang"


def test_heroverweging_is_answered(world: World) -> None:
    conversation = new_conversation()
    saldo(world, conversation)
    message = proposal(world, conversation, "20.00")
    message["Looptijd"] = 36
    world.send(message)
    [task] = [t for t in world.tasks() if t["kind"] == "beoordeling"]
    world.pipeline.tasks.resolve(task["id"], choice="reject", note="te lang", actor=TESTER)
    run_once(world.pipeline, max_wait=5)
    sent = world.send(proposal(world, conversation, "20.00", kind="Heroverweging"))
    assert [m["Antwoord"] for m in sent] == ["AKKOORD"]


def agreed(world: World, conversation: str, percentage: str = "20.00") -> None:
    saldo(world, conversation)
    sent = world.send(proposal(world, conversation, percentage))
    assert [m["Antwoord"] for m in sent] == ["AKKOORD"]
    akkoord = about(f.schuldregeling_akkoord(), world.debtor, conversation)
    akkoord["Vorderingen"] = [
        {
            "FactuurnummerSE": n,
            "Afkooppercentage": percentage,
            "PrognoseEindbedrag": "0.00",
            "ActueelVorderingsbedrag": "100.00",
            "VorderingsType": "concurrent",
            "Betaalreferentie": f"REF-{n}",
        }
        for n in world.debtor.factuurnummers
    ]
    assert world.send(akkoord) == []


def test_e08_akkoord_lifts_running_beslag(world: World) -> None:
    conversation = new_conversation()
    agreed(world, conversation)
    [regeling] = [h for h in world.holds() if h["hold_type"] == "H_REGELING"]
    assert {"BESLAG_BANK", "BESLAG_LOON", "GIJZELING"} <= set(regeling["lift"])
    assert world.backoffice_holds()[regeling["hold_id"]] == "applied"


def test_e09_success_releases_and_writes_off(world: World) -> None:
    conversation = new_conversation()
    agreed(world, conversation)
    end = about(f.schuldregeling_beeindigd(), world.debtor, conversation)
    end["KlantnummerSE"] = world.debtor.klantnummer_se
    world.send(end)
    assert set(world.backoffice_holds().values()) == {"released"}
    [written] = world.written_off()
    assert set(__import__("json").loads(written)) == set(world.debtor.factuurnummers)


def test_edge_28_a_zero_percent_sa_offer_is_valid_and_accepted(world: World) -> None:
    conversation = new_conversation()
    saldo(world, conversation)
    message = proposal(world, conversation, "0.00")
    message["TypeSchuldregeling"] = "SA"
    sent = world.send(message)
    assert [m["Antwoord"] for m in sent] == ["AKKOORD"]


def test_edge_8_a_claim_unknown_to_the_back_office_is_flagged_not_included(world: World) -> None:
    conversation = new_conversation()
    saldo(world, conversation)
    message = proposal(world, conversation, "20.00")
    message["Vorderingen"][0]["FactuurnummerSE"] = "NIET-BESTAAND-1"
    assert world.send(message) == []
    assert any("not known in the back-office" in t["reason"] for t in world.tasks())


def bewind(world: World, soort: str, gebeurtenis: str, conversation: str) -> None:
    message = f.melding_bewind()
    message["Berichtheader"]["ConversatieReferentienummer"] = conversation
    p = world.debtor.person
    message["Klant"] = {
        "Geslacht": p.geslacht,
        "Voorletters": p.voorletters,
        "Voornamen": p.voornamen,
        "Achternaam": p.achternaam,
        "Geboortedatum": p.geboortedatum.isoformat(),
        "Bsn": p.bsn,
    }
    message["Adres"] = {
        "Straatnaam": world.debtor.straatnaam,
        "Huisnummer": world.debtor.huisnummer,
        "Postcode": world.debtor.postcode,
        "Woonplaats": world.debtor.woonplaats,
    }
    message["Soort"], message["Gebeurtenis"] = soort, gebeurtenis
    world.send(message)


@pytest.mark.parametrize(
    ("choice", "written"), [("schone_lei", True), ("zonder_schone_lei", False)]
)
def test_e14_e15_wsnp(world: World, choice: str, written: bool) -> None:
    conversation = new_conversation()
    bewind(world, "WSNP", "START", conversation)
    [wsnp] = world.holds()
    assert wsnp["hold_type"] == "H_WSNP" and wsnp["basis"] == "wet" and wsnp["ends"] is None
    assert {"BESLAG_BANK", "GIJZELING"} <= set(wsnp["lift"])
    bewind(world, "WSNP", "EINDE", conversation)
    [task] = [t for t in world.tasks() if t["kind"] == "wsnp_einde"]
    world.pipeline.tasks.resolve(task["id"], choice=choice, note=None, actor=TESTER)
    run_once(world.pipeline, max_wait=5)
    assert world.backoffice_holds() == {wsnp["hold_id"]: "released"}
    assert bool(world.written_off()) is written


def test_e16_beschermingsbewind_holds_nothing_and_asks_a_person(world: World) -> None:
    bewind(world, "BESCHERMINGSBEWIND", "START", new_conversation())
    assert world.holds() == []
    assert [t["kind"] for t in world.tasks()] == ["bewind"]


def test_e20_death_holds_the_estate_for_three_months(world: World) -> None:
    conversation = new_conversation()
    world.send(about(f.kennisgeving(), world.debtor, conversation))
    end = about(f.schuldregeling_beeindigd(), world.debtor, conversation)
    end["Reden"], end["KlantnummerSE"] = "OVERLIJDEN", world.debtor.klantnummer_se
    world.send(end)
    statuses = {h["hold_type"]: h for h in world.holds(include_released=True)}
    assert statuses["H_COV_KG"]["status"] == "released"
    death = statuses["H_DEATH"]
    assert death["status"] == "applied" and death["basis"] == "wet"
    started = datetime.fromisoformat(death["starts"]).date()
    assert death["ends"] == add_months(started, 3).isoformat()


def test_edge_17_stuiting_and_new_assessments_are_never_held() -> None:
    codes = {m.value for m in MeasureCode}
    assert not codes & {"STUITING", "AANSLAG", "NIEUWE_AANSLAG"}
    policy = load_policy("gemeentebelastingen", "lokale_overheid")
    # the measure codes are the whole vocabulary a hold can name
    assert all(set(group) <= set(MeasureCode) for group in policy.groups.values())
