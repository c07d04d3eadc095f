"""``skn-connector explain``: the chain from a message to the stop of a measure, for a hold,
a message, a conversation and a debtor, in text and JSON, every source resolved.

Over real sockets against the simulated node with the command line; the back-office refusing
a hold is a real outage of its own (an adapter that raises BackOfficeUnavailable), told by
``explain`` step by step with each attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.api import BackOfficeUnavailable
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.demo import write_config
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.engine.records import CreditorProfile
from skn_connector.engine.sources import load_sources
from skn_connector.messages import Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.operations.explain import ExplainNotFound, StepKind, explain
from skn_connector.service.daemon import run_once
from skn_connector.store import open_store

from . import factories as f
from .test_approval import World
from .test_conversations import about, new_conversation

#: The chain a Saldoverzoek answered after a person's approval tells, in this order.
CHAIN = [
    StepKind.MESSAGE,
    StepKind.RULE,
    StepKind.EVENT,
    StepKind.TASK,
    StepKind.DECISION,
    StepKind.HOLD,
    StepKind.BACKOFFICE,
    StepKind.ANSWER,
    StepKind.DEADLINE,
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        with config.open("a", encoding="utf-8") as out:
            # a creditor's own choice: verrekening goes on after the saldo-opgave
            out.write(
                "\n[policy]\n"
                'approve_before_sending = ["SaldoverzoekAntwoord"]\n'
                "  [policy.events.E04]\n"
                '  SETOFF = "allow"\n'
            )
        with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
            yield World(tmp_path, admin, sample, config)


def answered_after_approval(world: World) -> str:
    question = world.ask_saldo("100001")
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    [task] = world.tasks("approve_answer")
    approve = world.run("tasks", "resolve", str(task["id"]), "--choice", "approve")
    assert approve.returncode == 0, approve.stderr
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    assert world.answered() == [question]
    return question


def explained(world: World, *args: str) -> dict[str, Any]:
    done = world.run("explain", *args, "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def check_sources_resolve(document: dict[str, Any]) -> None:
    """Every id a step cites is listed in full, and is a source the package ships."""
    known = load_sources()
    listed = {source["id"]: source for source in document["sources"]}
    cited = {
        source_id
        for chain in document["conversations"]
        for step in chain["steps"]
        for source_id in step["sources"]
    }
    assert cited, "the chain cites no source"
    assert cited == set(listed)
    for source_id in cited:
        assert source_id in known
        assert listed[source_id]["url"].startswith("https://")
        assert listed[source_id]["title"] == known[source_id].title


def no_personal_data(world: World, text: str) -> None:
    debtor = next(d for d in world.sample.debtors if d.klantnummer_se == "100001")
    person = debtor.person
    for value in (person.bsn, person.achternaam, person.voornamen, debtor.straatnaam):
        if value:
            assert value not in text


def test_explain_a_hold_tells_the_chain_with_its_sources(world: World) -> None:
    question = answered_after_approval(world)
    [(hold_id, conversation_id)] = world.rows("SELECT hold_id, conversation_id FROM holds")
    document = explained(world, hold_id)
    assert document["kind"] == "hold" and document["subject"] == hold_id
    [chain] = document["conversations"]
    assert chain["conversation_id"] == conversation_id
    assert chain["state"] == "SALDO_OPGEGEVEN" and chain["klantnummer_se"] == "100001"
    kinds = [StepKind(step["kind"]) for step in chain["steps"]]
    # the chain in its order (each kind where it first appears). The hold is planned in the
    # round before the person's approval: in the same minute the chain tells the round's
    # steps in the order of StepKind, across a minute in the order they happened
    assert set(kinds) == set(CHAIN)
    at = {kind: kinds.index(kind) for kind in CHAIN}
    assert at[StepKind.MESSAGE] < at[StepKind.RULE] < at[StepKind.EVENT] < at[StepKind.HOLD]
    assert at[StepKind.HOLD] < at[StepKind.BACKOFFICE]
    assert at[StepKind.EVENT] < at[StepKind.TASK] < at[StepKind.DECISION]
    assert at[StepKind.TASK] < at[StepKind.ANSWER]
    approved = next(i for i, s in enumerate(chain["steps"]) if s["kind"] == "decision")
    delivered = next(
        i for i, s in enumerate(chain["steps"]) if s["facts"].get("event") == "delivered"
    )
    assert approved < delivered  # the answer went out after the person approved it
    steps = {step["kind"]: step for step in chain["steps"]}

    assert steps["message"]["facts"]["referentienummer"] == question
    assert steps["rule"]["facts"]["state_to"] == "SALDO_OPGEGEVEN"
    event = steps["event"]["facts"]
    assert event["event"] == "E04" and event["hold_type"] == "H_COV_SALDO"
    # the override that changed the rule is named, and what it changed shows
    assert event["overrides"] == ["[policy.events.E04] in the configuration"]
    assert event["effects"]["SETOFF"] == "allow" and "VERREKENING" not in event["stops"]
    hold = steps["hold"]["facts"]
    assert hold["hold_id"] == hold_id and hold["status"] == "applied"
    assert "VERREKENING" not in hold["measures"] and "DWANGBEVEL" in hold["measures"]
    assert hold["claims"] and hold["from"] and hold["until"]
    assert steps["hold"]["sources"] == steps["event"]["sources"]
    applied = [s for s in chain["steps"] if s["kind"] == "backoffice"]
    assert applied[0]["facts"]["event"] == "hold_applied"
    decision = steps["decision"]
    assert decision["facts"]["event"] == "answer_approved" and "(cli)" in decision["summary"]
    answer_events = [s["facts"].get("event") for s in chain["steps"] if s["kind"] == "answer"]
    assert "delivered" in answer_events
    deadline = steps["deadline"]["facts"]
    assert deadline["met"] is True and deadline["working_days"] == 10
    assert steps["deadline"]["sources"] == [
        "SKN-PROCESAFSPRAKEN-SE-2.3",
        "SKN-CONNECTOR-CHOICE-WORKING-DAYS",
    ]
    check_sources_resolve(document)
    no_personal_data(world, json.dumps(document))

    text = world.run("explain", hold_id)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"hold {hold_id}\n")
    assert "event E04" in text.stdout and "changed by [policy.events.E04]" in text.stdout
    assert f"hold {hold_id} (H_COV_SALDO, event E04" in text.stdout
    assert "approved the SaldoverzoekAntwoord" in text.stdout
    assert "answered on" in text.stdout and ": in time" in text.stdout
    # every id cited in a line is printed in full under "sources:"
    body, sources = text.stdout.split("\nsources:\n")
    cited = {
        i for group in re.findall(r"\[([A-Z][^\]]+)\]$", body, re.M) for i in group.split(", ")
    }
    printed = set(re.findall(r"^  \[([^\]]+)\] ", sources, re.M))
    assert cited and cited == printed
    no_personal_data(world, text.stdout)


def test_explain_a_message_a_conversation_and_a_debtor_tell_the_same_chain(
    world: World,
) -> None:
    question = answered_after_approval(world)
    [(answer,)] = world.rows("SELECT referentienummer FROM outbox")
    [(conversation_id,)] = world.rows("SELECT id FROM conversations")
    by_question = explained(world, question)
    by_answer = explained(world, answer)
    by_conversation = explained(world, conversation_id)
    by_debtor = explained(world, "--debtor", "100001")
    assert (by_question["kind"], by_answer["kind"]) == ("message", "message")
    assert by_conversation["kind"] == "conversation" and by_debtor["kind"] == "debtor"
    assert by_debtor["subject"] == "100001"
    for document in (by_question, by_answer, by_conversation, by_debtor):
        [chain] = document["conversations"]
        assert chain["conversation_id"] == conversation_id
        assert chain["steps"] == by_question["conversations"][0]["steps"]
        check_sources_resolve(document)
    for args in ((question,), (conversation_id,), ("--debtor", "100001")):
        text = world.run("explain", *args)
        assert text.returncode == 0, text.stderr
        assert f"conversation {conversation_id} (Schuldregeling, now SALDO_OPGEGEVEN)" in (
            text.stdout
        )
        assert "\nsources:\n  [" in text.stdout
        no_personal_data(world, text.stdout)


def test_a_debtor_with_two_conversations_gets_both(world: World) -> None:
    world.ask_saldo("100001")
    world.ask_saldo("100001")
    assert world.run("run", "--once", "--max-wait", "5").returncode == 0
    document = explained(world, "--debtor", "100001")
    assert len(document["conversations"]) == 2
    check_sources_resolve(document)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("no-such-thing",), "nothing has the reference 'no-such-thing'"),
        (("--debtor", "999999"), "no conversation is about a debtor with that KlantnummerSE"),
        ((), "give a hold id, a Referentienummer or a conversation id, or --debtor"),
        (("x", "--debtor", "100001"), "give a hold id, a Referentienummer"),
    ],
)
def test_what_is_not_there_is_one_sentence(world: World, args: tuple[str, ...], says: str) -> None:
    done = world.run("explain", *args)
    assert done.returncode == 2
    [line] = [x for x in done.stderr.splitlines() if x.startswith("skn-connector:")]
    assert says in line


class _Refusing:
    """The back-office refuses holds for now (an outage); lookups still work."""

    def __init__(self, loaded: Any) -> None:
        self.name, self.capabilities, self.inner = loaded.name, loaded.capabilities, loaded
        self.adapter = self

    def apply_hold(self, hold: Any) -> Any:
        raise BackOfficeUnavailable("the back-office is down")

    release_hold = apply_hold


def test_explain_counts_the_back_office_refusals_and_the_late_apply(tmp_path: Path) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    adapters = load_adapters([("belastingen", "gemeentebelastingen", sample.options)])
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    policy = load_policy("gemeentebelastingen", "lokale_overheid")
    now = [datetime.now(UTC)]
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
                clock=lambda: now[0],
                creditor=CreditorProfile(f.CREDITOR, Contactpersoon(naam="Team")),
                policy=policy,
            )
            real = pipeline.effects.adapters
            pipeline.effects.adapters = {n: _Refusing(a) for n, a in real.items()}  # type: ignore[misc]
            message = about(f.kennisgeving(), sample.debtors[0], new_conversation())
            admin.post("/_admin/messages", json=message).raise_for_status()
            run_once(pipeline, max_wait=1)
            now[0] += timedelta(hours=2)  # past the first retry's wait
            pipeline.carry_out()
            pipeline.effects.adapters = real
            now[0] += timedelta(hours=2)
            pipeline.carry_out()
    [hold] = [h for h in _holds(store)]
    found = explain(store, policy, hold)
    [chain] = found.chains
    failures = [s for s in chain.steps if s.facts.get("event") == "effect_failed"]
    assert len(failures) >= 2
    assert failures[0].summary == (
        f"attempt 1 to carry out hold {hold} failed (BackOfficeUnavailable); it is retried"
    )
    applied = [s for s in chain.steps if s.facts.get("event") == "hold_applied"]
    assert len(applied) == 1
    assert chain.steps.index(applied[0]) > chain.steps.index(failures[-1])
    [hold_step] = [s for s in chain.steps if s.kind == StepKind.HOLD]
    assert hold_step.facts["attempts"] == len(failures)
    assert all(source_id in found.sources for s in chain.steps for source_id in s.sources)
    with pytest.raises(ExplainNotFound):
        explain(store, policy, "0f0f0f0f-0000-0000-0000-000000000000")
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def _holds(store: Any) -> list[str]:
    from sqlalchemy import select

    from skn_connector.store.schema import HoldRecord

    with store.transaction() as session:
        return list(session.scalars(select(HoldRecord.hold_id)))
