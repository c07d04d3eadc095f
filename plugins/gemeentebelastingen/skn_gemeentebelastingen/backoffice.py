"""The sample back-office of a municipal tax department: schema and synthetic data.

The schema is documented, table by table, in this plugin's README.md. Every
person in the sample is made up: names end in "-Voorbeeld", BSNs are computed in
the 99999xxxx test range so that they pass the elfproef, and the data is the
same on every run.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
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
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeDecorator

from skn_connector.adapters.api import MeasureCode, SampleDebtor, SamplePerson

SAMPLE_FILENAME = "gemeentebelastingen.db"

BELASTINGSOORTEN = ("OZB", "afvalstoffenheffing", "rioolheffing", "hondenbelasting")
STATUSES = ("open", "betaald", "overgedragen", "betwist", "kwijtgescholden")
#: the aanslag statuses that are still a claim (listed by ``list_claims``)
OPEN_STATUSES = ("open", "overgedragen", "betwist")


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

debiteuren = Table(
    "debiteuren",
    metadata,
    Column("debiteur_id", Integer, primary_key=True),
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
    Column("partner_id", Integer, ForeignKey("debiteuren.debiteur_id"), nullable=True),
    CheckConstraint(_in("geslacht", ("M", "V", "X")), name="ck_debiteuren_geslacht"),
)

regelingen = Table(
    "regelingen",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("debiteur_id", Integer, ForeignKey("debiteuren.debiteur_id"), nullable=False),
    Column("type", String(10), nullable=False),
    Column("datum_akkoord", Date, nullable=False),
    Column("claims", JSON, nullable=False),
    Column("vastgelegd_op", DateTime, nullable=False),
)

afboekingen = Table(
    "afboekingen",
    metadata,
    Column("write_off_id", String(36), primary_key=True),
    Column("debiteur_id", Integer, ForeignKey("debiteuren.debiteur_id"), nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("aanslagnummers", JSON, nullable=False),
    Column("bedrag", Bedrag, nullable=False),
    Column("datum", Date, nullable=False),
    Column("reden", String(60), nullable=False),
    Column("bedragen", JSON, nullable=False),
    Column("niet_afgeboekt", JSON, nullable=False),
    Column("detail", String(2000), nullable=False),
    Column("geboekt_op", DateTime, nullable=False),
)

aanslagen = Table(
    "aanslagen",
    metadata,
    Column("aanslagnummer", String(30), primary_key=True),
    Column("debiteur_id", Integer, ForeignKey("debiteuren.debiteur_id"), nullable=False),
    Column("belastingsoort", String(30), nullable=False),
    Column("belastingjaar", Integer, nullable=False),
    Column("dagtekening", Date, nullable=False),
    Column("oorspronkelijk_bedrag", Bedrag, nullable=False),
    Column("betaald", Bedrag, nullable=False),
    Column("invorderingsrente", Bedrag, nullable=False),
    Column("kosten", Bedrag, nullable=False),
    Column("status", String(20), nullable=False),
    Column("overgedragen_aan", String(120), nullable=True),
    Column("aanmaning_datum", Date, nullable=True),
    Column("dwangbevel_datum", Date, nullable=True),
    #: receipt date of a kwijtscheldingsverzoek not yet decided (E18); NULL when none is pending
    Column("kwijtschelding_aangevraagd", Date, nullable=True),
    #: the regeling (its conversation id) the aanslag is included in; the status stays open
    Column("in_regeling", String(36), ForeignKey("regelingen.conversation_id"), nullable=True),
    CheckConstraint(_in("belastingsoort", BELASTINGSOORTEN), name="ck_aanslagen_soort"),
    CheckConstraint(_in("status", STATUSES), name="ck_aanslagen_status"),
)

opschortingen = Table(
    "opschortingen",
    metadata,
    Column("hold_id", String(36), primary_key=True),
    Column("debiteur_id", Integer, ForeignKey("debiteuren.debiteur_id"), nullable=False),
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

maatregelen = Table(
    "maatregelen",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("aanslagnummer", String(30), ForeignKey("aanslagen.aanslagnummer"), nullable=False),
    Column("code", String(20), nullable=False),
    Column("actief", Boolean, nullable=False),
    Column("sinds", Date, nullable=False),
    Column("opgeschort_door", String(36), ForeignKey("opschortingen.hold_id"), nullable=True),
    CheckConstraint(_in("code", tuple(m.value for m in MeasureCode)), name="ck_maatregelen_code"),
)

# Indexes for the adapter's lookups: the foreign keys it follows, and the forms in which it
# compares klantnummers and aanslagnummers (``upper(klantnummer)``; the SQL twin of
# ``normalise_factuurnummer``). Performance only: a back-office without them gives the same
# answers, by scanning.
Index("ix_debiteuren_klantnummer_upper", func.upper(debiteuren.c.klantnummer))
Index("ix_aanslagen_debiteur_id", aanslagen.c.debiteur_id)
Index(
    "ix_aanslagen_aanslagnummer_genormaliseerd",
    func.upper(
        func.replace(
            func.replace(func.replace(aanslagen.c.aanslagnummer, " ", ""), ".", ""), "-", ""
        )
    ),
)
Index("ix_maatregelen_aanslagnummer", maatregelen.c.aanslagnummer)
Index("ix_maatregelen_opgeschort_door", maatregelen.c.opgeschort_door)
Index("ix_opschortingen_debiteur_id", opschortingen.c.debiteur_id)

#: every table the adapter uses, those an aanslag refers to before it
TABLES = ("debiteuren", "regelingen", "afboekingen", "aanslagen", "maatregelen", "opschortingen")
#: columns added to ``aanslagen`` after the first schema (``upgrade_database`` adds them)
ADDED_COLUMNS = {
    "kwijtschelding_aangevraagd": "DATE",
    "in_regeling": "VARCHAR(36) REFERENCES regelingen (conversation_id)",
}


_SEPARATORS = re.compile(r"[\s.\-]+")


def normalise_factuurnummer(value: str) -> str:
    """An aanslagnummer as compared: upper case, without spaces, dots and dashes."""
    return _SEPARATORS.sub("", value).upper()


def normalise_postcode(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def elfproef(bsn: str) -> bool:
    """True when ``bsn`` is nine digits that pass the BSN elfproef."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True))
    return (total - int(bsn[8])) % 11 == 0


def synthetic_bsns() -> list[str]:
    """Numbers in the 99999xxxx test range that pass the elfproef, computed, in order."""
    found: list[str] = []
    for n in range(1, 1000):
        stem = f"99999{n:03d}"
        check = sum(int(d) * w for d, w in zip(stem, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            found.append(f"{stem}{check}")
    return found


# -- the synthetic data -------------------------------------------------------------------------


@dataclass
class _Aanslag:
    nummer: str
    soort: str
    jaar: int
    dagtekening: date
    bedrag: str
    betaald: str = "0.00"
    rente: str = "0.00"
    kosten: str = "0.00"
    status: str = "open"
    overgedragen_aan: str | None = None
    aanmaning: date | None = None
    dwangbevel: date | None = None
    #: receipt date of a pending kwijtscheldingsverzoek
    kwijtschelding: date | None = None
    #: (code, actief, sinds)
    maatregelen: list[tuple[MeasureCode, bool, date]] = field(default_factory=list)


@dataclass
class _Debiteur:
    debiteur_id: int
    klantnummer: str
    person: SamplePerson
    straatnaam: str
    huisnummer: int
    postcode: str
    woonplaats: str
    aanslagen: list[_Aanslag]
    partner_id: int | None = None


DEURWAARDER = "Deurwaarderskantoor Voorbeeld & Partners (fictief)"
_D25 = date(2025, 2, 28)
_D24 = date(2024, 2, 29)
_D23 = date(2023, 2, 28)

_VOLUME_NAMES = (
    ("Visser", "V", "L.", "Lotte"),
    ("Bos", "M", "T.", "Thijs"),
    ("Mulder", "V", "S.", "Sanne"),
    ("Meijer", "M", "R.", "Ruben"),
    ("Dekker", "V", "E.", "Eva"),
    ("Brouwer", "M", "D.", "Daan"),
    ("Hendriks", "X", "N.", "Noa"),
    ("Dijkstra", "V", "F.", "Fleur"),
    ("Kok", "M", "B.", "Bram"),
    ("Jacobs", "V", "I.", "Iris"),
    ("Vos", "M", "M.", "Milan"),
    ("Peters", "V", "J.", "Julia"),
    ("Willems", "M", "S.", "Sem"),
    ("Koster", "V", "L.", "Lisa"),
    ("Prins", "M", "L.", "Luuk"),
    ("Huisman", "V", "E.", "Emma"),
    ("Graaf", "M", "F.", "Finn"),
    ("Kuipers", "V", "T.", "Tess"),
    ("Veenstra", "M", "J.", "Jesse"),
    ("Schouten", "V", "A.", "Anna"),
)

_LETTERS = "ABCEGHJKLMNPRSTVWXZ"

_TARIEVEN = {
    "OZB": ("298.45", "455.80", "512.00", "367.15"),
    "afvalstoffenheffing": ("389.40", "301.20"),
    "rioolheffing": ("221.16",),
    "hondenbelasting": ("132.00", "118.80"),
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


def _known_debtors(bsns: list[str]) -> tuple[list[_Debiteur], list[SampleDebtor]]:
    a = _Debiteur(
        1,
        "100001",
        _person(bsns[0], "Jansen-Voorbeeld", "M", "J.P.", "Jan Pieter", date(1978, 3, 14)),
        "Voorbeeldstraat",
        12,
        "1234AB",
        "Voorbeeldstad",
        [
            _Aanslag(
                "2024.000101",
                "OZB",
                2024,
                _D24,
                "412.37",
                betaald="100.00",
                rente="8.15",
                kosten="55.50",
                aanmaning=date(2024, 5, 2),
                dwangbevel=date(2024, 6, 13),
                maatregelen=[
                    (MeasureCode.AANMANING, False, date(2024, 5, 2)),
                    (MeasureCode.DWANGBEVEL, True, date(2024, 6, 13)),
                    (MeasureCode.BESLAG_BANK, True, date(2024, 9, 3)),
                    (MeasureCode.RENTE, True, date(2024, 6, 13)),
                ],
            ),
            _Aanslag(
                "2025.000102",
                "afvalstoffenheffing",
                2025,
                _D25,
                "389.40",
                rente="2.10",
                kosten="7.50",
                aanmaning=date(2025, 5, 8),
                maatregelen=[
                    (MeasureCode.AANMANING, True, date(2025, 5, 8)),
                    (MeasureCode.RENTE, True, date(2025, 5, 8)),
                ],
            ),
            _Aanslag(
                "2025.000103", "rioolheffing", 2025, _D25, "221.16", "221.16", status="betaald"
            ),
            _Aanslag("2025.000104", "OZB", 2025, _D25, "455.80", betaald="150.00"),
        ],
    )
    b = _Debiteur(
        2,
        "100002",
        _person(
            bsns[1], "Vries-Voorbeeld", "V", "M.E.", "Maria Elisabeth", date(1985, 11, 2), "de"
        ),
        "Proefweg",
        7,
        "2345BC",
        "Voorbeeldstad",
        [
            _Aanslag(
                "2025.000121",
                "afvalstoffenheffing",
                2025,
                _D25,
                "389.40",
                betaald="129.80",
                kosten="7.50",
                aanmaning=date(2025, 5, 8),
                maatregelen=[
                    (MeasureCode.AANMANING, True, date(2025, 5, 8)),
                    (MeasureCode.VERREKENING, True, date(2025, 6, 2)),
                ],
            ),
            _Aanslag("2025.000122", "hondenbelasting", 2025, _D25, "132.00", status="betwist"),
        ],
        partner_id=3,
    )
    b_partner = _Debiteur(
        3,
        "100003",
        _person(bsns[2], "Bakker-Voorbeeld", "M", "K.", "Kees", date(1983, 6, 21)),
        "Proefweg",
        7,
        "2345BC",
        "Voorbeeldstad",
        [_Aanslag("2025.000123", "OZB", 2025, _D25, "298.45")],
        partner_id=2,
    )
    c = _Debiteur(
        4,
        "100004",
        _person(bsns[3], "Pietersen-Voorbeeld", "M", "A.", "Arend", date(1969, 8, 30)),
        "Dorpsplein",
        3,
        "3456CD",
        "Proefdorp",
        [
            _Aanslag(
                "2024.000131",
                "OZB",
                2024,
                _D24,
                "615.20",
                betaald="200.00",
                rente="14.60",
                kosten="96.00",
                aanmaning=date(2024, 5, 2),
                dwangbevel=date(2024, 6, 13),
                maatregelen=[
                    (MeasureCode.AANMANING, False, date(2024, 5, 2)),
                    (MeasureCode.DWANGBEVEL, True, date(2024, 6, 13)),
                    (MeasureCode.BESLAG_LOON, True, date(2024, 10, 1)),
                    (MeasureCode.RENTE, True, date(2024, 6, 13)),
                ],
            ),
            _Aanslag("2025.000132", "afvalstoffenheffing", 2025, _D25, "389.40"),
            _Aanslag(
                "2023.000133", "rioolheffing", 2023, _D23, "214.92", "214.92", status="betaald"
            ),
        ],
    )
    d = _Debiteur(
        5,
        "100005",
        _person(bsns[4], "Smit-Voorbeeld", "V", "H.", "Hendrika", date(1958, 1, 25)),
        "Kanaalkade",
        44,
        "4567DE",
        "Voorbeeldstad",
        [
            _Aanslag(
                "2023.000141",
                "OZB",
                2023,
                _D23,
                "512.00",
                rente="41.35",
                kosten="148.90",
                status="overgedragen",
                overgedragen_aan=DEURWAARDER,
                aanmaning=date(2023, 5, 4),
                dwangbevel=date(2023, 6, 15),
                maatregelen=[
                    (MeasureCode.AANMANING, False, date(2023, 5, 4)),
                    (MeasureCode.DWANGBEVEL, True, date(2023, 6, 15)),
                    (MeasureCode.DEURWAARDER, True, date(2023, 9, 1)),
                    (MeasureCode.KOSTEN, True, date(2023, 9, 1)),
                    (MeasureCode.RENTE, True, date(2023, 6, 15)),
                ],
            ),
            _Aanslag("2025.000142", "rioolheffing", 2025, _D25, "221.16"),
        ],
    )

    def sample(
        deb: _Debiteur, factuurnummers: tuple[str, ...], partner: _Debiteur | None = None
    ) -> SampleDebtor:
        return SampleDebtor(
            klantnummer_se=deb.klantnummer,
            person=deb.person,
            partner=partner.person if partner else None,
            straatnaam=deb.straatnaam,
            huisnummer=deb.huisnummer,
            postcode=deb.postcode,
            woonplaats=deb.woonplaats,
            factuurnummers=factuurnummers,
        )

    samples = [
        sample(a, ("2024.000101", "2025.000102", "2025.000104")),
        sample(b, ("2025.000121", "2025.000122"), partner=b_partner),
        # what an SHV knows: two real aanslagnummers and one the back-office never issued
        sample(c, ("2024.000131", "2025.000132", "2023.000139")),
        sample(d, ("2023.000141", "2025.000142")),
    ]
    return [a, b, b_partner, c, d], samples


def _later_debtors(bsns: list[str]) -> list[_Debiteur]:
    """Debtors added after the first sample; not in ``SampleBackOffice.debtors`` (an SHV does
    not know them from the sample), so that the known debtors and the volume stay as they were.

    100006: a kwijtscheldingsverzoek pending on the afvalstoffenheffing 2025, and a
    hondenbelasting 2025 assessed in August 2025 (a new aanslag for a regeling agreed
    before it: never part of that regeling, never written off with it).
    """
    return [
        _Debiteur(
            6,
            "100006",
            _person(bsns[0], "Hoekstra-Voorbeeld", "V", "W.", "Willemijn", date(1991, 4, 17)),
            "Stationsweg",
            21,
            "5678EF",
            "Proefdorp",
            [
                _Aanslag(
                    "2024.000151",
                    "OZB",
                    2024,
                    _D24,
                    "367.15",
                    betaald="67.15",
                    rente="6.40",
                    kosten="55.50",
                    aanmaning=date(2024, 5, 2),
                    dwangbevel=date(2024, 6, 13),
                    maatregelen=[
                        (MeasureCode.AANMANING, False, date(2024, 5, 2)),
                        (MeasureCode.DWANGBEVEL, True, date(2024, 6, 13)),
                        (MeasureCode.RENTE, True, date(2024, 6, 13)),
                    ],
                ),
                _Aanslag(
                    "2025.000152",
                    "afvalstoffenheffing",
                    2025,
                    _D25,
                    "301.20",
                    kwijtschelding=date(2025, 4, 3),
                ),
                _Aanslag("2025.000153", "hondenbelasting", 2025, date(2025, 8, 29), "118.80"),
            ],
        )
    ]


def _volume_debtors(bsns: list[str]) -> list[_Debiteur]:
    rng = random.Random(20250228)
    result: list[_Debiteur] = []
    for i, (name, geslacht, voorletters, voornaam) in enumerate(_VOLUME_NAMES):
        debiteur_id = 101 + i
        person = _person(
            bsns[i],
            f"{name}-Voorbeeld",
            geslacht,
            voorletters,
            voornaam,
            date(1950 + rng.randrange(50), 1 + rng.randrange(12), 1 + rng.randrange(28)),
        )
        items: list[_Aanslag] = []
        seq = 1
        for soort in BELASTINGSOORTEN:
            if soort == "hondenbelasting" and rng.random() < 0.7:
                continue
            if soort == "OZB" and rng.random() < 0.4:
                continue
            bedrag = Decimal(rng.choice(_TARIEVEN[soort]))
            nummer = f"2025.{debiteur_id:04d}{seq:02d}"
            seq += 1
            if rng.random() < 0.45:
                items.append(
                    _Aanslag(nummer, soort, 2025, _D25, str(bedrag), str(bedrag), status="betaald")
                )
                continue
            betaald = (bedrag * Decimal(rng.choice((0, 0, 25, 50))) / 100).quantize(Decimal("0.01"))
            late = rng.random() < 0.5
            items.append(
                _Aanslag(
                    nummer,
                    soort,
                    2025,
                    _D25,
                    str(bedrag),
                    str(betaald),
                    rente="1.85" if late else "0.00",
                    kosten="7.50" if late else "0.00",
                    aanmaning=date(2025, 5, 8) if late else None,
                    maatregelen=[(MeasureCode.AANMANING, True, date(2025, 5, 8))] if late else [],
                )
            )
        result.append(
            _Debiteur(
                debiteur_id,
                f"{100100 + i + 1}",
                person,
                rng.choice(("Voorbeeldlaan", "Proefstraat", "Testsingel", "Fictiefhof")),
                1 + rng.randrange(180),
                f"{5000 + rng.randrange(4000)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}",
                "Voorbeeldstad",
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
    """Write ``gemeentebelastingen.db`` in ``directory`` (replacing it) with the synthetic data.

    The database is in WAL journal mode, as the adapter keeps it.

    Returns the database path and the known debtors, as an SHV would know them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / SAMPLE_FILENAME).resolve()
    for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        stale.unlink(missing_ok=True)
    bsns = synthetic_bsns()
    known, samples = _known_debtors(bsns[:5])
    everyone = known + _volume_debtors(bsns[5:25]) + _later_debtors(bsns[25:])
    _create_in_wal_mode(path)
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(str(path), check_same_thread=False)
    )
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for deb in everyone:
                p = deb.person
                conn.execute(
                    insert(debiteuren).values(
                        debiteur_id=deb.debiteur_id,
                        klantnummer=deb.klantnummer,
                        bsn=p.bsn,
                        geslacht=p.geslacht,
                        voorletters=p.voorletters,
                        voornamen=p.voornamen,
                        voorvoegsel=p.voorvoegsel,
                        achternaam=p.achternaam,
                        geboortedatum=p.geboortedatum,
                        straatnaam=deb.straatnaam,
                        huisnummer=deb.huisnummer,
                        postcode=deb.postcode,
                        woonplaats=deb.woonplaats,
                        partner_id=None,
                    )
                )
            for deb in everyone:
                if deb.partner_id is not None:
                    conn.execute(
                        debiteuren.update()
                        .where(debiteuren.c.debiteur_id == deb.debiteur_id)
                        .values(partner_id=deb.partner_id)
                    )
                for a in deb.aanslagen:
                    conn.execute(
                        insert(aanslagen).values(
                            aanslagnummer=a.nummer,
                            debiteur_id=deb.debiteur_id,
                            belastingsoort=a.soort,
                            belastingjaar=a.jaar,
                            dagtekening=a.dagtekening,
                            oorspronkelijk_bedrag=Decimal(a.bedrag),
                            betaald=Decimal(a.betaald),
                            invorderingsrente=Decimal(a.rente),
                            kosten=Decimal(a.kosten),
                            status=a.status,
                            overgedragen_aan=a.overgedragen_aan,
                            aanmaning_datum=a.aanmaning,
                            dwangbevel_datum=a.dwangbevel,
                            kwijtschelding_aangevraagd=a.kwijtschelding,
                            in_regeling=None,
                        )
                    )
                    for code, actief, sinds in a.maatregelen:
                        conn.execute(
                            insert(maatregelen).values(
                                aanslagnummer=a.nummer,
                                code=code.value,
                                actief=actief,
                                sinds=sinds,
                                opgeschort_door=None,
                            )
                        )
    finally:
        engine.dispose()
    return path, tuple(samples)


def missing_schema(query: Callable[[str], Iterable[Sequence[Any]]]) -> tuple[list[str], list[str]]:
    """The tables of ``TABLES`` and the added ``aanslagen`` columns a database lacks.

    ``query`` runs one SQL statement on the database and returns its rows.
    """
    present = {r[0] for r in query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in TABLES if t not in present]
    columns: list[str] = []
    if "aanslagen" in present:
        have = {r[1] for r in query("PRAGMA table_info(aanslagen)")}
        columns = [f"aanslagen.{c}" for c in ADDED_COLUMNS if c not in have]
    return tables, columns


def upgrade_database(path: Path) -> list[str]:
    """Bring a back-office made by an earlier version of this sample up to the schema.

    Adds the missing tables (``regelingen``, ``afboekingen``) and ``aanslagen`` columns,
    changing no data; running it again changes nothing. Returns what it added. A database
    without the first four tables is not this back-office and is refused (ValueError).
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables, columns = missing_schema(lambda sql: list(conn.execute(sql)))
            core = [t for t in tables if t not in ("regelingen", "afboekingen")]
            if core:
                raise ValueError(f"not a gemeentebelastingen back-office (lacks {', '.join(core)})")
            for table in tables:
                # rendered exactly as metadata.create_all renders it
                ddl = CreateTable(metadata.tables[table]).compile(dialect=sqlite.dialect())
                conn.execute(str(ddl))
            for column in columns:
                name = column.split(".", 1)[1]
                conn.execute(f"ALTER TABLE aanslagen ADD COLUMN {name} {ADDED_COLUMNS[name]}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return [*tables, *columns]
