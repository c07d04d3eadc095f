"""One deployment, three creditors: the taxes of two municipalities (the gemeentebelastingen
plugin, each with its own back-office file) and a "werk en inkomen" (its plugin), through the
simulated node over mutual TLS on loopback. Each is answered with its own participant id as
Afzender, from its own back-office, under its own policy; nothing of one creditor is visible
or changeable through another's scope, in the CLI or in the metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter
from skn_werk_en_inkomen.adapter import WerkEnInkomenAdapter

from skn_connector.adapters.api import SampleBackOffice, SampleDebtor
from skn_connector.node.certs import DevPki
from skn_connector.node.simulator import Simulator

from .factories import SHV, saldoverzoek

REPO = Path(__file__).resolve().parents[1]
CLI = str(REPO / ".venv" / "bin" / "skn-connector")

AADORP = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c01"
BEEKDAM = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c02"
WI = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c03"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=180, env=env, check=False
    )


def _options(options: dict[str, Any]) -> str:
    return "\n".join(f"    {k} = {json.dumps(v)}" for k, v in options.items())


def write_config(
    tmp_path: Path, simulator: Simulator, pki: DevPki, samples: dict[str, SampleBackOffice]
) -> Path:
    path = tmp_path / "skn-connector.toml"
    path.write_text(
        f"""
[node]
url = "{simulator.url}"
  [node.tls]
  certificate = "{pki.client_cert}"
  private_key = "{pki.client_key}"
  trust = "{pki.ca_cert}"
[store]
url = "sqlite:///{tmp_path / "skn.db"}"

[[creditors]]
name = "Gemeente Aadorp, Belastingen"
participant_id = "{AADORP}"
kind = "gemeentebelastingen"
covenant = "lokale_overheid"
  [creditors.contact]
  naam = "Team Invordering Aadorp"
  [creditors.policy]
  # its first weeks: its Saldo answers wait for a person's approval
  approve_before_sending = ["SaldoverzoekAntwoord"]
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
{_options({**samples[AADORP].options, "klantnummer_prefix": "AAD-"})}

[[creditors]]
name = "Gemeente Beekdam, Belastingen"
participant_id = "{BEEKDAM}"
kind = "gemeentebelastingen"
covenant = "lokale_overheid"
  [creditors.contact]
  naam = "Team Invordering Beekdam"
  # its own certificate (here the same files: the development PKI has one client)
  [creditors.tls]
  certificate = "{pki.client_cert}"
  private_key = "{pki.client_key}"
  trust = "{pki.ca_cert}"
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
{_options({**samples[BEEKDAM].options, "klantnummer_prefix": "BKD-"})}

[[creditors]]
name = "Werk en Inkomen Regio"
participant_id = "{WI}"
kind = "werk_en_inkomen"
covenant = "lokale_overheid"
  [creditors.contact]
  naam = "Team Terugvordering"
  [[creditors.adapters]]
  name = "wi"
  use = "werk_en_inkomen"
    [creditors.adapters.options]
{_options(samples[WI].options)}
""",
        encoding="utf-8",
    )
    return path


def question(debtor: SampleDebtor, ontvanger: str) -> dict[str, Any]:
    person = debtor.person
    message = saldoverzoek(
        bsn=person.bsn,
        invoices=debtor.factuurnummers,
        achternaam=person.achternaam,
        postcode=debtor.postcode,
        huisnummer=debtor.huisnummer,
        geboortedatum=person.geboortedatum.isoformat(),
        Ontvanger=ontvanger,
    )
    message["Klant"]["Voorletters"] = person.voorletters
    message["Klant"]["Voornamen"] = person.voornamen
    message["Klant"]["Geslacht"] = person.geslacht
    return message


def sample_back_offices(tmp_path: Path) -> dict[str, SampleBackOffice]:
    """Each creditor's own sample back-office: two municipal taxes and a werk en inkomen."""
    return {
        AADORP: GemeentebelastingenAdapter.create_sample(tmp_path / "aadorp"),
        BEEKDAM: GemeentebelastingenAdapter.create_sample(tmp_path / "beekdam"),
        WI: WerkEnInkomenAdapter.create_sample(tmp_path / "wi"),
    }


@pytest.fixture
def deployment(
    tmp_path: Path, simulator: Simulator, pki: DevPki, admin: httpx.Client
) -> dict[str, Any]:
    samples = sample_back_offices(tmp_path)
    config = write_config(tmp_path, simulator, pki, samples)
    conversations: dict[str, str] = {}
    for creditor, sample in samples.items():
        debtor = next(d for d in sample.debtors if d.person.bsn)
        message = question(debtor, creditor)
        response = admin.post("/_admin/messages", json=message)
        assert response.status_code == 201, response.text
        conversations[creditor] = message["Berichtheader"]["ConversatieReferentienummer"]
    return {"config": config, "conversations": conversations}


def cli_json(*args: str) -> Any:
    done = run_cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_three_creditors_each_answered_as_itself(
    deployment: dict[str, Any], simulator: Simulator, admin: httpx.Client
) -> None:
    config = str(deployment["config"])
    conversations: dict[str, str] = deployment["conversations"]
    assert run_cli("config", "check", "-c", config).returncode == 0

    first = run_cli("run", "--once", "-c", config, "--max-wait", "20")
    assert first.returncode == 0, first.stderr
    # Aadorp's answer waits for approval (its policy); the others went out
    assert "Gemeente Aadorp, Belastingen: fetched 1" in first.stdout
    assert "1 for approval" in first.stdout.splitlines()[0]
    sent = {
        m["Berichtheader"]["ConversatieReferentienummer"]: m
        for m in admin.get("/_admin/sent").json()
    }
    assert set(sent) == {conversations[BEEKDAM], conversations[WI]}
    for creditor in (BEEKDAM, WI):
        header = sent[conversations[creditor]]["Berichtheader"]
        assert (header["Afzender"], header["Ontvanger"]) == (creditor, str(SHV))
        assert header["Berichttype"] == "SaldoverzoekAntwoord"
    # each from its own back-office: Beekdam's klantnummers carry its prefix
    assert sent[conversations[BEEKDAM]]["KlantnummerSE"].startswith("BKD-")
    assert sent[conversations[BEEKDAM]]["Contactpersoon"]["Naam"] == "Team Invordering Beekdam"
    assert sent[conversations[WI]]["Contactpersoon"]["Naam"] == "Team Terugvordering"

    # the approval task is Aadorp's: Beekdam's scope neither sees nor resolves it
    (task,) = [
        t
        for t in cli_json("tasks", "list", "-c", config, "--creditor", AADORP)
        if t["kind"] == "approve_answer"
    ]
    assert not any(
        t["kind"] == "approve_answer"
        for t in cli_json("tasks", "list", "-c", config, "--creditor", BEEKDAM)
    )
    refused = run_cli(
        "tasks",
        "resolve",
        str(task["id"]),
        "--choice",
        "approve",
        "-c",
        config,
        "--creditor",
        "Gemeente Beekdam, Belastingen",
    )
    assert refused.returncode == 2 and f"there is no task {task['id']}" in refused.stderr
    assert any(
        t["id"] == task["id"] and t["status"] == "open"
        for t in cli_json("tasks", "list", "-c", config, "--creditor", AADORP)
    )
    approved = run_cli(
        "tasks",
        "resolve",
        str(task["id"]),
        "--choice",
        "approve",
        "-c",
        config,
        "--creditor",
        "gemeente aadorp, belastingen",
    )
    assert approved.returncode == 0, approved.stderr
    second = run_cli("run", "--once", "-c", config, "--creditor", AADORP, "--max-wait", "20")
    assert second.returncode == 0, second.stderr
    answer = next(
        m
        for m in admin.get("/_admin/sent").json()
        if m["Berichtheader"]["ConversatieReferentienummer"] == conversations[AADORP]
    )
    assert answer["Berichtheader"]["Afzender"] == AADORP
    assert answer["KlantnummerSE"].startswith("AAD-")
    assert answer["Contactpersoon"]["Naam"] == "Team Invordering Aadorp"
    assert len(admin.get("/_admin/sent").json()) == 3  # each answered once

    # the messages: each scope lists its own conversation alone, and shows no other's
    seen = {
        creditor: {
            m["conversation_id"]
            for m in cli_json("messages", "list", "-c", config, "--creditor", creditor)
        }
        for creditor in (AADORP, BEEKDAM, WI)
    }
    assert seen == {c: {conversations[c]} for c in (AADORP, BEEKDAM, WI)}
    inbox_of_aadorp = [
        m["referentienummer"]
        for m in cli_json("messages", "list", "-c", config, "--creditor", AADORP)
        if m["direction"] == "in"
    ]
    hidden = run_cli("messages", "show", inbox_of_aadorp[0], "-c", config, "--creditor", WI)
    assert hidden.returncode != 0 and "Team" not in hidden.stdout
    assert (
        run_cli(
            "messages", "show", inbox_of_aadorp[0], "-c", config, "--creditor", AADORP
        ).returncode
        == 0
    )
    # the audit trail of each creditor verifies on its own
    for creditor in (AADORP, BEEKDAM, WI):
        verified = run_cli("audit", "verify", "-c", config, "--creditor", creditor)
        assert verified.returncode == 0, verified.stdout + verified.stderr


def test_without_creditor_a_command_names_the_choices(deployment: dict[str, Any]) -> None:
    done = run_cli("tasks", "list", "-c", str(deployment["config"]))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "serves 3 creditors; name one with --creditor" in done.stderr
    assert f"Werk en Inkomen Regio ({WI})" in done.stderr
    unknown = run_cli("tasks", "list", "-c", str(deployment["config"]), "--creditor", "Elders")
    assert unknown.returncode == 2 and "has no creditor 'Elders'; choose one of" in unknown.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait(until: Any, seconds: float = 60, daemon: subprocess.Popen[str] | None = None) -> None:
    """Until ``until()``; a ``daemon`` that ends meanwhile fails at once, with what it said."""
    deadline = time.monotonic() + seconds
    while not until():
        if daemon is not None and daemon.poll() is not None:
            said = daemon.stderr.read() if daemon.stderr else ""
            raise AssertionError(f"the daemon ended ({daemon.returncode}): {said[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_daemon_works_each_creditor_and_its_metrics_show_each_by_id_alone(
    deployment: dict[str, Any], admin: httpx.Client
) -> None:
    config: Path = deployment["config"]
    port = free_port()
    text = config.read_text(encoding="utf-8").replace(
        "[store]", f'[http]\nlisten = "127.0.0.1:{port}"\n[store]', 1
    )
    config.write_text(
        text.replace("[node]\n", '[node]\npoll_interval = "2s"\n', 1), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    daemon = subprocess.Popen(
        [CLI, "run", "-c", str(config)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        wait(lambda: len(admin.get("/_admin/sent").json()) == 2, daemon=daemon)

        def scraped() -> str | None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            except httpx.HTTPError:
                return None
            return (
                response.text
                if 'skn_answers_sent_total{creditor="' + WI + '"} 1.0' in response.text
                else None
            )

        wait(lambda: scraped() is not None)
        metrics = scraped()
        assert metrics is not None
        # readiness checks every creditor's back-office, each named by its creditor's id
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).json()
        checked = {c["componentId"] for c in ready["checks"]["adapters:check"]}
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    sent = admin.get("/_admin/sent").json()
    assert {m["Berichtheader"]["Afzender"] for m in sent} == {BEEKDAM, WI}
    for creditor in (AADORP, BEEKDAM, WI):
        assert f'skn_messages_received_total{{creditor="{creditor}"}} 1.0' in metrics
    # Aadorp's answer waits for approval: its own figures say so, the others' do not
    assert f'skn_answers_sent_total{{creditor="{AADORP}"}} 0.0' in metrics
    assert f'skn_answers_sent_total{{creditor="{BEEKDAM}"}} 1.0' in metrics
    assert f'skn_tasks_open{{creditor="{AADORP}",kind="approve_answer"}} 1.0' in metrics
    assert f'skn_tasks_open{{creditor="{BEEKDAM}",kind="approve_answer"}} 0.0' in metrics
    assert f'skn_tasks_open{{creditor="{WI}",kind="approve_answer"}} 0.0' in metrics
    assert checked == {f"{AADORP}/belastingen", f"{BEEKDAM}/belastingen", f"{WI}/wi"}, checked
    # labelled by id only: no creditor's name, no person's name
    for name in ("Aadorp", "Beekdam", "Werk en Inkomen", "Team"):
        assert name not in metrics


def test_in_receive_mode_one_endpoint_serves_every_creditor(tmp_path: Path, pki: DevPki) -> None:
    """The node pushes the three creditors' questions (and one for a participant not served
    here) to one endpoint: each is stored with, and answered by, the creditor it is addressed
    to; the stray one is quarantined with the first creditor, acknowledged; none is polled."""
    port = free_port()
    with Simulator(port=0, tls_dir=pki.directory, push=f"https://127.0.0.1:{port}/skn") as node:
        samples = sample_back_offices(tmp_path)
        config = write_config(tmp_path, node, pki, samples)
        text = config.read_text(encoding="utf-8").replace(
            "[node]\n", '[node]\nmode = "receive"\n', 1
        )
        config.write_text(
            text
            + f"""
[receive]
listen = "127.0.0.1:{port}"
  [receive.tls]
  certificate = "{pki.directory / "receiver.pem"}"
  private_key = "{pki.directory / "receiver.key"}"
  client_trust = "{pki.ca_cert}"
""",
            encoding="utf-8",
        )
        assert run_cli("config", "check", "-c", str(config)).returncode == 0
        stray = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c99"
        with httpx.Client(base_url=node.admin_url, timeout=30) as admin:
            asked = {}
            for creditor, sample in (*samples.items(), (stray, samples[AADORP])):
                debtor = next(d for d in sample.debtors if d.person.bsn)
                message = question(debtor, creditor)
                assert admin.post("/_admin/messages", json=message).status_code == 201
                asked[message["Berichtheader"]["ConversatieReferentienummer"]] = creditor
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            daemon = subprocess.Popen(
                [CLI, "run", "-c", str(config)], stderr=subprocess.PIPE, text=True, env=env
            )
            try:
                wait(lambda: len(admin.get("/_admin/sent").json()) == 2, daemon=daemon)
                wait(lambda: admin.get("/_admin/stats").json()["acknowledged"] == 4)
                stats = admin.get("/_admin/stats").json()
                sent = admin.get("/_admin/sent").json()
            finally:
                daemon.send_signal(signal.SIGTERM)
                _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    assert stats["listed"] == 0 and stats["fetched"] == 0, stats  # pushed, not polled
    # Beekdam and werk en inkomen answer as themselves; Aadorp's waits for its approval
    for message in sent:
        header = message["Berichtheader"]
        assert header["Afzender"] == asked[header["ConversatieReferentienummer"]]
    assert {m["Berichtheader"]["Afzender"] for m in sent} == {BEEKDAM, WI}
    waiting = cli_json("tasks", "list", "-c", str(config), "--creditor", AADORP)
    assert sorted(t["kind"] for t in waiting) == ["approve_answer", "quarantined"]
    for creditor in (BEEKDAM, WI):
        received = cli_json("messages", "list", "-c", str(config), "--creditor", creditor)
        assert [m["berichttype"] for m in received if m["direction"] == "in"] == ["Saldoverzoek"]
    quarantined = cli_json("quarantine", "list", "-c", str(config), "--creditor", AADORP)
    assert len(quarantined) == 1 and "another participant" in quarantined[0]["reason"]


def questions_sharing(
    field: str, samples: dict[str, SampleBackOffice], admin: httpx.Client
) -> tuple[str, dict[str, Any]]:
    """A question to Beekdam and one to the werk en inkomen, their headers' ``field`` the
    same, queued at the node: that value, and the last question (the werk en inkomen's)."""
    shared: str | None = None
    message: dict[str, Any] = {}
    for creditor in (BEEKDAM, WI):
        debtor = next(d for d in samples[creditor].debtors if d.person.bsn)
        message = question(debtor, creditor)
        shared = shared or message["Berichtheader"][field]
        message["Berichtheader"][field] = shared
        assert admin.post("/_admin/messages", json=message).status_code == 201
    assert shared is not None
    return shared, message


def test_one_conversation_id_for_two_creditors_is_each_ones_own(
    tmp_path: Path, simulator: Simulator, pki: DevPki, admin: httpx.Client
) -> None:
    """A counsellor's software may name one conversation for a client's case when it writes
    to each of its creditors: two creditors of one deployment then share the id. Each keeps
    its own conversation under it (the key is the creditor's and the id), and both are
    answered. Before, the second creditor's conversation clashed with the first's key: its
    question failed, and was never answered."""
    samples = sample_back_offices(tmp_path)
    config = str(write_config(tmp_path, simulator, pki, samples))
    shared, _ = questions_sharing("ConversatieReferentienummer", samples, admin)
    done = run_cli("run", "--once", "-c", config, "--max-wait", "20")
    assert done.returncode == 0, done.stderr
    sent = admin.get("/_admin/sent").json()
    assert sorted(m["Berichtheader"]["Afzender"] for m in sent) == sorted((BEEKDAM, WI))
    assert {m["Berichtheader"]["ConversatieReferentienummer"] for m in sent} == {shared}
    assert all(m["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoord" for m in sent)
    for creditor in (BEEKDAM, WI):
        listed = cli_json("messages", "list", "-c", config, "--creditor", creditor)
        assert sorted(m["direction"] for m in listed) == ["in", "out"]
        assert {m["conversation_id"] for m in listed} == {shared}
        assert not cli_json("tasks", "list", "-c", config, "--creditor", creditor)


def test_one_referentienummer_for_two_creditors_is_each_ones_message(
    tmp_path: Path, simulator: Simulator, pki: DevPki, admin: httpx.Client
) -> None:
    """A Referentienummer names one message, which has one Ontvanger: the same one sent to a
    second creditor of the deployment (a sender's error, or a replay) is that creditor's own
    message, and each is answered once. Before, the second creditor's intake failed on the
    first one's key with a traceback, on every round, until a person took the message out
    of its messagebox. The duplicate rule still holds within a creditor."""
    samples = sample_back_offices(tmp_path)
    config = str(write_config(tmp_path, simulator, pki, samples))
    reference, sent_to_wi = questions_sharing("Referentienummer", samples, admin)
    done = run_cli("run", "--once", "-c", config, "--max-wait", "20")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    answers = admin.get("/_admin/sent").json()
    assert sorted(m["Berichtheader"]["Afzender"] for m in answers) == sorted((BEEKDAM, WI))
    assert {m["Berichtheader"]["CrossReferentienummer"] for m in answers} == {reference}
    for creditor in (BEEKDAM, WI):
        assert cli_json("quarantine", "list", "-c", config, "--creditor", creditor) == []
    # delivered to WI again: the same message, no second answer
    assert admin.post("/_admin/messages", json=sent_to_wi).status_code == 201
    again = run_cli("run", "--once", "-c", config, "--max-wait", "20")
    assert again.returncode == 0, again.stderr
    assert "Werk en Inkomen" in again.stdout and "fetched 1" in again.stdout, again.stdout
    assert len(admin.get("/_admin/sent").json()) == 2


def test_a_creditor_whose_back_office_hangs_holds_up_only_its_own_work(
    deployment: dict[str, Any], admin: httpx.Client, tmp_path: Path
) -> None:
    """The daemon works the creditors side by side: while Aadorp's back-office hangs on its
    question, Beekdam and the werk en inkomen are answered; Aadorp's answer follows once its
    back-office answers. Before, the creditors were worked one after another, and all of them
    waited for Aadorp's back-office (for a real one, its timeout, on every round)."""
    config: Path = deployment["config"]
    release = tmp_path / "back-office-answers"
    text = config.read_text(encoding="utf-8")
    text = text.replace('approve_before_sending = ["SaldoverzoekAntwoord"]', "", 1)
    text = text.replace(
        'use = "gemeentebelastingen"', 'use = "tests.adapters_for_tests:StuckTaxes"', 1
    )
    text = text.replace(
        'klantnummer_prefix = "AAD-"',
        f'klantnummer_prefix = "AAD-"\n    release_file = "{release}"',
    )
    config.write_text(
        text.replace("[node]\n", '[node]\npoll_interval = "2s"\n', 1),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    daemon = subprocess.Popen(
        [CLI, "run", "-c", str(config)], stderr=subprocess.PIPE, text=True, env=env
    )

    def answered_by() -> set[str]:
        return {m["Berichtheader"]["Afzender"] for m in admin.get("/_admin/sent").json()}

    try:
        wait(lambda: answered_by() == {BEEKDAM, WI}, seconds=45)
        assert not release.exists()  # Aadorp's back-office was hanging all along
        release.touch()
        wait(lambda: answered_by() == {AADORP, BEEKDAM, WI})
    finally:
        release.touch()
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert len(admin.get("/_admin/sent").json()) == 3
