"""Files with personal data or secrets are the connector's user's alone. A new store's
database, its write-ahead log and shared-memory file are created 0600; a private key, a
secret's file or the store readable by group or others, and a configuration they may change,
draw a warning, as ssh refuses an open private key: from ``doctor`` (a WARN line) and at the
start of ``run`` (a log line), each naming the file and the fix."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import saldoverzoek_json, scenarios, write_config
from skn_connector.node.simulator import Simulator
from skn_connector.operations.doctor import run_doctor
from skn_connector.store import open_store

from .test_security import encrypt_client_key

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
PASSWORD = "pw-3Lk9-permissions"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    """The usual umask (022), which leaves new files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def backoffice(tmp_path: Path) -> SampleBackOffice:
    return resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        yield simulator


@pytest.fixture
def config_file(
    tmp_path: Path,
    node: Simulator,
    backoffice: SampleBackOffice,
    monkeypatch: pytest.MonkeyPatch,
    umask: None,
) -> Path:
    """A configuration whose client key is encrypted, its password a file in
    $SKN_SECRETS_DIR; every file 0600 but the configuration (0644, the umask's)."""
    encrypt_client_key(node, PASSWORD)
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "client-key").write_text(PASSWORD)
    (secrets / "client-key").chmod(0o600)
    monkeypatch.setenv("SKN_SECRETS_DIR", str(secrets))
    monkeypatch.delenv("SKN_SECRET_CLIENT_KEY", raising=False)
    config = write_config(tmp_path, node, backoffice.options)
    config.write_text(
        config.read_text().replace(
            "  trust =", '  private_key_password = "secret:client-key"\n  trust =', 1
        )
    )
    return config


def test_a_new_store_and_its_log_are_the_owners_alone(tmp_path: Path, umask: None) -> None:
    db = tmp_path / "skn.db"
    store = open_store(f"sqlite:///{db}")
    try:
        with store.engine.begin() as connection:  # the WAL and shared memory exist while open
            connection.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'y')"))
            files = [db, db.with_name("skn.db-wal"), db.with_name("skn.db-shm")]
            assert all(path.exists() for path in files)
            assert {path.name: mode(path) for path in files} == {
                "skn.db": 0o600,
                "skn.db-wal": 0o600,
                "skn.db-shm": 0o600,
            }
    finally:
        store.close()
    assert mode(db.with_name("skn.db.store-id")) == 0o600


def permission_warnings(config: Path) -> list[str]:
    report = run_doctor(config)
    return [c.message for c in report.checks if c.area == "permissions" and c.status == "warn"]


def test_doctor_warns_of_a_key_a_secret_and_a_configuration_open_to_others(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    assert node.tls_dir is not None
    key, secret = node.tls_dir / "client.key", tmp_path / "secrets" / "client-key"
    assert permission_warnings(config_file) == []
    report = run_doctor(config_file)
    assert report.ok and report.warnings == 0, [c for c in report.checks if c.status != "ok"]

    key.chmod(0o644)
    secret.chmod(0o644)
    config_file.chmod(0o666)
    assert permission_warnings(config_file) == [
        f"the private key node.tls.private_key {key} is readable by group or others "
        f"(mode 0644): chmod 600 {key}",
        f"the file of secret:client-key {secret} is readable by group or others (mode 0644): "
        f"chmod 600 {secret}",
        f"the configuration {config_file} can be changed by group or others (mode 0666): "
        f"chmod 600 {config_file}",
    ]
    report = run_doctor(config_file)
    assert report.ok and report.warnings == 3  # warnings: doctor still exits 0

    for path in (key, secret, config_file):
        path.chmod(0o600)
    assert permission_warnings(config_file) == []


def test_doctor_warns_of_a_store_others_may_read(tmp_path: Path, config_file: Path) -> None:
    db = tmp_path / "skn-connector.db"
    open_store(f"sqlite:///{db}").close()
    db.chmod(0o644)
    assert permission_warnings(config_file) == [
        f"the store {db} is readable by group or others (mode 0644): chmod 600 {db}"
    ]


def test_run_logs_the_warning_at_start(
    node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> None:
    assert node.tls_dir is not None
    key = node.tls_dir / "client.key"
    key.chmod(0o640)
    with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
        request = saldoverzoek_json(scenarios(backoffice.debtors)[0], 1)
        admin.post("/_admin/messages", json=request).raise_for_status()
        result = subprocess.run(
            [CLI, "run", "--once", "--config", str(config_file), "--max-wait", "10"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warned) == 1, result.stderr
    assert warned[0].endswith(
        f"the private key node.tls.private_key {key} is readable by group or others "
        f"(mode 0640): chmod 600 {key}"
    )
