"""The audit trail by person: the entries of that person's own actions, every page full, on
SQLite and on PostgreSQL. A detail that names the person elsewhere (an adapter or a record
called the same) is someone else's entry and must not fill, or empty, the person's page."""

from __future__ import annotations

from pathlib import Path

from skn_connector.actor import Actor
from skn_connector.operations.views import PAGE_SIZE, AuditFilter, list_audit
from skn_connector.store import Store, open_store

HANNA = Actor.on_the_console("hanna")
PIET = Actor.on_the_console("piet")


def _write(store: Store) -> None:
    with store.transaction() as session:
        store.audit(session, "task_resolved", task=1, actor=HANNA.audit())
        store.audit(session, "quarantine_retried", record=7, actor=HANNA.audit())
        # newer than hanna's: more than a page of someone else's entries naming "hanna"
        for number in range(PAGE_SIZE + 5):
            store.audit(session, "task_resolved", task=100 + number, name="hanna",
                        actor=PIET.audit())  # fmt: skip
        store.audit(session, "hold_applied", adapter={"name": "hanna"})


def _check(store: Store) -> None:
    page = list_audit(store, AuditFilter(person="hanna"))
    assert [e["event"] for e in page.rows] == ["quarantine_retried", "task_resolved"]
    assert all(e["actor"]["name"] == "hanna" for e in page.rows)
    assert not page.has_next
    piet = list_audit(store, AuditFilter(person="piet"))
    assert len(piet.rows) == PAGE_SIZE and piet.has_next
    assert len(list_audit(store, AuditFilter(person="piet"), page=2).rows) == 5
    assert list_audit(store, AuditFilter(person="han")).rows == []


def test_by_person_on_sqlite(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    _write(store)
    _check(store)


def test_by_person_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    assert store.engine.dialect.name == "postgresql"
    _write(store)
    _check(store)
