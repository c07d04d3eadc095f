"""The security part: doctor, TLS refusals at start, secrets in the keyring (and never in the
store or the logs), the audit trail's integrity, and the retention of personal data."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text
from typer.testing import CliRunner

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.cli.app import audit_app, retention_app, secrets_app
from skn_connector.cli.security import doctor_command
from skn_connector.config import load_settings
from skn_connector.demo import saldoverzoek_json, scenarios, write_config
from skn_connector.engine.conversations import TransitionTable
from skn_connector.engine.retention import (
    FINAL_STATES,
    is_purged,
    purge_personal_data,
    retention_period,
)
from skn_connector.messages import CATALOG
from skn_connector.node.certificates import (
    certificate_days_left,
    certificate_expiry_days,
    certificate_status,
    refuse_invalid_client_certificate,
)
from skn_connector.node.certs import (
    issue_certificate,
    load_certificate,
    load_private_key,
    make_ca,
    write_pem,
)
from skn_connector.node.client import NodeTLSError
from skn_connector.node.simulator import Simulator
from skn_connector.operations.doctor import run_doctor
from skn_connector.secrets import KEYRING_SERVICE, resolve_secret
from skn_connector.service.daemon import run_once
from skn_connector.service.wiring import connector
from skn_connector.store import Store, open_store
from skn_connector.store.audit import AUDIT_HEAD_KEY, AuditHead, verify_audit
from skn_connector.store.schema import (
    AuditEntry,
    Conversation,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)

from .factories import saldoverzoek

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
NOW = datetime.now(UTC)


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        input=stdin,
        check=False,
    )


def security_cli() -> typer.Typer:
    """The commands mounted as cli.py mounts them."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("doctor")(doctor_command)
    app.add_typer(secrets_app, name="secrets")
    app.add_typer(audit_app, name="audit")
    app.add_typer(retention_app, name="retention")
    return app


def invoke(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(security_cli(), list(args), input=stdin)


def one_error_line(stderr: str) -> str:
    """The one sentence a refusal prints (log lines may come before it), no traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


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


def admin(node: Simulator) -> httpx.Client:
    return httpx.Client(base_url=node.admin_url, timeout=10)


def client_certificate(
    node: Simulator, directory: Path, *, not_before: datetime, not_after: datetime
) -> tuple[Path, Path]:
    """A client certificate from the simulator's own CA with the given validity."""
    assert node.tls_dir is not None
    ca = load_certificate(node.tls_dir / "ca.pem")
    ca_key = load_private_key(node.tls_dir / "ca.key")
    cert, key = issue_certificate(
        ca, ca_key, "client", server=False, not_before=not_before, not_after=not_after
    )
    directory.mkdir(parents=True, exist_ok=True)
    write_pem(directory / "client.pem", cert)
    write_pem(directory / "client.key", key)
    return directory / "client.pem", directory / "client.key"


def use_client_certificate(config_file: Path, node: Simulator, cert: Path, key: Path) -> None:
    assert node.tls_dir is not None
    text_ = config_file.read_text()
    text_ = text_.replace(str(node.tls_dir / "client.pem"), str(cert))
    config_file.write_text(text_.replace(str(node.tls_dir / "client.key"), str(key)))


# -- certificates ---------------------------------------------------------------------------


def test_certificate_status_ok_warn_expired_and_not_yet_valid() -> None:
    ca, key = make_ca("Test CA")
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def leaf(start: datetime, end: datetime) -> Any:
        return issue_certificate(ca, key, "c", server=False, not_before=start, not_after=end)[0]

    year = leaf(now - timedelta(days=10), now + timedelta(days=365))
    soon = leaf(now - timedelta(days=10), now + timedelta(days=12, hours=1))
    gone = leaf(now - timedelta(days=400), datetime(2026, 5, 31, 8, 0, tzinfo=UTC))
    later = leaf(now + timedelta(days=2), now + timedelta(days=400))
    assert certificate_status(year, "X", now=now).status == "ok"
    warned = certificate_status(soon, "X", now=now)
    assert (warned.status, warned.message[:19]) == ("warn", "X expires in 12 day")
    expired = certificate_status(gone, "X", now=now)
    assert expired.status == "fail"
    assert expired.message == "X expired on 2026-05-31 08:00 UTC"
    assert expired.days_left < 0
    early = certificate_status(later, "X", now=now)
    assert early.status == "fail" and "is not valid before 2026-06-03" in early.message


def test_days_to_expiry_for_metrics(config_file: Path, node: Simulator) -> None:
    assert node.tls_dir is not None
    days = certificate_days_left(node.tls_dir / "client.pem")
    assert 700 < days < 731
    settings = load_settings(config_file)
    gauges = certificate_expiry_days(settings)
    assert set(gauges) == {"client", "trust:skn-connector development CA"}
    assert abs(gauges["client"] - days) < 0.01


def test_an_expired_client_certificate_is_refused_before_connecting(
    tmp_path: Path, node: Simulator
) -> None:
    cert, _ = client_certificate(
        node, tmp_path / "old", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(1)
    )
    with pytest.raises(NodeTLSError, match=r"^the client certificate node\.tls\.certificate "):
        refuse_invalid_client_certificate(cert)
    refuse_invalid_client_certificate(cert, now=NOW - timedelta(days=30))  # valid back then
    refuse_invalid_client_certificate(tmp_path / "missing.pem")  # build_ssl_context names it


# -- doctor ---------------------------------------------------------------------------------


def test_doctor_all_ok(config_file: Path) -> None:
    report = run_doctor(config_file)
    assert report.ok, [c for c in report.checks if c.status != "ok"]
    areas = {c.area for c in report.checks}
    assert {"settings", "credentials", "certificates", "connection", "store"} <= areas
    assert "adapter belastingen" in areas
    result = invoke("doctor", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "doctor: all checks passed" in result.output
    as_json = invoke("doctor", "--config", str(config_file), "--json")
    document = json.loads(as_json.stdout)
    assert document["ok"] is True and document["failures"] == 0
    assert {c["status"] for c in document["checks"]} == {"ok"}


def test_doctor_warns_a_month_ahead_and_still_exits_0(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    cert, key = client_certificate(
        node, tmp_path / "soon", not_before=NOW - timedelta(days=300), not_after=NOW + timedelta(9)
    )
    use_client_certificate(config_file, node, cert, key)
    result = invoke("doctor", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("WARN")]
    assert len(warned) == 1 and "node.tls.certificate expires in 8 days" in warned[0]
    assert "1 warning" in result.output


def test_doctor_fails_on_an_expired_client_certificate(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    cert, key = client_certificate(
        node, tmp_path / "old", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(2)
    )
    use_client_certificate(config_file, node, cert, key)
    report = run_doctor(config_file)
    assert not report.ok
    failed = {c.area: c.message for c in report.checks if c.status == "fail"}
    assert failed["certificates"].startswith("the client certificate node.tls.certificate expired")
    assert "connection" in failed
    result = invoke("doctor", "--config", str(config_file))
    assert result.exit_code == 1


def test_doctor_names_an_untrusted_node_a_wrong_key_and_a_broken_config(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    assert node.tls_dir is not None
    original = config_file.read_text()
    other_ca, _ = make_ca("Not The Node's CA")
    write_pem(tmp_path / "other-ca.pem", other_ca)
    config_file.write_text(
        original.replace(str(node.tls_dir / "ca.pem"), str(tmp_path / "other-ca.pem"))
    )
    failed = {c.area: c.message for c in run_doctor(config_file).checks if c.status == "fail"}
    assert list(failed) == ["connection"]
    assert "not trusted by node.tls.trust" in failed["connection"]

    config_file.write_text(
        original.replace(str(node.tls_dir / "client.key"), str(node.tls_dir / "node.key"))
    )
    failed = {c.area: c.message for c in run_doctor(config_file).checks if c.status == "fail"}
    assert "does not match the certificate" in failed["credentials"]

    config_file.write_text(original.replace('kind = "gemeentebelastingen"', 'kind = "x"'))
    report = run_doctor(config_file)
    assert [(c.area, c.status) for c in report.checks] == [("settings", "fail")]
    assert "creditor.kind" in report.checks[0].message
    assert invoke("doctor", "--config", str(config_file)).exit_code == 1


def test_doctor_reports_a_missing_secret_and_a_tampered_audit_trail(
    tmp_path: Path, node: Simulator, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encrypt_client_key(node, "pw-0f3c9d")
    config_file.write_text(
        config_file.read_text().replace(
            "  trust =", '  private_key_password = "secret:client-key"\n  trust ='
        )
    )
    monkeypatch.delenv("SKN_SECRET_CLIENT_KEY", raising=False)
    failed = {c.area: c.message for c in run_doctor(config_file).checks if c.status == "fail"}
    assert "secret 'client-key' not found" in failed["credentials"]
    monkeypatch.setenv("SKN_SECRET_CLIENT_KEY", "pw-0f3c9d")
    settings = load_settings(config_file)
    store = open_store(settings.store.url)
    with store.transaction() as session:
        for number in range(3):
            store.audit(session, "received", referentienummer=str(uuid.uuid4()), n=number)
    with store.transaction() as session:
        session.execute(text("UPDATE audit SET detail = '{}' WHERE id = 2"))
    store.close()
    report = run_doctor(config_file)
    failed = {c.area: c.message for c in report.checks if c.status == "fail"}
    assert list(failed) == ["store"]
    assert "entry 2 was changed" in failed["store"]


# -- TLS refusals through `run --once` ------------------------------------------------------


def test_plain_http_is_refused_unless_insecure_dev(
    tmp_path: Path, backoffice: SampleBackOffice
) -> None:
    with Simulator(port=0) as plain:
        assert plain.url.startswith("http://")
        config = tmp_path / "plain.toml"
        config.write_text(
            re.sub(
                r"  \[node\.tls\]\n(  .*\n)+",
                "",
                write_config(tmp_path, _FakeTls(plain.url, tmp_path), backoffice.options)
                .read_text()
                .replace("https://", "http://"),
            )
        )
        with admin(plain) as client:
            client.post("/_admin/messages", json=saldoverzoek()).raise_for_status()
            refused = run_cli("run", "--once", "--config", str(config), "--max-wait", "5")
            assert refused.returncode == 2  # a setting to fix
            line = one_error_line(refused.stderr)
            assert line == (
                "skn-connector: node.url uses plain http; use https or --insecure-dev "
                "for a local simulator"
            )
            assert client.get("/_admin/stats").json()["fetched"] == 0
            allowed = run_cli(
                "run", "--once", "--insecure-dev", "--config", str(config), "--max-wait", "10"
            )
            assert allowed.returncode == 0, allowed.stderr
            assert len(client.get("/_admin/sent").json()) == 1


class _FakeTls:
    """Enough of a Simulator for demo.write_config (whose TLS block the test then removes)."""

    def __init__(self, url: str, tls_dir: Path) -> None:
        self.url = url
        self.tls_dir = tls_dir


def test_run_refuses_to_start_with_an_expired_client_certificate(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    cert, key = client_certificate(
        node, tmp_path / "old", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(3)
    )
    use_client_certificate(config_file, node, cert, key)
    with admin(node) as client:
        client.post("/_admin/messages", json=saldoverzoek()).raise_for_status()
        result = run_cli("run", "--once", "--config", str(config_file), "--max-wait", "5")
        checked = run_cli("config", "check", "--config", str(config_file))
        stats = client.get("/_admin/stats").json()
    # a setting to fix, found before the node is called: exit 2, from run and config check
    expired_on = (NOW - timedelta(3)).strftime("%Y-%m-%d")
    for refused in (result, checked):
        assert refused.returncode == 2
        line = one_error_line(refused.stderr)
        assert line.startswith(
            f"skn-connector: the client certificate node.tls.certificate expired on {expired_on}"
        )
    # refused at start: no handshake reached the node
    assert stats["tls_refusals"] == 0 and stats["fetched"] == 0


# -- secrets --------------------------------------------------------------------------------


@pytest.fixture
def keyring() -> Any:
    return pytest.importorskip("keyring")


class MemoryKeyring:
    """What the in-memory test backend holds."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}


@pytest.fixture
def memory_keyring(keyring: Any) -> Iterator[MemoryKeyring]:
    """A small in-memory KeyringBackend subclass, installed with keyring.set_keyring."""
    from keyring.backend import KeyringBackend

    held = MemoryKeyring()

    class InMemory(KeyringBackend):
        priority = 1

        def get_password(self, service: str, username: str) -> str | None:
            return held.values.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            held.values[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            held.values.pop((service, username), None)

    before = keyring.get_keyring()
    keyring.set_keyring(InMemory())
    yield held
    keyring.set_keyring(before)


@pytest.fixture
def no_secret_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SKN_SECRET_CLIENT_KEY", "CREDENTIALS_DIRECTORY", "SKN_SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_secrets_set_stores_in_the_keyring_and_resolve_finds_it(
    memory_keyring: MemoryKeyring, no_secret_sources: None
) -> None:
    result = invoke("secrets", "set", "client-key", stdin="s3cret-from-stdin\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.values == {(KEYRING_SERVICE, "client-key"): "s3cret-from-stdin"}
    assert "secret:client-key" in result.stdout
    assert "s3cret-from-stdin" not in result.output
    assert resolve_secret("secret:client-key") == "s3cret-from-stdin"


def test_secrets_set_notes_an_environment_variable_that_wins(
    memory_keyring: MemoryKeyring, no_secret_sources: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKN_SECRET_CLIENT_KEY", "from-env")
    result = invoke("secrets", "set", "client-key", stdin="other")
    assert result.exit_code == 0
    assert "SKN_SECRET_CLIENT_KEY is found first" in result.stderr
    assert resolve_secret("secret:client-key") == "from-env"


def test_secrets_set_without_a_keyring_backend_says_what_to_use_instead(
    keyring: Any, no_secret_sources: None
) -> None:
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        result = invoke("secrets", "set", "client-key", stdin="value-never-shown")
    finally:
        keyring.set_keyring(before)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "no system keyring backend is available here" in line
    assert "SKN_SECRET_CLIENT_KEY" in line and "$CREDENTIALS_DIRECTORY" in line
    assert "value-never-shown" not in result.output


def test_secrets_set_headless_in_a_real_process(keyring: Any) -> None:
    """The same as the operator sees it on a server: keyring's own fail backend, stdin piped."""
    program = (
        "import typer; from skn_connector.cli.app import secrets_app; import skn_connector.cli; "
        "app = typer.Typer(); app.add_typer(secrets_app, name='secrets'); "
        "app(prog_name='skn-connector')"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    result = subprocess.run(
        [sys.executable, "-c", program, "secrets", "set", "db-password"],
        input="hunter2-canary\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert "SKN_SECRET_DB_PASSWORD" in line
    assert "hunter2-canary" not in result.stdout + result.stderr


def test_secrets_set_refuses_bad_names_empty_values_and_a_missing_package(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = invoke("secrets", "set", "../etc/passwd", stdin="x")
    assert bad.exit_code == 2 and "not a valid secret reference" in bad.stderr
    empty = invoke("secrets", "set", "client-key", stdin="")
    assert empty.exit_code == 2 and "no value" in empty.stderr
    monkeypatch.setitem(sys.modules, "keyring", None)
    missing = invoke("secrets", "set", "client-key", stdin="x")
    assert missing.exit_code == 2
    assert "the keyring package is not installed" in one_error_line(missing.stderr)
    assert memory_keyring.values == {}


def encrypt_client_key(node: Simulator, password: str) -> None:
    """Re-write the simulator's client key encrypted with ``password``."""
    assert node.tls_dir is not None
    key = load_private_key(node.tls_dir / "client.key")
    (node.tls_dir / "client.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )


def test_a_resolved_secret_is_never_written_to_config_store_or_logs(
    tmp_path: Path, node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> None:
    secret = "Canary-Secret-7Kq9-Zwxq"
    encrypt_client_key(node, secret)
    config_file.write_text(
        config_file.read_text().replace(
            "  trust =", '  private_key_password = "secret:client-key"\n  trust ='
        )
    )
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "client-key").write_text(secret + "\n")
    sources = [
        {"SKN_SECRET_CLIENT_KEY": secret},
        {"CREDENTIALS_DIRECTORY": str(credentials)},
    ]
    outputs: list[str] = []
    with admin(node) as client:
        for round_, env in enumerate(sources):
            for number, scenario in enumerate(scenarios(backoffice.debtors), start=1):
                message = saldoverzoek_json(scenario, number + 10 * round_)
                client.post("/_admin/messages", json=message).raise_for_status()
            result = run_cli("run", "--once", "-v", "--config", str(config_file), env=env)
            assert result.returncode == 0, result.stderr
            outputs += [result.stdout, result.stderr]
            check = run_cli("config", "check", "--config", str(config_file), env=env)
            assert check.returncode == 0, check.stderr
            outputs += [check.stdout, check.stderr]
        sent = client.get("/_admin/sent").json()
    assert len(sent) == 2 * len(scenarios(backoffice.debtors))  # the key was really unlocked
    assert any("DEBUG" in text_ for text_ in outputs)  # verbose logging was on
    for text_ in outputs:
        assert secret not in text_
    assert secret not in config_file.read_text()
    settings = load_settings(config_file)
    database = Path(settings.store.url.removeprefix("sqlite:///"))
    files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    assert database in files
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


# -- the audit trail ------------------------------------------------------------------------


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[Store]:
    """A real store with ten audit entries as the pipeline writes them."""
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    conversation = str(uuid.uuid4())
    for number in range(10):
        with store.transaction() as session:
            store.audit(
                session,
                "received" if number % 2 == 0 else "processed",
                conversation_id=conversation,
                referentienummer=str(uuid.uuid4()),
                berichttype="Saldoverzoek",
                n=number,
            )
    sql(store, f"DELETE FROM meta WHERE key = '{AUDIT_HEAD_KEY}'")  # as before heads were kept
    yield store
    store.close()


def sql(store: Store, statement: str) -> None:
    with store.transaction() as session:
        session.execute(text(statement))


def record_head(store: Store) -> None:
    """What Store.audit is asked to do on every append: keep the head in meta."""
    with store.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        session.merge(Meta(key=AUDIT_HEAD_KEY, value=f"{last.id} {last.hash}"))


def test_a_good_trail_verifies(trail: Store) -> None:
    report = verify_audit(trail)
    assert report.ok and report.count == 10 and report.first_bad_id is None
    assert report.head is not None and report.head.id == 10
    assert "10 entries" in report.summary()


def test_a_changed_entry_is_named(trail: Store) -> None:
    sql(trail, """UPDATE audit SET detail = '{"n": 99}' WHERE id = 4""")
    report = verify_audit(trail)
    assert not report.ok and report.first_bad_id == 4
    assert report.problem == (
        "entry 4 was changed after it was written (its hash does not match its content)"
    )


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(trail: Store) -> None:
    from skn_connector.store.audit import audit_hash

    with trail.transaction() as session:
        entry = session.get(AuditEntry, 4)
        assert entry is not None
        entry.detail = '{"n": 99}'
        entry.hash = audit_hash(
            entry.prev_hash,
            entry.at,
            entry.event,
            entry.conversation_id,
            entry.referentienummer,
            entry.detail,
        )
    report = verify_audit(trail)
    assert report.first_bad_id == 5
    assert "entry 5 does not follow entry 4" in (report.problem or "")


def test_a_removed_entry_is_named(trail: Store) -> None:
    sql(trail, "DELETE FROM audit WHERE id = 6")
    report = verify_audit(trail)
    assert not report.ok and report.first_bad_id == 7
    assert report.problem == "entry 7 does not follow entry 5: entry 6 was removed"


def test_removed_first_entries_are_named(trail: Store) -> None:
    sql(trail, "DELETE FROM audit WHERE id <= 2")
    report = verify_audit(trail)
    assert report.first_bad_id == 3 and "entries before it were removed" in (report.problem or "")


def test_reordered_entries_are_named(trail: Store) -> None:
    # swap the contents of entries 3 and 4 (ids stay): 4's content now comes first
    columns = "at, event, conversation_id, referentienummer, detail, prev_hash, hash"
    sql(trail, f"CREATE TEMP TABLE swap AS SELECT id, {columns} FROM audit WHERE id IN (3, 4)")
    sql(
        trail,
        "UPDATE audit SET ("
        + columns
        + ") = (SELECT "
        + columns
        + " FROM swap WHERE swap.id = 7 - audit.id) WHERE id IN (3, 4)",
    )
    report = verify_audit(trail)
    assert report.first_bad_id == 3
    assert report.problem == (
        "entry 3 follows entry 4, which comes after it: the entries were reordered"
    )


def test_renumbered_ids_with_an_intact_chain_are_detected_on_sqlite(trail: Store) -> None:
    sql(trail, "UPDATE audit SET id = id + 100 WHERE id >= 8")
    report = verify_audit(trail)
    assert report.first_bad_id == 108 and "the ids jump from 7 to 108" in (report.problem or "")


def test_a_removed_tail_needs_a_recorded_head(trail: Store) -> None:
    """The limit of a chain: removing the last entries leaves a shorter valid chain. It is
    detected against the head Store.audit records in meta, or one written down elsewhere."""
    head = verify_audit(trail).head
    assert head is not None
    sql(trail, "DELETE FROM audit WHERE id >= 9")
    shorter = verify_audit(trail)
    assert shorter.ok and shorter.count == 8  # undetectable by the chain alone
    assert not shorter.head_recorded
    anchored = verify_audit(trail, expected_head=head)
    assert anchored.first_bad_id == 10
    assert "entry 10, written down as the head, is missing" in (anchored.problem or "")

    with trail.transaction() as session:
        session.merge(Meta(key=AUDIT_HEAD_KEY, value=f"{head.id} {head.hash}"))
    recorded = verify_audit(trail)
    assert not recorded.ok and recorded.first_bad_id == 10
    assert recorded.problem == (
        "the trail ends at entry 8 but its recorded head is entry 10: the last entries were removed"
    )


def test_a_recorded_head_that_matches_verifies(trail: Store) -> None:
    record_head(trail)
    report = verify_audit(trail)
    assert report.ok and report.head_recorded
    # an entry appended behind the connector's back (the head not moved along)
    from skn_connector.store.audit import audit_hash

    with trail.transaction() as session:
        at = datetime.now(UTC)
        prev = verify_audit(trail).head
        assert prev is not None
        session.add(
            AuditEntry(
                at=at,
                event="received",
                detail="{}",
                prev_hash=prev.hash,
                hash=audit_hash(prev.hash, at, "received", None, None, "{}"),
            )
        )
    assert verify_audit(trail).problem == (
        "the entries after entry 10, the recorded head, were added without moving it "
        "(written outside the connector)"
    )


def test_store_audit_records_the_head(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'head.db'}")
    try:
        with store.transaction() as session:
            for number in range(3):
                store.audit(session, "received", n=number)
        with store.transaction() as session:
            store.audit(session, "processed")
        assert verify_audit(store).head_recorded
        sql(store, "DELETE FROM audit WHERE id = 4")
        assert verify_audit(store).first_bad_id == 4
    finally:
        store.close()


def test_a_recorded_head_of_only_a_hash(trail: Store) -> None:
    """Store.audit may record only the hash (the id is known only after a flush)."""
    head = verify_audit(trail).head
    assert head is not None
    with trail.transaction() as session:
        session.merge(Meta(key=AUDIT_HEAD_KEY, value=head.hash))
    assert verify_audit(trail).ok and verify_audit(trail).head_recorded
    sql(trail, "DELETE FROM audit WHERE id = 10")
    report = verify_audit(trail)
    assert report.first_bad_id == 10
    assert report.problem == (
        f"the recorded head ({head.hash[:12]}…) is not in the trail, which ends at entry 9: "
        "the last entries were removed"
    )


def test_an_external_anchor_catches_a_rewritten_tail(trail: Store) -> None:
    from skn_connector.store.audit import audit_hash

    head = verify_audit(trail).head
    assert head is not None
    with trail.transaction() as session:  # rewrite entries 8-10 consistently
        previous = session.get(AuditEntry, 7)
        assert previous is not None
        for entry_id in (8, 9, 10):
            entry = session.get(AuditEntry, entry_id)
            assert entry is not None
            entry.detail = '{"rewritten": true}'
            entry.prev_hash = previous.hash
            entry.hash = audit_hash(
                entry.prev_hash,
                entry.at,
                entry.event,
                entry.conversation_id,
                entry.referentienummer,
                entry.detail,
            )
            previous = entry
    assert verify_audit(trail).ok  # a full rewrite is consistent by itself
    anchored = verify_audit(trail, expected_head=head)
    assert anchored.first_bad_id == 10 and "is not the entry written down" in (
        anchored.problem or ""
    )
    assert AuditHead.parse(str(head)) == head


def test_audit_verify_command(tmp_path: Path, trail: Store) -> None:
    config = tmp_path / "skn-connector.toml"
    config.write_text(minimal_config(str(trail.engine.url)))
    ok = invoke("audit", "verify", "--config", str(config))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK: the audit trail verifies: 10 entries, head 10:")
    head = ok.stdout.split("head ")[1].split()[0]
    anchored = invoke("audit", "verify", "--config", str(config), "--expect-head", head)
    assert anchored.exit_code == 0
    sql(trail, "DELETE FROM audit WHERE id = 5")
    broken = invoke("audit", "verify", "--config", str(config))
    assert broken.exit_code == 1
    assert one_error_line(broken.stderr) == (
        "skn-connector: the audit trail does not verify: entry 6 does not follow entry 4: "
        "entry 5 was removed"
    )
    as_json = json.loads(invoke("audit", "verify", "--config", str(config), "--json").stdout)
    assert as_json["ok"] is False and as_json["first_bad_id"] == 6
    bad_anchor = invoke("audit", "verify", "--config", str(config), "--expect-head", "x")
    assert bad_anchor.exit_code == 2


def minimal_config(store_url: str) -> str:
    return f"""
[node]
url = "http://127.0.0.1:9/skn"
participant_id = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"
[store]
url = "{store_url}"
[creditor]
name = "Gemeente Test"
kind = "gemeentebelastingen"
  [creditor.contact]
  naam = "Team Invordering"
[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
  database_url = "sqlite:///x.db"
"""


# -- retention ------------------------------------------------------------------------------


def test_final_states_are_the_transition_tables() -> None:
    assert TransitionTable.load(known_events=CATALOG).final == FINAL_STATES


@pytest.fixture
def answered(
    node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> Iterator[tuple[Store, dict[str, Any]]]:
    """The demo's five Saldoverzoeken answered by the real pipeline, plus one quarantined
    message; the store, and the personal data of each conversation."""
    mix = scenarios(backoffice.debtors)
    people: dict[str, Any] = {}
    with admin(node) as client:
        for number, scenario in enumerate(mix, start=1):
            message = saldoverzoek_json(scenario, number)
            client.post("/_admin/messages", json=message).raise_for_status()
            people[message["Berichtheader"]["ConversatieReferentienummer"]] = scenario.person
        client.post(
            "/_admin/raw",
            params={"ontvanger": "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"},
            content=b"<not-xml Achternaam='Quarantaine-Qpvr'",
        ).raise_for_status()
        settings = load_settings(config_file)
        with connector(settings) as pipeline:
            summary = run_once(pipeline, max_wait=20)
    assert summary.quarantined == 1 and not summary.errors
    store = open_store(settings.store.url)
    yield store, people
    store.close()


def age(store: Store, days: int) -> None:
    """Move every conversation's last update and every quarantined message ``days`` back."""
    with store.transaction() as session:
        for conversation in session.scalars(select(Conversation)):
            conversation.updated_at -= timedelta(days=days)
        for row in session.scalars(select(QuarantinedMessage)):
            row.received_at -= timedelta(days=days)


def test_purge_replaces_old_ended_conversations_by_references(
    answered: tuple[Store, dict[str, Any]], config_file: Path
) -> None:
    store, people = answered
    with store.transaction() as session:
        states = {c.id: c.state for c in session.scalars(select(Conversation))}
        before = {
            m.referentienummer: (m.berichttype, m.sha256, m.conversation_id, hashlib.sha256(m.raw))
            for m in session.scalars(select(InboxMessage))
        }
    ended = {c for c, s in states.items() if s in FINAL_STATES}
    running = set(states) - ended
    assert ended and running  # the demo's mix has both

    recent = purge_personal_data(store, retention_period(12), NOW)
    assert recent.messages == 0  # nothing is old yet
    age(store, 400)
    dry = purge_personal_data(store, retention_period(12), NOW, dry_run=True)
    # the quarantined message's task is still open: a person has to look at it first
    assert dry.conversations == len(ended) and dry.quarantined_messages == 0
    assert dry.skipped_open_quarantine == 1
    with store.transaction() as session:
        assert not any(is_purged(m.raw) for m in session.scalars(select(InboxMessage)))
        [task] = session.scalars(select(Task).where(Task.kind == "quarantined"))
        assert task.quarantine_id is not None
        task.status = "resolved"

    report = purge_personal_data(store, retention_period(12), NOW)
    assert (report.conversations, report.inbox_messages, report.outbox_messages) == (
        len(ended),
        len(ended),
        len(ended),
    )
    assert report.quarantined_messages == 1
    with store.transaction() as session:
        for message in session.scalars(select(InboxMessage)):
            kind, digest, conversation, _ = before[message.referentienummer]
            assert (message.berichttype, message.sha256, message.conversation_id) == (
                kind,
                digest,
                conversation,
            )
            assert is_purged(message.raw) == (conversation in ended)
            if conversation in ended:
                assert f"sha256={digest}".encode() in message.raw
        for answer in session.scalars(select(OutboxMessage)):
            assert is_purged(answer.payload) == (answer.conversation_id in ended)
        assert all(is_purged(q.raw) for q in session.scalars(select(QuarantinedMessage)))
        purges = list(
            session.scalars(select(AuditEntry).where(AuditEntry.event == "personal_data_purged"))
        )
    assert {p.conversation_id for p in purges} - {None} == ended
    assert verify_audit(store).ok

    # the bytes are gone from the database files too, not only from the rows
    database = Path(str(store.engine.url.database))
    data = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for conversation, person in people.items():
        present = person.achternaam.encode() in data and person.bsn.encode() in data
        shared = any(people[c] == person for c in running)
        assert present == (conversation in running or shared), person.achternaam
    assert b"Quarantaine-Qpvr" not in data
    again = purge_personal_data(store, retention_period(12), NOW)
    assert again.messages == 0 and verify_audit(store).ok


def test_purge_leaves_pending_messages_and_open_tasks(
    answered: tuple[Store, dict[str, Any]],
) -> None:
    store, _ = answered
    with store.transaction() as session:
        ended = [c for c in session.scalars(select(Conversation)) if c.state in FINAL_STATES]
        first, second = ended[0].id, ended[1].id
        message = session.scalars(
            select(InboxMessage).where(InboxMessage.conversation_id == first)
        ).one()
        message.status = "pending"
        session.add(
            Task(
                kind="deadline",
                conversation_id=second,
                reason="look",
                created_at=NOW,
                status="open",
            )
        )
    age(store, 400)
    report = purge_personal_data(store, retention_period(12), NOW)
    assert report.skipped_pending == 1 and report.skipped_open_tasks == 1
    with store.transaction() as session:
        kept = session.scalars(
            select(InboxMessage).where(InboxMessage.conversation_id.in_([first, second]))
        ).all()
        assert not any(is_purged(m.raw) for m in kept)
        answers = session.scalars(
            select(OutboxMessage).where(OutboxMessage.conversation_id == first)
        ).all()
        assert all(is_purged(a.payload) for a in answers)  # the sent answer still goes


def test_retention_purge_command(answered: tuple[Store, dict[str, Any]], config_file: Path) -> None:
    store, _ = answered
    age(store, 200)
    nothing = invoke("retention", "purge", "--config", str(config_file))
    assert nothing.exit_code == 0, nothing.output
    assert "0 received, 0 sent and 0 quarantined" in nothing.stdout
    dry = invoke("retention", "purge", "--config", str(config_file), "--older-than-months", "6")
    assert dry.exit_code == 0
    assert re.search(r"purged the personal data of \d+ ended conversation", dry.stdout)
    with sqlite3.connect(str(store.engine.url.database)) as db:
        events = [e for (e,) in db.execute("SELECT event FROM audit")]
    assert "personal_data_purged" in events
    dry_json = json.loads(
        invoke("retention", "purge", "--config", str(config_file), "--dry-run", "--json").stdout
    )
    assert dry_json["dry_run"] is True and dry_json["months"] == 12
    bad = invoke("retention", "purge", "--config", str(config_file), "--older-than-months", "0")
    assert bad.exit_code == 2


# -- the commands are registered in the real command line -----------------------------------


def test_the_commands_are_registered() -> None:
    for command in (["doctor"], ["secrets", "set"], ["audit", "verify"], ["retention", "purge"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0, (command, result.stderr)


def test_a_purged_message_is_shown_as_its_references(
    answered: tuple[Store, dict[str, Any]], config_file: Path
) -> None:
    store, _ = answered
    age(store, 400)
    purge_personal_data(store, retention_period(12), NOW)
    with store.transaction() as session:
        purged = next(m for m in session.scalars(select(InboxMessage)) if is_purged(m.raw))
    result = run_cli("messages", "show", purged.referentienummer, "--config", str(config_file))
    assert "Traceback" not in result.stderr, result.stderr
    assert "purged" in result.stdout + result.stderr
