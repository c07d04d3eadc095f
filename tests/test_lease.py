"""One working instance per store (``store/lease.py``): a second instance on the same store
stands by or stops, takes over when the first ends (however it ends), and two instances
started together answer every message exactly once. SQLite (a file lock) and PostgreSQL (an
advisory lock, released by the server), over the real simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import saldoverzoek_json, scenarios, write_config
from skn_connector.node.simulator import Simulator
from skn_connector.store import open_store
from skn_connector.store.lease import StoreLease

from .factories import store_on

CLI = str(Path(sys.executable).parent / "skn-connector")
REPO = Path(__file__).resolve().parents[1]

HOLD_LEASE = """
import sys, time
from skn_connector.store import open_store
from skn_connector.store.lease import StoreLease
lease = StoreLease(open_store(sys.argv[1]))
assert lease.acquire()
print("held", flush=True)
time.sleep(120)
"""


def _holder(url: str) -> subprocess.Popen[str]:
    """Another process that takes the store's lease and keeps it until killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEASE, url], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _taken_within(lease: StoreLease, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lease.acquire():
            return True
        time.sleep(0.1)
    return False


def _leases_exclude_each_other(url: str) -> None:
    first, second = open_store(url), open_store(url)
    try:
        with StoreLease(first) as one, StoreLease(second) as other:
            assert one.acquire()
            assert one.acquire()  # asking again while holding it keeps it
            assert not other.acquire()
            one.release()
            assert other.acquire()
            assert not one.acquire()
        holder = _holder(url)
        try:
            with StoreLease(first) as waiting:
                assert not waiting.acquire()
                _kill(holder)  # kill -9: no release, the OS or the server ends the lock
                assert _taken_within(waiting, 10)
        finally:
            if holder.poll() is None:
                _kill(holder)
    finally:
        first.close()
        second.close()


def test_one_lease_per_sqlite_store_released_when_its_holder_dies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'skn.db'}"
    _leases_exclude_each_other(url)
    assert (tmp_path / "skn.db.lease").exists()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with StoreLease(open_store(url)) as one, StoreLease(open_store(other)) as two:
        assert one.acquire() and two.acquire()  # another store, another lease


def test_one_lease_per_sqlite_file_whatever_the_path_to_it(tmp_path: Path) -> None:
    """The lease belongs to the database file, not to the path it was opened by: a store
    opened through a symlink to the file or to its folder is the same store."""
    real = tmp_path / "data"
    real.mkdir()
    database = real / "skn.db"
    url = f"sqlite:///{database}"
    (tmp_path / "link.db").symlink_to(database)
    (tmp_path / "linked-folder").symlink_to(real, target_is_directory=True)
    paths = [tmp_path / "link.db", tmp_path / "linked-folder" / "skn.db"]
    stores = [open_store(url), *(open_store(f"sqlite:///{path}") for path in paths)]
    try:
        with StoreLease(stores[0]) as first:
            assert first.acquire()
            for store in stores[1:]:
                with StoreLease(store) as other:
                    assert not other.acquire()
        holder = _holder(f"sqlite:///{paths[0]}")  # another process, through the link
        try:
            with StoreLease(stores[2]) as through_the_folder:
                assert not through_the_folder.acquire()
        finally:
            _kill(holder)
    finally:
        for store in stores:
            store.close()
    assert sorted(p.name for p in real.iterdir() if p.suffix == ".lease") == ["skn.db.lease"]
    assert not (tmp_path / "link.db.lease").exists()


def test_one_lease_per_postgresql_store_released_when_its_holder_dies(
    postgres_url: str,
) -> None:
    _leases_exclude_each_other(postgres_url)


def test_a_lease_lost_with_its_connection_is_taken_anew(postgres_url: str) -> None:
    store, other_store = open_store(postgres_url), open_store(postgres_url)
    try:
        with StoreLease(store) as lease, StoreLease(other_store) as other:
            assert lease.acquire()
            with other_store.engine.connect() as connection:
                # the holder's connection ends (a restarted server, a network cut)
                # (waiting up to 5 s for the backend to end; the lock ends with it)
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    )
                )
            assert _taken_within(other, 10)  # the lease is free: another instance takes it
            assert not lease.acquire()  # and the first one knows it no longer holds it
            other.release()
            assert lease.acquire()
    finally:
        store.close()
        other_store.close()


def _run_once(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", "--once", "--config", str(config), "--max-wait", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_run_once_does_nothing_while_another_instance_holds_the_store(tmp_path: Path) -> None:
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, backoffice.options)
        with httpx.Client(base_url=node.admin_url, timeout=10) as client:
            request = saldoverzoek_json(scenarios(backoffice.debtors)[0], 1)
            client.post("/_admin/messages", json=request).raise_for_status()
            holder = _holder(f"sqlite:///{tmp_path / 'skn-connector.db'}")
            try:
                refused = _run_once(config)
                out, err = refused.communicate(timeout=60)
                assert refused.returncode == 1, (out, err)
                assert "another instance is working this store" in err
                assert "Traceback" not in err
                assert len(client.get("/_admin/messagebox").json()) == 1  # left for the holder
            finally:
                _kill(holder)
            done = _run_once(config)
            out, err = done.communicate(timeout=60)
            assert done.returncode == 0, err
            assert len(client.get("/_admin/sent").json()) == 1


@contextmanager
def _world(
    tmp_path: Path, store_url: str, count: int, also: dict[str, str] | None = None
) -> Iterator[tuple[Simulator, Path, list[dict[str, Any]]]]:
    """The simulator, a configuration on ``store_url`` (with the lines of ``also`` swapped)
    and ``count`` Saldoverzoeken about the sample back-office's debtors (and strangers)."""
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    mix = scenarios(backoffice.debtors)
    requests = [saldoverzoek_json(mix[i % len(mix)], i) for i in range(1, count + 1)]
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, backoffice.options)
        store_on(config, tmp_path, store_url, also)
        yield node, config, requests


def test_two_instances_on_one_postgresql_store_answer_each_message_once(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        _world(tmp_path, postgres_url, 400) as (node, config, requests),
        httpx.Client(base_url=node.admin_url, timeout=10) as client,
    ):
        for request in requests:
            client.post("/_admin/messages", json=request).raise_for_status()
        runs = [_run_once(config), _run_once(config)]
        outcomes = [(*run.communicate(timeout=120), run.returncode) for run in runs]
        # whichever came second found the lease taken, or the work done
        for _out, err, code in outcomes:
            assert code == 0 or "another instance is working this store" in err, err
        assert any(code == 0 for *_, code in outcomes)
        if any(code != 0 for *_, code in outcomes):
            finish = _run_once(config)
            assert finish.wait(timeout=120) == 0
        sent = client.get("/_admin/sent").json()
        waiting = client.get("/_admin/messagebox").json()
    assert waiting == []
    answered = sorted(a["Berichtheader"]["ConversatieReferentienummer"] for a in sent)
    assert answered == sorted(r["Berichtheader"]["ConversatieReferentienummer"] for r in requests)


def _daemon(config: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)


def test_a_standing_by_daemon_takes_over_when_the_working_one_is_killed(
    tmp_path: Path, postgres_url: str
) -> None:
    faster = {'poll_interval = "1m"': 'poll_interval = "1s"\ndeliver_interval = "1s"'}
    with _world(tmp_path, postgres_url, 10, faster) as (node, config, requests):
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first = _daemon(config, logs[0])
        second: subprocess.Popen[str] | None = None
        try:
            _wait_for(lambda: "this instance works" in logs[0].read_text(), 60, "the lease")
            second = _daemon(config, logs[1])
            _wait_for(lambda: "this one stands by" in logs[1].read_text(), 60, "the standby")
            with httpx.Client(base_url=node.admin_url, timeout=10) as client:

                def answered() -> int:
                    return len(client.get("/_admin/sent").json())

                for request in requests[:5]:
                    client.post("/_admin/messages", json=request).raise_for_status()
                _wait_for(lambda: answered() == 5, 60, "the first five answers")
                _kill(first)  # kill -9: the server ends its lock with its connection
                for request in requests[5:]:
                    client.post("/_admin/messages", json=request).raise_for_status()
                _wait_for(lambda: answered() == 10, 60, "the standby's answers")
                assert "this instance works" in logs[1].read_text()
                time.sleep(2)  # a few more rounds: nothing is answered twice
                sent = client.get("/_admin/sent").json()
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=30)
    assert "this one stands by" not in logs[0].read_text()
    answered_ids = sorted(a["Berichtheader"]["ConversatieReferentienummer"] for a in sent)
    assert answered_ids == sorted(
        r["Berichtheader"]["ConversatieReferentienummer"] for r in requests
    )


def test_a_message_decided_by_another_instance_meanwhile_is_not_answered_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    """The window the lease leaves (a holder whose lease connection was cut finishes its
    round while a standby starts): the decision's transaction locks its inbox rows, so it
    waits for the other instance's decision and then finds the message done."""
    import threading

    from skn_connector.config import load_settings
    from skn_connector.service.wiring import connector

    with (
        _world(tmp_path, postgres_url, 1) as (node, config, requests),
        httpx.Client(base_url=node.admin_url, timeout=10) as client,
        connector(load_settings(config)) as pipeline,
    ):
        client.post("/_admin/messages", json=requests[0]).raise_for_status()
        assert pipeline.poll() == 1
        store = pipeline.store
        with store.engine.connect() as other:
            # the other instance: it has the message's row and is deciding it
            inbox_id = other.execute(
                text("SELECT id FROM inbox WHERE status = 'pending' FOR UPDATE")
            ).scalar_one()
            outcome: list[Any] = []
            ours = threading.Thread(
                target=lambda: outcome.extend(pipeline.process_many([inbox_id]))
            )
            ours.start()
            _wait_for(lambda: _lock_waits(store.engine) > 0, 10, "our decision to wait")
            other.execute(text(f"UPDATE inbox SET status = 'done' WHERE id = {inbox_id}"))
            other.commit()
            ours.join(timeout=30)
            assert not ours.is_alive()
        with store.engine.connect() as connection:
            answers = connection.execute(text("SELECT count(*) FROM outbox")).scalar()
    assert outcome == [("skipped", None)]
    assert answers == 0  # without the lock: its answer written a second time


def _lock_waits(engine: Any) -> int:
    """Backends of this database waiting for a lock (asked on a connection of its own: the
    server's activity view is a snapshot per transaction)."""
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return int(waiting or 0)
