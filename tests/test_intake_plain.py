"""Intake's Core path (engine/intake.py) against its ORM path: the same outcomes, rows,
audit entries and tasks for every kind of batch, the trail's chain intact; a batch with
anything to quarantine goes the ORM way and the Core path writes nothing for it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from skn_connector.engine import pipeline as pipeline_module
from skn_connector.engine.intake import predecode
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.records import CreditorProfile, Intake
from skn_connector.messages import Contactpersoon, message_from_json
from skn_connector.store import Store, open_store
from skn_connector.store.audit import verify_audit
from skn_connector.store.schema import AuditEntry, InboxMessage, QuarantinedMessage, Task
from skn_connector.wire.soap import encode_message

from . import factories as f


def _bytes(message: dict[str, Any]) -> bytes:
    return encode_message(message_from_json(message))


def _batches() -> list[list[tuple[str, bytes]]]:
    one, two, three, four = (_bytes(f.saldoverzoek()) for _ in range(4))
    again = f.saldoverzoek()
    first = json.loads(json.dumps(again))
    first["Schuldhulpverlener"] = "Kredietbank Anderstad"  # same Referentienummer, other bytes
    conflicting, original = _bytes(first), _bytes(again)
    return [
        # new, new, the first again under another handle, the second's handle again
        [("h1", one), ("h2", two), ("h3", one), ("h2", two)],
        # a handle stored before, a new one, a duplicate of a stored message
        [("h1", one), ("h4", three), ("h5", two)],
        [("h6", original)],
        # a new one beside a conflicting duplicate: quarantine and a task
        [("h7", four), ("h8", conflicting)],
        # a handle stored before with other bytes
        [("h1", three)],
        # bytes that are no message
        [("h9", b"<not-a-message/>")],
        [],
    ]


EXPECTED = [
    [Intake.ACCEPTED, Intake.ACCEPTED, Intake.DUPLICATE, Intake.KNOWN],
    [Intake.KNOWN, Intake.ACCEPTED, Intake.DUPLICATE],
    [Intake.ACCEPTED],
    [Intake.ACCEPTED, Intake.CONFLICT],
    [Intake.CONFLICT],
    [Intake.QUARANTINED],
    [],
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    yield opened.scoped(str(f.CREDITOR))
    opened.close()


def _pipeline(store: Store) -> Pipeline:
    creditor = CreditorProfile(participant_id=f.CREDITOR, contact=Contactpersoon(naam="Team"))
    return Pipeline(store=store, node=None, adapters=[], creditor=creditor)


def _contents(store: Store) -> dict[str, Any]:
    with store.transaction() as session:
        inbox = [
            (m.referentienummer, m.node_message_id, m.sha256, m.duplicates, m.status, m.channel)
            for m in session.scalars(select(InboxMessage).order_by(InboxMessage.id))
        ]
        quarantine = [
            (q.node_message_id, q.referentienummer, q.reason, q.occurrences)
            for q in session.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id))
        ]
        tasks = [(t.kind, t.referentienummer) for t in session.scalars(select(Task))]
        audit = [
            (e.event, e.referentienummer, e.detail)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    return {"inbox": inbox, "quarantine": quarantine, "tasks": tasks, "audit": audit}


def test_the_core_path_stores_what_the_orm_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _batches()
    results = []
    for name, plain in (("core", True), ("orm", False)):
        with monkeypatch.context() as patch:
            if not plain:
                patch.setattr(pipeline_module, "store_plain", lambda *_args: None)
            store = open_store(f"sqlite:///{tmp_path / f'{name}.db'}")
            scoped = store.scoped(str(f.CREDITOR))
            pipeline = _pipeline(scoped)
            outcomes = [pipeline.intake_many(batch) for batch in batches]
            assert outcomes == EXPECTED
            assert verify_audit(scoped).ok
            results.append(_contents(scoped))
            store.close()
    core, orm = results
    assert core == orm
    assert [duplicates for *_, duplicates, _, _ in core["inbox"][:2]] == [1, 1]
    assert len(core["quarantine"]) == 3 and len(core["tasks"]) == 3


def test_a_batch_to_quarantine_goes_the_orm_way_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(store)
    through_orm: list[int] = []
    original = Pipeline._intake_with_quarantine

    def counted(self: Pipeline, decoded: Any, *args: Any) -> list[Intake]:
        through_orm.append(len(decoded))
        return original(self, decoded, *args)

    monkeypatch.setattr(Pipeline, "_intake_with_quarantine", counted)
    for batch, expected in zip(_batches(), EXPECTED, strict=True):
        assert pipeline.intake_many(batch) == expected
    assert through_orm == [2, 1, 1]  # the conflicts and the unreadable message
    assert verify_audit(store).ok


def test_decoded_beforehand_is_stored_as_decoded_in_intake(store: Store) -> None:
    pipeline = _pipeline(store)
    other = f.saldoverzoek()
    other["Berichtheader"]["Ontvanger"] = str(uuid.uuid4())
    batch = [("a", _bytes(f.saldoverzoek())), ("b", _bytes(other)), ("c", b"no xml")]
    decoded = [predecode(payload, handle) for handle, payload in batch]
    assert isinstance(decoded[2], str)
    outcomes = pipeline.intake_many(batch, decoded=decoded)
    assert outcomes == [Intake.ACCEPTED, Intake.QUARANTINED, Intake.QUARANTINED]
    reasons = [q[2] for q in _contents(store)["quarantine"]]
    assert "addressed to another participant" in reasons[0]
    assert "not well-formed XML" in reasons[1]
