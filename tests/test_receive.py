"""Receive mode over real sockets and real TLS: the simulated node delivers (``--push``),
the connector's endpoint stores each delivery before it acknowledges it, and answers go out
through the node's send operation. Nothing is mocked."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import add_receive_mode, saldoverzoek_json, scenarios
from skn_connector.demo import write_config as write_demo_config
from skn_connector.messages import message_from_json
from skn_connector.node.certs import DevPki, issue_certificate, make_ca, write_pem
from skn_connector.node.simulator import Simulator
from skn_connector.service.receive import ReceiveServer, receiving
from skn_connector.service.wiring import build_receive_context, connector
from skn_connector.store.schema import InboxMessage, QuarantinedMessage
from skn_connector.wire.delivery import delivery_request, read_acknowledgement
from skn_connector.wire.soap import encode_message

from .receiving import CLI, REPO, Daemon, free_port, node_context

SOAP = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"BerichtAfleveren"'}


@pytest.fixture
def backoffice(tmp_path: Path) -> SampleBackOffice:
    return resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _questions(backoffice: SampleBackOffice, count: int) -> list[dict[str, Any]]:
    mix = scenarios(backoffice.debtors)
    return [saldoverzoek_json(mix[i % len(mix)], i + 1) for i in range(count)]


def _encoded(question: dict[str, Any]) -> bytes:
    """The wire bytes of a question, with the header fields the node fills in."""
    question["Berichtheader"].setdefault("Referentienummer", str(uuid.uuid4()))
    question["Berichtheader"].setdefault("Verzonden", "2026-11-27T09:30:00+01:00")
    return encode_message(message_from_json(question))


def test_a_daemon_in_receive_mode_answers_what_the_node_pushes_without_polling(
    tmp_path: Path, backoffice: SampleBackOffice
) -> None:
    port = free_port()
    url = f"https://127.0.0.1:{port}/skn"
    with Simulator(port=0, tls_dir=tmp_path / "tls", push=url) as node:
        config = write_demo_config(tmp_path, node, backoffice.options)
        add_receive_mode(config, tmp_path / "tls", port)
        questions = _questions(backoffice, 6)
        with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
            for question in questions:
                admin.post("/_admin/messages", json=question).raise_for_status()
            check = subprocess.run(
                [CLI, "config", "check", "--config", str(config)],
                capture_output=True,
                text=True,
                env={"PYTHONPATH": str(REPO), "PATH": str(Path(CLI).parent)},
                check=False,
            )
            assert check.returncode == 0, check.stderr
            daemon = Daemon(config, tmp_path / "daemon.log")
            with daemon:
                answered = _wait(lambda: len(admin.get("/_admin/sent").json()) == 6)
                stats = admin.get("/_admin/stats").json()
                waiting = admin.get("/_admin/messagebox").json()
            code = daemon.process.returncode if daemon.process else None
    assert answered, daemon.stderr()[-3000:]
    assert code == 0, daemon.stderr()[-3000:]
    assert stats["listed"] == 0 and stats["fetched"] == 0, stats  # no polling
    assert stats["acknowledged"] == 6 and waiting == [], stats
    assert "Traceback" not in daemon.stderr()
    assert "not polling" in daemon.stderr()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        yield simulator


@pytest.fixture
def endpoint(
    tmp_path: Path, node: Simulator, backoffice: SampleBackOffice
) -> Iterator[tuple[ReceiveServer, Any]]:
    """The receive endpoint in this process on a free port, with the connector's pipeline
    (a SQLite store, the sample back-office, the simulated node for the answers)."""
    config = write_demo_config(tmp_path, node, backoffice.options)
    add_receive_mode(config, tmp_path / "tls", free_port())
    settings = load_settings(config)
    with (
        connector(settings) as pipeline,
        receiving(
            settings,
            build_receive_context(settings),
            pipeline,
            wake=lambda _count: None,
            may_store=lambda: True,
        ) as server,
    ):
        assert server is not None
        yield server, pipeline


def _pki(node: Simulator) -> DevPki:
    assert node.tls_dir is not None
    return DevPki.in_directory(node.tls_dir)


def _stored(pipeline: Any) -> tuple[int, int]:
    with pipeline.store.transaction() as session:
        inbox = session.scalar(select(func.count()).select_from(InboxMessage))
        quarantine = session.scalar(select(func.count()).select_from(QuarantinedMessage))
    return int(inbox or 0), int(quarantine or 0)


def _tls_refused(port: int, context: ssl.SSLContext) -> bool:
    """Whether the endpoint refuses the handshake (TLS 1.3 may only show it on reading)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"POST /skn HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            return tls.recv(100) == b""
    except (ssl.SSLError, OSError):
        return True


def test_a_push_with_a_certificate_of_another_ca_is_refused_in_the_handshake(
    tmp_path: Path,
    endpoint: tuple[ReceiveServer, Any],
    node: Simulator,
    backoffice: SampleBackOffice,
) -> None:
    server, pipeline = endpoint
    pki = _pki(node)
    foreign_ca, foreign_key = make_ca("another CA")
    cert, key = issue_certificate(foreign_ca, foreign_key, "impostor", server=False)
    write_pem(tmp_path / "impostor.pem", cert)
    write_pem(tmp_path / "impostor.key", key)
    impostor = ssl.create_default_context(cafile=str(pki.ca_cert))
    impostor.load_cert_chain(str(tmp_path / "impostor.pem"), str(tmp_path / "impostor.key"))
    anonymous = ssl.create_default_context(cafile=str(pki.ca_cert))
    message = _encoded(_questions(backoffice, 1)[0])
    for context in (impostor, anonymous):
        assert _tls_refused(server.port, context)
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):
            httpx.post(
                server.url, content=delivery_request("x", message), headers=SOAP, verify=context
            )
    assert _stored(pipeline) == (0, 0)
    # the node's own certificate is taken
    answer = httpx.post(
        server.url, content=delivery_request("h-1", message), headers=SOAP, verify=node_context(pki)
    )
    assert answer.status_code == 200 and read_acknowledgement(answer.content) == "h-1"
    assert _stored(pipeline) == (1, 0)


def test_a_redelivery_has_no_second_effect_and_a_conflicting_one_is_quarantined(
    endpoint: tuple[ReceiveServer, Any], node: Simulator, backoffice: SampleBackOffice
) -> None:
    server, pipeline = endpoint
    question = _questions(backoffice, 1)[0]
    message = _encoded(question)
    conflicting = _encoded(dict(question, KlantnummerSHV="KB999999"))
    another = _encoded(_questions(backoffice, 2)[1])
    with httpx.Client(verify=node_context(_pki(node)), timeout=30) as push:
        for handle, payload in (
            ("h-1", message),  # the delivery
            ("h-1", message),  # redelivered: the same handle
            ("h-2", message),  # the same message under another handle
            ("h-3", conflicting),  # the same Referentienummer, other content
            ("h-1", another),  # another message under a handle delivered before
        ):
            answer = push.post(server.url, content=delivery_request(handle, payload), headers=SOAP)
            assert answer.status_code == 200, answer.text
            assert read_acknowledgement(answer.content) == handle
    assert _stored(pipeline) == (1, 2)
    pipeline.process_due()
    pipeline.deliver_due()
    with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
        sent = admin.get("/_admin/sent").json()
    assert len(sent) == 1
    assert (
        sent[0]["Berichtheader"]["CrossReferentienummer"]
        == question["Berichtheader"]["Referentienummer"]
    )
    with pipeline.store.transaction() as session:
        reasons = session.scalars(select(QuarantinedMessage.reason)).all()
        (duplicates,) = session.scalars(select(InboxMessage.duplicates)).all()
    assert len(reasons) == 2
    assert "conflicting duplicate" in reasons[0]
    assert "handle was delivered before with other content" in reasons[1]
    assert duplicates == 1  # the copy under h-2; h-1 again was known by its handle


def test_an_undecodable_delivery_is_quarantined_and_acknowledged_and_not_a_delivery_is_a_fault(
    endpoint: tuple[ReceiveServer, Any], node: Simulator
) -> None:
    server, pipeline = endpoint
    with httpx.Client(verify=node_context(_pki(node)), timeout=30) as push:
        kept = push.post(server.url, content=delivery_request("h-9", b"not xml"), headers=SOAP)
        other_operation = push.post(
            server.url,
            content=delivery_request("h-8", b"<x/>"),
            headers={**SOAP, "SOAPAction": '"BerichtOphalen"'},
        )
        not_soap = push.post(server.url, content=b"hello", headers=SOAP)
        wrong_type = push.post(server.url, content=b"{}", headers={"Content-Type": "text/json"})
        get = push.get(server.url)
        elsewhere = push.post(server.url.replace("/skn", "/other"), content=b"x", headers=SOAP)
    assert kept.status_code == 200 and read_acknowledgement(kept.content) == "h-9"
    assert other_operation.status_code == 500 and b"soap:Client" in other_operation.content
    assert b"is not an operation of this service" in other_operation.content
    assert not_soap.status_code == 500 and b"soap:Client" in not_soap.content
    assert wrong_type.status_code == 415
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    assert elsewhere.status_code == 404
    assert _stored(pipeline) == (0, 1)


def test_config_check_builds_the_receive_endpoints_tls_and_names_a_missing_file(
    tmp_path: Path, node: Simulator, backoffice: SampleBackOffice
) -> None:
    config = write_demo_config(tmp_path, node, backoffice.options)
    add_receive_mode(config, tmp_path / "tls", free_port(), mode="both")
    env = {"PYTHONPATH": str(REPO), "PATH": str(Path(CLI).parent)}
    good = subprocess.run(
        [CLI, "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    config.write_text(
        config.read_text(encoding="utf-8").replace("receiver.pem", "missing.pem"), encoding="utf-8"
    )
    for command in (["config", "check"], ["run"]):
        bad = subprocess.run(
            [CLI, *command, "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        assert bad.returncode == 2, bad.stderr
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "receive.tls.certificate" in lines[0], bad.stderr
        assert "missing.pem does not exist" in lines[0]


def _example_with_receive() -> dict[str, Any]:
    """config.example.toml with its commented [receive] section taken in."""
    import tomllib

    lines = []
    inside = False
    for line in (REPO / "config.example.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("# [receive]"):
            inside = True
        elif line.startswith("[store]"):
            inside = False
        if inside and line.startswith(("# ", "#   ")) and not line.startswith(("# #", "#   #")):
            line = line[2:]
        lines.append(line)
    return tomllib.loads("\n".join(lines))


def test_the_receive_settings_of_the_example_are_valid_and_mode_receive_needs_them() -> None:
    from skn_connector.config import ConfigError, NodeMode, settings_from_dict

    data = _example_with_receive()
    data["node"]["mode"] = "receive"
    settings = settings_from_dict(data)
    assert settings.node.mode is NodeMode.RECEIVE and not settings.node.mode.polls
    assert settings.receive is not None and settings.receive.address == ("0.0.0.0", 8443)
    assert settings.receive.request_timeout.total_seconds() == 15
    del data["receive"]
    with pytest.raises(ConfigError, match=r'receive: node.mode = "receive" needs a \[receive\]'):
        settings_from_dict(data)
    data = _example_with_receive()
    data["receive"]["listen"] = "8443"
    with pytest.raises(ConfigError, match=r"receive\.listen: must be HOST:PORT"):
        settings_from_dict(data)


def test_a_receive_key_readable_by_others_is_named(
    tmp_path: Path, node: Simulator, backoffice: SampleBackOffice
) -> None:
    from skn_connector.service.exposure import exposed_files

    config = write_demo_config(tmp_path, node, backoffice.options)
    add_receive_mode(config, tmp_path / "tls", free_port())
    key = tmp_path / "tls" / "receiver.key"
    key.chmod(0o644)
    found = [line for line in exposed_files(load_settings(config)) if "receive.tls" in line]
    assert found == [
        f"the private key receive.tls.private_key {key} is readable by group or others "
        f"(mode 0644): chmod 600 {key}"
    ]


def test_an_acknowledgement_leaves_as_one_tls_record_on_a_kept_connection(
    endpoint: tuple[ReceiveServer, Any], node: Simulator, backoffice: SampleBackOffice
) -> None:
    """The status line, headers and body of an answer are written together: one TLS record
    (a record is what one read of a TLS socket returns at most), for each answer of a
    connection the node keeps open."""
    server, _ = endpoint
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    firsts: list[bytes] = []
    with node_context(_pki(node)).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        for number, question in enumerate(_questions(backoffice, 3)):
            body = delivery_request(f"one-record-{number}", _encoded(question))
            tls.sendall(
                b"POST /skn HTTP/1.1\r\nHost: connector\r\n"
                b"Content-Type: text/xml; charset=utf-8\r\n"
                b'SOAPAction: "BerichtAfleveren"\r\n'
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
            firsts.append(tls.recv(65536))
    for number, first in enumerate(firsts):
        head, _, rest = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert len(rest) == length  # the whole body came with the headers
        assert read_acknowledgement(rest) == f"one-record-{number}"
