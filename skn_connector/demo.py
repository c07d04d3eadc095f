"""``skn-connector demo``: the whole path on embedded defaults, then a summary.

Starts the simulated node with mutual TLS on free ports and, for each of the three
creditor kinds of the reference adapters (municipal taxes, werk en inkomen, a
CJIB-style collector), creates its sample back-office, writes its configuration and
plays a debt counsellor: a realistic mix of Saldoverzoeken, and a trajectory that
starts with a Kennisgeving (holds applied), gets its saldo (a second, stacked hold)
and ends without a regeling (holds released). Prints what was answered, the holds
and the deadlines. Leaves nothing running.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
from .config import Settings, load_settings
from .node.simulator import Simulator
from .service.daemon import run_once
from .service.wiring import connector
from .store import Store, open_configured_store

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
            full.as_adres(),
            full.klantnummer_se,
            full.factuurnummers,
        ),
        Scenario(
            "with a partner",
            "Betalingsregeling",
            "BR",
            with_partner.person,
            with_partner.partner,
            with_partner.as_adres(),
            None,
            with_partner.factuurnummers,
        ),
        Scenario(
            "invoices partly match",
            "Schuldinventarisatie",
            None,
            partial.person,
            None,
            partial.as_adres(),
            partial.klantnummer_se,
            (*partial.factuurnummers[:1], UNKNOWN_INVOICE),
        ),
        Scenario(
            "no invoices listed",
            "Schuldinventarisatie",
            None,
            full.person,
            None,
            full.as_adres(),
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
        "Klant": scenario.person.as_klant(),
        "Adres": scenario.address,
        "Vorderingen": [{"FactuurnummerSEVolgensSHV": n} for n in scenario.invoices],
    }
    if scenario.klantnummer_se:
        body["KlantnummerSEVolgensSHV"] = scenario.klantnummer_se
    if scenario.type_schuldregeling:
        body["TypeSchuldregeling"] = scenario.type_schuldregeling
    if scenario.partner:
        body["Partner"] = scenario.partner.as_klant()
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


@dataclass(frozen=True)
class DemoCreditor:
    key: str
    name: str
    kind: str
    covenant: str
    use: str
    participant_id: uuid.UUID


CREDITORS = (
    DemoCreditor(
        "belastingen",
        "Gemeente Voorbeeldstad, Belastingen",
        "gemeentebelastingen",
        "lokale_overheid",
        "gemeentebelastingen",
        CREDITOR_ID,
    ),
    DemoCreditor(
        "werk-en-inkomen",
        "Gemeente Voorbeeldstad, Werk en Inkomen",
        "werk_en_inkomen",
        "lokale_overheid",
        "werk_en_inkomen",
        uuid.UUID("6c9f3b9f-8e2d-4d6a-9b54-1e7d2c3b4a22"),
    ),
    DemoCreditor(
        "cjib",
        "Centraal Incassobureau (voorbeeld)",
        "cjib",
        "rijk",
        "cjib",
        uuid.UUID("7da04ca0-9f3e-4e7b-8c65-2f8e3d4c5b33"),
    ),
)


def write_config(
    workdir: Path,
    simulator: Simulator,
    adapter_options: dict[str, Any],
    creditor: DemoCreditor = CREDITORS[0],
) -> Path:
    tls = simulator.tls_dir
    assert tls is not None
    options = "\n".join(f"{k} = {_toml_value(v)}" for k, v in adapter_options.items())
    path = workdir / "skn-connector.toml"
    path.write_text(
        f"""# Written by `skn-connector demo`; see config.example.toml for every key.
[node]
url = "{simulator.url}"
participant_id = "{creditor.participant_id}"
poll_interval = "1m"
  [node.tls]
  certificate = "{tls / "client.pem"}"
  private_key = "{tls / "client.key"}"
  trust = "{tls / "ca.pem"}"

[store]
url = "sqlite:///{workdir / "skn-connector.db"}"

[creditor]
name = "{creditor.name}"
kind = "{creditor.kind}"
covenant = "{creditor.covenant}"
vooraf_akkoord = false
  [creditor.contact]
  naam = "Team Invordering"
  telefoon = "0201234567"
  email = "invordering@voorbeeldstad.example"

[[adapters]]
name = "{creditor.key}"
use = "{creditor.use}"
  [adapters.options]
{options}
""",
        encoding="utf-8",
    )
    return path


def add_receive_mode(
    config: Path, tls: Path, port: int, *, mode: str = "receive", **limits: int | str
) -> Path:
    """Turn a configuration ``write_config`` wrote to receive mode (or both): the node
    delivers to 127.0.0.1:``port``, with the development PKI's ``receiver.pem`` as the
    endpoint's certificate and the CA as the trust for the node's client certificate;
    ``limits`` are further keys of ``[receive]`` (``max_body_bytes=65536``)."""
    text = config.read_text(encoding="utf-8")
    text = text.replace('poll_interval = "1m"\n', f'poll_interval = "1m"\nmode = "{mode}"\n', 1)
    extra = "".join(f"{key} = {_toml_value(value)}\n" for key, value in limits.items())
    text += f"""
[receive]
listen = "127.0.0.1:{port}"
{extra}  [receive.tls]
  certificate = "{tls / "receiver.pem"}"
  private_key = "{tls / "receiver.key"}"
  client_trust = "{tls / "ca.pem"}"
"""
    config.write_text(text, encoding="utf-8")
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _money(value: Decimal) -> str:
    return f"€ {value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


def run_demo(workdir: Path | None = None, console: Console | None = None) -> bool:
    """Run the demo; True when every question got exactly one correct answer and every
    hold was applied and released as the policy says."""
    # wide enough for the tables also when the output is a pipe (make, CI)
    if console is None:
        # the terminal's width; a pipe or a log file gets 120 columns (rich would take 80)
        plain = Console()
        console = plain if plain.is_terminal else Console(width=120)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="skn-demo-") as tmp:
            return _run(Path(tmp), console)
    workdir.mkdir(parents=True, exist_ok=True)
    return _run(workdir, console)


@dataclass
class CreditorRun:
    creditor: DemoCreditor
    settings: Settings
    debtors: tuple[SampleDebtor, ...]
    injected: list[tuple[Scenario, dict[str, Any]]]
    trajectory: str = ""
    holds_after_saldo: list[dict[str, Any]] | None = None
    holds_at_end: list[dict[str, Any]] | None = None
    quarantined: int = 0
    answered_within: int = 0


def _trajectory_message(
    kind: str, debtor: SampleDebtor, conversation: str, number: int
) -> dict[str, Any]:
    header = {
        "Berichttype": kind,
        "Module": "Schuldregeling",
        "Versie": "2.0",
        "ConversatieReferentienummer": conversation,
        "Afzender": str(KREDIETBANK_ID),
    }
    if kind == "Kennisgeving":
        return {
            "Berichtheader": header,
            "Schuldhulpverlener": "Kredietbank Voorbeeldstad",
            "Contactpersoon": {
                "Naam": "T. Consulent",
                "Emailadres": "consulent@kredietbank.example",
            },
            "KlantnummerSHV": f"KB-T{number:05d}",
            "KlantnummerSEVolgensSHV": debtor.klantnummer_se,
            "Klant": debtor.person.as_klant(),
            "Adres": debtor.as_adres(),
            "DatumAanmelding": datetime.now(UTC).date().isoformat(),
        }
    return {
        "Berichtheader": header,
        "KlantnummerSHV": f"KB-T{number:05d}",
        "KlantnummerSE": debtor.klantnummer_se,
        "DatumBeeindiging": datetime.now(UTC).date().isoformat(),
        "Reden": "NIET_TOT_STAND_GEKOMEN",
    }


def _post(admin: httpx.Client, message: dict[str, Any], ontvanger: uuid.UUID) -> None:
    """Queue a message as the debt counsellor; the node gives it its Referentienummer."""
    message["Berichtheader"]["Ontvanger"] = str(ontvanger)
    response = admin.post("/_admin/messages", json=message)
    response.raise_for_status()
    message["Berichtheader"]["Referentienummer"] = response.json()["Referentienummer"]


def _run(workdir: Path, console: Console) -> bool:
    from .operations.queries import list_holds

    console.print(f"[bold]skn-connector demo[/] in {workdir}")
    with Simulator(port=0, tls_dir=workdir / "tls") as simulator:
        console.print(
            f"  simulated node: {simulator.url} (mutual TLS), admin {simulator.admin_url}"
        )
        runs: list[CreditorRun] = []
        for creditor in CREDITORS:
            home = workdir / creditor.key
            home.mkdir(parents=True, exist_ok=True)
            sample = resolve_adapter_class(creditor.use).create_sample(home / "backoffice")
            settings = load_settings(write_config(home, simulator, sample.options, creditor))
            runs.append(CreditorRun(creditor, settings, sample.debtors, []))
            console.print(
                f"  {creditor.name}: {creditor.kind}, covenant {creditor.covenant}, "
                f"sample back-office with synthetic debtors"
            )
        started = datetime.now(UTC)
        with httpx.Client(base_url=simulator.admin_url, timeout=10) as admin:
            number = 0
            for run in runs:
                mix = (
                    scenarios(run.debtors)
                    if run.creditor.kind == "gemeentebelastingen"
                    else [s for s in _generic_scenarios(run.debtors)]
                )
                for scenario in mix:
                    number += 1
                    message = saldoverzoek_json(scenario, number)
                    _post(admin, message, run.creditor.participant_id)
                    run.injected.append((scenario, message))
                run.trajectory = str(uuid.uuid4())
                _post(
                    admin,
                    _trajectory_message("Kennisgeving", run.debtors[0], run.trajectory, number),
                    run.creditor.participant_id,
                )
            _process(runs, console)
            for run in runs:  # the saldo: a second, stacked hold
                number += 1
                scenario = Scenario(
                    "trajectory: saldo after Kennisgeving",
                    "Schuldregeling",
                    "SB",
                    run.debtors[0].person,
                    None,
                    run.debtors[0].as_adres(),
                    run.debtors[0].klantnummer_se,
                    run.debtors[0].factuurnummers,
                )
                message = saldoverzoek_json(scenario, number)
                message["Berichtheader"]["ConversatieReferentienummer"] = run.trajectory
                _post(admin, message, run.creditor.participant_id)
                run.injected.append((scenario, message))
            _process(runs, console)
            for run in runs:
                with open_store_for(run.settings) as store:
                    run.holds_after_saldo = list_holds(store)
                _post(
                    admin,
                    _trajectory_message(
                        "SchuldregelingBeeindigd", run.debtors[0], run.trajectory, number
                    ),
                    run.creditor.participant_id,
                )
            _process(runs, console)
            for run in runs:
                with open_store_for(run.settings) as store:
                    run.holds_at_end = list_holds(store, include_released=True)
            sent = admin.get("/_admin/sent").json()
            waiting = admin.get("/_admin/messagebox").json()
        elapsed = (datetime.now(UTC) - started).total_seconds()
    return _report(console, runs, sent, waiting, elapsed)


def _generic_scenarios(debtors: tuple[SampleDebtor, ...]) -> list[Scenario]:
    """For the other creditor kinds: a known debtor and an unknown one."""
    known = next(d for d in debtors if len(d.factuurnummers) >= 2)
    unknown = SamplePerson(
        geslacht="V",
        voorletters="O.",
        voornamen="Olga",
        achternaam="Onbekend-Voorbeeld",
        geboortedatum=datetime(1985, 7, 1).date(),
        bsn=synthetic_bsn(5151),
    )
    return [
        Scenario(
            "all invoices known",
            "Schuldinventarisatie",
            None,
            known.person,
            None,
            known.as_adres(),
            known.klantnummer_se,
            known.factuurnummers,
        ),
        Scenario(
            "unknown debtor",
            "Schuldinventarisatie",
            None,
            unknown,
            None,
            {
                "Straatnaam": "Nergensweg",
                "Huisnummer": 2,
                "Postcode": "9999ZZ",
                "Woonplaats": "Nergenshuizen",
            },
            None,
            ("2024.999999.01",),
        ),
    ]


@contextmanager
def open_store_for(settings: Settings) -> Iterator[Store]:
    store = open_configured_store(settings.store)
    try:
        yield store
    finally:
        store.close()


def _process(runs: list[CreditorRun], console: Console) -> None:
    for run in runs:
        with connector(run.settings) as pipeline:
            summary = run_once(pipeline, max_wait=30)
        run.quarantined += summary.quarantined
        for error in summary.errors:
            console.print(f"  [red]{run.creditor.key}:[/] {error}")


def _report(
    console: Console,
    runs: list[CreditorRun],
    sent: list[dict[str, Any]],
    waiting: list[dict[str, Any]],
    elapsed: float,
) -> bool:
    def questions_table(creditor: str) -> Table:
        # one table per creditor, columns that fit 120 characters: a long word is not cut
        view = Table(title=f"Questions answered by {creditor}")
        for column, wide in (
            ("SHV klantnr", True),
            ("situation", False),
            ("module", True),
            ("answer", True),
            ("klantnr SE", True),
            ("matched", True),
            ("other", True),
            ("outstanding", True),
        ):
            view.add_column(
                column, no_wrap=wide, justify="right" if column == "outstanding" else "left"
            )
        return view

    problems: list[str] = []
    questions = 0
    for run in runs:
        view = questions_table(run.creditor.key)
        for scenario, request in run.injected:
            questions += 1
            header = request["Berichtheader"]
            asked = header["Referentienummer"]
            # a counsellor's software matches an answer to its question by CrossReferentienummer
            answers = [m for m in sent if m["Berichtheader"].get("CrossReferentienummer") == asked]
            if len(answers) != 1:
                problems.append(f"{asked}: {len(answers)} answers")
                continue
            answer = answers[0]
            answer_header = answer["Berichtheader"]
            if (
                answer_header["Ontvanger"] != header["Afzender"]
                or answer_header["Afzender"] != header["Ontvanger"]
                or answer_header["ConversatieReferentienummer"]
                != header["ConversatieReferentienummer"]
            ):
                problems.append(
                    f"{asked}: not in the conversation, or sender and receiver not swapped"
                )
            claims = answer.get("Vorderingen", [])
            matched = sum(1 for c in claims if c["Schuldtype"] != "onbekende schuld bij SE")
            other = answer.get("OngematchteSchulden", {})
            other_claims = other.get("OpenstaandeSchulden", [])
            total = sum(
                (Decimal(c["Openstaand"]) for c in [*claims, *other_claims] if "Openstaand" in c),
                Decimal("0"),
            ) + Decimal(other.get("Totaalvordering", "0"))
            is_saldo = answer_header["Berichttype"] != "GeenMedewerking"
            view.add_row(
                request["KlantnummerSHV"],
                scenario.label,
                header["Module"],
                answer_header["Berichttype"] + ("" if is_saldo else f"\n{answer['Reden']}"),
                answer.get("KlantnummerSE", "—"),
                f"{matched} of {len(claims)}" if is_saldo else "—",
                str(len(other_claims)) if is_saldo else "—",
                _money(total) if is_saldo else "—",
            )
        console.print(view)

    holds_view = Table(title="Holds on enforcement (one trajectory per creditor)")
    for column in (
        "creditor",
        "event",
        "hold",
        "claims",
        "measures",
        "from",
        "until",
        "after saldo",
        "at the end",
    ):
        holds_view.add_column(column, no_wrap=True)
    for run in runs:
        after = {h["hold_id"]: h for h in run.holds_after_saldo or []}
        end = {h["hold_id"]: h for h in run.holds_at_end or []}
        mine = [h for h in end.values() if h["conversation_id"] == run.trajectory]
        if {h["hold_type"] for h in mine} != {"H_COV_KG", "H_COV_SALDO"}:
            problems.append(f"{run.creditor.key}: holds {sorted(h['hold_type'] for h in mine)}")
        for hold in mine:
            before = after.get(hold["hold_id"])
            if before is None or before["status"] != "applied" or hold["status"] != "released":
                problems.append(
                    f"{run.creditor.key}: hold {hold['hold_type']} not applied and released"
                )
            holds_view.add_row(
                run.creditor.key,
                hold["event"],
                hold["hold_type"],
                str(len(hold["claims"])),
                str(len(hold["measures"])),
                hold["starts"],
                hold["ends"] or "an event",
                before["status"] if before else "—",
                hold["status"],
            )
    console.print(holds_view)
    console.print(
        f"  {questions} questions to 3 creditors, {len(sent)} messages sent back, "
        f"{sum(r.quarantined for r in runs)} quarantined, {len(waiting)} left in the messagebox"
    )
    console.print(
        f"  deadlines: every answer went out within {elapsed:.1f} s of receipt, on the day "
        "itself; the deadline is 10 working days"
    )
    if problems or waiting:
        for problem in problems:
            console.print(f"  [red]problem:[/] {problem}")
        return False
    console.print(
        "  [green]every question got exactly one answer; every hold was applied and released[/]"
    )
    return True
