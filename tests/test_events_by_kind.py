"""Edge cases that depend on the creditor's kind, through the CJIB and werk-en-inkomen
reference adapters: niet-saneerbare sanctions and fraud claims keep their remainder at a
successful end [PW-art-60c] [CJIB-NIET-SANEERBAAR], and no regeling is agreed by machine
once a deurwaarder or dwangmiddel was deployed [CJIB-BETALEN-IN-DELEN]."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.api import DebtorQuery
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.operations.queries import list_tasks
from skn_connector.store import open_store

from . import factories as f
from .test_conversations import about, new_conversation
from .test_events import World


def make_world(
    tmp_path: Path, use: str, kind: str, covenant: str, klantnummer: str
) -> Iterator[World]:
    sample = resolve_adapter_class(use).create_sample(tmp_path / "bo")
    debtor = next(d for d in sample.debtors if d.klantnummer_se == klantnummer)
    adapters = load_adapters([("bo", use, sample.options)])
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
                policy=load_policy(kind, covenant),
            )
            yield World(
                pipeline,
                admin,
                store,
                debtor,
                Path(sample.options["database_url"].removeprefix("sqlite:///")),
            )
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def claims_of(world: World) -> dict[str, Any]:
    loaded = world.pipeline.adapters[0]
    debtor = loaded.adapter.find_debtor(DebtorQuery(klantnummer_se=world.debtor.klantnummer_se))
    assert debtor is not None
    return {c.factuurnummer: c for c in loaded.adapter.list_claims(debtor)}


def proposal_for(world: World, conversation: str, percentage: str) -> dict[str, Any]:
    message = about(f.betaalvoorstel(), world.debtor, conversation)
    message["Vorderingen"] = [
        {
            "FactuurnummerSE": number,
            "ActueelVorderingsbedrag": str(claim.openstaand),
            "Afkooppercentage": percentage,
            "PrognoseEindbedrag": str(
                (claim.openstaand * int(percentage.split(".")[0]) / 100).quantize(claim.openstaand)
            ),
        }
        for number, claim in claims_of(world).items()
    ]
    return message


def run_to_success(world: World, percentage: str) -> list[dict[str, Any]]:
    conversation = new_conversation()
    world.send(about(f.saldoverzoek(module="Schuldregeling"), world.debtor, conversation))
    answers = world.send(proposal_for(world, conversation, percentage))
    return answers


@pytest.fixture
def cjib_sanction(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, "cjib", "cjib", "rijk", "700002")


@pytest.fixture
def cjib_deurwaarder(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, "cjib", "cjib", "rijk", "700003")


@pytest.fixture
def wi_fraud(tmp_path: Path) -> Iterator[World]:
    yield from make_world(
        tmp_path, "werk_en_inkomen", "werk_en_inkomen", "lokale_overheid", "200002"
    )


def test_edge_10_cjib_niet_saneerbare_claim_keeps_its_remainder(cjib_sanction: World) -> None:
    world = cjib_sanction
    claims = claims_of(world)
    kept = [n for n, c in claims.items() if not c.saneerbaar]
    assert kept, "the sample debtor has a niet-saneerbare sanction"
    from skn_connector.engine.holds import Found, plan_write_offs

    loaded = world.pipeline.adapters[0]
    debtor = loaded.adapter.find_debtor(
        __import__("skn_connector.adapters.api", fromlist=["DebtorQuery"]).DebtorQuery(
            klantnummer_se=world.debtor.klantnummer_se
        )
    )
    plans, notes = plan_write_offs(
        [Found(loaded, debtor, tuple(claims.values()))],
        None,
        "SCHULDREGELING_GESLAAGD",
        __import__("datetime").date(2027, 1, 1),
    )
    assert not set(kept) & set(plans[0].factuurnummers)
    assert any(kept[0] in note and "not saneerbaar" in note for note in notes)
    # and the back-office itself never writes it off, even when asked
    import uuid

    from skn_connector.adapters.api import WriteOff

    result = loaded.adapter.write_off(
        debtor,
        WriteOff(
            write_off_id=uuid.uuid4(),
            debtor_id=debtor.debtor_id,
            factuurnummers=tuple(claims),
            reason="TEST",
            datum=__import__("datetime").date(2027, 1, 1),
            conversation_id=uuid.uuid4(),
        ),
    )
    assert not set(kept) & set(result.written_off)


def test_edge_29_no_regeling_by_machine_after_a_deurwaarder(cjib_deurwaarder: World) -> None:
    world = cjib_deurwaarder
    assert run_to_success(world, "20.00") == []
    tasks = [t for t in list_tasks(world.store) if t["kind"] == "beoordeling"]
    assert len(tasks) == 1


def test_edge_9_fraud_with_opzet_is_not_written_off(wi_fraud: World) -> None:
    world = wi_fraud
    claims = claims_of(world)
    fraud = {
        n
        for n, c in claims.items()
        if c.fraude and c.fraude_kwalificatie in {"opzet", "grove_schuld"}
    }
    assert fraud
    answers = run_to_success(world, "20.00")
    # the college may not take part insofar as it leads to kwijtschelding of such a claim
    assert [a["Antwoord"] for a in answers] == ["NIET_AKKOORD"]
    assert answers[0]["Reden"]
