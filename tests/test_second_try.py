"""A person's second try: 'quarantine retry' and 'messages replay' reset what blocked a
message, and never cause a second answer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from skn_connector.adapters.api import BackOfficeRejected
from skn_connector.engine.tasks import TaskError
from skn_connector.messages import message_from_json
from skn_connector.service.daemon import run_once
from skn_connector.store.schema import InboxMessage, QuarantinedMessage
from skn_connector.wire.soap import encode_message

from . import factories as f
from .factories import TESTER
from .test_conversations import Harness, about, harness, new_conversation  # noqa: F401


def test_a_quarantined_message_accepted_on_retry_is_answered_once(harness: Harness) -> None:
    message = about(f.saldoverzoek(), harness.debtor, new_conversation())
    raw = encode_message(message_from_json(message))
    # kept aside by an earlier version (say, one that did not know this message yet)
    with harness.store.transaction() as session:
        kept = QuarantinedMessage(
            node_message_id="n-1",
            referentienummer=None,
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            reason="an older reason",
            received_at=datetime.now(UTC),
            status="open",
            occurrences=1,
        )
        session.add(kept)
        session.flush()
        kept_id = kept.id
    assert "accepted" in harness.pipeline.retry_quarantined(kept_id, actor=TESTER)
    run_once(harness.pipeline, max_wait=5)
    sent = harness.admin.get("/_admin/sent").json()
    assert [m["Berichtheader"]["Berichttype"] for m in sent] == ["SaldoverzoekAntwoord"]
    with pytest.raises(TaskError, match="resolved before"):
        harness.pipeline.retry_quarantined(kept_id, actor=TESTER)


def test_a_retry_that_still_fails_keeps_the_message_with_the_new_reason(harness: Harness) -> None:
    with harness.store.transaction() as session:
        kept = QuarantinedMessage(
            node_message_id="n-2",
            referentienummer=None,
            raw=b"not xml",
            sha256="x" * 64,
            reason="old",
            received_at=datetime.now(UTC),
            status="open",
            occurrences=1,
        )
        session.add(kept)
        session.flush()
        kept_id = kept.id
    assert "still cannot be accepted" in harness.pipeline.retry_quarantined(kept_id, actor=TESTER)
    with harness.store.transaction() as session:
        row = session.get(QuarantinedMessage, kept_id)
        assert row is not None and row.status == "open" and "not well-formed" in row.reason


class _Refusing:
    def __init__(self, loaded: object) -> None:
        self.name = loaded.name  # type: ignore[attr-defined]
        self.capabilities = loaded.capabilities  # type: ignore[attr-defined]

        class _Adapter:
            def find_debtor(self, query: object) -> None:
                raise BackOfficeRejected("the back-office refused the query")

        self.adapter = _Adapter()


def test_replay_resets_a_failed_message_and_answers_it_once(harness: Harness) -> None:
    message = about(f.saldoverzoek(), harness.debtor, new_conversation())
    working = harness.pipeline.decider.adapters
    harness.pipeline.decider.adapters = [_Refusing(a) for a in working]
    assert harness.deliver(message) == []
    referentienummer = message["Berichtheader"]["Referentienummer"]
    with harness.store.transaction() as session:
        row = session.scalars(
            select(InboxMessage).where(InboxMessage.referentienummer == referentienummer)
        ).one()
        assert row.status == "failed" and row.attempts == 1
    harness.pipeline.decider.adapters = working  # the back-office is fixed
    assert "pending again" in harness.pipeline.replay(referentienummer, actor=TESTER)
    run_once(harness.pipeline, max_wait=5)
    sent = harness.admin.get("/_admin/sent").json()
    assert [m["Berichtheader"]["Berichttype"] for m in sent] == ["SaldoverzoekAntwoord"]
    with pytest.raises(TaskError, match="not replayed"):
        harness.pipeline.replay(referentienummer, actor=TESTER)
