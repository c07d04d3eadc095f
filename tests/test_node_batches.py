"""The optional batched node operations (fetch, confirm and send several messages per call),
the client's fall-back to the single operations, and the pipeline's batches: a group commit
per fetch, decisions committed together, a conversation's messages still in order."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.pipeline import DECODED_KEPT, Pipeline
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon, message_from_json
from skn_connector.node import simulator as simulator_module
from skn_connector.node.client import NodeClient, NodeRejected, build_ssl_context
from skn_connector.node.simulator import NodeState, Simulator
from skn_connector.service.daemon import run_once
from skn_connector.store import open_store
from skn_connector.store.schema import AuditEntry
from skn_connector.wire.profile import OP_CONFIRM_MANY, OP_FETCH_MANY, OP_SEND_MANY
from skn_connector.wire.soap import encode_message

from . import factories as f
from .test_conversations import about, new_conversation


def queued(admin: httpx.Client, count: int) -> list[str]:
    """Queue ``count`` Saldoverzoeken; their node handles, oldest first."""
    handles = []
    for _ in range(count):
        response = admin.post("/_admin/messages", json=f.saldoverzoek())
        response.raise_for_status()
        handles.append(response.json()["Id"])
    return handles


def test_fetch_many_and_confirm_many(
    node_client: NodeClient, admin: httpx.Client, simulator: Simulator
) -> None:
    handles = queued(admin, 3)
    fetched = node_client.fetch_many(handles)
    assert [m.id for m in fetched] == handles
    assert all(m.payload.startswith(b"<?xml") for m in fetched)
    assert all(entry["Opgehaald"] for entry in admin.get("/_admin/messagebox").json())
    node_client.confirm_many(handles)
    node_client.confirm_many(handles)  # idempotent
    assert admin.get("/_admin/messagebox").json() == []
    assert simulator.state.stats()["confirmed"] == 3


def test_an_unknown_id_fetches_and_confirms_nothing(
    node_client: NodeClient, admin: httpx.Client
) -> None:
    handles = queued(admin, 3)
    node_client.confirm_many([m.id for m in node_client.fetch_many(handles[:1])])
    with pytest.raises(NodeRejected, match="no message with Id"):
        node_client.fetch_many([handles[1], "unknown-handle"])
    with pytest.raises(NodeRejected, match="no message with Id"):
        node_client.confirm_many([handles[1], "unknown-handle"])
    box = admin.get("/_admin/messagebox").json()
    assert [entry["Id"] for entry in box] == handles[1:]
    assert not any(entry["Opgehaald"] for entry in box)


def test_a_refused_first_batch_whose_singles_fail_too_is_no_reason_to_stop_batching(
    node_client: NodeClient, admin: httpx.Client
) -> None:
    handles = queued(admin, 2)
    with pytest.raises(NodeRejected, match="no message with Id"):
        node_client.fetch_many(["unknown-handle", handles[0]])
    assert [m.id for m in node_client.fetch_many(handles)] == handles
    assert node_client._batched is True


def test_a_fetch_answer_holds_as_many_messages_as_fit() -> None:
    state = NodeState()
    handles = [state.queue_raw(f.CREDITOR, b"x" * 3000) for _ in range(3)]
    # 3000 bytes are 4000 in base64: two fit in 9000, and the first always goes
    assert [h for h, _ in state.fetch_many(f.CREDITOR, handles, budget=9000)] == handles[:2]
    assert [h for h, _ in state.fetch_many(f.CREDITOR, handles[2:], budget=10)] == handles[2:]


def test_send_many_takes_or_refuses_each_message(
    node_client: NodeClient, simulator: Simulator
) -> None:
    good = [encode_message(message_from_json(f.saldoverzoek())) for _ in range(2)]
    results = node_client.send_many([good[0], b"<not a message/>", good[1]])
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert isinstance(results[1], NodeRejected) and "not valid" in str(results[1])
    assert node_client.send_many([good[0]]) == [results[0]]  # the same Referentienummer again
    assert simulator.state.stats()["sent"] == 2
    assert simulator.state.stats()["duplicate_sends"] == 1


def test_without_the_batched_operations_the_client_uses_the_single_ones(
    node_client: NodeClient,
    admin: httpx.Client,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = dict(simulator_module.REQUESTS)
    for operation in (OP_FETCH_MANY, OP_CONFIRM_MANY, OP_SEND_MANY):
        del requests[operation]
    monkeypatch.setattr(simulator_module, "REQUESTS", requests)
    handles = queued(admin, 2)
    assert [m.id for m in node_client.fetch_many(handles)] == handles
    node_client.confirm_many(handles)
    sent = node_client.send_many([encode_message(message_from_json(f.saldoverzoek()))])
    assert isinstance(sent[0], str)
    assert admin.get("/_admin/messagebox").json() == []
    assert simulator.state.stats()["sent"] == 1


def test_a_simulator_may_keep_no_copy_of_what_was_sent() -> None:
    state = NodeState(keep_sent=False)
    payload = encode_message(message_from_json(f.saldoverzoek()))
    referentienummer = state.send(f.CREDITOR, payload)
    assert state.send(f.CREDITOR, payload) == referentienummer  # still recognised as a repeat
    assert state.sent() == [] and state.stats()["sent"] == 1


# -- the pipeline's batches -----------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    adapters = load_adapters([("belastingen", "gemeentebelastingen", sample.options)])
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    commits = [0]

    def count(_connection: Any) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", count)
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
                creditor=CreditorProfile(
                    participant_id=f.CREDITOR,
                    contact=Contactpersoon(naam="Team Invordering"),
                ),
            )
            yield {
                "pipeline": pipeline,
                "admin": admin,
                "debtor": sample.debtors[0],
                "commits": lambda: commits[0],
                "store": store,
            }
    for loaded in adapters:
        loaded.adapter.close()
    store.close()


def test_a_batch_is_stored_and_answered_with_few_commits(world: dict[str, Any]) -> None:
    admin, pipeline = world["admin"], world["pipeline"]
    queued(admin, 40)
    before = world["commits"]()
    summary = run_once(pipeline, max_wait=5)
    assert summary.ok and summary.fetched == 40 and summary.delivered == 40
    # one commit for the 40 stored, one for the 40 decisions, one for the 40 sent (plus the
    # poll's bookkeeping); one message at a time took more than four commits each
    assert world["commits"]() - before < 20
    assert admin.get("/_admin/messagebox").json() == []


def test_a_second_message_of_a_conversation_waits_for_the_first(world: dict[str, Any]) -> None:
    admin, pipeline, debtor = world["admin"], world["pipeline"], world["debtor"]
    conversation = new_conversation()
    for message in (
        about(f.kennisgeving(), debtor, conversation),
        about(f.saldoverzoek(module="Schuldregeling"), debtor, conversation),
    ):
        admin.post("/_admin/messages", json=message).raise_for_status()
    summary = run_once(pipeline, max_wait=5)
    assert summary.ok and summary.fetched == 2
    assert dict(summary.answered) == {"KennisgevingAntwoord": 1, "SaldoverzoekAntwoord": 1}
    with world["store"].transaction() as session:
        processed = [
            json.loads(entry.detail)
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.event == "processed", AuditEntry.conversation_id == conversation)
                .order_by(AuditEntry.id)
            )
        ]
    # the Saldoverzoek was decided on the state the Kennisgeving committed
    assert [(p["state_from"], p["state_to"]) for p in processed] == [
        (None, "STABILISATIE"),
        ("STABILISATIE", "SALDO_OPGEGEVEN"),
    ]


def test_decoded_messages_are_reused_only_for_the_same_bytes(world: dict[str, Any]) -> None:
    pipeline: Pipeline = world["pipeline"]
    message = message_from_json(f.saldoverzoek())
    payload = encode_message(message)
    referentienummer = str(message.berichtheader.referentienummer)
    pipeline._remember_decoded(referentienummer, payload, message)
    assert pipeline._recall_decoded(referentienummer, payload + b" ") is None
    pipeline._remember_decoded(referentienummer, payload, message)
    assert pipeline._recall_decoded(referentienummer, payload) is message
    assert pipeline._recall_decoded(referentienummer, payload) is None  # used once
    kept = max(2 * pipeline.batch_size, DECODED_KEPT)  # a held-back backlog of deliveries
    for _ in range(kept + pipeline.batch_size):
        pipeline._remember_decoded(str(uuid.uuid4()), payload, message)
    assert len(pipeline._decoded) == kept


def test_answers_go_out_while_the_next_batch_is_fetched(world: dict[str, Any]) -> None:
    """run_once sends a batch of answers in a second thread: the node is asked for the next
    batch before it has taken the answers of the first. Every answer is still sent once."""
    admin, pipeline = world["admin"], world["pipeline"]
    pipeline.batch_size = 10
    queued(admin, 30)
    node = pipeline.node
    listed_again = threading.Event()
    sending = threading.Event()
    overlapped: list[bool] = []
    real_send_many, real_list = node.send_many, node.list_messages

    def list_messages(limit: int = 100) -> Any:
        if sending.is_set():
            listed_again.set()
        return real_list(limit)

    def send_many(payloads: list[bytes]) -> Any:
        if not overlapped:  # the first batch waits until the main thread lists again
            sending.set()
            overlapped.append(listed_again.wait(timeout=10))
        return real_send_many(payloads)

    node.list_messages = list_messages  # type: ignore[method-assign]
    node.send_many = send_many  # type: ignore[method-assign]
    summary = run_once(pipeline, max_wait=5)

    assert overlapped == [True]
    assert summary.ok and summary.fetched == 30 and summary.delivered == 30
    sent = admin.get("/_admin/stats").json()["sent"]
    assert sent == 30
    assert admin.get("/_admin/messagebox").json() == []
