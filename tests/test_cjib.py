"""The cjib reference adapter against a real sample SQLite back-office."""

from __future__ import annotations

import logging
import sqlite3
import tomllib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from skn_cjib import adapter as adapter_module
from skn_cjib.adapter import CjibAdapter
from skn_cjib.backoffice import (
    elfproef,
    escalate,
    normalise_factuurnummer,
    verhoging,
    verhogingen_na,
)
from skn_cjib.sample import main as sample_main

from skn_connector.adapters.api import (
    Arrangement,
    BackOfficeRejected,
    BackOfficeTimeout,
    BackOfficeUnavailable,
    Capability,
    Claim,
    Debtor,
    DebtorQuery,
    Hold,
    MeasureCode,
    Proposal,
    ProposalClaim,
    SampleBackOffice,
    SampleDebtor,
    WriteOff,
)
from skn_connector.adapters.registry import available_adapters, load_adapter
from skn_connector.adapters.sqlite import exclusive_lock

M = MeasureCode
D = Decimal

# the sample's zaken, by purpose
A_VOL = "9999202400010001"  # 700001: €149 -> €447, running bankbeslag
A_HALF = "9999202500010002"  # 700001: €100 -> €150, the 2nd verhoging due on 2025-08-05
A_PAID = "9999202300010003"  # 700001: paid
B_SCHADE = "99/000201-23"  # 700002: schadevergoedingsmaatregel, niet-saneerbaar
B_WAHV = "9999202500020001"  # 700002: €240, the 1st verhoging due on 2025-07-15
C_DW = "9999202300030001"  # 700003: overgedragen to a deurwaarder
C_OPEN = "9999202500030002"  # 700003: open, 1 verhoging
D_GIJZ = "9999202200040001"  # 700004: gijzeling pending
D_RIJ = "9999202300040002"  # 700004: rijbewijsinname pending
D_VONNIS = "99/000403-24"  # 700004: geldboete by vonnis, niet-saneerbaar
NOODSTOP_WAHV = ("9999202501050001", "9999202501050002")  # 105: a noodstop from the gemeente
BETWIST = "9999202501070001"  # 107: contested


def _adapter(options: dict[str, Any], **extra: Any) -> CjibAdapter:
    return CjibAdapter(CjibAdapter.Options.model_validate({**options, **extra}))


@pytest.fixture
def sample(tmp_path: Path) -> SampleBackOffice:
    return CjibAdapter.create_sample(tmp_path)


@pytest.fixture
def adapter(sample: SampleBackOffice) -> Iterator[CjibAdapter]:
    a = _adapter(sample.options)
    yield a
    a.close()


def _db(sample: SampleBackOffice) -> Path:
    return Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))


def _known(sample: SampleBackOffice, klantnummer: str) -> SampleDebtor:
    return next(d for d in sample.debtors if d.klantnummer_se == klantnummer)


def _debtor(debtor_id: str) -> Debtor:
    return Debtor(debtor_id=debtor_id, klantnummer_se=f"7000{int(debtor_id):02d}")


def _hold(debtor_id: str, **kw: Any) -> Hold:
    values: dict[str, Any] = {
        "hold_id": uuid.uuid4(),
        "debtor_id": debtor_id,
        "measures": {M.AANMANING, M.VERHOGING, M.DWANGBEVEL, M.DEURWAARDER, M.BESLAG_BANK},
        "reason": "KENNISGEVING",
        "basis": "convenant",
        "starts": date(2025, 7, 1),
        "ends": date(2026, 3, 1),
        "conversation_id": uuid.uuid4(),
    }
    values.update(kw)
    return Hold.model_validate(values)


def _claims(adapter: CjibAdapter, debtor_id: str) -> dict[str, Claim]:
    return {c.factuurnummer: c for c in adapter.list_claims(_debtor(debtor_id))}


def _measures(adapter: CjibAdapter, debtor_id: str) -> dict[str, frozenset[M]]:
    return {n: c.measures for n, c in _claims(adapter, debtor_id).items()}


def _table(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def _zaak(path: Path, nummer: str) -> tuple[Any, ...]:
    (row,) = _table(path, "SELECT * FROM zaken WHERE zaaknummer = ?", nummer)
    return row


def _proposal(*claims: tuple[str, str, str], pct: str | None = None) -> Proposal:
    """Claims as (factuurnummer, actueel, percentage); prognose = actueel x percentage."""
    items = []
    for nummer, actueel, percentage in claims:
        p = D(pct or percentage)
        items.append(
            ProposalClaim(
                factuurnummer=nummer,
                actueel_vorderingsbedrag=D(actueel),
                afkooppercentage=p,
                prognose_eindbedrag=(D(actueel) * p / 100).quantize(D("0.01")),
            )
        )
    return Proposal(type_schuldregeling="SB", looptijd_maanden=18, claims=tuple(items))


def _arrangement(*claims: tuple[str, str, str], conversation_id: uuid.UUID) -> Arrangement:
    return Arrangement(
        type_schuldregeling="SB",
        datum_akkoord=date(2025, 9, 1),
        claims=_proposal(*claims).claims,
        conversation_id=conversation_id,
    )


def _write_off(debtor_id: str, *nummers: str, **kw: Any) -> WriteOff:
    values: dict[str, Any] = {
        "write_off_id": uuid.uuid4(),
        "debtor_id": debtor_id,
        "factuurnummers": nummers,
        "reason": "SCHULDREGELING_GESLAAGD",
        "datum": date(2027, 3, 1),
        "conversation_id": uuid.uuid4(),
    }
    values.update(kw)
    return WriteOff.model_validate(values)


# -- the sample and the law in numbers --------------------------------------------------------


def test_sample_is_synthetic_deterministic_and_complete(tmp_path: Path) -> None:
    one = CjibAdapter.create_sample(tmp_path / "one")
    two = CjibAdapter.create_sample(tmp_path / "two")
    assert one.debtors == two.debtors
    for table in ("betrokkenen", "zaken", "maatregelen", "noodstops"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        assert _table(_db(one), sql) == _table(_db(two), sql)

    assert [d.klantnummer_se for d in one.debtors] == ["700001", "700002", "700003", "700004"]
    assert _known(one, "700001").factuurnummers == (A_VOL, A_HALF)
    assert _known(one, "700004").factuurnummers == (D_GIJZ, D_RIJ, D_VONNIS)
    bsns = [bsn for (bsn,) in _table(_db(one), "SELECT bsn FROM betrokkenen")]
    assert len(bsns) == 24 == len(set(bsns))  # 4 known people + 20 for volume
    # a test range, and not the people of the gemeentebelastingen sample (999990xxx)
    assert all(elfproef(b) and b.startswith("999995") for b in bsns)
    names = [n for (n,) in _table(_db(one), "SELECT achternaam FROM betrokkenen")]
    assert all(n.endswith("-Voorbeeld") for n in names)
    soorten = {s for (s,) in _table(_db(one), "SELECT DISTINCT soort FROM zaken")}
    assert soorten == {
        "wahv",
        "geldboete_vonnis",
        "schadevergoedingsmaatregel",
        "ontneming",
        "europese_boete",
    }
    statuses = {s for (s,) in _table(_db(one), "SELECT DISTINCT status FROM zaken")}
    assert statuses == {"open", "betwist", "overgedragen", "betaald"}


def test_elfproef() -> None:
    assert elfproef("111222333")
    assert not elfproef("111222334")
    assert not elfproef("12345678")


def test_wahv_verhogingen_triple_the_sanction() -> None:
    assert verhoging(D("100.00"), D("0.00"), 1) == D("50.00")
    assert verhoging(D("100.00"), D("50.00"), 2) == D("150.00")  # on sanction + 1st increase
    assert verhogingen_na(D("100.00"), 0) == D("0.00")
    assert verhogingen_na(D("100.00"), 1) == D("50.00")
    assert D("100.00") + verhogingen_na(D("100.00"), 2) == D("300.00")
    assert D("149.00") + verhogingen_na(D("149.00"), 2) == D("447.00")  # [WAHV-art-23]
    for tarief in ("54.00", "109.00", "239.00", "410.00"):
        assert D(tarief) + verhogingen_na(D(tarief), 2) == 3 * D(tarief)


def test_the_schema_holds_saneerbaar_to_the_law(sample: SampleBackOffice) -> None:
    rows = _table(_db(sample), "SELECT soort, saneerbaar FROM zaken")
    assert all(bool(s) == (soort == "wahv") for soort, s in rows)
    conn = sqlite3.connect(_db(sample))
    try:
        with pytest.raises(sqlite3.IntegrityError, match="ck_zaken_saneerbaar"):
            conn.execute("UPDATE zaken SET saneerbaar = 1 WHERE zaaknummer = ?", (B_SCHADE,))
        with pytest.raises(sqlite3.IntegrityError, match="ck_zaken_verhoging_wahv"):
            conn.execute("UPDATE zaken SET verhoging_stap = 1 WHERE zaaknummer = ?", (B_SCHADE,))
    finally:
        conn.close()


def test_seed_command_prints_options_as_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sample_main(["seed", "--directory", str(tmp_path / "s")]) == 0
    config = tomllib.loads(capsys.readouterr().out)
    (entry,) = config["adapters"]
    assert entry["use"] == "cjib"
    url = entry["options"]["database_url"]
    assert url == f"sqlite:///{(tmp_path / 's' / 'cjib.db').resolve()}"
    a = _adapter(entry["options"])
    try:
        assert all(r.ok for r in a.check())
    finally:
        a.close()


def test_escalate_command(
    sample: SampleBackOffice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(_db(sample))
    assert sample_main(["escalate", "--database", db, "--date", "2025-07-15"]) == 0
    out = capsys.readouterr().out
    assert f"{B_WAHV}: verhoging 1 of 120.00 (increases now 120.00)" in out
    assert sample_main(["escalate", "--database", str(tmp_path / "none.db")]) == 1
    assert not (tmp_path / "none.db").exists()


def test_loads_through_the_registry(sample: SampleBackOffice) -> None:
    assert available_adapters()["cjib"] == "skn_cjib.adapter:CjibAdapter"
    loaded = load_adapter("cjib", "cjib", sample.options)
    try:
        assert isinstance(loaded.adapter, CjibAdapter)
        assert loaded.capabilities == {
            Capability.CLAIMS,
            Capability.HOLDS,
            Capability.PROPOSALS,
            Capability.ARRANGEMENTS,
            Capability.WRITE_OFF,
        }
        found = loaded.adapter.find_debtor(DebtorQuery(klantnummer_se="700002"))
        assert found == Debtor(debtor_id="2", klantnummer_se="700002")
    finally:
        loaded.adapter.close()


# -- find_debtor ------------------------------------------------------------------------------


def test_find_by_bsn(adapter: CjibAdapter, sample: SampleBackOffice) -> None:
    known = _known(sample, "700003")
    assert known.person.bsn
    assert adapter.find_debtor(DebtorQuery(bsn=known.person.bsn)) == Debtor(
        debtor_id="3", klantnummer_se="700003"
    )


def test_find_by_klantnummer(adapter: CjibAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(klantnummer_se=" 700004 ")) == Debtor(
        debtor_id="4", klantnummer_se="700004"
    )
    assert adapter.find_debtor(DebtorQuery(klantnummer_se="700107")) == Debtor(
        debtor_id="107", klantnummer_se="700107"
    )


@pytest.mark.parametrize(
    ("written", "debtor_id"),
    [
        ("9999202400010001", "1"),
        ("9999 2024 0001 0001", "1"),
        ("9999-2024-0001-0001", "1"),
        ("99/000201-23", "2"),
        ("99 000201 23", "2"),
        ("9900020123", "2"),
        ("eub-2024-011203", "112"),
    ],
)
def test_find_by_factuurnummer_normalised(
    adapter: CjibAdapter, written: str, debtor_id: str
) -> None:
    found = adapter.find_debtor(DebtorQuery(factuurnummers=("1234.567", written)))
    assert found is not None and found.debtor_id == debtor_id


def test_a_paid_zaak_still_identifies_its_betrokkene(adapter: CjibAdapter) -> None:
    found = adapter.find_debtor(DebtorQuery(factuurnummers=(A_PAID,)))
    assert found is not None and found.debtor_id == "1"


def test_zaken_of_two_betrokkenen_are_ambiguous(adapter: CjibAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(factuurnummers=(A_VOL, B_WAHV))) is None


def test_find_by_name_and_address(adapter: CjibAdapter) -> None:
    base = {"geboortedatum": date(1981, 4, 9), "postcode": "1111 aa", "huisnummer": 21}
    expected = Debtor(debtor_id="1", klantnummer_se="700001")
    for name in ("Dijk-Voorbeeld", "DIJK-VOORBEELD", "van Dijk-Voorbeeld"):
        assert adapter.find_debtor(DebtorQuery(achternaam=name, **base)) == expected
    assert adapter.find_debtor(DebtorQuery(achternaam="Claes-Voorbeeld", **base)) is None
    three_of_four = {k: v for k, v in base.items() if k != "huisnummer"}
    assert adapter.find_debtor(DebtorQuery(achternaam="Dijk-Voorbeeld", **three_of_four)) is None


def test_unknown_betrokkene_is_none(adapter: CjibAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(bsn="111222333")) is None
    assert adapter.find_debtor(DebtorQuery(klantnummer_se="100001")) is None
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("9999202400990001",))) is None
    assert adapter.find_debtor(DebtorQuery()) is None


def test_a_conflicting_bsn_vetoes_the_other_routes(adapter: CjibAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(bsn="111222333", klantnummer_se="700001")) is None


# -- list_claims ------------------------------------------------------------------------------


def test_claims_and_amounts_with_verhogingen(adapter: CjibAdapter) -> None:
    assert adapter.list_claims(_debtor("1")) == [
        Claim(
            factuurnummer=A_VOL,
            omschrijving="Verkeersboete (Wahv) 2024, incl. verhogingen 1e en 2e aanmaning",
            ontstaansdatum=date(2024, 3, 12),
            originele_vordering=D("149.00"),
            hoofdsom=D("447.00"),  # 149 + 74.50 + 223.50
            kosten=D("9.00"),  # administratiekosten
            openstaand=D("456.00"),
            saneerbaar=True,
            measures=frozenset({M.BESLAG_BANK}),
        ),
        Claim(
            factuurnummer=A_HALF,
            omschrijving="Verkeersboete (Wahv) 2025, incl. verhoging 1e aanmaning",
            ontstaansdatum=date(2025, 4, 15),
            originele_vordering=D("100.00"),
            hoofdsom=D("150.00"),
            kosten=D("9.00"),
            openstaand=D("159.00"),
            saneerbaar=True,
            measures=frozenset({M.VERHOGING, M.AANMANING}),
        ),
    ]  # the paid A_PAID is not a claim


def test_saneerbaar_flags(adapter: CjibAdapter) -> None:
    b = _claims(adapter, "2")
    assert list(b) == [B_SCHADE, B_WAHV]
    schade = b[B_SCHADE]
    assert schade.omschrijving == "Schadevergoedingsmaatregel (art. 36f Sr) 2023"
    assert not schade.saneerbaar and not schade.fraude and not schade.preferent
    assert (schade.originele_vordering, schade.hoofdsom, schade.openstaand) == (
        D("1250.00"),
        D("1000.00"),
        D("1000.00"),
    )
    assert b[B_WAHV].saneerbaar and b[B_WAHV].openstaand == D("249.00")

    d = _claims(adapter, "4")
    assert [c.saneerbaar for c in d.values()] == [True, True, False]
    assert d[D_VONNIS].omschrijving == "Geldboete (vonnis) 2024"
    assert _claims(adapter, "107")["99/010703-24"].saneerbaar is False  # ontneming
    assert _claims(adapter, "112")["EUB-2024-011203"].saneerbaar is False  # Europese boete


def test_overgedragen_and_pending_dwangmiddelen(adapter: CjibAdapter) -> None:
    c = _claims(adapter, "3")
    dw = c[C_DW]
    assert dw.status == "overgedragen"
    assert dw.overgedragen_aan == "Gerechtsdeurwaarderskantoor Voorbeeld (fictief)"
    # 280 -> 840, minus 100 paid; costs: 9.00 administratie + 131.27 dwangbevel and deurwaarder
    assert (dw.hoofdsom, dw.kosten, dw.openstaand) == (D("740.00"), D("140.27"), D("880.27"))
    assert dw.measures == {M.DWANGBEVEL, M.DEURWAARDER, M.KOSTEN}
    assert _measures(adapter, "4") == {
        D_GIJZ: frozenset({M.GIJZELING}),
        D_RIJ: frozenset({M.RIJBEWIJS}),
        D_VONNIS: frozenset({M.AANMANING}),
    }
    assert _claims(adapter, "107")[BETWIST].status == "betwist"


def test_a_noodstop_in_force_suspends_escalation_measures(
    adapter: CjibAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = {M.VERHOGING, M.AANMANING}
    assert _measures(adapter, "105")[NOODSTOP_WAHV[0]] == running  # it ended on 2026-06-02
    monkeypatch.setattr(adapter_module, "_today", lambda: date(2025, 9, 1))
    assert _measures(adapter, "105") == dict.fromkeys(NOODSTOP_WAHV, frozenset())


def test_unknown_debtor_id_is_rejected(adapter: CjibAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="4711", klantnummer_se="x"))
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="not-a-number", klantnummer_se="x"))


# -- the surcharge run ------------------------------------------------------------------------


def test_escalate_applies_the_verhogingen_due(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    early = {v.zaaknummer for v in escalate(_db(sample), date(2025, 7, 14))}
    assert early and B_WAHV not in early  # due on 2025-07-15
    first = {v.zaaknummer: v for v in escalate(_db(sample), date(2025, 7, 15))}
    assert (first[B_WAHV].stap, first[B_WAHV].bedrag) == (1, D("120.00"))
    assert first[B_WAHV].volgende_verhoging_op == date(2025, 8, 12)
    assert A_HALF not in first  # due on 2025-08-05
    wahv = _claims(adapter, "2")[B_WAHV]
    assert (wahv.hoofdsom, wahv.openstaand) == (D("360.00"), D("369.00"))
    assert wahv.measures == {M.VERHOGING, M.AANMANING}

    second = {v.zaaknummer: v for v in escalate(_db(sample), date(2025, 8, 5))}
    assert (second[A_HALF].stap, second[A_HALF].bedrag) == (2, D("150.00"))
    half = _claims(adapter, "1")[A_HALF]
    assert half.hoofdsom == D("300.00")  # €100 -> €300
    assert half.openstaand == D("309.00")
    assert half.omschrijving.endswith("incl. verhogingen 1e en 2e aanmaning")
    assert half.measures == {M.AANMANING}  # the run is complete; a new aanmaning
    assert _table(
        _db(sample),
        "SELECT actief, sinds FROM maatregelen WHERE zaaknummer = ? AND code = 'AANMANING'",
        A_HALF,
    ) == [(0, "2025-07-08"), (1, "2025-08-05")]
    assert A_HALF not in {v.zaaknummer for v in escalate(_db(sample), date(2025, 8, 5))}


def test_escalate_skips_paid_contested_criminal_and_noodstop_zaken(
    sample: SampleBackOffice,
) -> None:
    done = {v.zaaknummer for v in escalate(_db(sample), date(2025, 12, 31))}
    assert done
    assert all(n.startswith("9999") for n in done)  # only Wahv sanctions are increased
    assert not done & {A_VOL, A_PAID, C_DW, D_GIJZ, D_RIJ, BETWIST, *NOODSTOP_WAHV}
    # after the noodstop has ended, the run goes on
    later = {v.zaaknummer for v in escalate(_db(sample), date(2026, 6, 3))}
    assert set(NOODSTOP_WAHV) <= later


# -- holds ------------------------------------------------------------------------------------

BEFORE_A = {A_VOL: frozenset({M.BESLAG_BANK}), A_HALF: frozenset({M.VERHOGING, M.AANMANING})}


def test_apply_twice_is_apply_once(adapter: CjibAdapter, sample: SampleBackOffice) -> None:
    assert _measures(adapter, "1") == BEFORE_A
    hold = _hold("1")
    first = adapter.apply_hold(hold)
    assert first.applied and first.hold_id == hold.hold_id
    assert first.measures == {M.BESLAG_BANK, M.VERHOGING, M.AANMANING}
    assert "noodstop" in first.detail
    snapshot = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    assert _measures(adapter, "1") == dict.fromkeys(BEFORE_A, frozenset())

    assert adapter.apply_hold(hold) == first
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == snapshot
    assert _table(_db(sample), "SELECT hold_id, status FROM opschortingen") == [
        (str(hold.hold_id), "applied")
    ]
    assert _table(
        _db(sample), "SELECT betrokkene_id, bron, begint, eindigt, zaken FROM noodstops"
    ) == [
        (105, "gemeente", "2025-06-02", "2026-06-02", None),
        (1, "skn", "2025-07-01", "2026-03-01", None),
    ]
    assert _measures(adapter, "2")[B_WAHV] == {M.VERHOGING}  # other betrokkenen untouched


def test_a_hold_on_verhoging_stops_the_surcharge_run(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    hold = _hold("1", measures={M.VERHOGING})
    assert adapter.apply_hold(hold).measures == {M.VERHOGING}
    before = _zaak(_db(sample), A_HALF)
    done = {v.zaaknummer for v in escalate(_db(sample), date(2025, 9, 1))}
    assert B_WAHV in done  # the run goes on for others
    assert A_HALF not in done
    assert _zaak(_db(sample), A_HALF) == before
    assert _claims(adapter, "1")[A_HALF].openstaand == D("159.00")
    # also long after the hold's planned end, as long as it is not released
    assert A_HALF not in {v.zaaknummer for v in escalate(_db(sample), date(2027, 1, 1))}


def test_a_hold_on_aanmaningen_also_stops_the_verhogingen(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    result = adapter.apply_hold(_hold("2", measures={M.AANMANING}))
    assert result.measures == {M.AANMANING, M.VERHOGING}  # one act under Wahv art. 23
    assert B_WAHV not in {v.zaaknummer for v in escalate(_db(sample), date(2025, 9, 1))}


def test_release_resumes_the_run_with_a_fresh_term(
    adapter: CjibAdapter, sample: SampleBackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = _hold("1")
    adapter.apply_hold(hold)
    monkeypatch.setattr(adapter_module, "_today", lambda: date(2026, 1, 10))
    released = adapter.release_hold(hold)
    assert released.measures == {M.BESLAG_BANK, M.VERHOGING, M.AANMANING}
    assert "fresh term" in released.detail
    assert _measures(adapter, "1") == BEFORE_A
    assert _table(
        _db(sample), "SELECT volgende_verhoging_op FROM zaken WHERE zaaknummer = ?", A_HALF
    ) == [("2026-02-07",)]
    assert _table(
        _db(sample), "SELECT beeindigd_op FROM noodstops WHERE hold_id = ?", str(hold.hold_id)
    ) == [("2026-01-10",)]
    assert A_HALF not in {v.zaaknummer for v in escalate(_db(sample), date(2026, 2, 6))}
    (done,) = [v for v in escalate(_db(sample), date(2026, 2, 7)) if v.zaaknummer == A_HALF]
    assert (done.stap, done.bedrag, done.verhogingen) == (2, D("150.00"), D("200.00"))


def test_release_twice_is_harmless_and_a_late_replay_does_not_apply(
    adapter: CjibAdapter,
) -> None:
    hold = _hold("1")
    adapter.apply_hold(hold)
    released = adapter.release_hold(hold)
    assert released.applied
    assert adapter.release_hold(hold) == released
    assert _measures(adapter, "1") == BEFORE_A
    replay = adapter.apply_hold(hold)
    assert not replay.applied
    assert _measures(adapter, "1") == BEFORE_A


def test_release_of_an_unknown_hold_is_a_no_op(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    before = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    result = adapter.release_hold(_hold("1"))
    assert result.applied and result.measures == frozenset()
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == before


def test_lifting_gijzeling_and_rijbewijs(
    adapter: CjibAdapter, sample: SampleBackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_module, "_today", lambda: date(2025, 9, 2))
    hold = _hold(
        "4",
        measures={M.AANMANING, M.GIJZELING, M.RIJBEWIJS},
        lift={M.GIJZELING, M.RIJBEWIJS},
        reason="SCHULDREGELING_AKKOORD",
        basis="regeling",
    )
    result = adapter.apply_hold(hold)
    assert result.measures == {M.GIJZELING, M.RIJBEWIJS, M.AANMANING}
    assert _measures(adapter, "4") == dict.fromkeys((D_GIJZ, D_RIJ, D_VONNIS), frozenset())
    assert _table(
        _db(sample),
        "SELECT code, actief, beeindigd_op, opgeschort_door FROM maatregelen "
        "WHERE code IN ('GIJZELING', 'RIJBEWIJS') ORDER BY code",
    ) == [
        ("GIJZELING", 0, "2025-09-02", str(hold.hold_id)),
        ("RIJBEWIJS", 0, "2025-09-02", str(hold.hold_id)),
    ]
    adapter.release_hold(hold)
    # a withdrawn gijzeling and a returned rijbewijs are not re-imposed by a release
    assert _measures(adapter, "4") == {
        D_GIJZ: frozenset(),
        D_RIJ: frozenset(),
        D_VONNIS: frozenset({M.AANMANING}),
    }


def test_hold_on_named_zaken_only(adapter: CjibAdapter, sample: SampleBackOffice) -> None:
    result = adapter.apply_hold(_hold("2", factuurnummers=("9999 2025 0002 0001",)))
    assert result.measures == {M.VERHOGING}
    assert _measures(adapter, "2") == {B_SCHADE: {M.AANMANING}, B_WAHV: frozenset()}
    assert _table(_db(sample), "SELECT zaken FROM noodstops WHERE bron = 'skn'") == [
        (f'["{B_WAHV}"]',)
    ]


def test_overlapping_holds_keep_a_measure_held(adapter: CjibAdapter) -> None:
    wide = _hold("1")
    narrow = _hold("1", factuurnummers=(A_HALF,), measures={M.VERHOGING})
    adapter.apply_hold(wide)
    assert adapter.apply_hold(narrow).measures == {M.VERHOGING}  # already held by `wide`
    adapter.release_hold(wide)
    assert _measures(adapter, "1") == {A_VOL: {M.BESLAG_BANK}, A_HALF: {M.AANMANING}}
    adapter.release_hold(narrow)
    assert _measures(adapter, "1") == BEFORE_A


def test_concurrent_applies_of_one_hold_count_once(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    hold = _hold("3")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: adapter.apply_hold(hold), range(8)))
    assert all(r == results[0] for r in results)
    assert results[0].measures == {M.DWANGBEVEL, M.DEURWAARDER, M.AANMANING, M.VERHOGING}
    assert _table(_db(sample), "SELECT count(*) FROM opschortingen") == [(1,)]
    assert _table(_db(sample), "SELECT count(*) FROM noodstops WHERE bron = 'skn'") == [(1,)]


def test_hold_for_unknown_or_other_debtor_is_rejected(adapter: CjibAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(_hold("4711"))
    hold = _hold("1")
    adapter.apply_hold(hold)
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(hold.model_copy(update={"debtor_id": "2"}))


# -- proposals --------------------------------------------------------------------------------


def test_proposal_of_saneerbare_claims_is_accepted(adapter: CjibAdapter) -> None:
    proposal = _proposal((A_VOL, "456.00", "22.5"), (A_HALF, "159.00", "22.5"))
    assessment = adapter.assess_proposal(_debtor("1"), proposal)
    assert assessment.decision == "accept"
    assert "22.5 %" in assessment.reason  # a running bankbeslag is no obstacle


def test_niet_saneerbare_claims_are_accepted_but_their_remainder_stays(
    adapter: CjibAdapter,
) -> None:
    proposal = _proposal((B_SCHADE, "1000.00", "15"), (B_WAHV, "249.00", "15"))
    assessment = adapter.assess_proposal(_debtor("2"), proposal)
    assert assessment.decision == "accept"
    assert B_SCHADE in assessment.reason and "schadevergoedingsmaatregel" in assessment.reason
    assert "remainder stays payable" in assessment.reason
    assert "1 December 2020" in assessment.reason


def test_a_deurwaarder_on_a_claim_asks_a_person(adapter: CjibAdapter) -> None:
    proposal = _proposal((C_DW, "880.27", "10"), (C_OPEN, "172.50", "10"))
    assessment = adapter.assess_proposal(_debtor("3"), proposal)
    assert assessment.decision == "manual"
    assert C_DW in assessment.reason and "deurwaarder" in assessment.reason
    assert C_OPEN not in assessment.reason


def test_a_dwangmiddel_once_deployed_asks_a_person_even_when_lifted(
    adapter: CjibAdapter,
) -> None:
    proposal = _proposal((D_GIJZ, "1239.00", "10"), (D_RIJ, "726.00", "10"))
    assert adapter.assess_proposal(_debtor("4"), proposal).decision == "manual"
    adapter.apply_hold(_hold("4", measures=set(), lift={M.GIJZELING, M.RIJBEWIJS}))
    assessment = adapter.assess_proposal(_debtor("4"), proposal)
    assert assessment.decision == "manual"
    assert D_GIJZ in assessment.reason and D_RIJ in assessment.reason


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ((("9999202400990001", "100.00", "10"),), "is not a zaak of this betrokkene"),
        (((A_PAID, "0.00", "10"),), "no longer open (betaald)"),
        (((B_WAHV, "249.00", "10"), (B_WAHV, "249.00", "10")), "listed twice"),
        (((A_VOL, "456.00", "20"), (A_HALF, "159.00", "25")), "different percentages"),
        (((A_VOL, "400.00", "20"),), "counts less than is open"),
    ],
)
def test_proposals_a_person_must_look_at(
    adapter: CjibAdapter, claims: tuple[tuple[str, str, str], ...], fragment: str
) -> None:
    debtor_id = "2" if claims[0][0] == B_WAHV else "1"
    assessment = adapter.assess_proposal(_debtor(debtor_id), _proposal(*claims))
    assert assessment.decision == "manual"
    assert fragment in assessment.reason


def test_a_prognose_that_does_not_follow_from_the_percentage(adapter: CjibAdapter) -> None:
    item = ProposalClaim(
        factuurnummer=A_VOL,
        actueel_vorderingsbedrag=D("456.00"),
        afkooppercentage=D("20"),
        prognose_eindbedrag=D("45.60"),  # 10 %, not 20 %
    )
    proposal = Proposal(type_schuldregeling="SB", looptijd_maanden=18, claims=(item,))
    assessment = adapter.assess_proposal(_debtor("1"), proposal)
    assert assessment.decision == "manual" and "prognose" in assessment.reason


def test_a_zero_percent_proposal_is_accepted_and_unlisted_claims_noted(
    adapter: CjibAdapter,
) -> None:
    assessment = adapter.assess_proposal(_debtor("1"), _proposal((A_VOL, "456.00", "0")))
    assert assessment.decision == "accept"
    assert "get 0 %" in assessment.reason
    assert "1 other open zaken are not in the proposal" in assessment.reason


# -- arrangements -----------------------------------------------------------------------------


def test_record_arrangement_is_idempotent(adapter: CjibAdapter, sample: SampleBackOffice) -> None:
    conversation = uuid.uuid4()
    arrangement = _arrangement(
        (B_SCHADE, "1000.00", "15"), (B_WAHV, "249.00", "15"), conversation_id=conversation
    )
    adapter.record_arrangement(_debtor("2"), arrangement)
    adapter.record_arrangement(_debtor("2"), arrangement)
    assert _table(_db(sample), "SELECT regeling_id, betrokkene_id, status FROM regelingen") == [
        (str(conversation), 2, "actief")
    ]
    assert _table(
        _db(sample),
        "SELECT zaaknummer, afkooppercentage, prognose_eindbedrag, restant_blijft_verschuldigd "
        "FROM regeling_zaken ORDER BY zaaknummer",
    ) == [(B_SCHADE, "15", "150.00", 1), (B_WAHV, "15", "37.35", 0)]
    # an agreed regeling stops the surcharge run too (Wahv art. 23 lid 2)
    assert B_WAHV not in {v.zaaknummer for v in escalate(_db(sample), date(2025, 9, 1))}
    with pytest.raises(BackOfficeRejected):
        adapter.record_arrangement(_debtor("1"), arrangement)


def test_an_arrangement_with_unknown_claims_is_rejected_whole(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    arrangement = _arrangement(
        (B_WAHV, "249.00", "15"), (A_VOL, "456.00", "15"), conversation_id=uuid.uuid4()
    )
    with pytest.raises(BackOfficeRejected, match="1 claims"):
        adapter.record_arrangement(_debtor("2"), arrangement)
    assert _table(_db(sample), "SELECT count(*) FROM regelingen") == [(0,)]


# -- write-off --------------------------------------------------------------------------------


def test_write_off_leaves_niet_saneerbare_claims_and_explains(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    result = adapter.write_off(_debtor("2"), _write_off("2", B_SCHADE, B_WAHV))
    assert result.written_off == (B_WAHV,)
    assert result.amount == D("249.00")
    assert f"{B_SCHADE} (schadevergoedingsmaatregel)" in result.detail
    assert "niet-saneerbaar" in result.detail and "remainder stays payable" in result.detail
    assert "Fw 358 lid 4" in result.detail and "betalingsregeling" in result.detail

    claims = _claims(adapter, "2")
    assert list(claims) == [B_SCHADE]  # the Wahv claim is gone, the remainder of the other stays
    assert claims[B_SCHADE].openstaand == D("1000.00")
    assert _table(
        _db(sample), "SELECT status, afgeboekt FROM zaken WHERE zaaknummer = ?", B_WAHV
    ) == [("afgeboekt", "249.00")]
    assert _table(
        _db(sample), "SELECT count(*) FROM maatregelen WHERE zaaknummer = ? AND actief", B_WAHV
    ) == [(0,)]


def test_write_off_is_idempotent(adapter: CjibAdapter, sample: SampleBackOffice) -> None:
    request = _write_off("1", A_VOL, A_HALF)
    first = adapter.write_off(_debtor("1"), request)
    assert first.written_off == (A_VOL, A_HALF)
    assert first.amount == D("615.00")
    snapshot = _table(_db(sample), "SELECT * FROM zaken ORDER BY 1")
    assert adapter.write_off(_debtor("1"), request) == first
    assert _table(_db(sample), "SELECT * FROM zaken ORDER BY 1") == snapshot
    assert _table(_db(sample), "SELECT count(*) FROM afboekingen") == [(1,)]
    # another write-off of the same claims finds nothing left
    again = adapter.write_off(_debtor("1"), _write_off("1", A_VOL))
    assert again.written_off == () and again.amount == D("0.00")
    assert "Nothing left to write off" in again.detail
    with pytest.raises(BackOfficeRejected):
        adapter.write_off(_debtor("2"), request.model_copy(update={"debtor_id": "2"}))


def test_write_off_never_touches_niet_saneerbare_claims(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    niet = (
        "SELECT z.*, (SELECT group_concat(m.actief) FROM maatregelen m "
        "WHERE m.zaaknummer = z.zaaknummer) FROM zaken z WHERE NOT saneerbaar ORDER BY 1"
    )
    before = _table(_db(sample), niet)
    assert len(before) == 6
    for betrokkene_id, nummer in _table(
        _db(sample), "SELECT betrokkene_id, group_concat(zaaknummer, '|') FROM zaken GROUP BY 1"
    ):
        adapter.write_off(_debtor(str(betrokkene_id)), _write_off("x", *nummer.split("|")))
    assert _table(_db(sample), niet) == before
    left = {s for (s,) in _table(_db(sample), "SELECT DISTINCT status FROM zaken WHERE saneerbaar")}
    assert left == {"afgeboekt", "betaald"}


def test_write_off_of_the_arrangement_of_a_conversation(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    conversation = uuid.uuid4()
    adapter.record_arrangement(
        _debtor("4"),
        _arrangement(
            (D_GIJZ, "1239.00", "5"), (D_VONNIS, "500.00", "5"), conversation_id=conversation
        ),
    )
    result = adapter.write_off(_debtor("4"), _write_off("4", conversation_id=conversation))
    assert result.written_off == (D_GIJZ,)
    assert result.amount == D("1239.00")
    assert "arrangement of this conversation" in result.detail
    assert f"{D_VONNIS} (geldboete_vonnis)" in result.detail
    assert _table(_db(sample), "SELECT status FROM regelingen") == [("geslaagd",)]
    assert list(_claims(adapter, "4")) == [D_RIJ, D_VONNIS]


def test_concurrent_arrangements_and_write_offs_count_once(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    conversation = uuid.uuid4()
    arrangement = _arrangement((C_OPEN, "172.50", "10"), conversation_id=conversation)
    request = _write_off("3", C_OPEN, conversation_id=conversation)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: adapter.record_arrangement(_debtor("3"), arrangement), range(6)))
        results = list(pool.map(lambda _: adapter.write_off(_debtor("3"), request), range(6)))
    assert all(r == results[0] for r in results)
    assert results[0].written_off == (C_OPEN,) and results[0].amount == D("172.50")
    assert _table(_db(sample), "SELECT count(*) FROM regeling_zaken") == [(1,)]
    assert _table(_db(sample), "SELECT count(*), sum(bedrag) FROM afboekingen") == [(1, 172.5)]


# -- failures ---------------------------------------------------------------------------------


@pytest.fixture
def locked(sample: SampleBackOffice) -> Iterator[None]:
    # another connection keeps everyone out, readers too (the back-office is in WAL mode)
    with exclusive_lock(_db(sample)):
        yield


def test_locked_database_is_unavailable(sample: SampleBackOffice, locked: None) -> None:
    a = _adapter(sample.options, timeout_seconds=0.1)
    try:
        with pytest.raises(BackOfficeUnavailable, match="locked") as err:
            a.find_debtor(DebtorQuery(klantnummer_se="700001"))
        assert err.value.retryable
        calls = [
            lambda: a.list_claims(_debtor("1")),
            lambda: a.apply_hold(_hold("1")),
            lambda: a.assess_proposal(_debtor("1"), _proposal((A_VOL, "456.00", "20"))),
            lambda: a.record_arrangement(
                _debtor("1"), _arrangement((A_VOL, "456.00", "20"), conversation_id=uuid.uuid4())
            ),
            lambda: a.write_off(_debtor("1"), _write_off("1", A_VOL)),
        ]
        for call in calls:
            with pytest.raises(BackOfficeUnavailable):
                call()
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok and "locked" in connection.message
    finally:
        a.close()


def test_missing_database_is_unavailable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        with pytest.raises(BackOfficeUnavailable):
            a.find_debtor(DebtorQuery(klantnummer_se="700001"))
        with pytest.raises(BackOfficeUnavailable):
            a.write_off(_debtor("1"), _write_off("1", A_VOL))
        assert not path.exists()
        checks = {r.aspect: r for r in a.check()}
        assert checks["settings"].ok and checks["credentials"].ok
        assert not checks["connection"].ok and "does not exist" in checks["connection"].message
    finally:
        a.close()


def test_check_reports_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE betrokkenen (x)").connection.close()
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok
        assert "zaken, maatregelen, noodstops" in connection.message
        with pytest.raises(BackOfficeUnavailable, match="no such"):
            a.list_claims(_debtor("1"))
    finally:
        a.close()


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="SQLite"):
        CjibAdapter.Options.model_validate({"database_url": "postgresql://h/db"})
    with pytest.raises(ValueError, match="600"):
        CjibAdapter.Options.model_validate({"database_url": "sqlite:///x.db", "timeout_seconds": 0})


def test_slow_statement_is_a_timeout(
    sample: SampleBackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_module, "_PROGRESS_STEPS", 1)
    a = _adapter(sample.options, timeout_seconds=1e-9)
    try:
        with pytest.raises(BackOfficeTimeout):
            a.list_claims(_debtor("1"))
    finally:
        a.close()


def test_integrity_error_is_rejected_and_rolled_back(
    adapter: CjibAdapter, sample: SampleBackOffice
) -> None:
    with sqlite3.connect(_db(sample)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF status ON zaken "
            "BEGIN SELECT RAISE(ABORT, 'zaken are frozen'); END"
        )
    with pytest.raises(BackOfficeRejected, match="zaken are frozen"):
        adapter.write_off(_debtor("1"), _write_off("1", A_VOL))
    assert _table(_db(sample), "SELECT count(*) FROM afboekingen") == [(0,)]
    assert _claims(adapter, "1")[A_VOL].openstaand == D("456.00")


def test_no_personal_data_in_logs_or_errors(
    sample: SampleBackOffice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's SQLite helper's too
    texts: list[str] = []
    errors: list[BaseException] = []
    a = _adapter(sample.options, timeout_seconds=0.1)
    try:
        for d in sample.debtors:
            for query in (
                DebtorQuery(bsn=d.person.bsn),
                DebtorQuery(klantnummer_se=d.klantnummer_se, bsn="111222333"),
                DebtorQuery(factuurnummers=d.factuurnummers),
                DebtorQuery(
                    achternaam=d.person.achternaam,
                    geboortedatum=d.person.geboortedatum,
                    postcode=d.postcode,
                    huisnummer=d.huisnummer,
                ),
            ):
                found = a.find_debtor(query)
                if not found:
                    continue
                claims = a.list_claims(found)
                hold = _hold(found.debtor_id, lift={M.GIJZELING})
                texts += [a.apply_hold(hold).detail, a.release_hold(hold).detail]
                items = tuple((c.factuurnummer, str(c.openstaand), "10") for c in claims)
                texts.append(a.assess_proposal(found, _proposal(*items)).reason)
                a.record_arrangement(found, _arrangement(*items, conversation_id=uuid.uuid4()))
                texts.append(
                    a.write_off(found, _write_off(found.debtor_id, *d.factuurnummers)).detail
                )
        try:
            a.record_arrangement(
                _debtor("1"), _arrangement((B_WAHV, "1", "1"), conversation_id=uuid.uuid4())
            )
        except BackOfficeRejected as exc:
            errors.append(exc)
        a.close()  # its idle connections would keep the exclusive lock out (WAL)
        with exclusive_lock(_db(sample)):
            for d in sample.debtors:
                try:
                    a.find_debtor(DebtorQuery(bsn=d.person.bsn, achternaam=d.person.achternaam))
                except BackOfficeUnavailable as exc:
                    errors.append(exc)
    finally:
        a.close()
    assert len(errors) == len(sample.debtors) + 1
    assert any(r.name == "skn_cjib" for r in caplog.records)

    texts += [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    secrets: list[str] = []
    for d in sample.debtors:
        assert d.person.bsn
        secrets += [d.person.bsn, d.person.achternaam, d.person.achternaam.split("-")[0]]
        secrets += [d.person.voornamen, d.postcode, d.straatnaam]
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


def test_normalise_factuurnummer() -> None:
    assert normalise_factuurnummer(" 99/000201-23 ") == "9900020123"
    assert normalise_factuurnummer("eub_2024.011203") == "EUB2024011203"
