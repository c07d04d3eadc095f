"""The store on PostgreSQL, the choice for several instances: migrations, the audit trail and
the whole path end to end, against the PostgreSQL server of this machine (``make test`` starts
it with scripts/ensure-postgres when it is installed but stopped). Each test gets a database of
its own, dropped afterwards.

``SKN_TEST_POSTGRES`` names the server (default: the local one, user postgres, trust auth).
An unreachable server fails these tests with a sentence saying so; they are never skipped.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import saldoverzoek_json, scenarios, write_config
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import run_once
from skn_connector.service.wiring import connector
from skn_connector.store import open_store
from skn_connector.store.audit import verify_audit
from skn_connector.store.schema import Base, HoldRecord, InboxMessage, OutboxMessage

from .factories import store_on


def test_migrations_match_the_models_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        assert store.engine.dialect.name == "postgresql"
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            indexes = {
                row[0]
                for row in connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'audit'")
                )
            }
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert revision.scalar() == "0013"
        assert "ix_audit_conversation_id" not in indexes
    finally:
        store.close()
    open_store(postgres_url).close()  # a second open migrates nothing and does not fail


def test_the_audit_trail_chains_and_verifies_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with store.transaction() as session:
            first = store.audit(session, "received", referentienummer="a")
        with store.transaction() as session:
            second = store.audit(session, "answered", referentienummer="b", berichttype="X")
        report = verify_audit(store)
        assert report.problem is None and report.count == 2
        assert report.head is not None and report.head.hash == second != first
        with store.transaction() as session:
            session.execute(text("UPDATE audit SET event = 'changed' WHERE referentienummer = 'a'"))
        assert verify_audit(store).first_bad_id is not None
    finally:
        store.close()


def test_the_whole_path_runs_on_a_postgresql_store(tmp_path: Path, postgres_url: str) -> None:
    backoffice: SampleBackOffice = resolve_adapter_class("gemeentebelastingen").create_sample(
        tmp_path / "backoffice"
    )
    mix = scenarios(backoffice.debtors)
    requests = [saldoverzoek_json(s, i) for i, s in enumerate(mix, start=1)]
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, backoffice.options)
        store_on(config, tmp_path, postgres_url)
        settings = load_settings(config)
        with httpx.Client(base_url=node.admin_url, timeout=10) as client:
            for request in requests:
                client.post("/_admin/messages", json=request).raise_for_status()
            with connector(settings) as pipeline:
                first = run_once(pipeline, max_wait=20)
                again = run_once(pipeline, max_wait=2)
            sent = client.get("/_admin/sent").json()
            waiting = client.get("/_admin/messagebox").json()
    assert first.ok, first.errors
    assert first.fetched == len(requests) and again.fetched == 0
    assert waiting == []
    # one answer a request: none lost, none sent twice
    conversations = [a["Berichtheader"]["ConversatieReferentienummer"] for a in sent]
    assert sorted(conversations) == sorted(
        r["Berichtheader"]["ConversatieReferentienummer"] for r in requests
    )
    assert not (tmp_path / "skn-connector.db").exists()
    store = open_store(postgres_url)
    try:
        with store.transaction() as session:
            inbox = session.scalar(select(func.count()).select_from(InboxMessage))
            outbox_sent = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "sent")
            )
            holds = session.scalars(select(HoldRecord.status)).all()
        assert inbox == outbox_sent == len(requests)
        known = sum(1 for a in sent if a["Berichtheader"]["Berichttype"] != "GeenMedewerking")
        assert known > 0 and holds and set(holds) == {"applied"}
        assert verify_audit(store).problem is None
    finally:
        store.close()


def test_the_consoles_accounts_and_reads_on_postgresql(postgres_url: str) -> None:
    """The accounts table, the audit trail by person (its partial index with a LIKE that
    holds '%') and the console's lists on PostgreSQL."""
    from skn_connector.actor import Actor
    from skn_connector.operations import views
    from skn_connector.operations.accounts import add_account, authenticate
    from skn_connector.store.status import AccountRole

    store = open_store(postgres_url)
    try:
        add_account(store, "anna", AccountRole.ADMIN, "x" * 12, actor=Actor.on_the_console("b"))
        assert authenticate(store, "anna", "x" * 12, via="test").ok
        [entry] = views.list_audit(store, views.AuditFilter(person="b")).rows
        assert entry["event"] == "account_added" and entry["detail"]["account"] == "anna"
        assert views.list_audit(store, views.AuditFilter(person="nobody")).rows == []
        assert views.holds_by_debtor(store).rows == []
        assert (
            views.list_messages(store, views.MessageFilter(berichttype="Saldoverzoek")).rows == []
        )
    finally:
        store.close()
