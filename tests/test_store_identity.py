"""A store is created on the first start only. Once the connector has worked with a SQLite
store, a marker beside it (``<database>.store-id``, holding the store's id, which the store
keeps in its ``meta`` table too) says so: a missing database is then refused, not replaced by
an empty one that has forgotten the holds it applied, and so is another store put in its
place. The in-memory store and PostgreSQL (which never creates a missing database) have no
marker."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import write_config
from skn_connector.node.simulator import Simulator
from skn_connector.store import open_store
from skn_connector.store.schema import Meta

from . import factories as f
from .test_conversations import about, new_conversation

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
#: a store made by the release before the SE-Service header (and before store ids)
OLD_STORE = Path(__file__).parent / "fixtures" / "store-0005.sqlite"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


def store_id(db: Path) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    return None if row is None else str(row[0])


def marker(db: Path) -> Path:
    return db.with_name(db.name + ".store-id")


@pytest.fixture
def backoffice(tmp_path: Path) -> SampleBackOffice:
    return resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        yield simulator


@pytest.fixture
def config_file(tmp_path: Path, node: Simulator, backoffice: SampleBackOffice) -> Path:
    return write_config(tmp_path, node, backoffice.options)


def held(backoffice: SampleBackOffice) -> set[str]:
    """The statuses of the holds the back-office recorded."""
    path = str(backoffice.options["database_url"]).removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT status FROM opschortingen")}


def refusal(db: Path) -> str:
    return (
        f"skn-connector: the store {db} is missing, but {marker(db)} shows the connector has "
        "worked with it: restore it from a backup (docs/operations.md); to start afresh with "
        f"an empty store on purpose, remove {marker(db)}"
    )


def test_a_deleted_store_is_refused_not_replaced_and_a_restored_one_goes_on(
    tmp_path: Path, node: Simulator, backoffice: SampleBackOffice, config_file: Path
) -> None:
    db = tmp_path / "skn-connector.db"
    debtor, conversation = backoffice.debtors[0], new_conversation()
    run = ("run", "--once", "--config", str(config_file), "--max-wait", "10")
    with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
        admin.post("/_admin/messages", json=about(f.kennisgeving(), debtor, conversation))
        assert run_cli(*run).returncode == 0
        assert held(backoffice) == {"applied"}
        backup = tmp_path / "backup.db"
        shutil.copy(db, backup)  # the connector is stopped

        db.unlink()
        end = about(f.schuldregeling_beeindigd(), debtor, conversation)
        end["KlantnummerSE"] = debtor.klantnummer_se
        admin.post("/_admin/messages", json=end).raise_for_status()
        assert one_error_line(run_cli(*run), 2) == refusal(db)
        assert not db.exists()
        assert held(backoffice) == {"applied"}
        assert len(admin.get("/_admin/messagebox").json()) == 1  # left at the node
        lines = run_cli("messages", "list", "--config", str(config_file))
        assert one_error_line(lines, 2) == refusal(db)
        doctor = run_cli("doctor", "--config", str(config_file))
        assert doctor.returncode == 1
        assert f"FAIL  store                {refusal(db).removeprefix('skn-connector: ')}" in (
            doctor.stdout
        )

        shutil.copy(backup, db)  # restored: the end of the regeling releases the hold
        assert run_cli(*run).returncode == 0
        assert held(backoffice) == {"released"}
        assert admin.get("/_admin/messagebox").json() == []


def test_removing_the_marker_starts_afresh_on_purpose(tmp_path: Path) -> None:
    db = tmp_path / "skn.db"
    open_store(f"sqlite:///{db}").close()
    first = store_id(db)
    assert first and marker(db).read_text().strip() == first
    db.unlink()
    with pytest.raises(Exception, match="is missing, but"):
        open_store(f"sqlite:///{db}")
    assert not db.exists()
    marker(db).unlink()
    open_store(f"sqlite:///{db}").close()
    second = store_id(db)
    assert second and second != first and marker(db).read_text().strip() == second


def test_another_store_in_its_place_is_refused(tmp_path: Path, config_file: Path) -> None:
    db = tmp_path / "skn-connector.db"
    open_store(f"sqlite:///{db}").close()
    other = tmp_path / "other" / "skn.db"
    other.parent.mkdir()
    open_store(f"sqlite:///{other}").close()
    shutil.copy(other, db)
    line = one_error_line(run_cli("run", "--once", "--config", str(config_file)), 2)
    assert line == (
        f"skn-connector: the store {db} is not the one the connector worked with here (its id "
        f"differs from the one in {marker(db)}): put that store back (docs/operations.md), or "
        f"remove {marker(db)} to work with this one"
    )
    assert store_id(db) == store_id(other) != marker(db).read_text().strip()


def test_a_store_from_before_store_ids_gets_one_and_its_marker(tmp_path: Path) -> None:
    db = tmp_path / "skn.db"
    shutil.copy(OLD_STORE, db)
    assert store_id(db) is None
    open_store(f"sqlite:///{db}").close()
    given = store_id(db)
    assert given and marker(db).read_text().strip() == given
    # a backup from before the upgrade, restored under that marker, is the same store
    shutil.copy(OLD_STORE, db)
    open_store(f"sqlite:///{db}").close()
    assert store_id(db) == given


def test_a_store_in_memory_and_on_postgresql_have_no_marker(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        open_store("sqlite:///:memory:").close()
    store = open_store(postgres_url)
    try:
        with store.transaction() as session:
            assert session.scalar(select(Meta.value).where(Meta.key == "store_id"))
    finally:
        store.close()
    open_store(postgres_url).close()
    assert list(tmp_path.iterdir()) == []
