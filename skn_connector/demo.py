"""``skn-connector demo``: the whole path on embedded defaults, then a summary.

Starts the simulated node with mutual TLS on free ports, creates the sample
back-office of the gemeentebelastingen reference adapter, writes a configuration,
injects a realistic mix of Saldoverzoeken as an SHV would send them, runs the
connector once and prints what was answered. Leaves nothing running.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from .adapters.api import SampleDebtor, SamplePerson
from .adapters.registry import resolve_adapter_class
from .config import load_settings
from .node.simulator import Simulator
from .service.daemon import connector, run_once

#: Fixed ids so that repeated demos look alike (synthetic, not real SKN participants).
CREDITOR_ID = uuid.UUID("5b8f2a8e-7d1c-4c59-9a43-0d6c1e2b7a11")
KREDIETBANK_ID = uuid.UUID("0c7d5e4f-3b2a-4198-8e76-5a4b3c2d1e0f")
BEWIND_ID = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
UNKNOWN_INVOICE = "2019.000000.99"


def synthetic_bsn(seed: int) -> str:
    """A nine-digit number that passes the elfproef, made from ``seed`` (test data only)."""
    base = 900_000_00 + seed * 7919 % 10_000_000
    while True:
        digits = [int(c) for c in f"{base:08d}"]
        check = sum(d * (9 - i) for i, d in enumerate(digits)) % 11
        if check < 10 and digits[0] != 0:
            return f"{base:08d}{check}"
        base += 1


@dataclass(frozen=True)
class Scenario:
    label: str
    module: str
    type_schuldregeling: str | None
    person: SamplePerson
    partner: SamplePerson | None
    address: dict[str, Any]
    klantnummer_se: str | None
    invoices: tuple[str, ...]


def _person_json(person: SamplePerson) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Geslacht": person.geslacht,
        "Voorletters": person.voorletters,
        "Voornamen": person.voornamen,
        "Voorvoegsel": person.voorvoegsel,
        "Achternaam": person.achternaam,
        "Geboortedatum": person.geboortedatum.isoformat(),
        "Bsn": person.bsn,
    }
    return {k: v for k, v in data.items() if v is not None}


def _address(debtor: SampleDebtor) -> dict[str, Any]:
    return {
        "Straatnaam": debtor.straatnaam,
        "Huisnummer": debtor.huisnummer,
        "Postcode": debtor.postcode,
        "Woonplaats": debtor.woonplaats,
    }


def scenarios(debtors: tuple[SampleDebtor, ...]) -> list[Scenario]:
    """A realistic mix: full match, partner, partial match, nothing listed, unknown debtor."""
    with_partner = next(d for d in debtors if d.partner is not None)
    others = [d for d in debtors if d is not with_partner and len(d.factuurnummers) >= 2]
    full, partial = others[0], others[1]
    unknown_person = SamplePerson(
        geslacht="M",
        voorletters="Q.",
        voornamen="Quinten",
        achternaam="Onbekend-Voorbeeld",
        geboortedatum=datetime(1979, 3, 14).date(),
        bsn=synthetic_bsn(4242),
    )
    return [
        Scenario(
            "all invoices known",
            "Schuldregeling",
            "SB",
            full.person,
            None,
            _address(full),
            full.klantnummer_se,
            full.factuurnummers,
        ),
        Scenario(
            "with a partner",
            "Betalingsregeling",
            "BR",
            with_partner.person,
            with_partner.partner,
            _address(with_partner),
            None,
            with_partner.factuurnummers,
        ),
        Scenario(
            "invoices partly match",
            "Schuldinventarisatie",
            None,
            partial.person,
            None,
            _address(partial),
            partial.klantnummer_se,
            (*partial.factuurnummers[:1], UNKNOWN_INVOICE),
        ),
        Scenario(
            "no invoices listed",
            "Schuldinventarisatie",
            None,
            full.person,
            None,
            _address(full),
            None,
            (),
        ),
        Scenario(
            "unknown debtor",
            "Schuldinventarisatie",
            None,
            unknown_person,
            None,
            {
                "Straatnaam": "Nergensweg",
                "Huisnummer": 1,
                "Postcode": "9999ZZ",
                "Woonplaats": "Nergenshuizen",
            },
            None,
            ("2024.123456.01",),
        ),
    ]


def saldoverzoek_json(scenario: Scenario, number: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Berichtheader": {
            "Berichttype": "Saldoverzoek",
            "Module": scenario.module,
            "Versie": "2.0",
            "ConversatieReferentienummer": str(uuid.uuid4()),
            "Referentienummer": f"KB-DEMO-{number:04d}",
            "Afzender": str(KREDIETBANK_ID),
            "Ontvanger": str(CREDITOR_ID),
        },
        "Schuldhulpverlener": "Kredietbank Voorbeeldstad",
        "Contactpersoon": {
            "Naam": "T. Consulent",
            "Telefoonnummer": "0301234567",
            "Emailadres": "consulent@kredietbank.example",
        },
        "KlantnummerSHV": f"KB{number:06d}",
        "Klant": _person_json(scenario.person),
        "Adres": scenario.address,
        "Vorderingen": [{"FactuurnummerSEVolgensSHV": n} for n in scenario.invoices],
    }
    if scenario.klantnummer_se:
        body["KlantnummerSEVolgensSHV"] = scenario.klantnummer_se
    if scenario.type_schuldregeling:
        body["TypeSchuldregeling"] = scenario.type_schuldregeling
    if scenario.partner:
        body["Partner"] = _person_json(scenario.partner)
    order = [
        "Berichtheader",
        "Schuldhulpverlener",
        "Contactpersoon",
        "KlantnummerSHV",
        "KlantnummerSEVolgensSHV",
        "TypeSchuldregeling",
        "Klant",
        "Partner",
        "Adres",
        "Vorderingen",
    ]
    return {k: body[k] for k in order if k in body}


def write_config(workdir: Path, simulator: Simulator, adapter_options: dict[str, Any]) -> Path:
    tls = simulator.tls_dir
    assert tls is not None
    options = "\n".join(f"{k} = {_toml_value(v)}" for k, v in adapter_options.items())
    path = workdir / "skn-connector.toml"
    path.write_text(
        f"""# Written by `skn-connector demo`; see config.example.toml for every key.
[node]
url = "{simulator.url}"
participant_id = "{CREDITOR_ID}"
poll_interval = "1m"
  [node.tls]
  certificate = "{tls / "client.pem"}"
  private_key = "{tls / "client.key"}"
  trust = "{tls / "ca.pem"}"

[store]
url = "sqlite:///{workdir / "skn-connector.db"}"

[creditor]
name = "Gemeente Voorbeeldstad, Belastingen"
kind = "gemeentebelastingen"
covenant = "lokale_overheid"
vooraf_akkoord = false
referentie = "GEM-VOORBEELDSTAD-BEL"
  [creditor.contact]
  naam = "Team Invordering"
  telefoon = "0201234567"
  email = "invordering@voorbeeldstad.example"

[[adapters]]
name = "belastingen"
use = "gemeentebelastingen"
  [adapters.options]
{options}
""",
        encoding="utf-8",
    )
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _money(value: Decimal) -> str:
    return f"€ {value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


def run_demo(workdir: Path | None = None, console: Console | None = None) -> bool:
    """Run the demo; True when every Saldoverzoek got exactly one correct answer."""
    # wide enough for the summary table also when the output is a pipe (make, CI)
    console = console or Console(width=max(Console().width, 140))
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="skn-demo-") as tmp:
            return _run(Path(tmp), console)
    workdir.mkdir(parents=True, exist_ok=True)
    return _run(workdir, console)


def _run(workdir: Path, console: Console) -> bool:
    adapter_class = resolve_adapter_class("gemeentebelastingen")
    sample = adapter_class.create_sample(workdir / "backoffice")
    console.print(
        f"[bold]skn-connector demo[/] in {workdir}\n"
        "  sample back-office: gemeentebelastingen, synthetic debtors"
    )
    with Simulator(port=0, tls_dir=workdir / "tls") as simulator:
        console.print(
            f"  simulated node: {simulator.url} (mutual TLS), admin {simulator.admin_url}"
        )
        settings = load_settings(write_config(workdir, simulator, sample.options))
        injected: list[tuple[Scenario, dict[str, Any]]] = []
        with httpx.Client(base_url=simulator.admin_url, timeout=10) as admin:
            for number, scenario in enumerate(scenarios(sample.debtors), start=1):
                message = saldoverzoek_json(scenario, number)
                response = admin.post("/_admin/messages", json=message)
                response.raise_for_status()
                injected.append((scenario, message))
            console.print(f"  injected {len(injected)} Saldoverzoeken as Kredietbank Voorbeeldstad")
            started = datetime.now(UTC)
            with connector(settings) as pipeline:
                summary = run_once(pipeline, max_wait=30)
            elapsed = (datetime.now(UTC) - started).total_seconds()
            sent = admin.get("/_admin/sent").json()
            waiting = admin.get("/_admin/messagebox").json()
    return _report(console, injected, sent, waiting, summary.quarantined, elapsed)


def _report(
    console: Console,
    injected: list[tuple[Scenario, dict[str, Any]]],
    sent: list[dict[str, Any]],
    waiting: list[dict[str, Any]],
    quarantined: int,
    elapsed: float,
) -> bool:
    view = Table(title="Saldoverzoeken answered")
    for column in (
        "SHV ref",
        "situation",
        "module",
        "answer",
        "klantnr SE",
        "matched",
        "other",
        "outstanding",
    ):
        view.add_column(
            column,
            no_wrap=True,
            justify="right" if column == "outstanding" else "left",
        )
    problems: list[str] = []
    for scenario, request in injected:
        header = request["Berichtheader"]
        answers = [
            m
            for m in sent
            if m["Berichtheader"]["ConversatieReferentienummer"]
            == header["ConversatieReferentienummer"]
        ]
        if len(answers) != 1:
            problems.append(f"{header['Referentienummer']}: {len(answers)} answers")
            continue
        answer = answers[0]
        answer_header = answer["Berichtheader"]
        if (
            answer_header["Ontvanger"] != header["Afzender"]
            or answer_header["Afzender"] != header["Ontvanger"]
        ):
            problems.append(f"{header['Referentienummer']}: sender and receiver not swapped")
        claims = answer.get("Vorderingen", [])
        matched = sum(1 for c in claims if c["Schuldtype"] != "onbekende schuld bij SE")
        other = answer.get("OngematchteSchulden", {})
        other_claims = other.get("OpenstaandeSchulden", [])
        total = sum(
            (Decimal(c["Openstaand"]) for c in [*claims, *other_claims] if "Openstaand" in c),
            Decimal("0"),
        ) + Decimal(other.get("Totaalvordering", "0"))
        is_saldo = answer_header["Berichttype"] == "SaldoverzoekAntwoord"
        view.add_row(
            header["Referentienummer"],
            scenario.label,
            header["Module"],
            answer_header["Berichttype"] + ("" if is_saldo else f"\n{answer['Reden']}"),
            answer.get("KlantnummerSE", "—"),
            f"{matched} of {len(claims)}" if is_saldo else "—",
            str(len(other_claims)) if is_saldo else "—",
            _money(total) if is_saldo else "—",
        )
    console.print(view)
    console.print(
        f"  {len(injected)} Saldoverzoeken, {len(sent)} answers sent, {quarantined} quarantined, "
        f"{len(waiting)} left in the messagebox; all answered within {elapsed:.1f} s "
        f"(the deadline is 10 working days)"
    )
    if problems or waiting or len(sent) != len(injected):
        for problem in problems:
            console.print(f"  [red]problem:[/] {problem}")
        return False
    console.print("  [green]every Saldoverzoek got exactly one answer[/]")
    return True
