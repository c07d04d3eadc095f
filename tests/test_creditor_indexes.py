"""The indexes by creditor (migration 0013), checked in the planner: in a store of several
creditors, every statement of ``status()`` and of the message path (a real ``run_once``:
intake, decisions, holds, delivery, the counts after a round) run in one creditor's scope
reads that creditor's rows from an index that holds creditor_id, or looks rows up by a key,
and none reads a whole work table. On SQLite (EXPLAIN QUERY PLAN) and on PostgreSQL
(EXPLAIN). Against the schema of migration 0012 the same check finds the scans, so that it
would catch indexes that are dropped or no longer used."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

from bench.scrape import indexes_before_0013
from skn_connector.adapters.registry import load_adapters
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.policy import load_policy
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon
from skn_connector.operations.status import status
from skn_connector.service.daemon import run_once
from skn_connector.store import Store, open_store
from skn_connector.store.schema import (
    AuditEntry,
    HoldRecord,
    InboxMessage,
    OutboxMessage,
    QuarantinedMessage,
    Task,
    WriteOffRecord,
)
from skn_connector.store.scope import SCOPED_TABLES

from . import factories as f
from .test_status import settings
from .test_streaming import MemoryNode, backlog

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MINE = str(f.CREDITOR)
#: the other creditors of the store: their rows are what a scoped statement must not read
OTHERS = [str(uuid.UUID(int=n + 1)) for n in range(7)]
#: the aliases the statements give work tables (status: the question an answer is for)
ALIASES = {"question"}
#: lookups by a key (a primary key, a Referentienummer, a node handle, a digest): they read
#: the rows asked for, whoever's they are, and the scope's filter then drops the others'
KEY_INDEXES = {
    "sqlite_autoindex_inbox_1",
    "sqlite_autoindex_outbox_1",
    "sqlite_autoindex_conversations_1",
    "sqlite_autoindex_holds_1",
    "sqlite_autoindex_write_offs_1",
    "ix_inbox_node_message_id",
    "ix_quarantine_node_message_id",
    "ix_quarantine_sha256",
    "ix_quarantine_referentienummer",
    "inbox_pkey",
    "inbox_referentienummer_key",
    "outbox_pkey",
    "outbox_referentienummer_key",
    "conversations_pkey",
    "holds_pkey",
    "holds_hold_id_key",
    "write_offs_pkey",
    "write_offs_write_off_id_key",
    "quarantine_pkey",
    "tasks_pkey",
    "audit_pkey",
}

Statement = tuple[str, Any]


def _rows(creditor: str, messages: int) -> dict[Any, list[dict[str, Any]]]:
    """A creditor's work in every state the statements ask for."""
    rows: dict[Any, list[dict[str, Any]]] = {
        table: []
        for table in (
            InboxMessage,
            OutboxMessage,
            HoldRecord,
            Task,
            AuditEntry,
            QuarantinedMessage,
            WriteOffRecord,
        )
    }
    for n in range(messages):
        ref, conversation = str(uuid.uuid4()), str(uuid.uuid4())
        state = "pending" if n % 50 == 0 else "failed" if n % 97 == 0 else "done"
        rows[InboxMessage].append(
            {
                "creditor_id": creditor,
                "referentienummer": ref,
                "node_message_id": ref,
                "berichttype": "Saldoverzoek",
                "module": "Schuldregeling",
                "conversation_id": conversation,
                "afzender": "shv",
                "raw": b"r" * 200,
                "sha256": f"{n:064x}",
                "received_at": NOW - timedelta(minutes=n),
                "answer_due": date(2026, 12, 1) + timedelta(days=n % 20 - 10),
                "status": state,
                "attempts": 0,
                "duplicates": 0,
                "channel": "node",
            }
        )
        rows[AuditEntry].extend(
            {
                "creditor_id": creditor,
                "at": NOW,
                "event": event_name,
                "conversation_id": conversation,
                "referentienummer": ref,
                "detail": '{"error_class": "BackOfficeTimeout"}',
                "prev_hash": "",
                "hash": "",
            }
            for event_name in ("received", "processed", "delivered" if n % 41 else "effect_failed")
        )
        if n % 10 == 0:
            rows[Task].append(
                {
                    "creditor_id": creditor,
                    "kind": "processing_failed" if state == "failed" else "deadline",
                    "referentienummer": ref,
                    "reason": "r",
                    "created_at": NOW,
                    "due": date(2026, 11, 1),
                    "status": "open" if n % 30 == 0 else "resolved",
                }
            )
        if n % 20 == 0:
            rows[QuarantinedMessage].append(
                {
                    "creditor_id": creditor,
                    "node_message_id": f"q{n}-{creditor}",
                    "raw": b"q",
                    "sha256": f"{n}-{creditor}",
                    "reason": "r",
                    "received_at": NOW,
                    "status": "open" if n % 60 == 0 else "resolved",
                    "occurrences": 1,
                }
            )
            rows[WriteOffRecord].append(
                {
                    "creditor_id": creditor,
                    "write_off_id": str(uuid.uuid4()),
                    "conversation_id": conversation,
                    "adapter": "memory",
                    "debtor_id": "d",
                    "factuurnummers": "[]",
                    "excluded": "[]",
                    "reason": "r",
                    "datum": date(2026, 1, 1),
                    "status": "done",
                    "attempts": 0,
                    "created_at": NOW,
                }
            )
        if state != "done":
            continue
        rows[OutboxMessage].append(
            {
                "creditor_id": creditor,
                "referentienummer": str(uuid.uuid4()),
                "conversation_id": conversation,
                "cross_referentienummer": ref,
                "berichttype": "SaldoverzoekAntwoord",
                "payload": b"p" * 200,
                "created_at": NOW,
                "status": "to_approve" if n % 40 == 1 else "sent",
                "attempts": 0,
                "channel": "node",
            }
        )
        rows[HoldRecord].append(
            {
                "creditor_id": creditor,
                "hold_id": str(uuid.uuid4()),
                "hold_type": "H_COVENANT",
                "event": "E04",
                "conversation_id": conversation,
                "adapter": "memory",
                "debtor_id": "d",
                "factuurnummers": "[]",
                "measures": "[]",
                "lift": "[]",
                "basis": "convenant",
                "starts": date(2026, 1, 1),
                "ends": date(2026, 12, 1) + timedelta(days=n % 30),
                "status": "applied" if n % 2 else "released",
                "attempts": 0,
                "created_at": NOW,
            }
        )
    return rows


def _seed(store: Store, messages: int) -> None:
    """Each creditor's work, ours as large as the others' (PostgreSQL plans by how many
    rows a creditor has: one with none would be read from any index that leads with it)."""
    with store.engine.begin() as connection:
        for creditor in (MINE, *OTHERS):
            for table, rows in _rows(creditor, messages).items():
                connection.execute(insert(table), rows)
        if store.engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))


def _captured(store: Store, action: Callable[[], object]) -> list[Statement]:
    """The SELECT statements ``action`` runs, as sent to the database, with their values."""
    seen: list[Statement] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)
    return list({sql: (sql, values) for sql, values in seen}.values())


def _work(store: Store, tmp_path: Path) -> Iterator[tuple[str, Statement]]:
    """(what, statement): the statements of a round of the message path and of ``status()``,
    each run in our creditor's scope."""
    mine = store.scoped(MINE)
    pipeline = Pipeline(
        store=mine,
        node=MemoryNode(),
        adapters=load_adapters([("memory", "tests.test_streaming:MemoryBackOffice", {})]),
        creditor=CreditorProfile(f.CREDITOR, Contactpersoon(naam="Team", emailadres="a@b.nl")),
        policy=load_policy("gemeentebelastingen", "lokale_overheid"),
    )

    def rounds() -> None:
        for _ in range(2):  # the second round finds our creditor's earlier work
            assert isinstance(pipeline.node, MemoryNode)
            pipeline.node.put(backlog(20))
            summary = run_once(pipeline, max_wait=5)
            assert summary.ok, summary

    for statement in _captured(store, rounds):
        yield "message path", statement
    figures = settings(str(store.engine.url))
    for statement in _captured(store, lambda: status(mine, figures, NOW)):
        yield "status()", statement


def _sqlite_problems(store: Store, sql: str, values: Any) -> list[str]:
    with store.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, values)]
    problems = []
    for line in plan:
        words = line.split()
        if words[0] not in {"SCAN", "SEARCH"} or words[1] not in SCOPED_TABLES | ALIASES:
            continue  # a constant row, a subquery's result, a sort
        if words[0] == "SCAN":
            problems.append(line)  # a whole table, or a whole index of it
        elif (
            "creditor_id=" not in line
            and "PRIMARY KEY" not in line
            and not any(f" {name} " in line for name in KEY_INDEXES)
        ):
            problems.append(line)
    return problems


def _pg_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _pg_nodes(child)


def _postgresql_problems(store: Store, sql: str, values: Any) -> list[str]:
    with store.engine.begin() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            # the seeded tables are small, and on small tables the planner rightly reads the
            # table itself; priced out of its choices, it takes an index wherever one serves
            # the statement, so a table still read whole has no index for it (only for this
            # transaction)
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, values)
            (document,) = cursor.fetchone()
    plan = document if isinstance(document, list) else json.loads(document)
    problems = []
    for node in _pg_nodes(plan[0]["Plan"]):
        kind, index = node["Node Type"], node.get("Index Name")
        if node.get("Relation Name") in SCOPED_TABLES and kind in {"Seq Scan", "Tid Scan"}:
            problems.append(f"{kind} on {node['Relation Name']}")
        elif (
            index is not None
            and index not in KEY_INDEXES
            # an index read whole, the creditor a filter on what it returns, is a scan too
            and "creditor_id" not in node.get("Index Cond", "")
        ):
            problems.append(f"{kind} using {index} ({node.get('Index Cond')})")
    return problems


def _check(store: Store, tmp_path: Path) -> list[str]:
    explain = (
        _postgresql_problems if store.engine.dialect.name == "postgresql" else _sqlite_problems
    )
    found, statements = [], 0
    for what, (sql, values) in _work(store, tmp_path):
        if not any(name in sql for name in SCOPED_TABLES):
            continue  # meta, the lease
        statements += 1
        assert "creditor_id" in sql, sql  # run in the scope
        found += [
            f"{what}: {problem}: {' '.join(sql.split())[:200]}"
            for problem in explain(store, sql, values)
        ]
    assert statements > 20  # the rounds and the figures ran
    return found


def test_every_scoped_statement_reads_its_creditors_rows_from_an_index(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    try:
        _seed(store, 200)
        problems = _check(store, tmp_path)
    finally:
        store.close()
    assert problems == []


def test_without_the_indexes_the_check_finds_the_scans(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    try:
        # the indexes as migration 0012 left them (the later migrations' tables kept)
        with store.engine.begin() as connection:
            for statement in indexes_before_0013():
                connection.execute(text(statement))
        _seed(store, 200)
        problems = _check(store, tmp_path)
    finally:
        store.close()
    # the newest message, the status counts, the head of the audit trail
    assert any("SCAN inbox" in p for p in problems)
    assert any("status()" in p and "SEARCH outbox" in p for p in problems)
    assert any("message path" in p and "SCAN audit" in p for p in problems)


def test_every_scoped_statement_reads_its_creditors_rows_from_an_index_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    store = open_store(postgres_url)
    try:
        # enough rows that the statistics tell the creditors apart
        _seed(store, 300)
        problems = _check(store, tmp_path)
    finally:
        store.close()
    assert problems == []
