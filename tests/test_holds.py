"""Enforcement holds by policy: events through the simulator, the holds and releases the
adapter received, and the edge cases: a duplicate Kennisgeving, stacked covenant holds, no
covenant, claims arising during the trajectory, fraud and niet-saneerbare claims, deadlines
across holidays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.api import Capability, Claim, Debtor, MeasureCode
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.deadlines import WorkingDays
from skn_connector.engine.holds import Found, add_months, plan_holds, plan_write_offs
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.operations.queries import list_holds
from skn_connector.service.daemon import run_once
from skn_connector.store import open_store

from . import factories as f
from .test_conversations import about, new_conversation


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    adapters = load_adapters([("belastingen", "gemeentebelastingen", sample.options)])
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    clock = Clock()
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        tls = simulator.tls_dir
        assert tls is not None
        context = build_ssl_context(tls / "client.pem", tls / "client.key", tls / "ca.pem")
        with (
            NodeClient(simulator.url, f.CREDITOR, ssl_context=context) as client,
            httpx.Client(base_url=simulator.admin_url, timeout=10) as admin,
        ):

            def pipeline(
                kind: str = "gemeentebelastingen", covenant: str = "lokale_overheid"
            ) -> Pipeline:
                return Pipeline(
                    store=store,
                    node=client,
                    adapters=adapters,
                    clock=clock,
                    creditor=CreditorProfile(f.CREDITOR, Contactpersoon(naam="Team")),
                    policy=load_policy(kind, covenant),
                )

            yield {
                "pipeline": pipeline,
                "admin": admin,
                "store": store,
                "clock": clock,
                "debtor": sample.debtors[0],
                "adapter": adapters[0].adapter,
            }
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def deliver(world: dict[str, Any], pipeline: Pipeline, message: dict[str, Any]) -> None:
    world["admin"].post("/_admin/messages", json=message).raise_for_status()
    run_once(pipeline, max_wait=5)


def stopped_measures(world: dict[str, Any]) -> set[MeasureCode]:
    """Measures still active on the sample debtor's claims, as the back-office reports them."""
    adapter = world["adapter"]
    debtor = adapter.find_debtor(
        __import__("skn_connector.adapters.api", fromlist=["DebtorQuery"]).DebtorQuery(
            klantnummer_se=world["debtor"].klantnummer_se
        )
    )
    return {m for c in adapter.list_claims(debtor) for m in c.measures}


def test_e03_kennisgeving_applies_one_hold_and_a_duplicate_adds_none(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"]()
    before = stopped_measures(world)
    assert before, "the sample debtor has active measures"
    conversation = new_conversation()
    message = about(f.kennisgeving(), world["debtor"], conversation)
    deliver(world, pipeline, message)
    deliver(world, pipeline, message)  # edge case 13: the same Kennisgeving twice
    holds = list_holds(world["store"])
    assert (
        len(holds) == 1 and holds[0]["hold_type"] == "H_COV_KG" and holds[0]["status"] == "applied"
    )
    assert holds[0]["ends"] == add_months(date(2026, 3, 2), 8).isoformat()
    # everything the covenant stops is stopped at the back-office; a running beslag is allowed
    assert stopped_measures(world) <= {MeasureCode.BESLAG_BANK, MeasureCode.BESLAG_LOON}


def test_edge_3_stacked_holds_end_at_the_later_end(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"]()
    conversation = new_conversation()
    deliver(world, pipeline, about(f.kennisgeving(), world["debtor"], conversation))
    world["clock"].now += timedelta(days=200)
    deliver(
        world,
        pipeline,
        about(f.saldoverzoek(module="Schuldregeling"), world["debtor"], conversation),
    )
    holds = {h["hold_type"]: h for h in list_holds(world["store"])}
    saldo_day = date(2026, 3, 2) + timedelta(days=200)
    assert holds["H_COV_SALDO"]["ends"] == add_months(saldo_day, 8).isoformat()
    # not the sum of both: the later end
    assert holds["H_COV_KG"]["effective_end"] == add_months(saldo_day, 8).isoformat()
    # the Kennisgeving hold expires at its own end; the saldo hold keeps the stop
    world["clock"].now = datetime.combine(
        add_months(date(2026, 3, 2), 8) + timedelta(days=1), datetime.min.time(), UTC
    )
    pipeline.carry_out()
    statuses = {
        h["hold_type"]: h["status"] for h in list_holds(world["store"], include_released=True)
    }
    assert statuses == {"H_COV_KG": "released", "H_COV_SALDO": "applied"}


def test_edge_1_no_covenant_no_hold(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"](covenant="geen")
    deliver(world, pipeline, about(f.kennisgeving(), world["debtor"], new_conversation()))
    assert list_holds(world["store"]) == []


@pytest.mark.parametrize(
    ("reden", "event_hold", "left"),
    [("VOORTIJDIG_BEEINDIGD", None, set()), ("OVERLIJDEN", "H_DEATH", {"H_DEATH"})],
)
def test_e09f_and_e20_end_of_a_schuldregeling(
    world: dict[str, Any], reden: str, event_hold: str | None, left: set[str]
) -> None:
    pipeline = world["pipeline"]()
    conversation = new_conversation()
    deliver(world, pipeline, about(f.kennisgeving(), world["debtor"], conversation))
    end = about(f.schuldregeling_beeindigd(), world["debtor"], conversation)
    end["Reden"] = reden
    end["KlantnummerSE"] = world["debtor"].klantnummer_se
    deliver(world, pipeline, end)
    active = {h["hold_type"] for h in list_holds(world["store"])}
    assert active == left
    released = [
        h for h in list_holds(world["store"], include_released=True) if h["status"] == "released"
    ]
    assert [h["hold_type"] for h in released] == ["H_COV_KG"]


def claim(number: str, arisen: date, **flags: Any) -> Claim:
    return Claim(
        factuurnummer=number,
        omschrijving="x",
        ontstaansdatum=arisen,
        originele_vordering=Decimal("100"),
        hoofdsom=Decimal("100"),
        openstaand=Decimal("100"),
        **flags,
    )


class _Loaded:
    def __init__(self, capabilities: set[Capability]) -> None:
        self.name = "bo"
        self.capabilities = frozenset(capabilities)


def test_edge_7_claims_arising_during_the_trajectory_are_not_held() -> None:
    policy = load_policy("gemeentebelastingen", "lokale_overheid")
    found = [
        Found(
            _Loaded({Capability.HOLDS}),
            Debtor(debtor_id="1", klantnummer_se="1"),  # type: ignore[arg-type]
            (claim("OLD", date(2025, 1, 1)), claim("NEW", date(2026, 6, 1))),
        )
    ]
    plans, notes = plan_holds(policy, "E03", found, date(2026, 3, 2))
    assert [p.factuurnummers for p in plans] == [("OLD",)] and notes == []
    # stuiting and new assessments are no measure codes: nothing can hold them
    assert all("STUITING" not in m for m in plans[0].measures)


def test_edges_9_and_10_fraud_and_niet_saneerbaar_keep_their_remainder() -> None:
    found = [
        Found(
            _Loaded({Capability.WRITE_OFF}),
            Debtor(debtor_id="1", klantnummer_se="1"),  # type: ignore[arg-type]
            (
                claim("PLAIN", date(2025, 1, 1)),
                claim("OPZET", date(2025, 1, 1), fraude=True, fraude_kwalificatie="opzet"),
                claim(
                    "VERWIJTBAAR", date(2025, 1, 1), fraude=True, fraude_kwalificatie="verwijtbaar"
                ),
                claim("STRAF", date(2025, 1, 1), saneerbaar=False),
            ),
        )
    ]
    plans, notes = plan_write_offs(found, None, "SCHULDREGELING_GESLAAGD", date(2027, 1, 1))
    assert plans[0].factuurnummers == ("PLAIN", "VERWIJTBAAR")
    assert {n.split()[1] for n in notes} == {"OPZET", "STRAF"}


def test_edge_16_deadlines_across_holidays() -> None:
    days = WorkingDays()
    assert days.add(date(2026, 12, 23), 10) == date(2027, 1, 8)  # Christmas and New Year
    assert days.add(date(2027, 3, 25), 10) == date(2027, 4, 9)  # Easter Monday 29 March
    assert days.add(date(2027, 4, 22), 10) == date(2027, 5, 11)  # King's Day, 5 May, Ascension
    assert days.add(date(2026, 4, 24), 1) == date(2026, 4, 28)  # King's Day 2026 on a Monday


class _Down:
    """The back-office refuses every call for now (a retryable outage)."""

    def __init__(self, loaded: Any) -> None:
        self.name, self.capabilities = loaded.name, loaded.capabilities

        class _Adapter:
            def apply_hold(self, hold: Any) -> Any:
                from skn_connector.adapters.api import BackOfficeUnavailable

                raise BackOfficeUnavailable("the back-office is down")

            release_hold = apply_hold

        self.adapter = _Adapter()


def test_a_hold_the_back_office_did_not_take_for_a_working_day_is_a_task(
    world: dict[str, Any],
) -> None:
    pipeline = world["pipeline"]()
    pipeline.effects.adapters = {
        name: _Down(loaded) for name, loaded in pipeline.effects.adapters.items()
    }
    deliver(world, pipeline, about(f.kennisgeving(), world["debtor"], new_conversation()))
    [hold] = list_holds(world["store"])
    assert hold["status"] == "to_apply"
    assert pipeline.watch.deadlines() == 0  # the same day: retries, no alarm yet
    world["clock"].now += timedelta(hours=3)
    assert pipeline.watch.deadlines() == 0  # down for 3 hours: below the outage setting (4 h)
    world["clock"].now += timedelta(hours=21)  # Monday 2 March -> Tuesday: one working day
    # the hold is not taken for a working day, and the back-office is down for over 4 hours
    assert pipeline.watch.deadlines() == 2
    assert pipeline.watch.deadlines() == 0  # once per hold, once per outage
    from skn_connector.operations.queries import list_tasks

    tasks = list_tasks(world["store"])
    [task] = [t for t in tasks if t["kind"] == "hold_not_applied"]
    assert "not applied at belastingen" in task["reason"] and "by hand" in task["reason"]
    [outage] = [t for t in tasks if t["kind"] == "backoffice_unavailable"]
    assert outage["reason"].startswith("the back-office of belastingen has refused")
    assert "1 holds and 0 messages" in outage["reason"]


def _last_poll(store: Any) -> str | None:
    from skn_connector.store.schema import Meta

    with store.transaction() as session:
        row = session.get(Meta, "last_poll")
        return row.value if row is not None else None


def test_a_node_not_polled_for_three_working_days_is_a_task(world: dict[str, Any]) -> None:
    from skn_connector.operations.queries import list_tasks

    pipeline, clock, store = world["pipeline"](), world["clock"], world["store"]
    first = clock.now  # Monday 2 March 2026
    pipeline.poll()
    assert _last_poll(store) == first.isoformat()
    # written at most once a minute (it was a commit of its own every round)
    clock.now = first + timedelta(seconds=59)
    pipeline.poll()
    assert _last_poll(store) == first.isoformat()
    clock.now = first + timedelta(seconds=60)
    pipeline.poll()
    assert _last_poll(store) == (first + timedelta(seconds=60)).isoformat()
    clock.now = first - timedelta(hours=1)  # a clock set back is written at once
    pipeline.poll()
    assert _last_poll(store) == (first - timedelta(hours=1)).isoformat()

    clock.now = first + timedelta(days=2)  # Wednesday: two working days
    assert pipeline.watch.deadlines() == 0
    clock.now = first + timedelta(days=3)  # Thursday: three
    assert pipeline.watch.deadlines() == 1
    assert pipeline.watch.deadlines() == 0  # once while it is open
    [task] = [t for t in list_tasks(store) if t["kind"] == "node_not_polled"]
    assert task["reason"] == (
        "the node was last polled on 2026-03-02; it deletes messages after 5 working days"
    )
