"""Redaction scan: personal data never leaves the message bytes.

Canary personal data (BSNs that pass the elfproef, surnames and street names with the
marker "Zwxq", an IBAN, an unusual birth date) goes through the whole connector: the demo
as a subprocess with verbose logging, and `run --once -v` on a mix that also holds free
text, follow-up messages and hostile messages that end in quarantine. Every log line,
stdout and stderr, the operator's list views, and every column of the store except the
message bytes themselves (quarantine and task reasons, the audit trail's detail, errors)
must hold none of it. A positive control checks that the canaries really were in the
messages the connector stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import CREDITOR_ID, write_config
from skn_connector.messages import message_from_json
from skn_connector.node.simulator import Simulator
from skn_connector.wire.soap import encode_message

from . import factories as f

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")

#: Columns that hold the messages as received or sent: the store has to keep those.
MESSAGE_BYTES = {("inbox", "raw"), ("outbox", "payload"), ("quarantine", "raw")}


def _elfproef(number: str) -> bool:
    digits = [int(c) for c in number]
    total = sum(d * (9 - i) for i, d in enumerate(digits[:8])) - digits[8]
    return total % 11 == 0


def canary_bsn(start: int) -> str:
    """The first nine-digit number from ``start`` on that passes the elfproef."""
    number = start
    while not _elfproef(f"{number:09d}"):
        number += 1
    return f"{number:09d}"


def canary_iban(bank: str, account: str) -> str:
    """A Dutch IBAN with valid check digits (ISO 13616, mod 97)."""
    digits = "".join(str(int(c, 36)) for c in f"{bank}{account}NL00")
    return f"NL{98 - int(digits) % 97:02d}{bank}{account}"


@dataclass(frozen=True)
class Canary:
    """One canary person: every value is unusual enough to be searched for as it is."""

    bsn: str
    voornamen: str
    achternaam: str
    straatnaam: str
    woonplaats: str

    def values(self) -> list[str]:
        return [self.bsn, self.voornamen, self.achternaam, self.straatnaam, self.woonplaats]


#: The marker every canary name, street and town carries: searched case-insensitively.
MARK = "zwxq"
BIRTH_DATE = "1907-07-07"
IBAN = canary_iban("ZWXQ", "7301946285")
KNOWN = Canary(canary_bsn(173_529_460), "Zwxqline", "Kanarie-Zwxq", "Zwxqsteeg", "Zwxqdorp")
PARTNER = Canary(canary_bsn(173_611_840), "Zwxqbert", "Kanarie-Zwxqpartner", "Zwxqsteeg", "Zwxq")
UNKNOWN = Canary(canary_bsn(186_204_730), "Zwxqmaria", "Kanarie-Zwxqonbekend", "Zwxqlaan", "Zwxq")
#: a BSN of the canary that fails the elfproef (a hostile message): a canary too
BROKEN_BSN = KNOWN.bsn[:-1] + str((int(KNOWN.bsn[-1]) + 1) % 10)


def canary_values() -> list[str]:
    values = [MARK, BIRTH_DATE, "07-07-1907", IBAN, IBAN[4:], BROKEN_BSN]
    for person in (KNOWN, PARTNER, UNKNOWN):
        values += person.values()
    return values


def find_canaries(
    texts: Iterable[tuple[str, str]], extra: Iterable[str] = ()
) -> list[tuple[str, str, str]]:
    """(where, canary, context) for every canary (and ``extra`` value) found in (where, text)
    pairs; compared case-insensitively."""
    hits = []
    needles = canary_values() + list(extra)
    for where, text in texts:
        lowered = text.lower()
        for needle in needles:
            at = lowered.find(needle.lower())
            if at >= 0:
                hits.append((where, needle, text[max(0, at - 60) : at + 60]))
    return hits


def store_texts(database: Path) -> Iterator[tuple[str, str]]:
    """Every value of every column of the store, except the message bytes themselves."""
    with sqlite3.connect(str(database)) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [c[1] for c in db.execute(f"PRAGMA table_info('{table}')")]
            for column in columns:
                if (table, column) in MESSAGE_BYTES:
                    continue
                for (value,) in db.execute(f'SELECT "{column}" FROM "{table}"'):
                    if value is None:
                        continue
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    yield f"{table}.{column}", str(value)


def message_bytes(database: Path) -> bytes:
    with sqlite3.connect(str(database)) as db:
        return b"".join(
            bytes(value)
            for table, column in sorted(MESSAGE_BYTES)
            for (value,) in db.execute(f'SELECT "{column}" FROM "{table}"')
        )


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def views(config: Path) -> list[tuple[str, str]]:
    """What an operator sees in the list views (JSON, every field)."""
    texts = []
    for command in (
        ["messages", "list", "--json", "--limit", "1000"],
        ["quarantine", "list", "--json"],
        ["tasks", "list", "--all", "--json"],
        ["holds", "list", "--all", "--json"],
    ):
        result = run_cli(*command, "--config", str(config))
        assert result.returncode == 0, (command, result.stderr)
        texts += [
            (" ".join(command), result.stdout),
            (" ".join(command) + " stderr", result.stderr),
        ]
    return texts


# -- the canary back-office -----------------------------------------------------------------


CANARY_BACKOFFICE = """
import sqlite3
from pathlib import Path


def canaryfy(sample, known, partner):
    # give the sample's first debtor with a partner the canary identities, in the back-office
    # and in what the SHV knows of them (the Saldoverzoeken carry them then)
    path = sample.options["database_url"].removeprefix("sqlite:///")
    debtors = list(sample.debtors)
    index = next(i for i, d in enumerate(debtors) if d.partner is not None)
    debtor = debtors[index]
    with sqlite3.connect(path) as db:
        for old, new in ((debtor.person, known), (debtor.partner, partner)):
            db.execute(
                "UPDATE debiteuren SET bsn = ?, voornamen = ?, achternaam = ?, voorvoegsel = NULL,"
                " straatnaam = ?, woonplaats = ? WHERE bsn = ?",
                (new["bsn"], new["voornamen"], new["achternaam"], new["straatnaam"],
                 new["woonplaats"], old.bsn),
            )
    def person(old, new):
        return old.model_copy(update={
            "bsn": new["bsn"], "voornamen": new["voornamen"], "achternaam": new["achternaam"],
            "voorvoegsel": None,
        })
    debtors[index] = debtor.model_copy(update={
        "person": person(debtor.person, known),
        "partner": person(debtor.partner, partner),
        "straatnaam": known["straatnaam"],
        "woonplaats": known["woonplaats"],
    })
    return sample.model_copy(update={"debtors": tuple(debtors)}), debtors[index]
"""


def _canary_dict(canary: Canary) -> dict[str, str]:
    return {
        "bsn": canary.bsn,
        "voornamen": canary.voornamen,
        "achternaam": canary.achternaam,
        "straatnaam": canary.straatnaam,
        "woonplaats": canary.woonplaats,
    }


def canaryfy(sample: SampleBackOffice) -> tuple[SampleBackOffice, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(CANARY_BACKOFFICE, "canary_backoffice", "exec"), namespace)
    result: tuple[SampleBackOffice, Any] = namespace["canaryfy"](
        sample, _canary_dict(KNOWN), _canary_dict(PARTNER)
    )
    return result


# -- the demo as a subprocess ---------------------------------------------------------------

DEMO_DRIVER = (
    CANARY_BACKOFFICE
    + """
import dataclasses
import datetime
import json
import sys

import skn_connector.demo as demo
from skn_connector.adapters.testing import personal_data
from skn_connector.cli import main

known, partner, unknown, birth = json.loads(sys.argv[1])
workdir, found = sys.argv[2], sys.argv[3]
resolve = demo.resolve_adapter_class
samples = []


def wrapped(name):
    original = resolve(name)

    class Recorded(original):
        @classmethod
        def create_sample(cls, directory):
            sample = original.create_sample(directory)
            if name == "gemeentebelastingen":
                sample = canaryfy(sample, known, partner)[0]
            # the synthetic personal data of every sample back-office is a canary too
            samples.extend(personal_data(sample))
            with open(found, "w") as out:
                json.dump(samples, out)
            return sample

    return Recorded


def canary_unknown(make):
    def scenarios(debtors):
        mix = []
        for scenario in make(debtors):
            if scenario.label == "unknown debtor":
                person = scenario.person.model_copy(update={
                    "bsn": unknown["bsn"], "voornamen": unknown["voornamen"],
                    "achternaam": unknown["achternaam"],
                    "geboortedatum": datetime.date.fromisoformat(birth),
                })
                address = {**scenario.address, "Straatnaam": unknown["straatnaam"],
                           "Woonplaats": unknown["woonplaats"]}
                scenario = dataclasses.replace(scenario, person=person, address=address)
            mix.append(scenario)
        return mix
    return scenarios


demo.resolve_adapter_class = wrapped
for name in ("scenarios", "_generic_scenarios"):
    if hasattr(demo, name):
        setattr(demo, name, canary_unknown(getattr(demo, name)))
sys.argv = ["skn-connector", "demo", "--workdir", workdir, "-v"]
main()
"""
)


def test_the_demo_with_canary_personal_data_leaks_none(tmp_path: Path) -> None:
    driver = tmp_path / "canary_demo.py"
    driver.write_text(DEMO_DRIVER)
    workdir = tmp_path / "demo"
    found = tmp_path / "sample-personal-data.json"
    canaries = json.dumps(
        [_canary_dict(KNOWN), _canary_dict(PARTNER), _canary_dict(UNKNOWN), BIRTH_DATE]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(driver), canaries, str(workdir), str(found)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert " DEBUG " in result.stderr  # verbose: every debug line is part of the scan
    databases = sorted(workdir.rglob("skn-connector.db"))
    configs = sorted(workdir.rglob("skn-connector.toml"))
    assert databases and len(databases) == len(configs)
    stored = b"".join(message_bytes(database) for database in databases)
    for value in (KNOWN.bsn, KNOWN.achternaam, PARTNER.bsn, UNKNOWN.achternaam, BIRTH_DATE):
        assert value.encode() in stored, f"positive control: {value} not in the messages"
    samples = json.loads(found.read_text())
    assert KNOWN.bsn in samples and len(samples) > 10
    texts = [("demo stdout", result.stdout), ("demo stderr", result.stderr)]
    for database in databases:
        texts += list(store_texts(database))
    for config in configs:
        texts += views(config)
    assert find_canaries(texts, extra=samples) == []


# -- run --once on a richer mix -------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(port=0, tls_dir=tmp_path / "tls") as simulator:
        yield simulator


def klant(canary: Canary) -> dict[str, Any]:
    return {
        "Geslacht": "V",
        "Voorletters": "Z.",
        "Voornamen": canary.voornamen,
        "Achternaam": canary.achternaam,
        "Geboortedatum": BIRTH_DATE,
        "Bsn": canary.bsn,
    }


def adres(canary: Canary) -> dict[str, Any]:
    return {
        "Straatnaam": canary.straatnaam,
        "Huisnummer": 7,
        "Postcode": "1234AB",
        "Woonplaats": canary.woonplaats,
    }


def saldoverzoek(canary: Canary, invoices: tuple[str, ...], **header: Any) -> dict[str, Any]:
    message = f.saldoverzoek(invoices=invoices, module="Schuldregeling", **header)
    message["TypeSchuldregeling"] = "SB"
    message["Klant"] = klant(canary)
    message["Adres"] = adres(canary)
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
    return {k: message[k] for k in order if k in message}


FREE_TEXT = f"Klant {KNOWN.achternaam} ({KNOWN.bsn}) betaalt voortaan via {IBAN}."


def follow_ups(conversation: str) -> list[dict[str, Any]]:
    """Messages in the canary's conversation carrying the canaries in free text."""
    status = f.statusbericht_shv(ConversatieReferentienummer=conversation)
    status["Toelichting"] = FREE_TEXT
    heroverweging = f.heroverweging(ConversatieReferentienummer=conversation)
    heroverweging["Toelichting"] = FREE_TEXT
    ended = f.schuldregeling_beeindigd(ConversatieReferentienummer=conversation)
    ended["Toelichting"] = FREE_TEXT
    return [status, heroverweging, ended]


def melding_bewind() -> dict[str, Any]:
    message = f.melding_bewind()
    message["Klant"] = klant(KNOWN)
    message["Adres"] = adres(KNOWN)
    return message


def wire(message: dict[str, Any]) -> bytes:
    return encode_message(message_from_json(message))


def hostile(first: dict[str, Any], invoices: tuple[str, ...]) -> list[bytes]:
    """Messages that must end in quarantine, each with canaries where a value is wrong."""
    good = wire(saldoverzoek(KNOWN, invoices))
    name = KNOWN.achternaam.encode()
    elfproef = good.replace(KNOWN.bsn.encode(), BROKEN_BSN.encode())
    too_long = good.replace(name, name * 20)
    postcode = good.replace(b"<Postcode>1234AB<", b"<Postcode>ZWXQ99<")
    birth = good.replace(BIRTH_DATE.encode(), b"07-07-1907")
    extra = good.replace(b"</Klant>", f"</Klant><Opmerking>{FREE_TEXT}</Opmerking>".encode())
    other = dict(first, Berichtheader=dict(first["Berichtheader"], Ontvanger=str(f.SHV)))
    conflicting = dict(first, Klant=dict(first["Klant"], Voornamen="Zwxqanders"))
    garbage = f"{KNOWN.achternaam} {KNOWN.bsn} {IBAN} <Klant".encode()
    assert len({elfproef, too_long, postcode, birth, extra, good}) == 6
    return [elfproef, too_long, postcode, birth, extra, wire(other), wire(conflicting), garbage]


def test_run_once_with_canary_personal_data_leaks_none(tmp_path: Path, node: Simulator) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")
    sample, debtor = canaryfy(sample)
    config = write_config(tmp_path, node, sample.options)
    conversation = str(uuid.uuid4())
    first = saldoverzoek(KNOWN, debtor.factuurnummers, ConversatieReferentienummer=conversation)
    unknown = saldoverzoek(UNKNOWN, ("2024.123456.01",))
    with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
        for message in [first, unknown, *follow_ups(conversation), melding_bewind()]:
            response = admin.post("/_admin/messages", json=message)
            assert response.status_code == 201, response.text
        for payload in hostile(first, debtor.factuurnummers):
            admin.post(
                "/_admin/raw", params={"ontvanger": str(CREDITOR_ID)}, content=payload
            ).raise_for_status()
        result = run_cli("run", "--once", "-v", "--config", str(config), "--max-wait", "20")
        sent = admin.get("/_admin/sent").json()
    assert "Traceback" not in result.stderr, result.stderr
    assert " DEBUG " in result.stderr
    answered = {a["Berichtheader"]["ConversatieReferentienummer"]: a for a in sent}
    assert answered[conversation]["Berichtheader"]["Berichttype"] == "SaldoverzoekAntwoord"
    unknown_conversation = unknown["Berichtheader"]["ConversatieReferentienummer"]
    assert answered[unknown_conversation]["Berichtheader"]["Berichttype"] == "GeenMedewerking"
    assert f"quarantined {len(hostile(first, debtor.factuurnummers))}," in result.stdout

    database = tmp_path / "skn-connector.db"
    stored = message_bytes(database)
    for value in (KNOWN.bsn, BROKEN_BSN, UNKNOWN.achternaam, IBAN, "ZWXQ99"):
        assert value.encode() in stored, f"positive control: {value} not in the messages"
    texts = [("run stdout", result.stdout), ("run stderr", result.stderr)]
    texts += list(store_texts(database))
    texts += views(config)
    assert find_canaries(texts) == []


def test_the_canaries_are_what_they_claim() -> None:
    for person in (KNOWN, PARTNER, UNKNOWN):
        assert _elfproef(person.bsn) and len(person.bsn) == 9
    assert not _elfproef(BROKEN_BSN)
    digits = "".join(str(int(c, 36)) for c in IBAN[4:] + IBAN[:4])
    assert int(digits) % 97 == 1
    assert find_canaries([("x", f"nothing here {uuid.uuid4()}")]) == []
    assert find_canaries([("x", "Mevr. KANARIE-ZWXQ")])[0][1] == MARK


def test_the_masked_message_view_hides_free_text(tmp_path: Path, node: Simulator) -> None:
    from skn_connector.operations.queries import show_message
    from skn_connector.store import open_store

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")
    sample, debtor = canaryfy(sample)
    config = write_config(tmp_path, node, sample.options)
    conversation = str(uuid.uuid4())
    first = saldoverzoek(KNOWN, debtor.factuurnummers, ConversatieReferentienummer=conversation)
    with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
        for message in [first, follow_ups(conversation)[0]]:
            admin.post("/_admin/messages", json=message).raise_for_status()
        result = run_cli("run", "--once", "--config", str(config), "--max-wait", "20")
    assert result.returncode == 0, result.stderr
    store = open_store(f"sqlite:///{tmp_path / 'skn-connector.db'}")
    try:
        from skn_connector.operations.queries import list_messages

        shown = [
            (
                f"messages show {row['referentienummer']}",
                json.dumps(show_message(store, row["referentienummer"])),
            )
            for row in list_messages(store, 100)
        ]
    finally:
        store.close()
    assert len(shown) == 3  # the Saldoverzoek, its answer, the StatusberichtSHV
    assert find_canaries(shown) == []


# -- error paths: a careless adapter, through the daemon ------------------------------------


def test_errors_that_quote_the_debtor_leak_none_through_the_daemon(
    tmp_path: Path, node: Simulator
) -> None:
    """An adapter whose exceptions hold the BSN, the name and an IBAN (a KeyError on the BSN,
    a RuntimeError and a refused hold quoting the debtor), run by the daemon with debug
    logging: none of it in the logs, stdout, stderr, the audit trail, the store's error
    columns, the tasks or any --json listing."""
    import signal
    import time

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")
    sample, debtor = canaryfy(sample)
    options = {**sample.options, "keyerror_bsn": UNKNOWN.bsn, "iban": IBAN}
    config = write_config(tmp_path, node, options)
    text = config.read_text().replace(
        'use = "gemeentebelastingen"', 'use = "tests.adapters_for_tests:LeakyTaxes"'
    )
    config.write_text(text.replace('poll_interval = "1m"', 'poll_interval = "1s"'))
    kennisgeving = f.kennisgeving()
    kennisgeving["Klant"] = klant(KNOWN)
    kennisgeving["Adres"] = adres(KNOWN)
    messages = [
        saldoverzoek(UNKNOWN, ("2024.123456.01",)),  # KeyError holding the BSN
        kennisgeving,  # a RuntimeError with the name, BSN and IBAN
        saldoverzoek(KNOWN, debtor.factuurnummers),  # answered; its hold refused, quoting all
    ]
    database = tmp_path / "skn-connector.db"

    def recorded() -> list[str]:
        if not database.exists():
            return []
        try:
            with sqlite3.connect(str(database)) as db:
                return [e for (e,) in db.execute("SELECT event FROM audit")]
        except sqlite3.OperationalError:  # being created
            return []

    with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
        for message in messages:
            assert admin.post("/_admin/messages", json=message).status_code == 201
        daemon = subprocess.Popen(
            [CLI, "run", "-v", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            deadline = time.monotonic() + 60
            while not (
                recorded().count("processing_failed") == 2 and "effect_failed" in recorded()
            ):
                assert time.monotonic() < deadline, recorded()
                time.sleep(0.3)
        finally:
            daemon.send_signal(signal.SIGTERM)
            stdout, stderr = daemon.communicate(timeout=30)
        sent = admin.get("/_admin/sent").json()
    assert daemon.returncode == 0, stderr[-3000:]
    assert [m["Berichtheader"]["Berichttype"] for m in sent] == ["SaldoverzoekAntwoord"]
    # the errors happened, with the debtor in their text, and were recorded: not vacuous
    assert "KeyError" in stderr and "RuntimeError" in stderr and "Traceback" in stderr
    with sqlite3.connect(str(database)) as db:
        errors = [
            e for (e,) in db.execute("SELECT last_error FROM inbox WHERE last_error IS NOT NULL")
        ]
        errors += [
            e for (e,) in db.execute("SELECT last_error FROM holds WHERE last_error IS NOT NULL")
        ]
        classes = {
            c
            for (c,) in db.execute(
                "SELECT last_error_class FROM inbox WHERE last_error_class IS NOT NULL"
            )
        }
    assert classes == {"KeyError", "RuntimeError"} and len(errors) == 3
    assert all("[BSN]" in e or "[PERSOONSGEGEVEN]" in e for e in errors), errors
    stored = message_bytes(database)
    for value in (KNOWN.bsn, KNOWN.achternaam, UNKNOWN.bsn):
        assert value.encode() in stored, f"positive control: {value} not in the messages"
    texts = [("daemon stdout", stdout), ("daemon stderr", stderr)]
    texts += list(store_texts(database))
    texts += views(config)
    assert find_canaries(texts) == []
