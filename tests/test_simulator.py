"""The simulated node over real sockets and mutual TLS: messageboxes, the admin API, SOAP errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.node.certs import DevPki
from skn_connector.node.client import NodeClient, NodeRejected, build_ssl_context
from skn_connector.node.simulator import Simulator, SimulatorError
from skn_connector.wire.profile import OP_LIST, SERVICE_NS
from skn_connector.wire.soap import SoapFault, decode_message, element, envelope, open_envelope

from .factories import CREDITOR, SHV, saldoverzoek

JSON = {"Content-Type": "application/json"}


def test_list_fetch_confirm_send_cycle_over_mutual_tls(
    node_client: NodeClient,
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
    antwoord: Callable[..., dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    queued = queue_saldoverzoek()
    assert node_client.url.startswith("https://127.0.0.1:")

    entries = node_client.list_messages()
    assert [entry.id for entry in entries] == [queued["Id"]]
    assert before <= entries[0].placed <= datetime.now(UTC)

    fetched = node_client.fetch(queued["Id"])
    assert fetched.id == queued["Id"]
    message = decode_message(fetched.payload)
    assert str(message.berichtheader.referentienummer) == queued["Referentienummer"]
    assert message.to_json()["Klant"] == queued["message"]["Klant"]

    # fetched but unconfirmed: still listed, and shown as fetched
    assert [entry.id for entry in node_client.list_messages()] == [queued["Id"]]
    box = admin.get("/_admin/messagebox").json()
    assert box == [
        {
            "Id": queued["Id"],
            "Ontvanger": str(CREDITOR),
            "Geplaatst": box[0]["Geplaatst"],
            "Opgehaald": True,
            "Referentienummer": queued["Referentienummer"],
            "Berichttype": "Saldoverzoek",
        }
    ]

    node_client.confirm(queued["Id"])
    assert node_client.list_messages() == []
    assert admin.get("/_admin/messagebox").json() == []
    node_client.confirm(queued["Id"])  # idempotent

    answer = antwoord(
        conversation=uuid.UUID(queued["message"]["Berichtheader"]["ConversatieReferentienummer"])
    )
    referentienummer = node_client.send(encode(answer))
    assert referentienummer == answer["Berichtheader"]["Referentienummer"]
    sent = admin.get("/_admin/sent").json()
    assert [item["Berichtheader"]["Referentienummer"] for item in sent] == [referentienummer]
    assert sent[0]["Vorderingen"][0]["Openstaand"] == "123.45"

    stats = admin.get("/_admin/stats").json()
    assert {k: stats[k] for k in ("queued", "fetched", "confirmed", "sent", "duplicate_sends")} == {
        "queued": 1,
        "fetched": 1,
        "confirmed": 1,
        "sent": 1,
        "duplicate_sends": 0,
    }


def test_list_is_oldest_first_and_honours_the_maximum(
    node_client: NodeClient, queue_saldoverzoek: Callable[..., dict[str, Any]]
) -> None:
    handles = [queue_saldoverzoek()["Id"] for _ in range(5)]
    assert [entry.id for entry in node_client.list_messages()] == handles
    assert [entry.id for entry in node_client.list_messages(limit=2)] == handles[:2]


def test_each_participant_sees_only_its_own_messagebox(
    node_client: NodeClient,
    client_factory: Callable[..., NodeClient],
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
) -> None:
    other_participant = uuid.uuid4()
    mine = queue_saldoverzoek()
    theirs = queue_saldoverzoek(Ontvanger=str(other_participant))
    other = client_factory(other_participant)

    assert [entry.id for entry in node_client.list_messages()] == [mine["Id"]]
    assert [entry.id for entry in other.list_messages()] == [theirs["Id"]]
    with pytest.raises(NodeRejected, match="no message with Id"):
        other.fetch(mine["Id"])
    with pytest.raises(NodeRejected, match="no message with Id"):
        other.confirm(mine["Id"])

    assert [entry.id for entry in client_factory(uuid.uuid4()).list_messages()] == []
    box = admin.get("/_admin/messagebox", params={"ontvanger": str(CREDITOR)}).json()
    assert [(item["Id"], item["Opgehaald"]) for item in box] == [(mine["Id"], False)]


def test_the_same_referentienummer_is_delivered_again_as_a_new_entry(
    node_client: NodeClient, admin: httpx.Client
) -> None:
    message = saldoverzoek()
    first = admin.post("/_admin/messages", json=message).json()
    node_client.fetch(first["Id"])
    node_client.confirm(first["Id"])
    second = admin.post("/_admin/messages", json=message).json()
    third = admin.post("/_admin/messages", json=message).json()

    referentienummer = message["Berichtheader"]["Referentienummer"]
    assert (
        first["Referentienummer"]
        == second["Referentienummer"]
        == third["Referentienummer"]
        == referentienummer
    )
    assert len({first["Id"], second["Id"], third["Id"]}) == 3
    assert [entry.id for entry in node_client.list_messages()] == [second["Id"], third["Id"]]
    payloads = {node_client.fetch(handle).payload for handle in (second["Id"], third["Id"])}
    assert len(payloads) == 1
    assert str(decode_message(payloads.pop()).berichtheader.referentienummer) == referentienummer


def test_admin_fills_referentienummer_and_verzonden(
    node_client: NodeClient, admin: httpx.Client, queue_saldoverzoek: Callable[..., dict[str, Any]]
) -> None:
    message = saldoverzoek()
    del message["Berichtheader"]["Referentienummer"]
    del message["Berichtheader"]["Verzonden"]
    response = admin.post("/_admin/messages", json=message)
    assert response.status_code == 201, response.text
    answer = response.json()
    uuid.UUID(answer["Referentienummer"])
    decoded = decode_message(node_client.fetch(answer["Id"]).payload)
    assert str(decoded.berichtheader.referentienummer) == answer["Referentienummer"]
    verzonden = decoded.berichtheader.verzonden
    assert verzonden.tzinfo is not None
    assert abs(datetime.now(UTC) - verzonden) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "payload",
    [b"\x00\xff\xfe not XML at all \x80", b"", b"<?xml version='1.0'?><Onbekend/>"],
    ids=["binary", "empty", "unknown-xml"],
)
def test_raw_payloads_are_delivered_byte_for_byte(
    payload: bytes, node_client: NodeClient, admin: httpx.Client
) -> None:
    response = admin.post("/_admin/raw", params={"ontvanger": str(CREDITOR)}, content=payload)
    assert response.status_code == 201, response.text
    handle = response.json()["Id"]
    assert [entry.id for entry in node_client.list_messages()] == [handle]
    assert node_client.fetch(handle).payload == payload
    box = admin.get("/_admin/messagebox").json()
    assert box[0]["Referentienummer"] is None
    assert box[0]["Berichttype"] is None


def test_sent_filters_on_conversation(
    node_client: NodeClient,
    admin: httpx.Client,
    antwoord: Callable[..., dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    ids = [node_client.send(encode(antwoord(conversation=c))) for c in (one, two, one)]
    everything = admin.get("/_admin/sent").json()
    assert [m["Berichtheader"]["Referentienummer"] for m in everything] == ids
    filtered = admin.get("/_admin/sent", params={"conversation": str(one)}).json()
    assert [m["Berichtheader"]["Referentienummer"] for m in filtered] == [ids[0], ids[2]]
    assert admin.get("/_admin/sent", params={"conversation": str(uuid.uuid4())}).json() == []
    assert admin.get("/_admin/sent", params={"conversation": "nope"}).status_code == 400


def test_send_of_an_invalid_message_is_rejected_and_not_recorded(
    node_client: NodeClient,
    admin: httpx.Client,
    antwoord: Callable[..., dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    with pytest.raises(NodeRejected, match="not valid") as refused:
        node_client.send(b"<SaldoverzoekAntwoord>unfinished")
    assert not refused.value.retryable
    valid = encode(antwoord())
    broken = valid.replace(b"<KlantOnbekend>false</KlantOnbekend>", b"")
    assert broken != valid
    with pytest.raises(NodeRejected, match="KlantOnbekend"):
        node_client.send(broken)
    assert admin.get("/_admin/sent").json() == []
    assert admin.get("/_admin/stats").json()["sent"] == 0


def test_send_is_idempotent_per_referentienummer(
    node_client: NodeClient,
    admin: httpx.Client,
    antwoord: Callable[..., dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    message = antwoord()
    payload = encode(message)
    assert node_client.send(payload) == node_client.send(payload)
    assert len(admin.get("/_admin/sent").json()) == 1
    stats = admin.get("/_admin/stats").json()
    assert (stats["sent"], stats["duplicate_sends"]) == (1, 1)

    message["Vorderingen"][0]["Openstaand"] = "999.99"
    with pytest.raises(NodeRejected, match="different content"):
        node_client.send(encode(message))
    assert len(admin.get("/_admin/sent").json()) == 1


def test_unknown_ids_are_client_faults(node_client: NodeClient) -> None:
    with pytest.raises(NodeRejected, match="no message with Id"):
        node_client.fetch(str(uuid.uuid4()))
    with pytest.raises(NodeRejected, match="no message with Id"):
        node_client.confirm(str(uuid.uuid4()))


def test_duplicate_rate_queues_a_confirmed_message_again(
    node_client: NodeClient, admin: httpx.Client, queue_saldoverzoek: Callable[..., dict[str, Any]]
) -> None:
    queued = queue_saldoverzoek()
    payload = node_client.fetch(queued["Id"]).payload
    assert admin.post("/_admin/faults", json={"duplicate_rate": 1.0}).status_code == 200
    node_client.confirm(queued["Id"])
    entries = node_client.list_messages()
    assert len(entries) == 1
    assert entries[0].id != queued["Id"]
    assert node_client.fetch(entries[0].id).payload == payload
    stats = admin.get("/_admin/stats").json()
    assert stats["faults_injected"] == 1
    assert stats["duplicate_deliveries"] == 1


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/_admin/messages", {"content": b"{not json", "headers": JSON}, 400),
        ("POST", "/_admin/messages", {"json": {"Berichtheader": {}}}, 422),
        ("POST", "/_admin/messages", {"json": [1, 2]}, 422),
        ("POST", "/_admin/raw", {"content": b"x"}, 400),
        ("POST", "/_admin/raw?ontvanger=not-a-uuid", {"content": b"x"}, 400),
        ("POST", "/_admin/faults", {"json": {"error_rate": 1.5}}, 422),
        ("POST", "/_admin/faults", {"json": {"explode": True}}, 422),
        ("POST", "/_admin/faults", {"json": {"latency_ms": "slow"}}, 422),
        ("POST", "/_admin/faults", {"json": {"seed": True}}, 422),
        ("POST", "/_admin/faults", {"content": b"", "headers": JSON}, 400),
        ("GET", "/_admin/messagebox?ontvanger=x", {}, 400),
        ("GET", "/_admin/nothing", {}, 404),
        ("GET", "/skn", {}, 404),
        ("GET", "/_admin/reset", {}, 405),
        ("DELETE", "/_admin/messages", {}, 405),
    ],
)
def test_invalid_admin_input_is_answered_in_json_and_harmless(
    method: str, path: str, kwargs: dict[str, Any], status: int, admin: httpx.Client
) -> None:
    response = admin.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    if status == 422:
        assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    else:
        assert isinstance(body["error"], str) and body["error"]
    assert admin.get("/_admin/stats").status_code == 200
    assert admin.get("/_admin/faults").json()["error_rate"] == 0.0


_FAULTS = json.dumps({"error_rate": 1.0}).encode()
_PLAIN = {"Content-Type": "text/plain"}
_EVIL = {"Origin": "http://evil.example"}
_REBOUND = {"Host": "evil.example:{port}"}
_RAW = f"/_admin/raw?ontvanger={CREDITOR}"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        # what a web page's form or fetch without a preflight may send: not JSON
        ("POST", "/_admin/faults", _FAULTS, _PLAIN, 415),
        ("POST", "/_admin/faults", _FAULTS, {}, 415),
        ("POST", "/_admin/faults", _FAULTS, {"Content-Type": "application/jsonx"}, 415),
        ("POST", "/_admin/messages", "message", _PLAIN, 415),
        ("POST", "/_admin/messages", "message", {"Content-Type": "multipart/form-data"}, 415),
        # a page's own Origin, or its own name rebound to 127.0.0.1 (DNS rebinding)
        ("POST", "/_admin/faults", _FAULTS, {**_PLAIN, **_EVIL, **_REBOUND}, 403),
        ("POST", "/_admin/faults", _FAULTS, {**JSON, **_EVIL}, 403),
        ("POST", "/_admin/faults", _FAULTS, {**JSON, **_REBOUND}, 403),
        ("POST", "/_admin/messages", "message", {**JSON, **_EVIL}, 403),
        ("POST", "/_admin/messages", "message", {**JSON, **_REBOUND}, 403),
        ("POST", _RAW, b"abc", _EVIL, 403),
        ("POST", _RAW, b"abc", _REBOUND, 403),
        ("POST", "/_admin/reset", b"", _EVIL, 403),
        ("POST", "/_admin/reset", b"", {"Origin": "null"}, 403),
        ("POST", "/_admin/reset", b"", {"Origin": "http://127.0.0.1:{other}"}, 403),
        ("POST", "/_admin/reset", b"", {"Origin": "https://127.0.0.1:{port}"}, 403),
        ("POST", "/_admin/reset", b"", {"Origin": "http://127.0.0.1.evil.example:{port}"}, 403),
        ("POST", "/_admin/reset", b"", {"Host": "127.0.0.1:{other}"}, 403),
        ("POST", "/_admin/reset", b"", {"Host": "127.0.0.1"}, 403),
        ("GET", "/_admin/sent", b"", _REBOUND, 403),
        ("GET", "/_admin/messagebox", b"", _EVIL, 403),
    ],
    ids=[
        "faults-text-plain",
        "faults-no-content-type",
        "faults-not-quite-json",
        "messages-text-plain",
        "messages-multipart",
        "faults-plain-foreign-origin-and-host",
        "faults-foreign-origin",
        "faults-foreign-host",
        "messages-foreign-origin",
        "messages-foreign-host",
        "raw-foreign-origin",
        "raw-foreign-host",
        "reset-foreign-origin",
        "reset-null-origin",
        "reset-origin-other-port",
        "reset-origin-https",
        "reset-origin-lookalike",
        "reset-host-other-port",
        "reset-host-without-port",
        "sent-foreign-host",
        "messagebox-foreign-origin",
    ],
)
def test_cross_site_requests_to_the_admin_api_are_refused_and_change_nothing(
    method: str,
    path: str,
    body: bytes | str,
    headers: dict[str, str],
    status: int,
    simulator: Simulator,
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
) -> None:
    queued = queue_saldoverzoek()
    admin.post("/_admin/faults", json={"latency_ms": 1}).raise_for_status()
    faults, messagebox = admin.get("/_admin/faults").json(), admin.get("/_admin/messagebox").json()
    port = simulator.admin_port
    content = json.dumps(saldoverzoek()).encode() if body == "message" else body
    sent = {name: value.format(port=port, other=port + 7) for name, value in headers.items()}
    response = admin.request(method, path, content=content, headers=sent)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert admin.get("/_admin/faults").json() == faults
    assert admin.get("/_admin/messagebox").json() == messagebox
    assert [entry["Id"] for entry in messagebox] == [queued["Id"]]


def test_the_admin_api_takes_json_with_parameters_and_same_site_origins(
    simulator: Simulator, admin: httpx.Client
) -> None:
    port = simulator.admin_port
    faults = json.dumps({"latency_ms": 2}).encode()
    charset = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert admin.post("/_admin/faults", content=faults, headers=charset).status_code == 200
    for origin, host in [
        (f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
        (f"http://localhost:{port}", f"localhost:{port}"),
        (f"http://LOCALHOST:{port}", f"LocalHost:{port}"),
    ]:
        headers = {**JSON, "Origin": origin, "Host": host}
        response = admin.post("/_admin/faults", content=faults, headers=headers)
        assert response.status_code == 200, response.text
    raw = admin.post("/_admin/raw", params={"ontvanger": str(CREDITOR)}, content=b"abc")
    assert raw.status_code == 201  # raw bytes: any content type
    assert admin.get("/_admin/faults").json()["latency_ms"] == 2


def test_an_invalid_message_is_refused_with_its_errors(admin: httpx.Client) -> None:
    message = saldoverzoek(bsn="123456789")
    response = admin.post("/_admin/messages", json=message)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any("Bsn" in error and "elfproef" in error for error in errors)
    assert not any("123456789" in error for error in errors)
    assert admin.get("/_admin/messagebox").json() == []


def test_faults_settings_round_trip_and_clear(admin: httpx.Client) -> None:
    settings = {"error_rate": 0.25, "latency_ms": 10, "reset_rate": 0.0, "seed": 7}
    answer = admin.post("/_admin/faults", json=settings).json()
    assert answer == admin.get("/_admin/faults").json()
    assert answer["error_rate"] == 0.25 and answer["latency_ms"] == 10 and answer["seed"] == 7
    cleared = admin.post("/_admin/faults", json={}).json()
    assert cleared == {
        "error_rate": 0.0,
        "latency_ms": 0,
        "reset_rate": 0.0,
        "timeout_rate": 0.0,
        "duplicate_rate": 0.0,
        "seed": None,
    }


def test_reset_clears_all_state(
    node_client: NodeClient,
    admin: httpx.Client,
    queue_saldoverzoek: Callable[..., dict[str, Any]],
    antwoord: Callable[..., dict[str, Any]],
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    queue_saldoverzoek()
    node_client.send(encode(antwoord()))
    admin.post("/_admin/faults", json={"latency_ms": 5})
    assert admin.post("/_admin/reset").status_code == 200
    assert admin.get("/_admin/messagebox").json() == []
    assert admin.get("/_admin/sent").json() == []
    assert set(admin.get("/_admin/stats").json().values()) == {0}
    assert admin.get("/_admin/faults").json()["latency_ms"] == 0
    assert node_client.list_messages() == []


def _soap_post(
    simulator: Simulator, pki: DevPki, path: str, body: bytes, action: str | None
) -> httpx.Response:
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action is not None:
        headers["SOAPAction"] = f'"{action}"'
    url = simulator.url.replace("/skn", path)
    with httpx.Client(verify=context, timeout=5.0) as client:
        return client.post(url, content=body, headers=headers)


def _list_request(participant: str = str(CREDITOR)) -> bytes:
    return envelope(
        element(SERVICE_NS, "BerichtenlijstVraag", [("Deelnemer", participant), ("Maximum", "5")])
    )


@pytest.mark.parametrize(
    ("path", "body", "action", "status", "reason"),
    [
        ("/elders", _list_request(), OP_LIST, 404, None),
        ("/skn", _list_request(), None, 500, "SOAPAction header is missing"),
        ("/skn", _list_request(), "Ontploffen", 500, "not an operation"),
        ("/skn", b"<soap:Envelope", OP_LIST, 500, "not well-formed"),
        ("/skn", b"<Envelope/>", OP_LIST, 500, "no soap:Envelope"),
        ("/skn", _list_request("geen-uuid"), OP_LIST, 500, "Deelnemer is not a UUID"),
        ("/skn", _list_request(), "BerichtOphalen", 500, "takes a BerichtVraag"),
    ],
)
def test_soap_protocol_errors_are_client_faults(
    path: str,
    body: bytes,
    action: str | None,
    status: int,
    reason: str | None,
    simulator: Simulator,
    pki: DevPki,
) -> None:
    response = _soap_post(simulator, pki, path, body, action)
    assert response.status_code == status
    if reason is not None:
        with pytest.raises(SoapFault) as raised:
            open_envelope(response.content)
        assert raised.value.code == "Client"
        assert reason in raised.value.reason


def test_stop_closes_keep_alive_connections_and_joins_every_thread(pki: DevPki) -> None:
    before = set(threading.enumerate())
    simulator = Simulator(port=0, tls_dir=pki.directory).start()
    context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
    with NodeClient(simulator.url, CREDITOR, ssl_context=context) as client:
        client.list_messages()  # leaves a kept-alive connection (and its thread) open
        assert len(set(threading.enumerate()) - before) >= 3
        simulator.stop()
        assert set(threading.enumerate()) - before == set()
        assert not simulator.running
        simulator.stop()  # idempotent


def test_ports_and_urls(tmp_path: Path) -> None:
    fixed = Simulator(port=18450)
    assert (fixed.port, fixed.admin_port) == (18450, 18451)
    assert fixed.url == "http://127.0.0.1:18450/skn"
    assert fixed.admin_url == "http://127.0.0.1:18451"
    assert Simulator(port=18450, admin_port=19000).admin_port == 19000
    with Simulator(port=0, tls_dir=tmp_path / "tls") as sim:
        assert sim.port > 0 and sim.admin_port > 0 and sim.port != sim.admin_port
        assert sim.url == f"https://127.0.0.1:{sim.port}/skn"
        assert sim.tls_dir == tmp_path / "tls"
        assert sorted(p.name for p in (tmp_path / "tls").glob("*.pem")) == [
            "ca.pem",
            "client.pem",
            "node.pem",
            "receiver.pem",  # for a connector's receive endpoint
        ]


def test_without_tls_the_simulator_serves_plain_http_to_an_insecure_client() -> None:
    with Simulator(port=0) as sim, httpx.Client(base_url=sim.admin_url) as admin:
        assert sim.url.startswith("http://")
        raw = admin.post("/_admin/raw", params={"ontvanger": str(SHV)}, content=b"abc").json()
        with NodeClient(sim.url, SHV, ssl_context=None, allow_insecure=True) as client:
            assert client.fetch(raw["Id"]).payload == b"abc"


def test_a_port_in_use_is_one_clear_error(simulator: Simulator) -> None:
    from skn_connector.node.simulator import SimulatorError

    with pytest.raises(SimulatorError, match=f"cannot listen on 127.0.0.1:{simulator.port}"):
        Simulator(port=simulator.port, admin_port=0).start()


def test_run_simulator_serves_until_sigterm(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from skn_connector.node.simulator import run_simulator; "
        "run_simulator(0, None, Path(sys.argv[1]))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "tls")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "https://127.0.0.1:" in line and "http://127.0.0.1:" in line, line
            assert str(tmp_path / "tls") in line
            admin_url = line.split("admin API at ")[1].split(",")[0]
            assert httpx.get(f"{admin_url}/_admin/stats", timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=10)
            assert process.returncode == 0, errors
            assert "Traceback" not in errors
        finally:
            if process.poll() is None:
                process.kill()
    assert (tmp_path / "tls" / "client.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8443/skn", "https://", "https://:8443/skn", "https://h:port/skn"]
)
def test_a_push_url_that_is_no_https_endpoint_is_refused_at_start(tmp_path: Path, url: str) -> None:
    """One sentence, before anything listens (a URL without a host failed each delivery
    instead, for ever)."""
    simulator = Simulator(port=0, tls_dir=tmp_path / "tls", push=url)
    with pytest.raises(SimulatorError, match="--push takes the https:// URL"):
        simulator.start()
    assert simulator.pusher is None
