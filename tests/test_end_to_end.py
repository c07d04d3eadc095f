"""The walking skeleton end to end: simulator over mutual TLS, a real store, a real plugin,
`skn-connector run --once` as a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import (
    CREDITOR_ID,
    UNKNOWN_INVOICE,
    run_demo,
    saldoverzoek_json,
    scenarios,
    write_config,
)
from skn_connector.node.certs import issue_certificate, make_ca, write_pem
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import run_once
from skn_connector.service.wiring import connector
from skn_connector.store import open_store
from skn_connector.store.schema import InboxMessage, QuarantinedMessage

from .factories import saldoverzoek

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")


@pytest.fixture
def backoffice(tmp_path: Path) -> SampleBackOffice:
    return resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        yield simulator


@pytest.fixture
def config_file(tmp_path: Path, node: Simulator, backoffice: SampleBackOffice) -> Path:
    return write_config(tmp_path, node, backoffice.options)


def admin(node: Simulator) -> httpx.Client:
    return httpx.Client(base_url=node.admin_url, timeout=10)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env=full_env, check=False
    )


def expected_claims(database_url: str, klantnummer: str) -> dict[str, Decimal]:
    """Outstanding amount per aanslag, read straight from the sample back-office's tables."""
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT a.aanslagnummer, a.oorspronkelijk_bedrag, a.betaald, a.invorderingsrente, "
            "a.kosten FROM aanslagen a JOIN debiteuren d ON d.debiteur_id = a.debiteur_id "
            "WHERE d.klantnummer = ? AND a.status IN ('open', 'overgedragen', 'betwist')",
            (klantnummer,),
        ).fetchall()
    return {
        number: (
            Decimal(str(orig)) - Decimal(str(paid)) + Decimal(str(rente)) + Decimal(str(kosten))
        ).quantize(Decimal("0.01"))
        for number, orig, paid, rente, kosten in rows
    }


def test_run_once_answers_every_saldoverzoek_exactly_once(
    node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> None:
    mix = scenarios(backoffice.debtors)
    requests = [saldoverzoek_json(s, i) for i, s in enumerate(mix, start=1)]
    with admin(node) as client:
        ids = [client.post("/_admin/messages", json=r).raise_for_status().json() for r in requests]
        result = run_cli("run", "--once", "--config", str(config_file), "--max-wait", "20")
        assert result.returncode == 0, result.stderr
        sent = client.get("/_admin/sent").json()
        waiting = client.get("/_admin/messagebox").json()
    assert waiting == []
    assert len(sent) == len(requests)
    request_ids = {i["Referentienummer"] for i in ids}
    answer_ids = {a["Berichtheader"]["Referentienummer"] for a in sent}
    assert len(answer_ids) == len(sent) and not answer_ids & request_ids

    for scenario, request in zip(mix, requests, strict=True):
        header = request["Berichtheader"]
        answers = [
            a
            for a in sent
            if a["Berichtheader"]["ConversatieReferentienummer"]
            == header["ConversatieReferentienummer"]
        ]
        assert len(answers) == 1, scenario.label
        answer = answers[0]
        answer_header = answer["Berichtheader"]
        assert answer_header["Afzender"] == header["Ontvanger"] == str(CREDITOR_ID)
        assert answer_header["Ontvanger"] == header["Afzender"]
        assert answer_header["Module"] == header["Module"]
        if scenario.label == "unknown debtor":
            assert answer_header["Berichttype"] == "GeenMedewerking"
            assert answer["Reden"] == "KLANT_ONBEKEND"
            continue
        assert answer_header["Berichttype"] == "SaldoverzoekAntwoord"
        debtor = next(d for d in backoffice.debtors if d.person == scenario.person)
        assert answer["KlantnummerSE"] == debtor.klantnummer_se
        expected = expected_claims(backoffice.options["database_url"], debtor.klantnummer_se)
        listed = answer.get("Vorderingen", [])
        assert [c["FactuurnummerSEVolgensSHV"] for c in listed] == list(scenario.invoices)
        reported: dict[str, Decimal] = {}
        for claim in listed:
            if claim["Schuldtype"] == "onbekende schuld bij SE":
                assert claim["FactuurnummerSEVolgensSHV"] not in expected
                assert "Openstaand" not in claim
            else:
                assert claim["FactuurnummerSE"] == claim["FactuurnummerSEVolgensSHV"]
                reported[claim["FactuurnummerSE"]] = Decimal(claim["Openstaand"])
        for claim in answer.get("OngematchteSchulden", {}).get("OpenstaandeSchulden", []):
            assert "FactuurnummerSEVolgensSHV" not in claim
            reported[claim["FactuurnummerSE"]] = Decimal(claim["Openstaand"])
        assert reported == expected, scenario.label
        if UNKNOWN_INVOICE in scenario.invoices:
            unknown = [c for c in listed if c["FactuurnummerSEVolgensSHV"] == UNKNOWN_INVOICE]
            assert unknown[0]["Schuldtype"] == "onbekende schuld bij SE"


HOSTILE = {
    "not XML": (b"\x00\x01 this is not XML at all", "not well-formed XML"),
    "another namespace": (None, "namespace"),
    "missing field": (None, "Achternaam"),
    "BSN fails elfproef": (None, "Saldoverzoek/Klant/Bsn: the BSN fails the elfproef"),
    "DTD with entities": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;">]><Saldoverzoek xmlns="urn:skn-connector:berichten:2.0">'
        b"&lol2;</Saldoverzoek>",
        "DTD",
    ),
}


def hostile_payloads() -> dict[str, tuple[bytes, str]]:
    from skn_connector.messages import message_from_json
    from skn_connector.wire.soap import encode_message

    good = encode_message(message_from_json(saldoverzoek(invoices=())))
    payloads = {}
    for label, (payload, reason) in HOSTILE.items():
        if label == "another namespace":
            payload = good.replace(b"urn:skn-connector:berichten:2.0", b"urn:example:elsewhere")
        elif label == "missing field":
            start = good.index(b"<Achternaam>")
            end = good.index(b"</Achternaam>") + len(b"</Achternaam>")
            payload = good[:start] + good[end:]
        elif label == "BSN fails elfproef":
            bsn = message_from_json(saldoverzoek()).to_json()["Klant"]["Bsn"]
            broken = bsn[:-1] + str((int(bsn[-1]) + 1) % 10)
            payload = encode_message(message_from_json(saldoverzoek(invoices=()))).replace(
                bsn.encode(), broken.encode()
            )
        assert payload is not None
        payloads[label] = (payload, reason)
    return payloads


class ConfirmSpy:
    """Wraps the real node client; at each confirm, the message must already be stored."""

    def __init__(self, inner: Any, store_url: str) -> None:
        self.inner = inner
        self.store = open_store(store_url)
        self.confirmed_unstored: list[str] = []
        self.confirmed: list[str] = []

    def list_messages(self, limit: int = 100) -> Any:
        return self.inner.list_messages(limit)

    def fetch(self, message_id: str) -> Any:
        return self.inner.fetch(message_id)

    def send(self, payload: bytes) -> str:
        return str(self.inner.send(payload))

    def confirm(self, message_id: str) -> None:
        with self.store.transaction() as session:
            stored = (
                session.scalars(
                    select(InboxMessage.id).where(InboxMessage.node_message_id == message_id)
                ).first()
                or session.scalars(
                    select(QuarantinedMessage.id).where(
                        QuarantinedMessage.node_message_id == message_id
                    )
                ).first()
            )
        if stored is None:
            self.confirmed_unstored.append(message_id)
        self.confirmed.append(message_id)
        self.inner.confirm(message_id)


def test_malformed_messages_are_quarantined_and_good_ones_still_answered(
    node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> None:
    payloads = hostile_payloads()
    good = [saldoverzoek_json(s, i) for i, s in enumerate(scenarios(backoffice.debtors)[:2], 1)]
    with admin(node) as client:
        first = client.post("/_admin/messages", json=good[0]).raise_for_status().json()
        for payload, _ in payloads.values():
            client.post(
                "/_admin/raw", params={"ontvanger": str(CREDITOR_ID)}, content=payload
            ).raise_for_status()
        client.post("/_admin/messages", json=good[1]).raise_for_status()

        settings = load_settings(config_file)
        with connector(settings) as pipeline:
            spy = ConfirmSpy(pipeline.node, settings.store.url)
            pipeline.node = spy
            summary = run_once(pipeline, max_wait=20)
            spy.store.close()
        sent = client.get("/_admin/sent").json()
        waiting = client.get("/_admin/messagebox").json()

    assert spy.confirmed_unstored == []
    assert len(spy.confirmed) == len(payloads) + 2
    assert waiting == []
    assert summary.quarantined == len(payloads)
    assert len(sent) == 2
    store = open_store(settings.store.url)
    with store.transaction() as session:
        kept = list(session.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id)))
    store.close()
    assert [q.raw for q in kept] == [p for p, _ in payloads.values()]
    for row, (label, (_, reason)) in zip(kept, payloads.items(), strict=True):
        assert reason in row.reason, (label, row.reason)

    listing = run_cli("quarantine", "list", "--json", "--config", str(config_file))
    assert listing.returncode == 0, listing.stderr
    assert len(__import__("json").loads(listing.stdout)) == len(payloads)

    # a person's second try from the command line: a message that still fails stays kept
    retried = run_cli("quarantine", "retry", str(kept[0].id), "--config", str(config_file))
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.startswith(f"quarantined message {kept[0].id} still cannot be accepted")
    # what cannot be done is one sentence and exit code 2, no traceback
    missing = run_cli("quarantine", "retry", "99999", "--config", str(config_file))
    assert missing.returncode == 2
    assert "there is no quarantined message 99999" in missing.stderr
    assert "Traceback" not in missing.stderr
    answered = str(first["Referentienummer"])
    replayed = run_cli("messages", "replay", answered, "--config", str(config_file))
    assert replayed.returncode == 2
    assert f"message {answered} was worked (done); it is not replayed" in replayed.stderr
    assert "Traceback" not in replayed.stderr


def test_a_client_certificate_from_another_ca_is_refused(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    other_ca, other_key = make_ca("Some Other CA")
    cert, key = issue_certificate(other_ca, other_key, "intruder", server=False)
    write_pem(tmp_path / "intruder.pem", cert)
    write_pem(tmp_path / "intruder.key", key)
    text = config_file.read_text().replace(
        str(node.tls_dir / "client.pem"), str(tmp_path / "intruder.pem")
    )
    text = text.replace(str(node.tls_dir / "client.key"), str(tmp_path / "intruder.key"))
    config_file.write_text(text)
    with admin(node) as client:
        client.post("/_admin/messages", json=saldoverzoek()).raise_for_status()
        result = run_cli("run", "--once", "--config", str(config_file), "--max-wait", "5")
        waiting = client.get("/_admin/messagebox").json()
        stats = client.get("/_admin/stats").json()
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(errors) == 1 and "refused our client certificate" in errors[0]
    assert "Traceback" not in result.stderr
    assert len(waiting) == 1 and not waiting[0]["Opgehaald"]
    assert stats["confirmed"] == 0 and stats["tls_refusals"] >= 1


def test_a_node_certificate_we_do_not_trust_is_refused(
    tmp_path: Path, node: Simulator, config_file: Path
) -> None:
    other_ca, _ = make_ca("Not The Node's CA")
    write_pem(tmp_path / "other-ca.pem", other_ca)
    config_file.write_text(
        config_file.read_text().replace(
            str(node.tls_dir / "ca.pem"), str(tmp_path / "other-ca.pem")
        )
    )
    with admin(node) as client:
        client.post("/_admin/messages", json=saldoverzoek()).raise_for_status()
        result = run_cli("run", "--once", "--config", str(config_file), "--max-wait", "5")
        waiting = client.get("/_admin/messagebox").json()
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(errors) == 1 and "node.tls.trust" in errors[0]
    assert "Traceback" not in result.stderr
    assert len(waiting) == 1 and not waiting[0]["Opgehaald"]


def test_config_check_names_the_broken_key(config_file: Path) -> None:
    ok = run_cli("config", "check", "--config", str(config_file))
    assert ok.returncode == 0, ok.stderr
    config_file.write_text(
        config_file.read_text().replace('kind = "gemeentebelastingen"', 'kind = "x"')
    )
    broken = run_cli("config", "check", "--config", str(config_file))
    assert broken.returncode == 2
    assert broken.stderr.count("\n") == 1 and "creditor.kind" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        ("no-such-adapter", "no-such-adapter"),
        ("tests.adapters_for_tests:PromisesClaimsButCannotList", "list_claims"),
    ],
)
def test_adapters_are_refused_at_start_with_one_sentence(
    config_file: Path, use: str, expected: str
) -> None:
    config_file.write_text(
        config_file.read_text().replace('use = "gemeentebelastingen"', f'use = "{use}"')
    )
    for command in (["config", "check"], ["run", "--once"]):
        result = run_cli(*command, "--config", str(config_file))
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr
        assert "Traceback" not in result.stderr


def test_duplicate_delivery_has_no_second_effect(
    node: Simulator, config_file: Path, backoffice: SampleBackOffice
) -> None:
    request = saldoverzoek_json(scenarios(backoffice.debtors)[0], 1)
    request["Berichtheader"]["Referentienummer"] = str(uuid.uuid4())
    with admin(node) as client:
        client.post("/_admin/messages", json=request).raise_for_status()
        client.post("/_admin/messages", json=request).raise_for_status()  # redelivery
        assert run_cli("run", "--once", "--config", str(config_file)).returncode == 0
        client.post("/_admin/messages", json=request).raise_for_status()  # and once more, later
        assert run_cli("run", "--once", "--config", str(config_file)).returncode == 0
        sent = client.get("/_admin/sent").json()
    assert len(sent) == 1


def test_the_demo_answers_everything_and_leaves_nothing_running(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    assert run_demo(tmp_path / "demo") is True
    assert set(threading.enumerate()) <= before
