"""The console's accounts: added, listed, disabled and given a new password at the command
line (the password from standard input, never an argument), kept as argon2id hashes only,
and a login that locks after five failures in a row. Every change is audited."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skn_connector.actor import Actor
from skn_connector.operations import AccountError, AccountRole, LoginOutcome, Operations
from skn_connector.operations.accounts import LOCK_AFTER_FAILURES, authenticate
from skn_connector.store import open_store

from .factories import TESTER

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
PASSWORD = "correct horse battery staple"

CONFIG = """
[node]
url = "http://127.0.0.1:9"
participant_id = "5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11"
[store]
url = "sqlite:///{db}"
[creditor]
name = "Gemeente Test"
kind = "gemeentebelastingen"
  [creditor.contact]
  naam = "Team Invordering"
[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
  database_url = "sqlite:///{bo}"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "skn-connector.toml"
    path.write_text(CONFIG.format(db=tmp_path / "skn.db", bo=tmp_path / "bo.db"))
    return path


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_users_at_the_command_line(config: Path, tmp_path: Path) -> None:
    added = cli("users", "add", "alice", "--role", "handler", "-c", str(config), stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "account alice added (handler)"
    again = cli("users", "add", "alice", "-c", str(config), stdin=PASSWORD)
    assert again.returncode == 2
    assert "there is an account 'alice' already" in again.stderr
    short = cli("users", "add", "bob", "-c", str(config), stdin="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    wrong_role = cli("users", "add", "bob", "--role", "root", "-c", str(config), stdin=PASSWORD)
    assert wrong_role.returncode == 2 and "viewer, handler or admin" in wrong_role.stderr
    # no password option exists: it cannot be given as an argument
    assert "--password" not in cli("users", "add", "--help").stdout

    listed = json.loads(cli("users", "list", "--json", "-c", str(config)).stdout)
    assert [(u["username"], u["role"], u["enabled"]) for u in listed] == [
        ("alice", "handler", True)
    ]
    with sqlite3.connect(tmp_path / "skn.db") as db:
        [(digest,)] = db.execute("SELECT password_hash FROM accounts").fetchall()
        assert digest.startswith("$argon2id$") and PASSWORD not in digest
        trail = [row[0] for row in db.execute("SELECT detail FROM audit")]
    assert not any(PASSWORD in entry for entry in trail)
    assert any('"account": "alice"' in entry and '"role": "handler"' in entry for entry in trail)

    passwd = cli("users", "passwd", "alice", "-c", str(config), stdin="another long password")
    assert passwd.returncode == 0, passwd.stderr
    assert cli("users", "disable", "alice", "-c", str(config)).returncode == 0
    assert cli("users", "disable", "nobody", "-c", str(config)).returncode == 2
    listed = json.loads(cli("users", "list", "--json", "-c", str(config)).stdout)
    assert listed[0]["enabled"] is False


def test_a_login_locks_after_five_failures(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    try:
        from skn_connector.operations.accounts import add_account

        add_account(store, "carol", AccountRole.VIEWER, PASSWORD, actor=TESTER)
        assert authenticate(store, "carol", PASSWORD, via="test").ok
        now = datetime.now(UTC)
        outcomes = [
            authenticate(store, "carol", "wrong password!", via="test", now=now).outcome
            for _ in range(LOCK_AFTER_FAILURES)
        ]
        assert outcomes == [LoginOutcome.REFUSED] * (LOCK_AFTER_FAILURES - 1) + [
            LoginOutcome.LOCKED
        ]
        # locked: the right password does not open it either, until the lock ends
        assert authenticate(store, "carol", PASSWORD, via="test", now=now).outcome is (
            LoginOutcome.LOCKED
        )
        later = now + timedelta(minutes=16)
        assert authenticate(store, "carol", PASSWORD, via="test", now=later).ok
        # a name that is no account is refused like a wrong password
        assert authenticate(store, "nobody", PASSWORD, via="test").outcome is (LoginOutcome.REFUSED)
    finally:
        store.close()


def test_operations_on_accounts(config: Path) -> None:
    from skn_connector.config import load_settings

    admin = Actor.on_the_console("root-admin")
    with Operations.on(load_settings(config)) as ops:
        ops.add_user("dave", role=AccountRole.ADMIN, password=PASSWORD, actor=admin)
        with pytest.raises(AccountError, match="is not a user name"):
            ops.add_user("<b>x</b>", role=AccountRole.ADMIN, password=PASSWORD, actor=admin)
        epoch = ops.user("dave").session_epoch  # type: ignore[union-attr]
        ops.set_password("dave", password="a new long password", actor=admin)
        assert ops.user("dave").session_epoch == epoch + 1  # type: ignore[union-attr]
        assert not ops.login("dave", PASSWORD).ok
        assert ops.login("dave", "a new long password").ok
        ops.set_role("dave", role=AccountRole.VIEWER, actor=admin)
        assert ops.user("dave").role is AccountRole.VIEWER  # type: ignore[union-attr]
        ops.disable_user("dave", actor=admin)
        assert ops.login("dave", "a new long password").outcome is LoginOutcome.DISABLED
