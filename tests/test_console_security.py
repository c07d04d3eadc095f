"""The console's guard, request by request (Starlette's test client on the console's own
routes; the browser tests drive the real server): a login that locks and is rate-limited,
sessions that end when idle or when the account changes, single sign-on only from the
trusted proxy, the Secure cookie behind TLS, the session key file, and the console served
alone by ``skn-connector console``."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from skn_connector.actor import Actor
from skn_connector.config import load_settings
from skn_connector.http.console import Console
from skn_connector.http.console.sessions import COOKIE
from skn_connector.operations import AccountRole, Operations
from skn_connector.operations.accounts import session_key_file

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
PASSWORD = "een lang genoeg wachtwoord"
ADMIN = Actor.on_the_console("test")

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
[console]
enabled = true
{extra}
"""


def write(tmp_path: Path, extra: str = "") -> Path:
    from skn_connector.adapters.registry import resolve_adapter_class

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    path = tmp_path / "skn-connector.toml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "skn.db",
            bo=sample.options["database_url"].removeprefix("sqlite:///"),
            extra=extra,
        )
    )
    with Operations.on(load_settings(path)) as ops:
        ops.add_user("anna", role=AccountRole.HANDLER, password=PASSWORD, actor=ADMIN)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(tmp_path)


def client(config: Path, host: str = "127.0.0.1", **kwargs: Any) -> TestClient:
    console = Console(load_settings(config))
    return TestClient(
        Starlette(routes=console.routes()),
        base_url=kwargs.pop("base_url", "http://console.test"),
        client=(host, 40000),
        follow_redirects=False,
        **kwargs,
    )


def token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(browser: TestClient, name: str = "anna", password: str = PASSWORD) -> httpx.Response:
    form = token(browser.get("/login").text)
    return browser.post(
        "/login", data={"csrf_token": form, "username": name, "password": password, "next": "/"}
    )


def test_a_login_leads_where_it_was_asked_and_never_elsewhere(config: Path) -> None:
    browser = client(config)
    assert browser.get("/taken?soort=beoordeling").headers["location"] == (
        "/login?next=%2Ftaken%3Fsoort%3Dbeoordeling"
    )
    form = token(browser.get("/login").text)
    done = browser.post(
        "/login",
        data={
            "csrf_token": form,
            "username": "anna",
            "password": PASSWORD,
            "next": "//evil.example",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (
        "HttpOnly" in done.headers["set-cookie"] and "SameSite=strict" in done.headers["set-cookie"]
    )
    assert "Secure" not in done.headers["set-cookie"]
    # a new session at login: the token of the anonymous session no longer works
    assert token(browser.get("/").text) != form


def test_wrong_passwords_lock_the_account_and_the_address_is_limited(config: Path) -> None:
    browser = client(config)
    for _ in range(4):
        assert "klopt niet" in login(browser, password="fout wachtwoord!").text
    assert "tijdelijk geblokkeerd" in login(browser, password="fout wachtwoord!").text
    assert "tijdelijk geblokkeerd" in login(browser).text  # the right one does not open it now
    assert "klopt niet" in login(browser, name="niemand").text  # as a wrong password
    limited = [login(browser, name="niemand").status_code for _ in range(6)]
    assert limited[-1] == 429


def test_a_session_ends_when_idle_and_when_the_account_changes(tmp_path: Path) -> None:
    config = write(tmp_path, 'idle_timeout = "2s"')
    browser = client(config)
    assert login(browser).status_code == 303
    assert browser.get("/").status_code == 200
    time.sleep(2.5)
    expired = browser.get("/")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")
    assert "Uw sessie is verlopen" in browser.get("/login").text
    assert login(browser).status_code == 303
    with Operations.on(load_settings(config)) as ops:
        ops.set_password("anna", password="een ander lang wachtwoord", actor=ADMIN)
    assert browser.get("/").status_code == 303  # its password changed: the session ended


def test_a_forged_cookie_is_no_session(config: Path) -> None:
    browser = client(config)
    assert login(browser).status_code == 303
    value = browser.cookies[COOKIE]
    payload, _, signature = value.partition(".")
    browser.cookies.set(COOKIE, payload[:-2] + "AA." + signature, domain="console.test")
    assert browser.get("/").status_code == 303


def test_single_sign_on_trusts_the_proxy_only(tmp_path: Path) -> None:
    config = write(tmp_path, 'trusted_proxies = ["10.1.2.3"]\nuser_header = "X-Remote-User"')
    proxied = client(config, host="10.1.2.3")
    page = proxied.get("/", headers={"X-Remote-User": "anna"})
    assert page.status_code == 200 and "Ingelogd als anna" in page.text
    unknown = client(config, host="10.1.2.3").get("/", headers={"X-Remote-User": "bob"})
    assert unknown.status_code == 403 and "geen account" in unknown.text
    # the same header from anywhere else is ignored: the login page
    direct = client(config, host="10.9.9.9").get("/", headers={"X-Remote-User": "anna"})
    assert direct.status_code == 303 and direct.headers["location"].startswith("/login")
    # behind the proxy's TLS the cookie is Secure
    secure = client(config, host="10.1.2.3").get(
        "/", headers={"X-Remote-User": "anna", "X-Forwarded-Proto": "https"}
    )
    assert "Secure" in secure.headers["set-cookie"]


def test_single_sign_on_needs_a_trusted_proxy(tmp_path: Path) -> None:
    from skn_connector.config import ConfigError

    with pytest.raises(ConfigError, match=r"user_header \(single sign-on\) needs trusted_proxies"):
        write(tmp_path, 'user_header = "X-Remote-User"')


def test_behind_the_proxy_each_client_has_its_own_login_limit(tmp_path: Path) -> None:
    config = write(tmp_path, 'trusted_proxies = ["10.1.2.3"]')
    proxied = client(config, host="10.1.2.3")
    for _ in range(10):
        login(proxied, name="niemand")  # a client behind the proxy uses up its attempts
    assert login(proxied, name="niemand").status_code == 429
    # ... another client behind the same proxy still may log in
    other = client(config, host="10.1.2.3", headers={"X-Forwarded-For": "192.0.2.7"})
    assert login(other).status_code == 303
    # and a client cannot pretend to be another one: the proxy's last entry counts
    spoof = client(config, host="10.1.2.3", headers={"X-Forwarded-For": "192.0.2.7, 198.51.100.1"})
    assert login(spoof).status_code == 303


def test_the_console_in_english(tmp_path: Path) -> None:
    config = write(tmp_path, 'language = "en"')
    page = client(config).get("/login")
    assert '<html lang="en">' in page.text and "User name" in page.text


def test_the_session_key_is_made_once_readable_by_its_owner_only(config: Path) -> None:
    settings = load_settings(config)
    client(config).get("/login")
    key = session_key_file(settings)
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_text()
    client(config).get("/login")
    assert key.read_text() == first
    assert first.strip() not in config.read_text()


def test_a_session_key_others_may_read_stops_the_start(config: Path) -> None:
    key = session_key_file(load_settings(config))
    key.write_text("k" * 64 + "\n")
    key.chmod(0o644)
    refused = subprocess.run(
        [CLI, "console", "-c", str(config), "--listen", f"127.0.0.1:{_free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"skn-connector: the console's session key {key} may be read by others: chmod 600 it"
    )


def test_the_session_key_from_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, 'session_key = "secret:console-key"')
    monkeypatch.setenv("SKN_SECRET_CONSOLE_KEY", "k" * 40)
    client(config).get("/login")
    assert not session_key_file(load_settings(config)).exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(config: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [CLI, "console", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr


def test_skn_connector_console_serves_it_alone(served: str) -> None:
    with httpx.Client(base_url=served, follow_redirects=False) as browser:
        assert browser.get("/").headers["location"].startswith("/login")
        page = browser.get("/login")
        assert page.status_code == 200 and "Inloggen" in page.text
        done = browser.post(
            "/login",
            data={"csrf_token": token(page.text), "username": "anna", "password": PASSWORD},
        )
        assert done.status_code == 303
        assert browser.get("/beleid").status_code == 200
        assert browser.get("/metrics").status_code == 200


def test_an_admin_changes_other_accounts_not_their_own(config: Path) -> None:
    with Operations.on(load_settings(config)) as ops:
        ops.add_user("root", role=AccountRole.ADMIN, password=PASSWORD, actor=ADMIN)
    handler = client(config)
    assert login(handler).status_code == 303
    assert handler.get("/gebruikers").status_code == 403
    admin = client(config)
    assert login(admin, name="root").status_code == 303
    page = admin.get("/gebruikers")
    assert page.status_code == 200 and "anna" in page.text
    form = token(page.text)
    done = admin.post(
        "/gebruikers/anna", data={"csrf_token": form, "action": "role", "role": "viewer"}
    )
    assert done.status_code == 303
    mine = admin.post("/gebruikers/root", data={"csrf_token": form, "action": "disable"})
    assert mine.status_code == 403
    assert admin.post("/gebruikers/anna", data={"action": "disable"}).status_code == 403  # no token
    assert (
        admin.post("/gebruikers/nobody", data={"csrf_token": form, "action": "disable"}).status_code
        == 404
    )
    assert (
        admin.post("/gebruikers/anna", data={"csrf_token": form, "action": "disable"}).status_code
        == 303
    )
    with Operations.on(load_settings(config)) as ops:
        anna = ops.user("anna")
        assert anna is not None and anna.role is AccountRole.VIEWER and not anna.enabled
        assert ops.user("root").enabled  # type: ignore[union-attr]
    assert handler.get("/").status_code == 303  # anna's session ended with the disable
