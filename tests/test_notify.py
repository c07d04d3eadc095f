"""systemd's notification protocol: the daemon, started as systemd starts a Type=notify
service (NOTIFY_SOCKET naming a datagram socket the test binds), says READY=1 once its store
is open, WATCHDOG=1 every half WATCHDOG_USEC (also while a job is busy with a slow node), and
STOPPING=1 on SIGTERM. Without NOTIFY_SOCKET nothing is sent."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import write_config
from skn_connector.node.simulator import Simulator
from skn_connector.service.notify import Notifier

from . import factories as f
from .test_conversations import about, new_conversation

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where NOTIFY_SOCKET will point (a path: systemd's own kind)."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(0.2)
        yield sock, path


def receive(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """Every datagram within ``seconds``: (when, its text)."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        got.append((time.monotonic(), data.decode()))
    return got


def receive_until(sock: socket.socket, state: str, seconds: float = 30) -> list[str]:
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            text = sock.recv(4096).decode()
        except TimeoutError:
            continue
        got.append(text)
        if state in text.splitlines():
            return got
    raise AssertionError(f"no {state} within {seconds} s: {got}")


def test_the_protocol_to_a_path_and_to_an_abstract_socket(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    assert Notifier.from_environment({"NOTIFY_SOCKET": path}).ready()
    assert sock.recv(4096).decode().splitlines() == ["READY=1", "STATUS=polling the node"]
    name = f"skn-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as abstract:
        abstract.bind("\0" + name)
        assert Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert abstract.recv(4096) == b"WATCHDOG=1"
    quiet = Notifier.from_environment({})
    assert not quiet.ready() and not quiet.stopping() and quiet.watchdog_interval() is None
    # nobody listening: not sent, not raised
    assert not Notifier.from_environment({"NOTIFY_SOCKET": path + ".gone"}).ready()


def test_the_watchdog_interval_is_half_of_watchdog_usec() -> None:
    at = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_environment(at).watchdog_interval() == 15.0
    mine = {**at, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environment(mine).watchdog_interval() == 15.0
    # for another process (a parent that started us), or not asked for: none
    theirs = {**at, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_environment(theirs).watchdog_interval() is None
    assert Notifier.from_environment({**at, "WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert Notifier.from_environment({"WATCHDOG_USEC": "30000000"}).watchdog_interval() is None


def test_the_daemon_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, listener: tuple[socket.socket, str]
) -> None:
    sock, path = listener
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with (
        Simulator(port=0, tls_dir=tmp_path / "tls") as node,
        httpx.Client(base_url=node.admin_url, timeout=10) as admin,
    ):
        config = write_config(tmp_path, node, sample.options)
        # polls every second: a slow node keeps the worker busy from one poll to the next
        config.write_text(
            config.read_text().replace('poll_interval = "1m"', 'poll_interval = "1s"')
        )
        store = tmp_path / "skn-connector.db"
        assert not store.exists()
        daemon = subprocess.Popen(
            [CLI, "run", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "NOTIFY_SOCKET": path,
                "WATCHDOG_USEC": "400000",  # a ping every 0.2 s
            },
        )
        signalled = False
        try:
            first = receive_until(sock, "READY=1")
            # ready: the store is open (created, migrated, with its id) when it says so
            assert first[-1].splitlines()[0] == "READY=1", first
            with sqlite3.connect(store) as db:
                assert db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            pings = receive(sock, 2.0)
            assert len([p for p in pings if p[1] == "WATCHDOG=1"]) >= 6, pings
            # a slow node keeps the worker busy (every call 2.5 s); the scheduler's loop pings on
            admin.post("/_admin/faults", json={"latency_ms": 2500}).raise_for_status()
            debtor = next(d for d in sample.debtors if d.klantnummer_se == "100001")
            message = about(f.saldoverzoek(module="Schuldregeling"), debtor, new_conversation())
            assert admin.post("/_admin/messages", json=message).status_code == 201
            busy = receive(sock, 4.0)
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(busy)]
            assert len(busy) >= 14 and max(gaps) < 1.0, (busy, gaps)
            assert len(admin.get("/_admin/messagebox").json()) == 1  # still being fetched
            admin.post("/_admin/faults", json={"latency_ms": 0}).raise_for_status()
            deadline = time.monotonic() + 30
            while not admin.get("/_admin/sent").json():  # and the work goes on
                assert time.monotonic() < deadline
                time.sleep(0.2)
            daemon.send_signal(signal.SIGTERM)  # once, as systemd does
            signalled = True
            stopping = receive_until(sock, "STOPPING=1")
        finally:
            if not signalled:
                daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert stopping[-1].splitlines()[0] == "STOPPING=1"
    assert "READY=1" not in "".join(stopping)  # said once, at the start


def test_without_notify_socket_the_daemon_sends_nothing(tmp_path: Path) -> None:
    """The daemon started by hand: no socket named, nothing sent, no error."""
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        env = {k: v for k, v in os.environ.items() if k not in {"NOTIFY_SOCKET", "WATCHDOG_USEC"}}
        daemon = subprocess.Popen(
            [CLI, "run", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONPATH": str(REPO), "WATCHDOG_USEC": "400000"},
        )
        try:
            deadline = time.monotonic() + 30
            while not (tmp_path / "skn-connector.db").exists():
                assert time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(1.0)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr and "notif" not in stderr.lower()
