"""A store made by the previous release (wire profile 1, migrations up to 0005) upgrades to
the SE-Service header and keeps every stored message, answer, hold, task and audit entry.

``tests/fixtures/store-0005.sqlite`` was made by that release (tests/fixtures/README.md
says how): the demo's municipal-tax store, then a quarantined message, a conflicting
duplicate, an unexpected message, an answer not yet delivered and a message not yet
processed. The same rows are also loaded into PostgreSQL at revision 0005 and upgraded
there.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, insert, select, text

from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.engine.pipeline import Pipeline
from skn_connector.engine.records import CreditorProfile
from skn_connector.messages import Contactpersoon
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.operations.queries import show_message
from skn_connector.service.daemon import run_once
from skn_connector.store import open_store
from skn_connector.store.audit import verify_audit
from skn_connector.store.db import Store
from skn_connector.wire.soap import decode_message

from .factories import CREDITOR

FIXTURE = Path(__file__).parent / "fixtures" / "store-0005.sqlite"
CLI = str(Path(sys.executable).parent / "skn-connector")
TABLES = (
    "inbox",
    "outbox",
    "quarantine",
    "tasks",
    "conversations",
    "holds",
    "write_offs",
    "audit",
    "meta",
)
#: a task about a hold, as the previous release wrote it (the hold's id in bericht_id)
HOLD_TASK = (
    "INSERT INTO tasks (kind, conversation_id, bericht_id, reason, created_at, status) "
    "SELECT 'hold_not_applied', conversation_id, hold_id, 'the hold is not applied yet', "
    "created_at, 'open' FROM holds ORDER BY id LIMIT 1"
)


def _plain(value: Any) -> Any:
    """A timestamp as SQLite keeps it (UTC, no zone); PostgreSQL gives it with its zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    metadata = MetaData()
    metadata.reflect(engine, only=TABLES)
    with engine.connect() as connection:
        return {
            name: [
                {key: _plain(value) for key, value in row._mapping.items()}
                for row in connection.execute(select(metadata.tables[name]).order_by(text("1")))
            ]
            for name in TABLES
        }


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    names = {"bericht_id": "referentienummer", "in_reply_to": "cross_referentienummer"}
    return {names.get(key, key): value for key, value in row.items()}


def _check_upgrade(before: dict[str, list[dict[str, Any]]], engine: Engine, store: Store) -> None:
    after = _rows(engine)
    # opening it gave the store its id (store/identity.py); the rest is as it was
    assert [m["key"] for m in after["meta"] if m["key"] == "store_id"] == ["store_id"]
    after["meta"] = [m for m in after["meta"] if m["key"] != "store_id"]
    for name in TABLES:
        assert len(after[name]) == len(before[name]), name
    # holds, write-offs, conversations and the audit trail: every value as it was (columns
    # that later revisions add are empty)
    for name in ("holds", "write_offs", "conversations", "audit"):
        old_rows = [_renamed(row) for row in before[name]]
        assert [
            {k: row[k] for k in old} for row, old in zip(after[name], old_rows, strict=True)
        ] == old_rows
        added = {k for row in after[name] for k in row} - {k for row in old_rows for k in row}
        # (creditor_id: no creditor, as the store was opened without one: migration 0010)
        assert all(
            row[k] == "" if k == "creditor_id" else row[k] is None
            for row in after[name]
            for k in added
        ), name
    assert verify_audit(store).ok

    for old, new in zip(before["inbox"], after["inbox"], strict=True):
        assert new["referentienummer"] == old["bericht_id"]
        assert new["status"] == old["status"] and new["answer_due"] == old["answer_due"]
        message = decode_message(new["raw"])
        assert str(message.berichtheader.referentienummer) == old["bericht_id"]
        assert message.berichtheader.cross_referentienummer is None
        assert new["sha256"] == hashlib.sha256(new["raw"]).hexdigest()
        assert new["cross_referentienummer"] is None
        # the body is untouched
        assert old["raw"].split(b"</Berichtheader>")[1] == new["raw"].split(b"</Berichtheader>")[1]
    for old, new in zip(before["outbox"], after["outbox"], strict=True):
        assert (new["referentienummer"], new["cross_referentienummer"]) == (
            old["bericht_id"],
            old["in_reply_to"],
        )
        header = decode_message(new["payload"]).berichtheader
        assert str(header.referentienummer) == old["bericht_id"]
        assert str(header.cross_referentienummer) == old["in_reply_to"]
    garbage = [q for q in before["quarantine"] if q["bericht_id"] is None]
    kept = [{k: a[k] for k in _renamed(garbage[0])} for a in after["quarantine"]] if garbage else []
    assert garbage and all(_renamed(q) in kept for q in garbage)
    for new in after["quarantine"]:
        if new["referentienummer"] is not None:  # the conflicting duplicate: a message
            assert decode_message(new["raw"]).berichtheader.referentienummer
            assert new["sha256"] == hashlib.sha256(new["raw"]).hexdigest()
    for old, new in zip(before["tasks"], after["tasks"], strict=True):
        if old["kind"] == "hold_not_applied":
            assert (new["hold_id"], new["referentienummer"]) == (old["bericht_id"], None)
        else:
            assert (new["referentienummer"], new["hold_id"]) == (old["bericht_id"], None)
    assert {m["key"]: m["value"] for m in after["meta"]} == {
        m["key"]: m["value"] for m in before["meta"]
    }

    # an answered question shows as a thread with its answer
    answered = next(r for r in before["outbox"] if r["status"] == "sent")
    thread = show_message(store, answered["in_reply_to"])["thread"]
    assert [(m["direction"], m["Referentienummer"]) for m in thread] == [
        ("in", answered["in_reply_to"]),
        ("out", answered["bericht_id"]),
    ]


def _alembic() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[1] / "skn_connector/store/migrations")
    )
    return config


#: the tables whose ids PostgreSQL draws from a sequence
_SERIAL = ("inbox", "outbox", "quarantine", "tasks", "holds", "write_offs", "audit")


def postgres_at(
    url: str, revision: str, rows: dict[str, list[dict[str, Any]]], **attributes: Any
) -> Engine:
    """A PostgreSQL store at ``revision`` holding ``rows`` (a SQLite store's, by table), its
    sequences past the ids the rows name; ``attributes``: the migrations' (``sole_creditor``)."""
    target = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = _alembic()
    config.attributes.update(attributes)
    with target.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    metadata = MetaData()
    metadata.reflect(target, only=TABLES)
    with target.begin() as connection:
        for name in TABLES:
            if rows[name]:
                connection.execute(insert(metadata.tables[name]), rows[name])
        for name in _SERIAL:
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1000)"))
    return target


def _old_store(tmp_path: Path) -> Path:
    path = tmp_path / "skn.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as db:
        db.execute(HOLD_TASK)
    return path


def test_a_previous_release_store_upgrades_and_keeps_everything(tmp_path: Path) -> None:
    path = _old_store(tmp_path)
    before = _rows(create_engine(f"sqlite:///{path}"))
    assert {r["status"] for r in before["inbox"]} >= {"done", "pending", "unexpected"}
    assert {r["status"] for r in before["outbox"]} == {"sent", "pending"}
    assert before["holds"] and before["audit"] and len(before["quarantine"]) == 2

    store = open_store(f"sqlite:///{path}")
    try:
        _check_upgrade(before, store.engine, store)
    finally:
        store.close()


def test_audit_verify_passes_on_the_upgraded_store(tmp_path: Path) -> None:
    path = _old_store(tmp_path)
    config = tmp_path / "skn-connector.toml"
    config.write_text(
        f"""[node]
url = "http://127.0.0.1:9/skn"
participant_id = "{CREDITOR}"

[store]
url = "sqlite:///{path}"

[creditor]
name = "Gemeente Voorbeeldstad, Belastingen"
kind = "gemeentebelastingen"
  [creditor.contact]
  naam = "Team Invordering"

[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
database_url = "sqlite:///{tmp_path / "bo.db"}"
"""
    )
    # the first command on the old store migrates it, then verifies the chain
    done = subprocess.run(
        [CLI, "audit", "verify", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: the audit trail verifies: ")
    with sqlite3.connect(path) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == ScriptDirectory.from_config(_alembic()).get_current_head()


def test_the_upgraded_store_goes_on_working(tmp_path: Path) -> None:
    """The message left pending is answered, the answer left undelivered is delivered, and
    the node takes both as profile-2 messages naming what they answer."""
    path = _old_store(tmp_path)
    before = _rows(create_engine(f"sqlite:///{path}"))
    pending_in = next(r for r in before["inbox"] if r["status"] == "pending")
    pending_out = next(r for r in before["outbox"] if r["status"] == "pending")
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    adapters = load_adapters([("belastingen", "gemeentebelastingen", sample.options)])
    store = open_store(f"sqlite:///{path}")
    try:
        with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
            tls = simulator.tls_dir
            assert tls is not None
            context = build_ssl_context(tls / "client.pem", tls / "client.key", tls / "ca.pem")
            with NodeClient(simulator.url, CREDITOR, ssl_context=context) as client:
                pipeline = Pipeline(
                    store=store,
                    node=client,
                    adapters=adapters,
                    creditor=CreditorProfile(CREDITOR, Contactpersoon(naam="Team")),
                )
                summary = run_once(pipeline, max_wait=5)
            sent = simulator.state.sent()
        assert summary.ok, summary.errors
        crosses = {m["Berichtheader"].get("CrossReferentienummer") for m in sent}
        assert crosses == {pending_in["bericht_id"], pending_out["in_reply_to"]}
        assert verify_audit(store).ok
    finally:
        for loaded in adapters:
            loaded.adapter.close()
        store.close()


def test_a_previous_release_store_upgrades_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The rows of the same store, loaded into PostgreSQL at revision 0005, upgrade there."""
    source = create_engine(f"sqlite:///{_old_store(tmp_path)}")
    before = _rows(source)
    postgres_at(postgres_url, "0005", before).dispose()
    store = open_store(postgres_url)
    try:
        _check_upgrade(before, store.engine, store)
    finally:
        store.close()


def test_there_is_no_way_back(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{_old_store(tmp_path)}")
    config = _alembic()
    try:
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")  # later revisions go back
            with pytest.raises(NotImplementedError, match="restore the backup"):
                command.downgrade(config, "0005")
    finally:
        store.close()
