"""The sample back-office of a CJIB-style public collector: schema, law, synthetic data.

The schema is documented, table by table, in this plugin's README.md, with the law
it reflects (its sources: the README's "The law it reflects", docs/sources.md). In short:

- a **Wahv** sanction (Wet Mulder traffic fine) is increased by 50 % with the first
  aanmaning and by another 100 % with the second, the second computed on the
  sanction plus the first increase, so that €100 becomes €300; it is saneerbaar;
- a **criminal-law money sanction** (geldboete by vonnis, schadevergoedingsmaatregel,
  ontnemingsmaatregel) and a **European fine** may be included in a schuldregeling
  since 1 December 2020, but their remainder stays payable: they are niet-saneerbaar;
- a **noodstop** (Wahv art. 23 lid 2) suspends collection and adds no verhogingen.

``escalate(path, now)`` is the back-office's own surcharge run: it applies the
verhogingen that are due, except on a sanction that a hold, a noodstop or an
agreed regeling covers.

Every person in the sample is made up: names end in "-Voorbeeld", BSNs are computed
in the 99999xxxx test range so that they pass the elfproef, and the data is the same
on every run.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.types import TypeDecorator

from skn_connector.adapters.api import MeasureCode, SampleDebtor, SamplePerson

SAMPLE_FILENAME = "cjib.db"

#: what a zaak is: a Wahv beschikking, or a criminal-law (or European) money sanction
SOORTEN = ("wahv", "geldboete_vonnis", "schadevergoedingsmaatregel", "ontneming", "europese_boete")
#: the sanctions whose remainder stays payable after a schuldregeling (and a Wsnp):
#: not written off, ever [CJIB-NIET-SANEERBAAR] [FW-art-358]
NIET_SANEERBAAR = frozenset(SOORTEN) - {"wahv"}
STATUSES = ("open", "betwist", "overgedragen", "betaald", "afgeboekt")
#: the zaak statuses that are still a claim (listed by ``list_claims``)
OPEN_STATUSES = ("open", "overgedragen", "betwist")
NOODSTOP_BRONNEN = ("skn", "gemeente", "betrokkene")
REGELING_STATUSES = ("actief", "geslaagd", "beeindigd")

#: Wahv art. 23: the increase with the 1st and the 2nd aanmaning, in percent of the
#: sanction plus the increases before it (€100 -> €150 -> €300)
VERHOGING_PERCENTAGES = {1: Decimal(50), 2: Decimal(100)}
#: the payment term an aanmaning gives (and the fresh term after a hold ends)
TERMIJN_AANMANING = timedelta(weeks=4)
#: measures that show a deurwaarder or a dwangmiddel has been deployed on a zaak; after
#: that the CJIB offers no regeling any more [CJIB-BETALEN-IN-DELEN]
INGEZET = frozenset(
    {MeasureCode.DEURWAARDER, MeasureCode.DWANGBEVEL, MeasureCode.GIJZELING, MeasureCode.RIJBEWIJS}
)
#: what a noodstop suspends: escalation (incl. verhogingen) and the freedom measures;
#: a running beslag stays (this adapter's reading of [CJIB-NOODSTOP])
NOODSTOP_STOPT = frozenset(
    {
        MeasureCode.AANMANING,
        MeasureCode.DWANGBEVEL,
        MeasureCode.HERNIEUWD_BEVEL,
        MeasureCode.KOSTEN,
        MeasureCode.DEURWAARDER,
        MeasureCode.VERHOGING,
        MeasureCode.GIJZELING,
        MeasureCode.RIJBEWIJS,
    }
)

CENT = Decimal("0.01")


class Bedrag(TypeDecorator[Decimal]):
    """An amount in euros, stored exactly as a decimal string ("123.45")."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(Decimal(value).quantize(CENT))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(CENT)


class Getal(TypeDecorator[Decimal]):
    """An exact decimal (a percentage), stored as written ("12.3456")."""

    impl = String(30)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData()

betrokkenen = Table(
    "betrokkenen",
    metadata,
    Column("betrokkene_id", Integer, primary_key=True),
    Column("betrokkenenummer", String(20), nullable=False, unique=True),
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
    CheckConstraint(_in("geslacht", ("M", "V", "X")), name="ck_betrokkenen_geslacht"),
)

opschortingen = Table(
    "opschortingen",
    metadata,
    Column("hold_id", String(36), primary_key=True),
    Column("betrokkene_id", Integer, ForeignKey("betrokkenen.betrokkene_id"), nullable=False),
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

afboekingen = Table(
    "afboekingen",
    metadata,
    Column("write_off_id", String(36), primary_key=True),
    Column("betrokkene_id", Integer, ForeignKey("betrokkenen.betrokkene_id"), nullable=False),
    Column("reden", String(60), nullable=False),
    Column("datum", Date, nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("bedrag", Bedrag, nullable=False),
    Column("vastgelegd_op", DateTime, nullable=False),
    Column("resultaat", JSON, nullable=False),
)

zaken = Table(
    "zaken",
    metadata,
    Column("zaaknummer", String(30), primary_key=True),
    Column("betrokkene_id", Integer, ForeignKey("betrokkenen.betrokkene_id"), nullable=False),
    Column("soort", String(30), nullable=False),
    Column("datum_onherroepelijk", Date, nullable=False),
    Column("sanctie", Bedrag, nullable=False),
    Column("verhoging_stap", Integer, nullable=False),
    Column("verhogingen", Bedrag, nullable=False),
    Column("volgende_verhoging_op", Date, nullable=True),
    Column("administratiekosten", Bedrag, nullable=False),
    Column("vervolgingskosten", Bedrag, nullable=False),
    Column("betaald", Bedrag, nullable=False),
    Column("afgeboekt", Bedrag, nullable=False),
    Column("afgeboekt_door", String(36), ForeignKey("afboekingen.write_off_id"), nullable=True),
    Column("status", String(20), nullable=False),
    Column("overgedragen_aan", String(120), nullable=True),
    Column("saneerbaar", Boolean, nullable=False),
    CheckConstraint(_in("soort", SOORTEN), name="ck_zaken_soort"),
    CheckConstraint(_in("status", STATUSES), name="ck_zaken_status"),
    CheckConstraint("verhoging_stap BETWEEN 0 AND 2", name="ck_zaken_verhoging_stap"),
    CheckConstraint("soort = 'wahv' OR verhoging_stap = 0", name="ck_zaken_verhoging_wahv"),
    # the law, not a setting: only a Wahv sanction is saneerbaar [CJIB-NIET-SANEERBAAR]
    CheckConstraint(
        "saneerbaar = CASE WHEN soort = 'wahv' THEN 1 ELSE 0 END", name="ck_zaken_saneerbaar"
    ),
)

maatregelen = Table(
    "maatregelen",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zaaknummer", String(30), ForeignKey("zaken.zaaknummer"), nullable=False),
    Column("code", String(20), nullable=False),
    Column("actief", Boolean, nullable=False),
    Column("sinds", Date, nullable=False),
    Column("beeindigd_op", Date, nullable=True),
    Column("opgeschort_door", String(36), ForeignKey("opschortingen.hold_id"), nullable=True),
    CheckConstraint(_in("code", (m.value for m in MeasureCode)), name="ck_maatregelen_code"),
)

noodstops = Table(
    "noodstops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("betrokkene_id", Integer, ForeignKey("betrokkenen.betrokkene_id"), nullable=False),
    Column("hold_id", String(36), ForeignKey("opschortingen.hold_id"), nullable=True, unique=True),
    Column("bron", String(20), nullable=False),
    Column("begint", Date, nullable=False),
    Column("eindigt", Date, nullable=True),
    #: the zaaknummers it covers; NULL = every zaak of the betrokkene, also later ones
    Column("zaken", JSON(none_as_null=True), nullable=True),
    Column("beeindigd_op", Date, nullable=True),
    CheckConstraint(_in("bron", NOODSTOP_BRONNEN), name="ck_noodstops_bron"),
)

regelingen = Table(
    "regelingen",
    metadata,
    Column("regeling_id", String(36), primary_key=True),
    Column("betrokkene_id", Integer, ForeignKey("betrokkenen.betrokkene_id"), nullable=False),
    Column("type_schuldregeling", String(40), nullable=False),
    Column("datum_akkoord", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("vastgelegd_op", DateTime, nullable=False),
    CheckConstraint(_in("status", REGELING_STATUSES), name="ck_regelingen_status"),
)

regeling_zaken = Table(
    "regeling_zaken",
    metadata,
    Column("regeling_id", String(36), ForeignKey("regelingen.regeling_id"), nullable=False),
    Column("zaaknummer", String(30), ForeignKey("zaken.zaaknummer"), nullable=False),
    Column("actueel_vorderingsbedrag", Bedrag, nullable=False),
    Column("afkooppercentage", Getal, nullable=False),
    Column("prognose_eindbedrag", Bedrag, nullable=False),
    Column("restant_blijft_verschuldigd", Boolean, nullable=False),
    PrimaryKeyConstraint("regeling_id", "zaaknummer"),
)

# Indexes for the adapter's lookups: the foreign keys it follows, and the forms in which it
# compares betrokkenenummers and zaaknummers (``upper(betrokkenenummer)``; the SQL twin of
# ``normalise_factuurnummer``). Performance only: a back-office without them gives the same
# answers, by scanning.
Index("ix_betrokkenen_betrokkenenummer_upper", func.upper(betrokkenen.c.betrokkenenummer))
Index("ix_zaken_betrokkene_id", zaken.c.betrokkene_id)
_zaaknummer: ColumnElement[str] = zaken.c.zaaknummer
for _separator in (" ", ".", "/", "-", "_"):
    _zaaknummer = func.replace(_zaaknummer, _separator, "")
Index("ix_zaken_zaaknummer_genormaliseerd", func.upper(_zaaknummer))
Index("ix_maatregelen_zaaknummer", maatregelen.c.zaaknummer)
Index("ix_maatregelen_opgeschort_door", maatregelen.c.opgeschort_door)
Index("ix_noodstops_betrokkene_id", noodstops.c.betrokkene_id)
Index("ix_opschortingen_betrokkene_id", opschortingen.c.betrokkene_id)

TABLES = (
    "betrokkenen",
    "zaken",
    "maatregelen",
    "noodstops",
    "opschortingen",
    "regelingen",
    "regeling_zaken",
    "afboekingen",
)


# -- the law in numbers ------------------------------------------------------------------------


def verhoging(sanctie: Decimal, eerdere_verhogingen: Decimal, stap: int) -> Decimal:
    """The Wahv increase of aanmaning ``stap`` (1 or 2), on the sanction plus earlier increases."""
    pct = VERHOGING_PERCENTAGES[stap]
    return ((sanctie + eerdere_verhogingen) * pct / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def verhogingen_na(sanctie: Decimal, stap: int) -> Decimal:
    """All Wahv increases after ``stap`` aanmaningen: €100 -> 0, 50, 200."""
    total = Decimal("0.00")
    for n in range(1, stap + 1):
        total += verhoging(sanctie, total, n)
    return total


def saneerbaar(soort: str) -> bool:
    """Only a Wahv sanction is saneerbaar; criminal-law and European sanctions are not."""
    return soort not in NIET_SANEERBAAR


@dataclass(frozen=True)
class Bedragen:
    """A zaak's amounts as a claim: payments go to sanction and increases first, then costs."""

    hoofdsom: Decimal
    kosten: Decimal

    @property
    def openstaand(self) -> Decimal:
        return self.hoofdsom + self.kosten


def bedragen(row: Any) -> Bedragen:
    """The open amounts of a ``zaken`` row (anything with its amount columns)."""
    verschuldigd: Decimal = row.sanctie + row.verhogingen
    kosten: Decimal = row.administratiekosten + row.vervolgingskosten
    betaald: Decimal = row.betaald + row.afgeboekt
    op_hoofdsom = min(betaald, verschuldigd)
    op_kosten = min(betaald - op_hoofdsom, kosten)
    return Bedragen(hoofdsom=verschuldigd - op_hoofdsom, kosten=kosten - op_kosten)


_SEPARATORS = re.compile(r"[\s./\-_]+")


def normalise_factuurnummer(value: str) -> str:
    """A zaaknummer as compared: upper case, without spaces, dots, slashes, dashes, underscores."""
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

    The sample starts at 999995xxx so that its people are not those of the other
    reference back-offices (which start at 999990xxx).
    """
    found: list[str] = []
    for n in range(start, 1000):
        stem = f"99999{n:03d}"
        check = sum(int(d) * w for d, w in zip(stem, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            found.append(f"{stem}{check}")
    return found


# -- the surcharge run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verhoging:
    """One increase ``escalate`` applied (no personal data: a zaaknummer and amounts)."""

    zaaknummer: str
    stap: int
    bedrag: Decimal
    verhogingen: Decimal
    volgende_verhoging_op: date | None


def noodstop_covers(row: Any, zaaknummer: str, day: date) -> bool:
    """Whether a ``noodstops`` row is in force on ``day`` for ``zaaknummer``."""
    if row.beeindigd_op is not None or row.begint > day:
        return False
    if row.eindigt is not None and row.eindigt < day:
        return False
    return row.zaken is None or zaaknummer in row.zaken


def escalate_connection(conn: Connection, now: date) -> list[Verhoging]:
    """Apply, within ``conn``'s transaction, every Wahv increase due on ``now``.

    A zaak gets its next increase when it is open, has something open, its surcharge
    run (the ``VERHOGING`` measure) is active and not suspended by a hold, its term
    (``volgende_verhoging_op``) has passed, no noodstop is in force for it and no
    active regeling includes it. Each increase comes with its aanmaning
    (an ``AANMANING`` measure; the earlier one is superseded). After the second the
    run is complete.
    """
    rows = conn.execute(
        select(zaken, maatregelen.c.id.label("run_id"), maatregelen.c.opgeschort_door)
        .join(maatregelen, maatregelen.c.zaaknummer == zaken.c.zaaknummer)
        .where(
            zaken.c.soort == "wahv",
            zaken.c.status == "open",
            zaken.c.verhoging_stap < 2,
            zaken.c.volgende_verhoging_op.is_not(None),
            zaken.c.volgende_verhoging_op <= now,
            maatregelen.c.code == MeasureCode.VERHOGING.value,
            maatregelen.c.actief.is_(True),
        )
        .order_by(zaken.c.zaaknummer)
    ).all()
    if not rows:
        return []
    betrokkene_ids = sorted({r.betrokkene_id for r in rows})
    stops = conn.execute(
        select(noodstops).where(noodstops.c.betrokkene_id.in_(betrokkene_ids))
    ).all()
    in_regeling = {
        nummer
        for (nummer,) in conn.execute(
            select(regeling_zaken.c.zaaknummer)
            .join(regelingen, regelingen.c.regeling_id == regeling_zaken.c.regeling_id)
            .where(regelingen.c.status == "actief")
        )
    }
    done: list[Verhoging] = []
    for row in rows:
        if row.opgeschort_door is not None or row.zaaknummer in in_regeling:
            continue
        if any(
            s.betrokkene_id == row.betrokkene_id and noodstop_covers(s, row.zaaknummer, now)
            for s in stops
        ):
            continue
        if bedragen(row).openstaand <= 0:
            continue
        stap = row.verhoging_stap + 1
        bedrag = verhoging(row.sanctie, row.verhogingen, stap)
        volgende = now + TERMIJN_AANMANING if stap < 2 else None
        conn.execute(
            update(zaken)
            .where(zaken.c.zaaknummer == row.zaaknummer)
            .values(
                verhoging_stap=stap,
                verhogingen=row.verhogingen + bedrag,
                volgende_verhoging_op=volgende,
            )
        )
        conn.execute(
            update(maatregelen)
            .where(
                maatregelen.c.zaaknummer == row.zaaknummer,
                maatregelen.c.code == MeasureCode.AANMANING.value,
                maatregelen.c.actief.is_(True),
            )
            .values(actief=False, beeindigd_op=now)
        )
        conn.execute(
            insert(maatregelen).values(
                zaaknummer=row.zaaknummer,
                code=MeasureCode.AANMANING.value,
                actief=True,
                sinds=now,
                beeindigd_op=None,
                opgeschort_door=None,
            )
        )
        if stap == 2:
            conn.execute(
                update(maatregelen)
                .where(maatregelen.c.id == row.run_id)
                .values(actief=False, beeindigd_op=now)
            )
        done.append(Verhoging(row.zaaknummer, stap, bedrag, row.verhogingen + bedrag, volgende))
    return done


def escalate(path: Path, now: date, *, timeout_seconds: float = 5.0) -> list[Verhoging]:
    """The back-office's surcharge run on the database at ``path``: see ``escalate_connection``.

    Runs in one ``BEGIN IMMEDIATE`` transaction; the database must exist.
    """
    with _engine(path, timeout_seconds) as engine, engine.begin() as conn:
        return escalate_connection(conn, now)


@contextmanager
def _engine(path: Path, timeout_seconds: float) -> Iterator[Engine]:
    uri = f"{path.absolute().as_uri()}?mode=rw"
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=timeout_seconds, isolation_level=None, check_same_thread=False
        ),
        hide_parameters=True,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        yield engine
    finally:
        engine.dispose()


# -- the synthetic data -------------------------------------------------------------------------


@dataclass
class _Zaak:
    nummer: str
    soort: str
    onherroepelijk: date
    sanctie: str
    stap: int = 0
    volgende: date | None = None
    administratiekosten: str = "0.00"
    vervolgingskosten: str = "0.00"
    betaald: str = "0.00"
    status: str = "open"
    overgedragen_aan: str | None = None
    #: (code, actief, sinds)
    maatregelen: list[tuple[MeasureCode, bool, date]] = field(default_factory=list)


@dataclass
class _Betrokkene:
    betrokkene_id: int
    nummer: str
    person: SamplePerson
    straatnaam: str
    huisnummer: int
    postcode: str
    woonplaats: str
    zaken: list[_Zaak]


@dataclass
class _Noodstop:
    betrokkene_id: int
    bron: str
    begint: date
    eindigt: date | None


DEURWAARDER = "Gerechtsdeurwaarderskantoor Voorbeeld (fictief)"
ADMINISTRATIEKOSTEN_WAHV = "9.00"
#: the sample's first payment term, before the 1st aanmaning
_EERSTE_TERMIJN = timedelta(weeks=8)
M = MeasureCode


def _wahv_nummer(jaar: int, betrokkene_id: int, volgnummer: int) -> str:
    """A 16-digit beschikkingsnummer in a synthetic range: 9999, year, betrokkene, sequence."""
    return f"9999{jaar:04d}{betrokkene_id:04d}{volgnummer:04d}"


def _vonnis_nummer(jaar: int, betrokkene_id: int, volgnummer: int) -> str:
    """A parketnummer-style vonnisnummer with the non-existent arrondissement code 99."""
    return f"99/{betrokkene_id:04d}{volgnummer:02d}-{jaar % 100:02d}"


def _eu_nummer(jaar: int, betrokkene_id: int, volgnummer: int) -> str:
    return f"EUB-{jaar:04d}-{betrokkene_id:04d}{volgnummer:02d}"


def _verhoogd(sanctie: str, stap: int) -> str:
    return str(verhogingen_na(Decimal(sanctie), stap))


def _aanmaningen(stap: int, eerste: date, actief: bool) -> list[tuple[MeasureCode, bool, date]]:
    """The aanmaningen of a Wahv zaak at ``stap``: only the last one can still be active."""
    dates = [eerste, eerste + TERMIJN_AANMANING][:stap]
    return [(M.AANMANING, actief and i == stap - 1, d) for i, d in enumerate(dates)]


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


def _known(bsns: Sequence[str]) -> tuple[list[_Betrokkene], list[SampleDebtor]]:
    # 700001: two Wahv fines with verhogingen, one fully increased with a running bankbeslag
    a = _Betrokkene(
        1,
        "700001",
        _person(bsns[0], "Dijk-Voorbeeld", "M", "P.J.", "Pieter Jan", date(1981, 4, 9), "van"),
        "Voorbeeldlaan",
        21,
        "1111AA",
        "Voorbeeldstad",
        [
            _Zaak(
                _wahv_nummer(2024, 1, 1),
                "wahv",
                date(2024, 3, 12),
                "149.00",  # €149 -> €447 [WAHV-art-23]
                stap=2,
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[
                    (M.VERHOGING, False, date(2024, 3, 12)),
                    *_aanmaningen(2, date(2024, 5, 14), actief=False),
                    (M.BESLAG_BANK, True, date(2024, 10, 1)),  # verhaal zonder dwangbevel
                ],
            ),
            _Zaak(
                _wahv_nummer(2025, 1, 2),
                "wahv",
                date(2025, 4, 15),
                "100.00",  # €100 -> €150 now, -> €300 with the 2nd aanmaning
                stap=1,
                volgende=date(2025, 8, 5),
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[
                    (M.VERHOGING, True, date(2025, 4, 15)),
                    *_aanmaningen(1, date(2025, 7, 8), actief=True),
                ],
            ),
            _Zaak(
                _wahv_nummer(2023, 1, 3),
                "wahv",
                date(2023, 9, 19),
                "239.00",
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                betaald="248.00",
                status="betaald",
                maatregelen=[(M.VERHOGING, False, date(2023, 9, 19))],
            ),
        ],
    )
    # 700002: a schadevergoedingsmaatregel (niet-saneerbaar) and a fresh Wahv fine
    b = _Betrokkene(
        2,
        "700002",
        _person(bsns[1], "Claes-Voorbeeld", "V", "A.M.", "Anna Maria", date(1990, 12, 3)),
        "Proefstraat",
        5,
        "2222BB",
        "Proefdorp",
        [
            _Zaak(
                _vonnis_nummer(2023, 2, 1),
                "schadevergoedingsmaatregel",
                date(2023, 10, 17),
                "1250.00",
                betaald="250.00",
                maatregelen=[(M.AANMANING, True, date(2024, 1, 9))],
            ),
            _Zaak(
                _wahv_nummer(2025, 2, 1),
                "wahv",
                date(2025, 5, 20),
                "240.00",
                volgende=date(2025, 7, 15),
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[(M.VERHOGING, True, date(2025, 5, 20))],
            ),
        ],
    )
    # 700003: a Wahv fine handed to a deurwaarder (dwangbevel); another one still open
    c = _Betrokkene(
        3,
        "700003",
        _person(bsns[2], "Yilmaz-Voorbeeld", "M", "E.", "Emre", date(1975, 7, 28)),
        "Testweg",
        88,
        "3333CC",
        "Voorbeeldstad",
        [
            _Zaak(
                _wahv_nummer(2023, 3, 1),
                "wahv",
                date(2023, 2, 7),
                "280.00",
                stap=2,
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                vervolgingskosten="131.27",
                betaald="100.00",
                status="overgedragen",
                overgedragen_aan=DEURWAARDER,
                maatregelen=[
                    (M.VERHOGING, False, date(2023, 2, 7)),
                    *_aanmaningen(2, date(2023, 4, 11), actief=False),
                    (M.DWANGBEVEL, True, date(2023, 11, 20)),
                    (M.DEURWAARDER, True, date(2023, 11, 20)),
                    (M.KOSTEN, True, date(2023, 11, 20)),
                ],
            ),
            _Zaak(
                _wahv_nummer(2025, 3, 2),
                "wahv",
                date(2025, 3, 4),
                "109.00",
                stap=1,
                volgende=date(2025, 6, 10),
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[
                    (M.VERHOGING, True, date(2025, 3, 4)),
                    *_aanmaningen(1, date(2025, 5, 13), actief=True),
                ],
            ),
        ],
    )
    # 700004: gijzeling and rijbewijsinname pending on two fully increased Wahv fines,
    # and a geldboete by vonnis (niet-saneerbaar)
    d = _Betrokkene(
        4,
        "700004",
        _person(bsns[3], "Mahabier-Voorbeeld", "V", "S.", "Sita", date(1968, 2, 14)),
        "Fictiefplein",
        2,
        "4444DD",
        "Voorbeeldstad",
        [
            _Zaak(
                _wahv_nummer(2022, 4, 1),
                "wahv",
                date(2022, 6, 14),
                "410.00",
                stap=2,
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[
                    (M.VERHOGING, False, date(2022, 6, 14)),
                    *_aanmaningen(2, date(2022, 8, 16), actief=False),
                    (M.BESLAG_BANK, False, date(2023, 1, 10)),  # tried, without result
                    (M.GIJZELING, True, date(2025, 5, 6)),  # Wahv art. 28
                ],
            ),
            _Zaak(
                _wahv_nummer(2023, 4, 2),
                "wahv",
                date(2023, 1, 24),
                "239.00",
                stap=2,
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                maatregelen=[
                    (M.VERHOGING, False, date(2023, 1, 24)),
                    *_aanmaningen(2, date(2023, 3, 28), actief=False),
                    (M.RIJBEWIJS, True, date(2025, 6, 3)),  # Wahv art. 28a
                ],
            ),
            _Zaak(
                _vonnis_nummer(2024, 4, 3),
                "geldboete_vonnis",
                date(2024, 4, 30),
                "500.00",
                maatregelen=[(M.AANMANING, True, date(2024, 7, 2))],
            ),
        ],
    )
    everyone = [a, b, c, d]
    samples = [
        SampleDebtor(
            klantnummer_se=x.nummer,
            person=x.person,
            straatnaam=x.straatnaam,
            huisnummer=x.huisnummer,
            postcode=x.postcode,
            woonplaats=x.woonplaats,
            factuurnummers=tuple(z.nummer for z in x.zaken if z.status in OPEN_STATUSES),
        )
        for x in everyone
    ]
    return everyone, samples


_VOLUME_NAMES = (
    ("Aydin", "V", "Z.", "Zeynep"),
    ("Boer", "M", "G.", "Gert"),
    ("Chaouch", "M", "K.", "Karim"),
    ("Dam", "V", "M.", "Mila"),
    ("Eijk", "X", "R.", "Robin"),
    ("Franke", "M", "W.", "Wouter"),
    ("Gerritsen", "V", "N.", "Nina"),
    ("Haan", "M", "O.", "Olaf"),
    ("IJzerman", "V", "Y.", "Yara"),
    ("Jong", "M", "H.", "Hugo"),
    ("Kaya", "V", "E.", "Elif"),
    ("Lammers", "M", "S.", "Stijn"),
    ("Maas", "V", "C.", "Chloe"),
    ("Nijhuis", "M", "T.", "Teun"),
    ("Oosterhout", "V", "L.", "Lieke"),
    ("Postma", "M", "J.", "Joris"),
    ("Quispel", "X", "A.", "Alex"),
    ("Ramdin", "V", "P.", "Priya"),
    ("Sanders", "M", "D.", "Dirk"),
    ("Tromp", "V", "F.", "Femke"),
)
_LETTERS = "ABCEGHJKLMNPRSTVWXZ"
_WAHV_TARIEVEN = ("54.00", "109.00", "149.00", "239.00", "300.00", "410.00")
_STRAF = ("geldboete_vonnis", "ontneming", "europese_boete", "schadevergoedingsmaatregel")
_STRAF_BEDRAGEN = {
    "geldboete_vonnis": ("250.00", "450.00", "750.00"),
    "ontneming": ("1850.00", "3400.00"),
    "europese_boete": ("70.00", "180.00"),
    "schadevergoedingsmaatregel": ("600.00", "975.00"),
}
#: the betrokkene (volume) whose gemeente obtained a noodstop outside SKN
NOODSTOP_BETROKKENE = 105


def _volume(bsns: Sequence[str]) -> tuple[list[_Betrokkene], list[_Noodstop]]:
    rng = random.Random(20200401)  # the noodstop's start (1 April 2020)
    result: list[_Betrokkene] = []
    for i, (name, geslacht, voorletters, voornaam) in enumerate(_VOLUME_NAMES):
        bid = 101 + i
        person = _person(
            bsns[i],
            f"{name}-Voorbeeld",
            geslacht,
            voorletters,
            voornaam,
            date(1955 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28)),
        )
        items: list[_Zaak] = []
        # a Wahv fine at stap 0, 1 or 2; every fourth one paid, one contested
        sanctie = rng.choice(_WAHV_TARIEVEN)
        stap = i % 3
        status = "betaald" if i % 4 == 3 else "betwist" if i == 6 else "open"
        if status == "betwist":
            stap = 0
        running = status == "open" and stap < 2
        volgende = date(2025, 6, 2) + timedelta(days=3 * i) if running else None
        if volgende is not None:
            # the term now running began with the beschikking (stap 0) or the 1st aanmaning
            eerste = volgende - TERMIJN_AANMANING if stap == 1 else volgende
            onherroepelijk = eerste - _EERSTE_TERMIJN
        else:
            jaar = 2025 if status == "betwist" else 2023 + i % 2
            onherroepelijk = date(jaar, 1 + rng.randrange(12), 1 + rng.randrange(28))
            eerste = onherroepelijk + _EERSTE_TERMIJN
        totaal = Decimal(sanctie) + Decimal(_verhoogd(sanctie, stap)) + Decimal("9.00")
        maatregelen = [(M.VERHOGING, running, onherroepelijk)]
        maatregelen += _aanmaningen(stap, eerste, actief=status == "open")
        if status == "open" and stap == 2 and i % 6 == 2:
            maatregelen.append((M.BESLAG_BANK, True, eerste + timedelta(weeks=16)))
        items.append(
            _Zaak(
                _wahv_nummer(onherroepelijk.year, bid, 1),
                "wahv",
                onherroepelijk,
                sanctie,
                stap=stap,
                volgende=volgende,
                administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                betaald=(
                    str(totaal) if status == "betaald" else rng.choice(("0.00", "0.00", "20.00"))
                ),
                status=status,
                maatregelen=maatregelen,
            )
        )
        # every other one has a fresh Wahv fine whose first term has not yet run out
        if i % 2 == 0:
            volgende = date(2025, 8, 4) + timedelta(days=2 * i)
            onherroepelijk = volgende - _EERSTE_TERMIJN
            items.append(
                _Zaak(
                    _wahv_nummer(2025, bid, 2),
                    "wahv",
                    onherroepelijk,
                    rng.choice(_WAHV_TARIEVEN),
                    volgende=volgende,
                    administratiekosten=ADMINISTRATIEKOSTEN_WAHV,
                    maatregelen=[(M.VERHOGING, True, onherroepelijk)],
                )
            )
        # some have a criminal-law or European money sanction (niet-saneerbaar)
        if i % 5 == 1:
            soort = _STRAF[i // 5]
            nummer = (_eu_nummer if soort == "europese_boete" else _vonnis_nummer)(2024, bid, 3)
            onherroepelijk = date(2024, 1 + rng.randrange(12), 1 + rng.randrange(28))
            items.append(
                _Zaak(
                    nummer,
                    soort,
                    onherroepelijk,
                    rng.choice(_STRAF_BEDRAGEN[soort]),
                    betaald=rng.choice(("0.00", "50.00")),
                    maatregelen=[(M.AANMANING, True, onherroepelijk + timedelta(weeks=9))],
                )
            )
        result.append(
            _Betrokkene(
                bid,
                f"{700100 + i + 1}",
                person,
                rng.choice(("Voorbeeldlaan", "Proefstraat", "Testsingel", "Fictiefhof")),
                1 + rng.randrange(180),
                f"{5000 + rng.randrange(4000)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}",
                "Voorbeeldstad",
                items,
            )
        )
    # 4 months on request, extended by 8 because the gemeente gives schuldhulp [CJIB-NOODSTOP]
    stops = [_Noodstop(NOODSTOP_BETROKKENE, "gemeente", date(2025, 6, 2), date(2026, 6, 2))]
    return result, stops


def _create_in_wal_mode(path: Path) -> None:
    """Create an empty database file in WAL journal mode (which the file keeps)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
    finally:
        conn.close()


def create_sample_database(directory: Path) -> tuple[Path, tuple[SampleDebtor, ...]]:
    """Write ``cjib.db`` in ``directory`` (replacing it) with the synthetic data.

    The database is in WAL journal mode, as the adapter keeps it.

    Returns the database path and the known debtors, as an SHV would know them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / SAMPLE_FILENAME).resolve()
    for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        stale.unlink(missing_ok=True)
    bsns = synthetic_bsns()
    known, samples = _known(bsns[:4])
    volume, stops = _volume(bsns[4:])
    _create_in_wal_mode(path)
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(str(path), check_same_thread=False)
    )
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for who in known + volume:
                p = who.person
                conn.execute(
                    insert(betrokkenen).values(
                        betrokkene_id=who.betrokkene_id,
                        betrokkenenummer=who.nummer,
                        bsn=p.bsn,
                        geslacht=p.geslacht,
                        voorletters=p.voorletters,
                        voornamen=p.voornamen,
                        voorvoegsel=p.voorvoegsel,
                        achternaam=p.achternaam,
                        geboortedatum=p.geboortedatum,
                        straatnaam=who.straatnaam,
                        huisnummer=who.huisnummer,
                        postcode=who.postcode,
                        woonplaats=who.woonplaats,
                    )
                )
                for z in who.zaken:
                    conn.execute(
                        insert(zaken).values(
                            zaaknummer=z.nummer,
                            betrokkene_id=who.betrokkene_id,
                            soort=z.soort,
                            datum_onherroepelijk=z.onherroepelijk,
                            sanctie=Decimal(z.sanctie),
                            verhoging_stap=z.stap,
                            verhogingen=verhogingen_na(Decimal(z.sanctie), z.stap),
                            volgende_verhoging_op=z.volgende,
                            administratiekosten=Decimal(z.administratiekosten),
                            vervolgingskosten=Decimal(z.vervolgingskosten),
                            betaald=Decimal(z.betaald),
                            afgeboekt=Decimal("0.00"),
                            afgeboekt_door=None,
                            status=z.status,
                            overgedragen_aan=z.overgedragen_aan,
                            saneerbaar=saneerbaar(z.soort),
                        )
                    )
                    for code, actief, sinds in z.maatregelen:
                        conn.execute(
                            insert(maatregelen).values(
                                zaaknummer=z.nummer,
                                code=code.value,
                                actief=actief,
                                sinds=sinds,
                                beeindigd_op=None,
                                opgeschort_door=None,
                            )
                        )
            for stop in stops:
                conn.execute(
                    insert(noodstops).values(
                        betrokkene_id=stop.betrokkene_id,
                        hold_id=None,
                        bron=stop.bron,
                        begint=stop.begint,
                        eindigt=stop.eindigt,
                        zaken=None,
                        beeindigd_op=None,
                    )
                )
    finally:
        engine.dispose()
    return path, tuple(samples)
