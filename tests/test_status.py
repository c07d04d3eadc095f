"""operations.status: the state of the work as the metrics and doctor read it, from a real
SQLite store with rows of every kind (which questions wait for an answer, which are due soon
or overdue in working days, tasks by kind, holds, back-office failures, the lease)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from skn_connector.config import Settings, settings_from_dict
from skn_connector.engine.deadlines import WorkingDays
from skn_connector.operations.status import (
    AMSTERDAM,
    OTHER_KIND,
    TASK_KINDS,
    CertificateRole,
    poll_due,
    status,
)
from skn_connector.store import Store, open_store
from skn_connector.store.lease import StoreLease, lease_holder
from skn_connector.store.schema import (
    HoldRecord,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)
from skn_connector.store.status import TaskKind

REPO = Path(__file__).resolve().parents[1]
#: Tuesday 1 December 2026, 10:00 in Amsterdam
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)


def settings(url: str, tls: dict[str, str] | None = None) -> Settings:
    node: dict[str, Any] = {
        "url": "http://127.0.0.1:9/skn",
        "participant_id": str(uuid.uuid4()),
    }
    if tls is not None:
        node = {**node, "url": "https://127.0.0.1:9/skn", "tls": tls}
    return settings_from_dict(
        {
            "node": node,
            "store": {"url": url},
            "creditor": {"name": "C", "kind": "overig", "contact": {"naam": "Team"}},
            "adapters": [{"name": "a", "use": "gemeentebelastingen"}],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    yield opened
    opened.close()


def inbox(status_: str, due: date, received: datetime = NOW - timedelta(days=3)) -> InboxMessage:
    return InboxMessage(
        referentienummer=str(uuid.uuid4()),
        node_message_id=str(uuid.uuid4()),
        berichttype="Saldoverzoek",
        module="Schuldregeling",
        conversation_id=str(uuid.uuid4()),
        afzender=str(uuid.uuid4()),
        raw=b"<x/>",
        sha256="0" * 64,
        received_at=received,
        answer_due=due,
        status=status_,
        attempts=0,
        duplicates=0,
    )


def outbox(status_: str, answers: InboxMessage) -> OutboxMessage:
    return OutboxMessage(
        referentienummer=str(uuid.uuid4()),
        conversation_id=answers.conversation_id,
        cross_referentienummer=answers.referentienummer,
        berichttype="SaldoverzoekAntwoord",
        payload=b"<y/>",
        created_at=NOW,
        status=status_,
        attempts=0,
    )


def task(kind: str, referentienummer: str | None = None, **fields: Any) -> Task:
    return Task(
        kind=kind,
        referentienummer=referentienummer,
        reason="r",
        created_at=NOW,
        status=fields.pop("status", "open"),
        **fields,
    )


def hold(status_: str) -> HoldRecord:
    return HoldRecord(
        hold_id=str(uuid.uuid4()),
        hold_type="H_COVENANT",
        event="E04",
        conversation_id=str(uuid.uuid4()),
        adapter="a",
        debtor_id="d",
        factuurnummers="[]",
        measures="[]",
        lift="[]",
        basis="covenant",
        starts=TODAY,
        status=status_,
        attempts=0,
        created_at=NOW,
    )


def test_which_questions_wait_and_their_deadlines(store: Store, tmp_path: Path) -> None:
    working_days = WorkingDays()
    soon = working_days.add(TODAY, 2)  # Thursday 3 December
    with store.transaction() as session:
        pending_late = inbox("pending", TODAY - timedelta(days=1), NOW - timedelta(days=20))
        pending_soon = inbox("pending", soon)
        pending_later = inbox("pending", soon + timedelta(days=1))
        failed_open = inbox("failed", TODAY)
        failed_closed = inbox("failed", TODAY - timedelta(days=5))  # dealt with by a person
        deciding = inbox("done", TODAY - timedelta(days=2))
        answered_waiting = inbox("done", TODAY)
        answered_refused = inbox("done", TODAY - timedelta(days=3))
        answered_refused_closed = inbox("done", TODAY - timedelta(days=3))
        answered = inbox("done", TODAY - timedelta(days=30))
        unexpected = inbox("unexpected", TODAY - timedelta(days=9))
        rows = [
            pending_late,
            pending_soon,
            pending_later,
            failed_open,
            failed_closed,
            deciding,
            answered_waiting,
            answered_refused,
            answered_refused_closed,
            answered,
            unexpected,
        ]
        session.add_all(rows)
        refused = outbox("failed", answered_refused)
        refused_closed = outbox("failed", answered_refused_closed)
        session.add_all(
            [
                outbox("pending", answered_waiting),
                refused,
                refused_closed,
                outbox("sent", answered),
                outbox("sent", deciding),  # another message of its conversation: no effect
            ]
        )
        session.add_all(
            [
                task("processing_failed", failed_open.referentienummer, due=TODAY),
                task("processing_failed", failed_closed.referentienummer, status="resolved"),
                task("beoordeling", deciding.referentienummer, due=TODAY - timedelta(days=2)),
                task("deadline", deciding.referentienummer),  # a second task: counted once
                task("delivery_failed", refused.referentienummer),
                task("delivery_failed", refused_closed.referentienummer, status="resolved"),
                task("unexpected_message", unexpected.referentienummer, due=TODAY),
            ]
        )
    figures = status(store, settings(f"sqlite:///{tmp_path / 'skn.db'}"), NOW)
    # waiting: 3 pending, the failed one with its task open, the one a person decides, the
    # answer in the outbox and the one the node refused (its task open)
    assert figures.answers_pending == 7
    # overdue: the late pending one, the one being decided, the refused answer
    assert figures.answers_overdue == 3
    # due within 2 working days: the pending one due Thursday, the failed one and the
    # undelivered answer (both due today); not the one due Friday
    assert figures.answers_due_soon == 3
    assert figures.oldest_unanswered == NOW - timedelta(days=20)
    assert figures.oldest_unanswered_age == timedelta(days=20)
    assert figures.received == 11 and figures.answers_sent == 2
    assert figures.tasks_open["processing_failed"] == 1
    assert figures.tasks_open["delivery_failed"] == 1
    assert figures.tasks_open_total == 5
    assert figures.tasks_overdue == 1  # the beoordeling was due two days ago


def test_quarantine_tasks_holds_and_backoffice_failures(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        for state in ("open", "open", "resolved"):
            session.add(
                QuarantinedMessage(
                    node_message_id=str(uuid.uuid4()),
                    raw=b"x",
                    sha256="1" * 64,
                    reason="not XML",
                    received_at=NOW,
                    status=state,
                    occurrences=1,
                )
            )
        session.add_all([task("deadline"), task("deadline"), task("a_kind_from_later")])
        session.add_all([task("regeling", status="resolved")])
        for state in ("applied", "applied", "to_release", "to_apply", "released"):
            session.add(hold(state))
        store.audit(session, "effect_failed", error_class="RuntimeError", retryable=False)
        store.audit(session, "processing_failed", error_class="BackOfficeTimeout")
        store.audit(session, "processing_failed", error_class="PermanentFailure")
        store.audit(session, "received", error_class="BackOfficeTimeout")  # not a failure
    figures = status(store, settings(f"sqlite:///{tmp_path / 'skn.db'}"), NOW)
    assert (figures.quarantined, figures.quarantine_open) == (3, 2)
    assert set(figures.tasks_open) == {*TASK_KINDS, OTHER_KIND}
    assert figures.tasks_open["deadline"] == 2 and figures.tasks_open[OTHER_KIND] == 1
    assert figures.tasks_open["regeling"] == 0
    assert (figures.holds_active, figures.holds_to_apply, figures.holds_to_release) == (3, 1, 1)
    assert figures.holds_pending == 2
    assert figures.backoffice_errors == 2


def test_the_last_poll_and_when_the_next_is_due(store: Store, tmp_path: Path) -> None:
    config = settings(f"sqlite:///{tmp_path / 'skn.db'}")
    figures = status(store, config, NOW)
    assert figures.last_poll is None and figures.poll_due is None and not figures.poll_overdue
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=AMSTERDAM)
    with store.transaction() as session:
        session.add(Meta(key="last_poll", value=friday.isoformat()))
    monday = datetime(2026, 11, 30, 17, 0, tzinfo=AMSTERDAM)
    figures = status(store, config, monday - timedelta(minutes=1))
    assert figures.poll_due == monday.astimezone(UTC) and not figures.poll_overdue
    assert status(store, config, monday + timedelta(minutes=1)).poll_overdue
    # a received message counts as much as a poll (a portal download)
    with store.transaction() as session:
        session.add(inbox("done", TODAY, received=monday))
    later = status(store, config, monday + timedelta(minutes=1))
    assert later.last_received == monday.astimezone(UTC) and not later.poll_overdue
    # over a holiday: polled on Christmas Eve, due again on the 28th (25 and 26 are holidays)
    eve = datetime(2026, 12, 24, 12, 0, tzinfo=AMSTERDAM)
    assert poll_due(eve, WorkingDays()) == datetime(2026, 12, 28, 12, 0, tzinfo=AMSTERDAM)


def test_the_lease_holder(store: Store) -> None:
    assert lease_holder(store).held is False
    with StoreLease(store) as lease:
        assert lease.acquire()
        holder = lease_holder(store)
        assert holder.held is True and holder.pid is not None
        assert "held by process" in holder.describe()
        assert lease.acquire()  # the look did not take it away
    assert lease_holder(store).held is False


def test_certificates_by_role(tmp_path: Path) -> None:
    from skn_connector.node.certs import write_dev_pki

    pki = write_dev_pki(tmp_path / "pki")
    config = settings(
        f"sqlite:///{tmp_path / 'skn.db'}",
        {
            "certificate": str(pki.client_cert),
            "private_key": str(pki.client_key),
            "trust": str(pki.ca_cert),
        },
    )
    store = open_store(config.store.url)
    try:
        figures = status(store, config, NOW)
    finally:
        store.close()
    roles = [(c.role, c.common_name) for c in figures.certificates]
    assert roles == [
        (CertificateRole.CLIENT, "skn-connector development client"),
        (CertificateRole.TRUST, "skn-connector development CA"),
    ]
    assert all(c.not_after > NOW for c in figures.certificates)


def test_every_task_kind_the_connector_raises_is_a_label() -> None:
    """A task is raised with a TaskKind, and every TaskKind is a label (else its tasks would
    be counted as other)."""
    raised: set[str] = set()
    literal: set[str] = set()
    for source in (REPO / "skn_connector").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        raised |= set(re.findall(r"TaskKind\.([A-Z_]+)", text))
        literal |= set(re.findall(r'(?:TaskRequest|FinalTask)\(\s*"([a-z_]+)"', text))
    assert literal == set()  # no kind as a bare string
    assert len(raised) > 10
    assert {k.lower() for k in raised} <= set(TASK_KINDS)
    assert set(TASK_KINDS) == {k.value for k in TaskKind}


def test_status_and_the_lease_holder_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with store.transaction() as session:
            session.add(inbox("pending", TODAY - timedelta(days=1)))
            session.add(task("deadline"))
            session.add(hold("to_apply"))
            store.audit(session, "processing_failed", error_class="BackOfficeUnavailable")
        assert lease_holder(store).held is False
        with StoreLease(store) as lease:
            assert lease.acquire()
            figures = status(store, settings(postgres_url), NOW)
            assert figures.lease.held is True and figures.lease.client is not None
            assert "PostgreSQL session" in figures.lease.describe()
        assert (figures.answers_pending, figures.answers_overdue) == (1, 1)
        assert figures.tasks_open["deadline"] == 1 and figures.holds_to_apply == 1
        assert figures.backoffice_errors == 1
        assert lease_holder(store).held is False
    finally:
        store.close()


def test_the_sole_creditors_counts_read_the_store_without_a_creditor_filter(
    tmp_path: Path,
) -> None:
    """A deployment of one creditor owns every row: its counts skip the creditor filter (with
    it each count read every row of the table, not an index: /metrics and the console's
    overview went from about 20 ms to half a second with 100,000 messages). The figures are
    the same; a store of several creditors still counts each one's own rows alone."""
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'skn.db'}"
    mine, other = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c01", "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c02"
    shared = open_store(url)
    for creditor, count in ((mine, 2), (other, 3)):
        scoped = shared.scoped(creditor)
        with scoped.transaction() as session:
            for _ in range(count):
                session.add(inbox("done", date(2026, 12, 10)))
    seen: list[str] = []

    def statements(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(shared.engine, "before_cursor_execute", statements)
    several = status(shared.scoped(mine), settings(url), NOW)
    filtered = [s for s in seen if "count(" in s.lower()]
    assert filtered and all("creditor_id" in s for s in filtered)
    assert several.received == 2  # its own alone

    sole = Store(shared.engine, holds_one_creditor=True).scoped(other)
    seen.clear()
    whole = status(sole, settings(url), NOW)
    counts = [s for s in seen if "count(" in s.lower()]
    assert counts and not any("creditor_id" in s for s in counts)
    assert whole.received == 5  # every row of the store: the sole creditor's by definition
