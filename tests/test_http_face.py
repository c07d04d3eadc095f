"""The HTTP face: /health/live, /health/ready and /metrics, over real sockets.

The daemon runs as a subprocess against the simulated node with ``[http] listen`` set: a
scripted scenario (three questions answered, one message quarantined with its task, two
holds applied) must show in the gauges exactly as the store holds it, and with canary
personal data in the messages neither the metrics nor the readiness carry any of it. The
readiness checks are driven in process on a real store file: it passes, warns when the node
was not polled, fails when the store is gone or damaged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import load_adapters, resolve_adapter_class
from skn_connector.config import ConfigError, Settings, load_settings, settings_from_dict
from skn_connector.demo import CREDITOR_ID, write_config
from skn_connector.http.face import AdapterChecks, Face, face_store
from skn_connector.http.server import HttpServer
from skn_connector.node.simulator import Simulator
from skn_connector.store import open_store

from . import factories as f
from .test_conversations import about, new_conversation
from .test_redaction_scan import canaryfy, find_canaries, hostile, saldoverzoek

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")

#: name -> type of every metric the face promises
METRICS = {
    "skn_messages_received": "counter",
    "skn_messages_quarantined": "counter",
    "skn_answers_sent": "counter",
    "skn_backoffice_errors": "counter",
    "skn_answers_pending": "gauge",
    "skn_answers_due_soon": "gauge",
    "skn_answers_overdue": "gauge",
    "skn_oldest_unanswered_age_seconds": "gauge",
    "skn_last_successful_poll_timestamp_seconds": "gauge",
    "skn_last_received_timestamp_seconds": "gauge",
    "skn_poll_deadline_timestamp_seconds": "gauge",
    "skn_quarantine_messages": "gauge",
    "skn_tasks_open": "gauge",
    "skn_tasks_overdue": "gauge",
    "skn_holds_active": "gauge",
    "skn_holds_pending": "gauge",
    "skn_node_request_duration_seconds": "histogram",
    "skn_certificate_expiry_timestamp_seconds": "gauge",
    "skn_build_info": "gauge",
    "skn_ready": "gauge",
    "skn_lease_held": "gauge",
    "skn_store_up": "gauge",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(found: dict[str, Any], name: str, **labels: str) -> float:
    for sample in found[name].samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()) and sample.name in {
            name,
            f"{name}_total",
        }:
            return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def wait(until: Callable[[], object], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- the daemon ----------------------------------------------------------------------------


@dataclass
class World:
    workdir: Path
    node: Simulator
    admin: httpx.Client
    sample: SampleBackOffice
    config: Path
    port: int

    @property
    def store(self) -> Path:
        return self.workdir / "skn-connector.db"

    @property
    def face(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.store) as db:
            return db.execute(sql).fetchall()

    def count(self, sql: str) -> int:
        return int(self.rows(sql)[0][0])

    def daemon(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CLI, "run", "-c", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )


def make_world(tmp_path: Path, sample: SampleBackOffice, node: Simulator) -> World:
    config = write_config(tmp_path, node, sample.options)
    port = free_port()
    config.write_text(
        config.read_text().replace(
            'poll_interval = "1m"', 'poll_interval = "1s"\ndeliver_interval = "1s"'
        )
        + f'\n[http]\nlisten = "127.0.0.1:{port}"\n'
    )
    admin = httpx.Client(base_url=node.admin_url, timeout=10)
    return World(tmp_path, node, admin, sample, config, port)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        made = make_world(tmp_path, sample, node)
        with made.admin:
            yield made


def stop(daemon: subprocess.Popen[str]) -> str:
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr[-3000:]
    return stderr


def scrape(world: World) -> tuple[str, dict[str, Any]]:
    response = httpx.get(f"{world.face}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text, families(response.text)


def test_the_scenario_shows_in_the_metrics_as_the_store_holds_it(world: World) -> None:
    for klantnummer in ("100001", "100002"):  # known: answered, a hold each
        debtor = next(d for d in world.sample.debtors if d.klantnummer_se == klantnummer)
        message = about(f.saldoverzoek(module="Schuldregeling"), debtor, new_conversation())
        assert world.admin.post("/_admin/messages", json=message).status_code == 201
    unknown = f.saldoverzoek(module="Schuldregeling")  # GeenMedewerking, no hold
    assert world.admin.post("/_admin/messages", json=unknown).status_code == 201
    world.admin.post(
        "/_admin/raw", params={"ontvanger": str(CREDITOR_ID)}, content=b"not xml at all"
    ).raise_for_status()
    daemon = world.daemon()
    try:
        wait(lambda: len(world.admin.get("/_admin/sent").json()) == 3)
        wait(lambda: world.store.exists() and world.count(_APPLIED) == 2)
        text, found = scrape(world)
        live = httpx.get(f"{world.face}/health/live", timeout=10)
    finally:
        stderr = stop(daemon)
    assert live.status_code == 200 and live.json() == {"status": "pass"}
    assert "Traceback" not in stderr, stderr
    for name, kind in METRICS.items():
        assert name in found, name
        assert found[name].type == kind, (name, found[name].type)
    assert value(found, "skn_messages_received") == world.count("SELECT count(*) FROM inbox") == 3
    assert value(found, "skn_answers_sent") == 3
    assert world.count("SELECT count(*) FROM outbox WHERE status = 'sent'") == 3
    assert value(found, "skn_messages_quarantined") == 1
    assert value(found, "skn_quarantine_messages") == 1
    assert value(found, "skn_tasks_open", kind="quarantined") == 1
    assert sum(s.value for s in found["skn_tasks_open"].samples) == world.count(
        "SELECT count(*) FROM tasks WHERE status = 'open'"
    )
    assert value(found, "skn_holds_active") == world.count(_APPLIED) == 2
    assert value(found, "skn_holds_pending", action="apply") == 0
    assert value(found, "skn_answers_pending") == 0
    assert value(found, "skn_answers_overdue") == 0
    assert value(found, "skn_oldest_unanswered_age_seconds") == 0
    assert value(found, "skn_backoffice_errors") == 0
    assert value(found, "skn_ready") == 1 and value(found, "skn_lease_held") == 1
    assert value(found, "skn_build_info", version="0.1.0") == 1
    polled = value(found, "skn_last_successful_poll_timestamp_seconds")
    assert abs(polled - time.time()) < 120
    assert value(found, "skn_poll_deadline_timestamp_seconds") > polled + 86_400 - 3600
    expiry = {s.labels["role"] for s in found["skn_certificate_expiry_timestamp_seconds"].samples}
    assert expiry == {"client", "trust"}
    calls = [
        s for s in found["skn_node_request_duration_seconds"].samples if s.name.endswith("_count")
    ]
    assert {s.labels["outcome"] for s in calls} == {"ok"} and sum(s.value for s in calls) > 3
    # the text format as Prometheus itself reads it, labelled by the creditor's id alone
    assert f'skn_messages_received_total{{creditor="{CREDITOR_ID}"}} 3.0' in text


_APPLIED = "SELECT count(*) FROM holds WHERE status = 'applied'"


def test_metrics_and_readiness_carry_no_personal_data(tmp_path: Path) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    sample, debtor = canaryfy(sample)
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        world = make_world(tmp_path, sample, node)
        with world.admin:
            from .test_redaction_scan import KNOWN, UNKNOWN

            first = saldoverzoek(KNOWN, debtor.factuurnummers)
            for message in (first, saldoverzoek(UNKNOWN, ("2024.123456.01",))):
                assert world.admin.post("/_admin/messages", json=message).status_code == 201
            for payload in hostile(first, debtor.factuurnummers):
                world.admin.post(
                    "/_admin/raw", params={"ontvanger": str(CREDITOR_ID)}, content=payload
                ).raise_for_status()
            daemon = world.daemon()
            try:
                wait(lambda: len(world.admin.get("/_admin/sent").json()) == 2)
                wait(lambda: world.count("SELECT count(*) FROM quarantine") >= 7)
                texts = [("metrics", scrape(world)[0])]
                ready = httpx.get(f"{world.face}/health/ready", timeout=10)
                texts.append(("ready", ready.text))
            finally:
                stderr = stop(daemon)
    assert ready.headers["content-type"] == "application/health+json"
    document = json.loads(ready.text)
    assert document["status"] in {"pass", "warn"}, document
    assert value(families(texts[0][1]), "skn_quarantine_messages") >= 7  # not vacuous
    assert find_canaries([*texts, ("daemon stderr", stderr)]) == []


# -- readiness in process --------------------------------------------------------------------


def face_settings(tmp_path: Path, backoffice: SampleBackOffice | None = None) -> Settings:
    adapter: dict[str, Any] = {"name": "belastingen", "use": "gemeentebelastingen"}
    if backoffice is not None:
        adapter["options"] = backoffice.options
    return settings_from_dict(
        {
            "node": {"url": "http://127.0.0.1:9/skn", "participant_id": str(uuid.uuid4())},
            "store": {"url": f"sqlite:///{tmp_path / 'skn.db'}"},
            "creditor": {"name": "C", "kind": "overig", "contact": {"naam": "Team"}},
            "adapters": [adapter],
        }
    )


@dataclass
class Served:
    url: str
    store: Path
    backoffice: SampleBackOffice

    def ready(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.url}/health/ready", timeout=10)
        assert response.headers["content-type"] == "application/health+json"
        return response.status_code, response.json()

    def poll_at(self, moment: datetime) -> None:
        with sqlite3.connect(self.store) as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_poll', ?)",
                (moment.isoformat(),),
            )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    settings = face_settings(tmp_path, backoffice)
    open_store(settings.store.url).close()
    adapters = load_adapters((a.name, a.use, a.options) for a in settings.adapters)
    face = Face(settings, face_store(settings), lambda: True, AdapterChecks(adapters, seconds=0))
    try:
        with HttpServer(face, ("127.0.0.1", 0)) as server:
            yield Served(server.url, tmp_path / "skn.db", backoffice)
    finally:
        face.close()
        for loaded in adapters:
            loaded.adapter.close()


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {key: results[0]["status"] for key, results in document["checks"].items()}


def test_ready_passes_with_a_store_polled_just_now(served: Served) -> None:
    served.poll_at(datetime.now(UTC))
    code, document = served.ready()
    assert code == 200 and document["status"] == "pass", document
    assert statuses(document) == {
        "store:responseTime": "pass",
        "store:schema": "pass",
        "node:lastPoll": "pass",
        "lease:holder": "pass",
        "adapters:check": "pass",
    }
    assert document["checks"]["lease:holder"][0]["observedValue"] == "working"
    assert document["checks"]["store:responseTime"][0]["observedUnit"] == "ms"
    assert document["checks"]["adapters:check"][0]["componentId"] == "belastingen"
    assert document["releaseId"] == "0.1.0"


def test_ready_warns_when_the_node_was_not_polled(served: Served) -> None:
    served.poll_at(datetime.now(UTC) - timedelta(hours=2))
    code, document = served.ready()
    assert code == 200 and document["status"] == "warn", document
    check = document["checks"]["node:lastPoll"][0]
    assert check["status"] == "warn" and check["observedUnit"] == "s"
    assert "the node was last polled (or a message received) 2 h ago" in check["output"]
    assert "node:lastPoll" in document["output"]


def test_ready_warns_when_an_adapter_check_fails(served: Served) -> None:
    served.poll_at(datetime.now(UTC))
    database = Path(served.backoffice.options["database_url"].removeprefix("sqlite:///"))
    database.rename(database.with_suffix(".gone"))
    code, document = served.ready()
    assert code == 200 and document["status"] == "warn", document
    check = document["checks"]["adapters:check"][0]
    assert check["status"] == "warn" and "does not exist" in check["output"]


def test_ready_fails_when_the_store_is_gone(served: Served) -> None:
    served.poll_at(datetime.now(UTC))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{served.store}{suffix}").unlink(missing_ok=True)
    code, document = served.ready()
    assert code == 503 and document["status"] == "fail", document
    output = document["checks"]["store:responseTime"][0]["output"]
    assert f"the store {served.store} is missing" in output
    assert not served.store.exists()  # the probe did not create an empty one
    metrics = families(httpx.get(f"{served.url}/metrics", timeout=10).text)
    assert value(metrics, "skn_ready") == 0 and value(metrics, "skn_store_up") == 0
    assert "skn_answers_overdue" not in metrics  # no figures it does not have
    assert not served.store.exists()  # nor did the scrape create one


def test_ready_fails_when_the_store_is_damaged(served: Served) -> None:
    served.poll_at(datetime.now(UTC))
    with sqlite3.connect(served.store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(served.store, "r+b") as file:
        file.write(b"this is no longer a SQLite database" * 4)
    code, document = served.ready()
    assert code == 503 and document["status"] == "fail", document
    output = document["checks"]["store:responseTime"][0]["output"]
    assert "is damaged: restore it from a backup" in output
    assert "SELECT" not in json.dumps(document)
    metrics = families(httpx.get(f"{served.url}/metrics", timeout=10).text)
    assert value(metrics, "skn_ready") == 0 and value(metrics, "skn_store_up") == 0


def test_ready_fails_on_a_schema_this_release_does_not_know(served: Served) -> None:
    with sqlite3.connect(served.store) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    code, document = served.ready()
    assert code == 503
    check = document["checks"]["store:schema"][0]
    assert check["status"] == "fail" and check["observedValue"] == "0099"


def test_a_listen_address_that_cannot_be_used_is_one_sentence(tmp_path: Path) -> None:
    settings = face_settings(tmp_path)
    open_store(settings.store.url).close()
    face = Face(settings, face_store(settings), lambda: None, AdapterChecks([]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^http.listen: 127.0.0.1:{port} cannot be used"):
            HttpServer(face, ("127.0.0.1", port)).start()
    face.close()
    for wrong in ("9464", ":9464", "localhost:0", "127.0.0.1:99999"):
        config = tmp_path / "bad.toml"
        source = (REPO / "config.example.toml").read_text()
        config.write_text(source.replace('# listen = "127.0.0.1:9464"', f'listen = "{wrong}"'))
        with pytest.raises(ConfigError, match=r"http.listen: must be HOST:PORT"):
            load_settings(config)


def test_the_face_is_off_unless_listen_is_set() -> None:
    from skn_connector.http.server import start_face

    settings = load_settings(REPO / "config.example.toml")
    assert settings.http.listen is None and settings.http.address is None
    assert start_face(settings, [], object()) is None  # type: ignore[arg-type]


def test_run_refuses_a_listen_address_in_use_in_one_sentence(world: World) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", world.port))
        taken.listen(1)
        done = subprocess.run(
            [CLI, "run", "-c", str(world.config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("skn-connector:")]
    assert lines == [
        f"skn-connector: http.listen: 127.0.0.1:{world.port} cannot be used (Address already "
        "in use): choose another port, or stop what listens there"
    ]
    assert "Traceback" not in done.stderr
