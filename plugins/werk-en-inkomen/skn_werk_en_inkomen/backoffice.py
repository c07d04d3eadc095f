"""The sample back-office of a municipal "werk en inkomen" department: schema and synthetic data.

The schema is documented, table by table, in this plugin's README.md. It follows
the Participatiewet (and IOAW, IOAZ, Bbz): terugvordering (Pw art. 58), verhaal
(art. 61-62), leenbijstand and the bestuurlijke boete (art. 18a) are vorderingen
with a besluit; they are collected by aanmaning, dwangbevel, beslag and verrekening
with the current uitkering (art. 60), which is mandatory for fraud claims
[PW-art-58] [PW-art-60].

Every person in the sample is made up: names end in "-Voorbeeld", BSNs are
computed in the 99999xxxx test range so that they pass the elfproef, and the data
is the same on every run.
"""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
)
from sqlalchemy.types import TypeDecorator

from skn_connector.adapters.api import MeasureCode, SampleDebtor, SamplePerson

SAMPLE_FILENAME = "werk_en_inkomen.db"

#: the kinds of vordering: terugvordering of bijstand (Pw 58), a bestuurlijke boete
#: (Pw 18a), verhaal on an onderhoudsplichtige (Pw 61-62) and leenbijstand (a loan)
SOORTEN = ("terugvordering_bijstand", "bestuurlijke_boete", "verhaal", "leenbijstand")
#: the law a vordering (or the current uitkering) rests on
WETTEN = ("PW", "IOAW", "IOAZ", "BBZ")
STATUSES = ("open", "betwist", "overgedragen", "afgelost", "kwijtgescholden")
#: the vordering statuses that are still a claim (listed by ``list_claims``)
OPEN_STATUSES = ("open", "betwist", "overgedragen")
#: how a fraud claim (inlichtingenplicht breached) was qualified
KWALIFICATIES = ("geen", "verwijtbaar", "grove_schuld", "opzet")
#: the enforcement measures of Participatiewet collection [PW-art-60]:
#: no invorderingsrente, no hernieuwd bevel, no Wahv measures
PW_MEASURES = (
    MeasureCode.AANMANING,
    MeasureCode.DWANGBEVEL,
    MeasureCode.BESLAG_LOON,
    MeasureCode.BESLAG_BANK,
    MeasureCode.BESLAG_ZAKEN,
    MeasureCode.VERREKENING,
    MeasureCode.KOSTEN,
    MeasureCode.DEURWAARDER,
)


class Bedrag(TypeDecorator[Decimal]):
    """An amount in euros, stored exactly as a decimal string ("123.45")."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(Decimal(value).quantize(Decimal("0.01")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.01"))


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("client_id", Integer, primary_key=True),
    Column("klantnummer", String(20), nullable=False, unique=True),
    Column("bsn", String(9), nullable=True, unique=True),
    Column("geslacht", String(1), nullable=False),
    Column("voorletters", String(20), nullable=False),
    Column("voornamen", String(100), nullable=False),
    Column("voorvoegsel", String(20), nullable=True),
    Column("achternaam", String(100), nullable=False),
    Column("geboortedatum", Date, nullable=False),
    Column("straatnaam", String(100), nullable=False),
    Column("huisnummer", Integer, nullable=False),
    Column("postcode", String(6), nullable=False),
    Column("woonplaats", String(80), nullable=False),
    Column("partner_id", Integer, ForeignKey("clients.client_id"), nullable=True),
    #: the benefit the client receives now (what a verrekening deducts from), or NULL
    Column("uitkering", String(4), nullable=True),
    CheckConstraint(_in("geslacht", ("M", "V", "X")), name="ck_clients_geslacht"),
    CheckConstraint(f"uitkering IS NULL OR {_in('uitkering', WETTEN)}", name="ck_clients_uitk"),
    CheckConstraint("partner_id IS NULL OR partner_id <> client_id", name="ck_clients_partner"),
)

opschortingen = Table(
    "opschortingen",
    metadata,
    Column("hold_id", String(36), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.client_id"), nullable=False),
    Column("reden", String(60), nullable=False),
    Column("basis", String(20), nullable=False),
    Column("begint", Date, nullable=False),
    Column("eindigt", Date, nullable=True),
    Column("status", String(10), nullable=False),
    Column("toegepast_op", DateTime, nullable=False),
    Column("vrijgegeven_op", DateTime, nullable=True),
    Column("measures", JSON, nullable=False),
    CheckConstraint(_in("status", ("applied", "released")), name="ck_opschortingen_status"),
)

regelingen = Table(
    "regelingen",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.client_id"), nullable=False),
    Column("type_schuldregeling", String(10), nullable=False),
    Column("datum_akkoord", Date, nullable=False),
    Column("vastgelegd_op", DateTime, nullable=False),
    #: the agreed terms per claim, as the SHV sent them
    Column("voorwaarden", JSON, nullable=False),
    #: the factuurnummers of the arrangement that are not claims of this client
    Column("onbekend", JSON, nullable=False),
)

afboekingen = Table(
    "afboekingen",
    metadata,
    Column("write_off_id", String(36), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.client_id"), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("reden", String(60), nullable=False),
    Column("datum", Date, nullable=False),
    Column("geboekt_op", DateTime, nullable=False),
    Column("bedrag", Bedrag, nullable=False),
    #: per claim what was done: written off, refused, released, not open, unknown
    Column("resultaat", JSON, nullable=False),
)

vorderingen = Table(
    "vorderingen",
    metadata,
    Column("besluitnummer", String(30), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.client_id"), nullable=False),
    Column("soort", String(30), nullable=False),
    Column("wet", String(4), nullable=False),
    Column("besluitdatum", Date, nullable=False),
    Column("oorspronkelijk", Bedrag, nullable=False),
    Column("afgelost", Bedrag, nullable=False),
    Column("kosten", Bedrag, nullable=False),
    Column("status", String(20), nullable=False),
    Column("overgedragen_aan", String(120), nullable=True),
    Column("fraude", Boolean, nullable=False),
    Column("fraude_kwalificatie", String(20), nullable=True),
    Column("hoofdelijk_met_partner", Boolean, nullable=False),
    #: the partner who is jointly liable (hoofdelijk) for the whole claim
    Column("medeschuldenaar_id", Integer, ForeignKey("clients.client_id"), nullable=True),
    Column("regeling_id", String(36), ForeignKey("regelingen.conversation_id"), nullable=True),
    Column("afboeking_id", String(36), ForeignKey("afboekingen.write_off_id"), nullable=True),
    CheckConstraint(_in("soort", SOORTEN), name="ck_vorderingen_soort"),
    CheckConstraint(_in("wet", WETTEN), name="ck_vorderingen_wet"),
    CheckConstraint(_in("status", STATUSES), name="ck_vorderingen_status"),
    CheckConstraint(
        "fraude_kwalificatie IS NULL OR "
        f"(fraude = 1 AND {_in('fraude_kwalificatie', KWALIFICATIES)})",
        name="ck_vorderingen_kwalificatie",
    ),
    # a bestuurlijke boete is imposed for a breach of the inlichtingenplicht, and never
    # when every form of verwijtbaarheid is missing (Pw 18a)
    CheckConstraint(
        "soort <> 'bestuurlijke_boete' OR (fraude = 1 AND "
        "(fraude_kwalificatie IS NULL OR fraude_kwalificatie <> 'geen'))",
        name="ck_vorderingen_boete",
    ),
    CheckConstraint(
        "hoofdelijk_met_partner = (medeschuldenaar_id IS NOT NULL)",
        name="ck_vorderingen_hoofdelijk",
    ),
    CheckConstraint(
        "medeschuldenaar_id IS NULL OR medeschuldenaar_id <> client_id",
        name="ck_vorderingen_medeschuldenaar",
    ),
    CheckConstraint(
        "status <> 'overgedragen' OR overgedragen_aan IS NOT NULL",
        name="ck_vorderingen_overgedragen",
    ),
)

maatregelen = Table(
    "maatregelen",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("besluitnummer", String(30), ForeignKey("vorderingen.besluitnummer"), nullable=False),
    #: against whom the measure runs (on a hoofdelijk claim: either partner)
    Column("client_id", Integer, ForeignKey("clients.client_id"), nullable=False),
    Column("code", String(20), nullable=False),
    Column("actief", Boolean, nullable=False),
    Column("sinds", Date, nullable=False),
    #: the monthly deduction of a verrekening or beslag (informative)
    Column("bedrag_per_maand", Bedrag, nullable=True),
    Column("opgeschort_door", String(36), ForeignKey("opschortingen.hold_id"), nullable=True),
    CheckConstraint(_in("code", tuple(m.value for m in PW_MEASURES)), name="ck_maatregelen_code"),
)

# Indexes for the adapter's lookups: the foreign keys it follows, and the forms in which it
# compares klantnummers and besluitnummers (``upper(klantnummer)``; the SQL twin of
# ``normalise_factuurnummer``). Performance only: a back-office without them gives the same
# answers, by scanning.
Index("ix_clients_klantnummer_upper", func.upper(clients.c.klantnummer))
Index("ix_vorderingen_client_id", vorderingen.c.client_id)
Index("ix_vorderingen_medeschuldenaar_id", vorderingen.c.medeschuldenaar_id)
Index(
    "ix_vorderingen_besluitnummer_genormaliseerd",
    func.upper(
        func.replace(
            func.replace(
                func.replace(func.replace(vorderingen.c.besluitnummer, " ", ""), ".", ""), "-", ""
            ),
            "/",
            "",
        )
    ),
)
Index("ix_maatregelen_besluitnummer", maatregelen.c.besluitnummer)
Index("ix_maatregelen_opgeschort_door", maatregelen.c.opgeschort_door)
Index("ix_opschortingen_client_id", opschortingen.c.client_id)

TABLES = ("clients", "vorderingen", "maatregelen", "opschortingen", "regelingen", "afboekingen")


_SEPARATORS = re.compile(r"[\s.\-/]+")


def normalise_factuurnummer(value: str) -> str:
    """A besluitnummer as compared: upper case, without spaces, dots, dashes and slashes."""
    return _SEPARATORS.sub("", value).upper()


def normalise_postcode(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def elfproef(bsn: str) -> bool:
    """True when ``bsn`` is nine digits that pass the BSN elfproef."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True))
    return (total - int(bsn[8])) % 11 == 0


def synthetic_bsns(start: int = 500) -> list[str]:
    """Numbers in the 99999xxxx test range that pass the elfproef, computed, in order.

    They start at 999995000, away from the numbers the gemeentebelastingen sample uses.
    """
    found: list[str] = []
    for n in range(start, 1000):
        stem = f"99999{n:03d}"
        check = sum(int(d) * w for d, w in zip(stem, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            found.append(f"{stem}{check}")
    return found


# -- the synthetic data -------------------------------------------------------------------------


@dataclass
class _Maatregel:
    code: MeasureCode
    actief: bool
    sinds: date
    bedrag_per_maand: str | None = None
    #: against whom, when not the owner of the vordering (a partner on a hoofdelijk claim)
    client_id: int | None = None


@dataclass
class _Vordering:
    nummer: str
    soort: str
    besluitdatum: date
    bedrag: str
    afgelost: str = "0.00"
    kosten: str = "0.00"
    status: str = "open"
    wet: str = "PW"
    fraude: bool = False
    kwalificatie: str | None = None
    medeschuldenaar_id: int | None = None
    overgedragen_aan: str | None = None
    maatregelen: list[_Maatregel] = field(default_factory=list)


@dataclass
class _Client:
    client_id: int
    klantnummer: str
    person: SamplePerson
    straatnaam: str
    huisnummer: int
    postcode: str
    woonplaats: str
    uitkering: str | None
    vorderingen: list[_Vordering]
    partner_id: int | None = None


DEURWAARDER = "Gerechtsdeurwaarders Voorbeeld & Co (fictief)"

_VOLUME_NAMES = (
    ("Boer", "M", "G.", "Gerrit"),
    ("Vermeulen", "V", "W.", "Wilma"),
    ("Lange", "M", "K.", "Koen"),
    ("Brink", "V", "M.", "Mila"),
    ("Kramer", "X", "R.", "Robin"),
    ("Scholten", "V", "H.", "Hanna"),
    ("Post", "M", "S.", "Stijn"),
    ("Kuiper", "V", "Y.", "Yara"),
    ("Hoek", "M", "O.", "Olivier"),
    ("Groen", "V", "N.", "Nina"),
    ("Vink", "M", "C.", "Casper"),
    ("Dam", "V", "L.", "Liv"),
    ("Berg", "M", "T.", "Tim"),
    ("Mol", "V", "Z.", "Zoë"),
    ("Wouters", "M", "J.", "Joris"),
    ("Maas", "V", "D.", "Dewi"),
    ("Verbeek", "M", "M.", "Mees"),
    ("Sanders", "V", "R.", "Roos"),
    ("Timmermans", "M", "A.", "Ahmed"),
    ("Lambregts", "V", "F.", "Fatima"),
)

_LETTERS = "ABCEGHJKLMNPRSTVWXZ"
_V = MeasureCode.VERREKENING
_PREFIX = {
    "terugvordering_bijstand": "TV",
    "bestuurlijke_boete": "BB",
    "verhaal": "VH",
    "leenbijstand": "LB",
}


def _person(
    bsn: str,
    achternaam: str,
    geslacht: str,
    voorletters: str,
    voornamen: str,
    geboortedatum: date,
    voorvoegsel: str | None = None,
) -> SamplePerson:
    return SamplePerson.model_validate(
        {
            "geslacht": geslacht,
            "voorletters": voorletters,
            "voornamen": voornamen,
            "voorvoegsel": voorvoegsel,
            "achternaam": achternaam,
            "geboortedatum": geboortedatum,
            "bsn": bsn,
        }
    )


def _known_clients(bsns: list[str]) -> tuple[list[_Client], list[SampleDebtor]]:
    # an ordinary terugvordering with a running (optional) verrekening, and leenbijstand
    ordinary = _Client(
        1,
        "200001",
        _person(bsns[0], "Hermans-Voorbeeld", "M", "R.J.", "Ruud Jan", date(1975, 4, 9)),
        "Voorbeeldstraat",
        21,
        "1234AC",
        "Voorbeeldstad",
        "PW",
        [
            _Vordering(
                "TV-2024-00101",
                "terugvordering_bijstand",
                date(2024, 3, 12),
                "1840.00",
                afgelost="315.00",
                maatregelen=[_Maatregel(_V, True, date(2024, 5, 1), "45.00")],
            ),
            _Vordering(
                "LB-2023-00102",
                "leenbijstand",
                date(2023, 9, 20),
                "2500.00",
                afgelost="600.00",
                kosten="41.00",
                wet="BBZ",
                maatregelen=[
                    _Maatregel(MeasureCode.AANMANING, False, date(2024, 1, 15)),
                    _Maatregel(MeasureCode.DWANGBEVEL, True, date(2024, 2, 20)),
                    _Maatregel(MeasureCode.KOSTEN, True, date(2024, 2, 20)),
                ],
            ),
            _Vordering(
                "TV-2022-00103",
                "terugvordering_bijstand",
                date(2022, 5, 10),
                "960.00",
                afgelost="960.00",
                status="afgelost",
                maatregelen=[_Maatregel(_V, False, date(2022, 7, 1), "40.00")],
            ),
        ],
    )
    # fraud: a terugvordering qualified opzet and a boete qualified grove schuld, both with
    # the mandatory verrekening; and an ordinary terugvordering with an aanmaning
    fraud = _Client(
        2,
        "200002",
        _person(bsns[1], "Hoekstra-Voorbeeld", "V", "A.M.", "Anna Maria", date(1981, 12, 3)),
        "Proeflaan",
        5,
        "2345BD",
        "Voorbeeldstad",
        "PW",
        [
            _Vordering(
                "TV-2023-00201",
                "terugvordering_bijstand",
                date(2023, 6, 15),
                "6420.00",
                afgelost="880.00",
                fraude=True,
                kwalificatie="opzet",
                maatregelen=[_Maatregel(_V, True, date(2023, 8, 1), "95.00")],
            ),
            _Vordering(
                "BB-2023-00202",
                "bestuurlijke_boete",
                date(2023, 6, 15),
                "1250.00",
                fraude=True,
                kwalificatie="grove_schuld",
                maatregelen=[_Maatregel(_V, True, date(2023, 8, 1), "25.00")],
            ),
            _Vordering(
                "TV-2024-00203",
                "terugvordering_bijstand",
                date(2024, 11, 4),
                "312.40",
                maatregelen=[_Maatregel(MeasureCode.AANMANING, True, date(2025, 1, 10))],
            ),
        ],
    )
    # fraud qualified verwijtbaar; no uitkering any more (works), so a loonbeslag instead
    verwijtbaar = _Client(
        3,
        "200003",
        _person(bsns[2], "Dijkman-Voorbeeld", "M", "P.", "Pieter", date(1990, 7, 18)),
        "Testweg",
        88,
        "3456CE",
        "Proefdorp",
        None,
        [
            _Vordering(
                "TV-2024-00301",
                "terugvordering_bijstand",
                date(2024, 2, 20),
                "2975.50",
                afgelost="210.00",
                kosten="88.00",
                fraude=True,
                kwalificatie="verwijtbaar",
                maatregelen=[
                    _Maatregel(MeasureCode.AANMANING, False, date(2024, 4, 2)),
                    _Maatregel(MeasureCode.DWANGBEVEL, True, date(2024, 5, 14)),
                    _Maatregel(MeasureCode.BESLAG_LOON, True, date(2024, 7, 1), "120.00"),
                    _Maatregel(MeasureCode.KOSTEN, True, date(2024, 5, 14)),
                ],
            ),
        ],
    )
    # a couple: a terugvordering for which both are hoofdelijk liable, verrekend with the
    # household's uitkering (paid to client 4) and with a loonbeslag on the partner's wage;
    # and a small terugvordering of client 4 alone
    couple = _Client(
        4,
        "200004",
        _person(bsns[3], "Meulen-Voorbeeld", "V", "J.", "Johanna", date(1979, 2, 11), "van der"),
        "Kerkpad",
        14,
        "4567EF",
        "Proefdorp",
        "PW",
        [
            _Vordering(
                "TV-2024-00401",
                "terugvordering_bijstand",
                date(2024, 6, 3),
                "3600.00",
                afgelost="450.00",
                medeschuldenaar_id=5,
                maatregelen=[
                    _Maatregel(_V, True, date(2024, 8, 1), "60.00"),
                    _Maatregel(MeasureCode.BESLAG_LOON, True, date(2024, 10, 1), "80.00", 5),
                ],
            ),
            _Vordering(
                "TV-2025-00402",
                "terugvordering_bijstand",
                date(2025, 1, 14),
                "245.00",
                maatregelen=[_Maatregel(MeasureCode.AANMANING, True, date(2025, 3, 3))],
            ),
        ],
        partner_id=5,
    )
    partner = _Client(
        5,
        "200005",
        _person(bsns[4], "Yilmaz-Voorbeeld", "M", "E.", "Emre", date(1977, 10, 30)),
        "Kerkpad",
        14,
        "4567EF",
        "Proefdorp",
        None,
        [
            _Vordering(
                "LB-2024-00501",
                "leenbijstand",
                date(2024, 1, 22),
                "1200.00",
                wet="BBZ",
                maatregelen=[_Maatregel(MeasureCode.AANMANING, True, date(2024, 12, 2))],
            ),
        ],
        partner_id=4,
    )
    # verhaal on an onderhoudsplichtige, betwist (bezwaar); an old claim at a deurwaarder
    betwist = _Client(
        6,
        "200006",
        _person(bsns[5], "Claassen-Voorbeeld", "M", "W.", "Willem", date(1966, 5, 27)),
        "Molenweg",
        3,
        "5678GH",
        "Voorbeeldstad",
        None,
        [
            _Vordering(
                "VH-2024-00601",
                "verhaal",
                date(2024, 9, 9),
                "4100.00",
                status="betwist",
                maatregelen=[_Maatregel(MeasureCode.AANMANING, False, date(2024, 11, 1))],
            ),
            _Vordering(
                "TV-2021-00602",
                "terugvordering_bijstand",
                date(2021, 3, 1),
                "1780.00",
                afgelost="400.00",
                kosten="156.30",
                status="overgedragen",
                overgedragen_aan=DEURWAARDER,
                maatregelen=[
                    _Maatregel(MeasureCode.DWANGBEVEL, True, date(2021, 7, 1)),
                    _Maatregel(MeasureCode.DEURWAARDER, True, date(2021, 10, 1)),
                    _Maatregel(MeasureCode.KOSTEN, True, date(2021, 10, 1)),
                ],
            ),
        ],
    )

    def sample(
        c: _Client, factuurnummers: tuple[str, ...], partner_of: _Client | None = None
    ) -> SampleDebtor:
        return SampleDebtor(
            klantnummer_se=c.klantnummer,
            person=c.person,
            partner=partner_of.person if partner_of else None,
            straatnaam=c.straatnaam,
            huisnummer=c.huisnummer,
            postcode=c.postcode,
            woonplaats=c.woonplaats,
            factuurnummers=factuurnummers,
        )

    samples = [
        sample(ordinary, ("TV-2024-00101", "LB-2023-00102")),
        sample(fraud, ("TV-2023-00201", "BB-2023-00202", "TV-2024-00203")),
        sample(verwijtbaar, ("TV-2024-00301",)),
        sample(couple, ("TV-2024-00401", "TV-2025-00402"), partner_of=partner),
        sample(betwist, ("VH-2024-00601", "TV-2021-00602")),
    ]
    return [ordinary, fraud, verwijtbaar, couple, partner, betwist], samples


def _volume_clients(bsns: list[str]) -> list[_Client]:
    rng = random.Random(20250601)
    result: list[_Client] = []
    for i, (name, geslacht, voorletters, voornaam) in enumerate(_VOLUME_NAMES):
        client_id = 101 + i
        uitkering = "PW" if rng.random() < 0.6 else None
        person = _person(
            bsns[i],
            f"{name}-Voorbeeld",
            geslacht,
            voorletters,
            voornaam,
            date(1955 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28)),
        )
        items: list[_Vordering] = []
        for seq in range(1, 2 + rng.randrange(3)):
            # verhaal is on an onderhoudsplichtige, who rarely receives bijstand
            soorten = ("terugvordering_bijstand",) * 4 + ("leenbijstand",)
            soort = rng.choice(soorten if uitkering else (*soorten, "verhaal"))
            jaar = rng.choice((2022, 2023, 2024, 2025))
            months = 5 if jaar == 2025 else 12  # the sample's "now" is mid 2025
            besluit = date(jaar, 1 + rng.randrange(months), 1 + rng.randrange(28))
            bedrag = Decimal(rng.randrange(15000, 600000)) / 100
            fraude = soort == "terugvordering_bijstand" and rng.random() < 0.3
            kwalificatie = rng.choice(KWALIFICATIES) if fraude else None
            nummer = f"{_PREFIX[soort]}-{jaar}-{client_id:03d}{seq:02d}"
            roll = rng.random()
            if roll < 0.2:
                items.append(
                    _Vordering(
                        nummer,
                        soort,
                        besluit,
                        str(bedrag),
                        afgelost=str(bedrag),
                        status="afgelost",
                        fraude=fraude,
                        kwalificatie=kwalificatie,
                    )
                )
                continue
            if roll < 0.25 and kwalificatie not in ("opzet", "grove_schuld"):
                # (the law excludes kwijtschelding of opzet and grove schuld fraud claims)
                items.append(
                    _Vordering(
                        nummer,
                        soort,
                        besluit,
                        str(bedrag),
                        status="kwijtgescholden",
                        fraude=fraude,
                        kwalificatie=kwalificatie,
                    )
                )
                continue
            afgelost = (bedrag * Decimal(rng.choice((0, 0, 10, 30, 60))) / 100).quantize(
                Decimal("0.01")
            )
            measures: list[_Maatregel] = []
            kosten = "0.00"
            later = jaar + 1 if jaar < 2025 else 2025
            sinds = date(later, 1 + rng.randrange(5 if later == 2025 else 12), 1)
            sinds = max(sinds, besluit)
            # verrekening is mandatory for a fraud claim when there is an uitkering to
            # deduct from; optional (here: half of the time) for other claims
            if uitkering and (fraude or rng.random() < 0.5):
                maand = str(rng.choice((25, 40, 45, 60, 95))) + ".00"
                measures.append(_Maatregel(MeasureCode.VERREKENING, True, sinds, maand))
            elif rng.random() < 0.5:
                kosten = "41.00"
                measures += [
                    _Maatregel(MeasureCode.AANMANING, False, sinds),
                    _Maatregel(MeasureCode.DWANGBEVEL, True, sinds),
                    _Maatregel(MeasureCode.KOSTEN, True, sinds),
                ]
            else:
                measures.append(_Maatregel(MeasureCode.AANMANING, True, sinds))
            items.append(
                _Vordering(
                    nummer,
                    soort,
                    besluit,
                    str(bedrag),
                    afgelost=str(afgelost),
                    kosten=kosten,
                    fraude=fraude,
                    kwalificatie=kwalificatie,
                    maatregelen=measures,
                )
            )
        result.append(
            _Client(
                client_id,
                f"{200100 + i + 1}",
                person,
                rng.choice(("Voorbeeldlaan", "Proefstraat", "Testsingel", "Fictiefhof")),
                1 + rng.randrange(180),
                f"{5000 + rng.randrange(4000)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}",
                "Voorbeeldstad",
                uitkering,
                items,
            )
        )
    return result


def _create_in_wal_mode(path: Path) -> None:
    """Create an empty database file in WAL journal mode (which the file keeps)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
    finally:
        conn.close()


def create_sample_database(directory: Path) -> tuple[Path, tuple[SampleDebtor, ...]]:
    """Write ``werk_en_inkomen.db`` in ``directory`` (replacing it) with the synthetic data.

    The database is in WAL journal mode, as the adapter keeps it.

    Returns the database path and the known debtors, as an SHV would know them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / SAMPLE_FILENAME).resolve()
    for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        stale.unlink(missing_ok=True)
    bsns = synthetic_bsns()
    known, samples = _known_clients(bsns[:6])
    everyone = known + _volume_clients(bsns[6:])
    _create_in_wal_mode(path)
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(str(path), check_same_thread=False)
    )
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for c in everyone:
                p = c.person
                conn.execute(
                    insert(clients).values(
                        client_id=c.client_id,
                        klantnummer=c.klantnummer,
                        bsn=p.bsn,
                        geslacht=p.geslacht,
                        voorletters=p.voorletters,
                        voornamen=p.voornamen,
                        voorvoegsel=p.voorvoegsel,
                        achternaam=p.achternaam,
                        geboortedatum=p.geboortedatum,
                        straatnaam=c.straatnaam,
                        huisnummer=c.huisnummer,
                        postcode=c.postcode,
                        woonplaats=c.woonplaats,
                        partner_id=None,
                        uitkering=c.uitkering,
                    )
                )
            for c in everyone:
                if c.partner_id is not None:
                    conn.execute(
                        clients.update()
                        .where(clients.c.client_id == c.client_id)
                        .values(partner_id=c.partner_id)
                    )
                for v in c.vorderingen:
                    conn.execute(
                        insert(vorderingen).values(
                            besluitnummer=v.nummer,
                            client_id=c.client_id,
                            soort=v.soort,
                            wet=v.wet,
                            besluitdatum=v.besluitdatum,
                            oorspronkelijk=Decimal(v.bedrag),
                            afgelost=Decimal(v.afgelost),
                            kosten=Decimal(v.kosten),
                            status=v.status,
                            overgedragen_aan=v.overgedragen_aan,
                            fraude=v.fraude,
                            fraude_kwalificatie=v.kwalificatie,
                            hoofdelijk_met_partner=v.medeschuldenaar_id is not None,
                            medeschuldenaar_id=v.medeschuldenaar_id,
                            regeling_id=None,
                            afboeking_id=None,
                        )
                    )
                    for m in v.maatregelen:
                        conn.execute(
                            insert(maatregelen).values(
                                besluitnummer=v.nummer,
                                client_id=m.client_id or c.client_id,
                                code=m.code.value,
                                actief=m.actief,
                                sinds=m.sinds,
                                bedrag_per_maand=(
                                    Decimal(m.bedrag_per_maand) if m.bedrag_per_maand else None
                                ),
                                opgeschort_door=None,
                            )
                        )
    finally:
        engine.dispose()
    return path, tuple(samples)
