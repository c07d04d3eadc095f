"""The werk en inkomen reference adapter against a real sample SQLite back-office."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from skn_werk_en_inkomen import adapter as adapter_module
from skn_werk_en_inkomen.adapter import WerkEnInkomenAdapter
from skn_werk_en_inkomen.backoffice import elfproef, synthetic_bsns
from skn_werk_en_inkomen.rules import refusal_reason
from skn_werk_en_inkomen.sample import main as sample_main

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
from skn_connector.adapters.registry import load_adapter
from skn_connector.adapters.sqlite import exclusive_lock

M = MeasureCode
D = Decimal

ORDINARY = Debtor(debtor_id="1", klantnummer_se="200001")
FRAUD = Debtor(debtor_id="2", klantnummer_se="200002")
VERWIJTBAAR = Debtor(debtor_id="3", klantnummer_se="200003")
COUPLE = Debtor(debtor_id="4", klantnummer_se="200004")
PARTNER = Debtor(debtor_id="5", klantnummer_se="200005")
BETWIST = Debtor(debtor_id="6", klantnummer_se="200006")


def _adapter(options: dict[str, Any], **extra: Any) -> WerkEnInkomenAdapter:
    return WerkEnInkomenAdapter(WerkEnInkomenAdapter.Options.model_validate({**options, **extra}))


@pytest.fixture
def sample(tmp_path: Path) -> SampleBackOffice:
    return WerkEnInkomenAdapter.create_sample(tmp_path)


@pytest.fixture
def adapter(sample: SampleBackOffice) -> Iterator[WerkEnInkomenAdapter]:
    a = _adapter(sample.options)
    yield a
    a.close()


def _db(sample: SampleBackOffice) -> Path:
    return Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))


def _known(sample: SampleBackOffice, klantnummer: str) -> SampleDebtor:
    return next(d for d in sample.debtors if d.klantnummer_se == klantnummer)


def _hold(debtor_id: str, **kw: Any) -> Hold:
    values: dict[str, Any] = {
        "hold_id": uuid.uuid4(),
        "debtor_id": debtor_id,
        "measures": {
            M.AANMANING,
            M.DWANGBEVEL,
            M.KOSTEN,
            M.BESLAG_LOON,
            M.VERREKENING,
            M.DEURWAARDER,
        },
        "reason": "KENNISGEVING",
        "basis": "convenant",
        "starts": date(2025, 7, 1),
        "ends": date(2026, 3, 1),
        "conversation_id": uuid.uuid4(),
    }
    values.update(kw)
    return Hold.model_validate(values)


def _measures(adapter: WerkEnInkomenAdapter, debtor_id: str) -> dict[str, frozenset[M]]:
    debtor = Debtor(debtor_id=debtor_id, klantnummer_se="x")
    return {c.factuurnummer: c.measures for c in adapter.list_claims(debtor)}


def _table(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:  # closed at once: an open connection to a WAL database keeps an exclusive lock out
        return list(conn.execute(sql))
    finally:
        conn.close()


def _pc(factuurnummer: str, amount: str, percentage: str) -> ProposalClaim:
    bedrag, pct = D(amount), D(percentage)
    return ProposalClaim(
        factuurnummer=factuurnummer,
        actueel_vorderingsbedrag=bedrag,
        afkooppercentage=pct,
        prognose_eindbedrag=(bedrag * pct / 100).quantize(D("0.01")),
    )


def _proposal(*claims: tuple[str, str, str], looptijd: int = 18, kind: str = "SB") -> Proposal:
    return Proposal(
        type_schuldregeling=kind,
        looptijd_maanden=looptijd,
        claims=tuple(_pc(*c) for c in claims),
    )


def _arrangement(conversation_id: uuid.UUID, *claims: tuple[str, str, str]) -> Arrangement:
    return Arrangement(
        type_schuldregeling="SB",
        datum_akkoord=date(2025, 9, 1),
        claims=tuple(_pc(*c) for c in claims),
        conversation_id=conversation_id,
    )


def _write_off(debtor: Debtor, *factuurnummers: str, **kw: Any) -> WriteOff:
    values: dict[str, Any] = {
        "write_off_id": uuid.uuid4(),
        "debtor_id": debtor.debtor_id,
        "factuurnummers": factuurnummers,
        "reason": "SCHULDREGELING_GESLAAGD",
        "datum": date(2027, 3, 1),
        "conversation_id": uuid.uuid4(),
    }
    values.update(kw)
    return WriteOff.model_validate(values)


# -- the sample -------------------------------------------------------------------------------


def test_sample_is_synthetic_deterministic_and_complete(tmp_path: Path) -> None:
    one = WerkEnInkomenAdapter.create_sample(tmp_path / "one")
    two = WerkEnInkomenAdapter.create_sample(tmp_path / "two")
    assert one.debtors == two.debtors
    for table in ("clients", "vorderingen", "maatregelen"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        assert _table(_db(one), sql) == _table(_db(two), sql)

    assert [d.klantnummer_se for d in one.debtors] == [
        "200001",
        "200002",
        "200003",
        "200004",
        "200006",
    ]
    bsns = [bsn for (bsn,) in _table(_db(one), "SELECT bsn FROM clients")]
    assert len(bsns) == 26 == len(set(bsns))  # 6 known people + 20 for volume
    assert all(elfproef(b) and b.startswith("99999") for b in bsns)
    names = [n for (n,) in _table(_db(one), "SELECT achternaam FROM clients")]
    assert all(n.endswith("-Voorbeeld") for n in names)
    partner = _known(one, "200004").partner
    assert partner is not None and partner.bsn in bsns
    statuses = {s for (s,) in _table(_db(one), "SELECT DISTINCT status FROM vorderingen")}
    assert {"open", "betwist", "overgedragen", "afgelost"} <= statuses
    soorten = {s for (s,) in _table(_db(one), "SELECT DISTINCT soort FROM vorderingen")}
    assert soorten == {"terugvordering_bijstand", "bestuurlijke_boete", "verhaal", "leenbijstand"}
    kwalificaties = {
        k for (k,) in _table(_db(one), "SELECT DISTINCT fraude_kwalificatie FROM vorderingen")
    }
    assert kwalificaties == {None, "geen", "verwijtbaar", "grove_schuld", "opzet"}


def test_sample_verrekening_is_mandatory_for_fraud_claims(sample: SampleBackOffice) -> None:
    # every open fraud claim of a client with an uitkering has an active verrekening
    missing = _table(
        _db(sample),
        "SELECT v.besluitnummer FROM vorderingen v JOIN clients c USING (client_id) "
        "WHERE v.fraude = 1 AND v.status = 'open' AND c.uitkering IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM maatregelen m WHERE m.besluitnummer = v.besluitnummer "
        "AND m.code = 'VERREKENING' AND m.actief = 1)",
    )
    assert missing == []
    fraud_with_uitkering = _table(
        _db(sample),
        "SELECT count(*) FROM vorderingen v JOIN clients c USING (client_id) "
        "WHERE v.fraude = 1 AND v.status = 'open' AND c.uitkering IS NOT NULL",
    )
    assert fraud_with_uitkering[0][0] >= 5


def test_schema_constraints_reflect_the_law(sample: SampleBackOffice) -> None:
    with sqlite3.connect(_db(sample)) as conn:
        for sql in (
            # a boete is always a fraud claim
            "UPDATE vorderingen SET fraude = 0, fraude_kwalificatie = NULL "
            "WHERE besluitnummer = 'BB-2023-00202'",
            # no kwalificatie without fraud
            "UPDATE vorderingen SET fraude_kwalificatie = 'opzet' "
            "WHERE besluitnummer = 'TV-2024-00101'",
            # hoofdelijk exactly when there is a medeschuldenaar
            "UPDATE vorderingen SET medeschuldenaar_id = NULL "
            "WHERE besluitnummer = 'TV-2024-00401'",
            # Participatiewet collection has no invorderingsrente
            "INSERT INTO maatregelen (besluitnummer, client_id, code, actief, sinds) "
            "VALUES ('TV-2024-00101', 1, 'RENTE', 1, '2025-01-01')",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(sql)


def test_bsns_pass_the_elfproef_and_avoid_the_tax_sample() -> None:
    assert elfproef("111222333")
    assert not elfproef("111222334")
    bsns = synthetic_bsns()
    assert all(elfproef(b) for b in bsns)
    assert min(bsns) >= "999995000"


def test_seed_command_prints_options_as_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    assert sample_main(["seed", "--directory", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "# klantnummer 200002: fraud" in out
    (entry,) = tomllib.loads(out)["adapters"]
    assert entry["use"] == "werk_en_inkomen"
    url = entry["options"]["database_url"]
    assert url == f"sqlite:///{(tmp_path / 's' / 'werk_en_inkomen.db').resolve()}"
    a = _adapter(entry["options"])
    try:
        assert all(r.ok for r in a.check())
    finally:
        a.close()


def test_loads_through_the_registry(sample: SampleBackOffice) -> None:
    loaded = load_adapter("wi", "werk_en_inkomen", sample.options)
    try:
        assert isinstance(loaded.adapter, WerkEnInkomenAdapter)
        assert loaded.capabilities == {
            Capability.CLAIMS,
            Capability.HOLDS,
            Capability.PROPOSALS,
            Capability.ARRANGEMENTS,
            Capability.WRITE_OFF,
        }
        assert loaded.adapter.find_debtor(DebtorQuery(klantnummer_se="200001")) == ORDINARY
    finally:
        loaded.adapter.close()


def test_options_keep_the_legal_exclusion(sample: SampleBackOffice) -> None:
    with pytest.raises(ValidationError, match="must include opzet and grove_schuld"):
        _adapter(sample.options, no_kwijtschelding_for=["opzet"])
    stricter = _adapter(
        sample.options, no_kwijtschelding_for=["verwijtbaar", "opzet", "grove_schuld"]
    )
    try:
        assert stricter.options.no_kwijtschelding_for == ("grove_schuld", "opzet", "verwijtbaar")
        (claim,) = stricter.list_claims(VERWIJTBAAR)
        assert not claim.saneerbaar
    finally:
        stricter.close()


# -- find_debtor ------------------------------------------------------------------------------


def test_find_by_bsn(adapter: WerkEnInkomenAdapter, sample: SampleBackOffice) -> None:
    known = _known(sample, "200002")
    assert known.person.bsn
    assert adapter.find_debtor(DebtorQuery(bsn=known.person.bsn)) == FRAUD


def test_find_partner_by_bsn(adapter: WerkEnInkomenAdapter, sample: SampleBackOffice) -> None:
    partner = _known(sample, "200004").partner
    assert partner is not None and partner.bsn
    assert adapter.find_debtor(DebtorQuery(bsn=partner.bsn)) == PARTNER


def test_find_by_klantnummer_and_prefix(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    assert adapter.find_debtor(DebtorQuery(klantnummer_se=" 200006 ")) == BETWIST
    a = _adapter(sample.options, klantnummer_prefix="WI-")
    try:
        expected = Debtor(debtor_id="6", klantnummer_se="WI-200006")
        assert a.find_debtor(DebtorQuery(klantnummer_se="wi-200006")) == expected
        assert a.find_debtor(DebtorQuery(klantnummer_se="200006")) == expected
    finally:
        a.close()


@pytest.mark.parametrize(
    "written", ["TV-2023-00201", "tv 2023 00201", "TV.2023.00201", "TV/2023/00201", "TV202300201"]
)
def test_find_by_factuurnummer_normalised(adapter: WerkEnInkomenAdapter, written: str) -> None:
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("XX-9999-1", written))) == FRAUD


def test_find_by_a_paid_claim(adapter: WerkEnInkomenAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("TV-2022-00103",))) == ORDINARY


def test_hoofdelijk_claim_alone_points_at_no_one(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("TV-2024-00401",))) is None
    # with the partner's own claim it is the partner; with the BSN it is whoever it names
    both = DebtorQuery(factuurnummers=("TV-2024-00401", "LB-2024-00501"))
    assert adapter.find_debtor(both) == PARTNER
    known = _known(sample, "200004")
    by_bsn_route = DebtorQuery(bsn=known.person.bsn, factuurnummers=("TV-2024-00401",))
    assert adapter.find_debtor(by_bsn_route) == COUPLE
    # claims of two unrelated people point at no one
    mixed = DebtorQuery(factuurnummers=("TV-2024-00101", "TV-2023-00201"))
    assert adapter.find_debtor(mixed) is None


def test_hoofdelijk_claim_with_name_falls_through_to_the_name_route(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    known = _known(sample, "200004")
    query = DebtorQuery(
        factuurnummers=("TV-2024-00401",),
        achternaam="van der Meulen-Voorbeeld",
        geboortedatum=known.person.geboortedatum,
        postcode="4567 ef",
        huisnummer=known.huisnummer,
    )
    assert adapter.find_debtor(query) == COUPLE


def test_find_by_name_and_address(adapter: WerkEnInkomenAdapter, sample: SampleBackOffice) -> None:
    known = _known(sample, "200003")
    query = DebtorQuery(
        achternaam="DIJKMAN-VOORBEELD",
        geboortedatum=known.person.geboortedatum,
        postcode=known.postcode,
        huisnummer=known.huisnummer,
    )
    assert adapter.find_debtor(query) == VERWIJTBAAR
    wrong_house = query.model_copy(update={"huisnummer": known.huisnummer + 1})
    assert adapter.find_debtor(wrong_house) is None


def test_a_different_bsn_is_never_returned(adapter: WerkEnInkomenAdapter) -> None:
    other = "111222333"  # passes the elfproef, is nobody's here
    assert adapter.find_debtor(DebtorQuery(klantnummer_se="200002", bsn=other)) is None
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("TV-2023-00201",), bsn=other)) is None
    # the partner's own claim with the hoofdelijk one, but the BSN of neither partner
    both = DebtorQuery(factuurnummers=("TV-2024-00401", "LB-2024-00501"), bsn=other)
    assert adapter.find_debtor(both) is None


def test_unknown_debtor(adapter: WerkEnInkomenAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(bsn="111222333")) is None
    assert adapter.find_debtor(DebtorQuery(klantnummer_se="999999")) is None
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("TV-2099-00001",))) is None
    assert adapter.find_debtor(DebtorQuery()) is None


# -- list_claims ------------------------------------------------------------------------------


def test_claims_and_amounts(adapter: WerkEnInkomenAdapter) -> None:
    assert adapter.list_claims(ORDINARY) == [
        Claim(
            factuurnummer="LB-2023-00102",
            omschrijving="Leenbijstand Bbz 2023",
            ontstaansdatum=date(2023, 9, 20),
            originele_vordering=D("2500.00"),
            hoofdsom=D("1900.00"),
            kosten=D("41.00"),
            openstaand=D("1941.00"),
            measures=frozenset({M.DWANGBEVEL, M.KOSTEN}),
        ),
        Claim(
            factuurnummer="TV-2024-00101",
            omschrijving="Terugvordering Participatiewet 2024",
            ontstaansdatum=date(2024, 3, 12),
            originele_vordering=D("1840.00"),
            hoofdsom=D("1525.00"),
            openstaand=D("1525.00"),
            measures=frozenset({M.VERREKENING}),
        ),
    ]
    # TV-2022-00103 is afgelost and is not a claim


def test_fraud_flags_and_kwalificatie(adapter: WerkEnInkomenAdapter) -> None:
    claims = {c.factuurnummer: c for c in adapter.list_claims(FRAUD)}
    assert list(claims) == ["BB-2023-00202", "TV-2023-00201", "TV-2024-00203"]

    opzet = claims["TV-2023-00201"]
    assert (opzet.fraude, opzet.fraude_kwalificatie, opzet.saneerbaar) == (True, "opzet", False)
    assert opzet.openstaand == D("5540.00")
    assert opzet.measures == {M.VERREKENING}

    boete = claims["BB-2023-00202"]
    assert boete.omschrijving == "Bestuurlijke boete Participatiewet 2023"
    assert (boete.fraude, boete.fraude_kwalificatie, boete.saneerbaar) == (
        True,
        "grove_schuld",
        False,
    )
    assert boete.openstaand == D("1250.00")

    ordinary = claims["TV-2024-00203"]
    assert (ordinary.fraude, ordinary.fraude_kwalificatie, ordinary.saneerbaar) == (
        False,
        None,
        True,
    )
    assert ordinary.openstaand == D("312.40")
    assert ordinary.measures == {M.AANMANING}
    assert not any(c.preferent for c in claims.values())

    (verwijtbaar,) = adapter.list_claims(VERWIJTBAAR)
    assert verwijtbaar.fraude and verwijtbaar.fraude_kwalificatie == "verwijtbaar"
    assert verwijtbaar.saneerbaar  # the law allows its kwijtschelding
    assert verwijtbaar.openstaand == D("2853.50")
    assert verwijtbaar.measures == {M.DWANGBEVEL, M.BESLAG_LOON, M.KOSTEN}


def test_hoofdelijk_claim_is_listed_for_both_partners(adapter: WerkEnInkomenAdapter) -> None:
    mine, own = adapter.list_claims(COUPLE)
    assert (own.factuurnummer, own.openstaand, own.measures) == (
        "TV-2025-00402",
        D("245.00"),
        frozenset({M.AANMANING}),
    )
    assert mine.factuurnummer == "TV-2024-00401"
    assert mine.omschrijving == "Terugvordering Participatiewet 2024, hoofdelijk met partner"
    assert mine.openstaand == D("3150.00")
    assert mine.measures == {M.VERREKENING}  # the measures against this partner only

    theirs = {c.factuurnummer: c for c in adapter.list_claims(PARTNER)}
    assert list(theirs) == ["LB-2024-00501", "TV-2024-00401"]
    assert theirs["TV-2024-00401"].openstaand == D("3150.00")
    assert theirs["TV-2024-00401"].measures == {M.BESLAG_LOON}
    assert theirs["LB-2024-00501"].measures == {M.AANMANING}


def test_betwist_and_overgedragen_claims(adapter: WerkEnInkomenAdapter) -> None:
    claims = adapter.list_claims(BETWIST)
    assert [(c.factuurnummer, c.status, c.openstaand) for c in claims] == [
        ("TV-2021-00602", "overgedragen", D("1536.30")),
        ("VH-2024-00601", "betwist", D("4100.00")),
    ]
    assert claims[0].overgedragen_aan == "Gerechtsdeurwaarders Voorbeeld & Co (fictief)"
    assert claims[0].measures == {M.DWANGBEVEL, M.DEURWAARDER, M.KOSTEN}
    assert claims[1].omschrijving == "Verhaal onderhoudsplicht Participatiewet 2024"
    assert claims[1].measures == frozenset()


def test_unknown_debtor_id_is_rejected(adapter: WerkEnInkomenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="4711", klantnummer_se="x"))
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="not-a-number", klantnummer_se="x"))


# -- holds ------------------------------------------------------------------------------------

BEFORE_1 = {
    "LB-2023-00102": frozenset({M.DWANGBEVEL, M.KOSTEN}),
    "TV-2024-00101": frozenset({M.VERREKENING}),
}
BEFORE_2 = {
    "BB-2023-00202": frozenset({M.VERREKENING}),
    "TV-2023-00201": frozenset({M.VERREKENING}),
    "TV-2024-00203": frozenset({M.AANMANING}),
}


def test_apply_twice_is_apply_once(adapter: WerkEnInkomenAdapter, sample: SampleBackOffice) -> None:
    assert _measures(adapter, "1") == BEFORE_1
    hold = _hold("1")
    first = adapter.apply_hold(hold)
    assert first.applied and first.hold_id == hold.hold_id
    assert first.measures == {M.DWANGBEVEL, M.KOSTEN, M.VERREKENING}
    after_first = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    assert _measures(adapter, "1") == dict.fromkeys(BEFORE_1, frozenset())

    second = adapter.apply_hold(hold)
    assert second == first
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == after_first
    assert _table(_db(sample), "SELECT hold_id, status FROM opschortingen") == [
        (str(hold.hold_id), "applied")
    ]
    assert _measures(adapter, "2") == BEFORE_2  # other clients are untouched


def test_verrekening_suspended_and_resumed(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    hold = _hold("1", measures={M.VERREKENING}, factuurnummers=("TV 2024 00101",))
    assert adapter.apply_hold(hold).measures == {M.VERREKENING}
    assert _measures(adapter, "1") == {**BEFORE_1, "TV-2024-00101": frozenset()}
    assert _table(
        _db(sample),
        "SELECT actief, opgeschort_door FROM maatregelen "
        "WHERE besluitnummer = 'TV-2024-00101' AND code = 'VERREKENING'",
    ) == [(1, str(hold.hold_id))]

    released = adapter.release_hold(hold)
    assert released.applied and released.measures == {M.VERREKENING}
    assert _measures(adapter, "1") == BEFORE_1
    assert adapter.release_hold(hold) == released  # twice is harmless
    replay = adapter.apply_hold(hold)  # a late replay does not suspend again
    assert not replay.applied
    assert _measures(adapter, "1") == BEFORE_1


def test_release_of_an_unknown_hold_is_a_no_op(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    before = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    result = adapter.release_hold(_hold("1"))
    assert result.applied and result.measures == frozenset()
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == before


def test_covenant_hold_keeps_the_mandatory_fraud_verrekening(
    adapter: WerkEnInkomenAdapter,
) -> None:
    hold = _hold("2")
    result = adapter.apply_hold(hold)
    assert result.measures == {M.AANMANING}
    assert "2 verrekening on fraud claims kept" in result.detail
    assert _measures(adapter, "2") == {**BEFORE_2, "TV-2024-00203": frozenset()}
    assert adapter.release_hold(hold).measures == {M.AANMANING}
    assert _measures(adapter, "2") == BEFORE_2


def test_court_hold_stops_the_fraud_verrekening(adapter: WerkEnInkomenAdapter) -> None:
    court = _hold("2", basis="rechter", reason="BREED_MORATORIUM")
    assert adapter.apply_hold(court).measures == {M.AANMANING, M.VERREKENING}
    assert _measures(adapter, "2") == dict.fromkeys(BEFORE_2, frozenset())

    # a covenant hold alongside does not take the fraud verrekening over at release
    covenant = _hold("2")
    adapter.apply_hold(covenant)
    released = adapter.release_hold(court)
    assert released.measures == {M.VERREKENING}
    assert _measures(adapter, "2") == {**BEFORE_2, "TV-2024-00203": frozenset()}
    adapter.release_hold(covenant)
    assert _measures(adapter, "2") == BEFORE_2


def test_keep_fraud_verrekening_is_configurable(sample: SampleBackOffice) -> None:
    a = _adapter(sample.options, keep_fraud_verrekening_on=[])
    try:
        assert a.apply_hold(_hold("2")).measures == {M.AANMANING, M.VERREKENING}
        assert _measures(a, "2") == dict.fromkeys(BEFORE_2, frozenset())
    finally:
        a.close()


def test_hold_for_one_partner_leaves_the_others_measures(adapter: WerkEnInkomenAdapter) -> None:
    mine = _hold("4")
    assert adapter.apply_hold(mine).measures == {M.VERREKENING, M.AANMANING}
    assert _measures(adapter, "4") == {
        "TV-2024-00401": frozenset(),
        "TV-2025-00402": frozenset(),
    }
    assert _measures(adapter, "5") == {
        "LB-2024-00501": frozenset({M.AANMANING}),
        "TV-2024-00401": frozenset({M.BESLAG_LOON}),
    }
    theirs = _hold("5", lift={M.BESLAG_LOON})
    assert adapter.apply_hold(theirs).measures == {M.AANMANING, M.BESLAG_LOON}
    adapter.release_hold(theirs)
    # a lifted beslag stays lifted; the aanmaning resumes
    assert _measures(adapter, "5") == {
        "LB-2024-00501": frozenset({M.AANMANING}),
        "TV-2024-00401": frozenset(),
    }


def test_overlapping_holds_keep_a_measure_held(adapter: WerkEnInkomenAdapter) -> None:
    wide = _hold("1")
    narrow = _hold("1", factuurnummers=("LB-2023-00102",), measures={M.DWANGBEVEL})
    adapter.apply_hold(wide)
    assert adapter.apply_hold(narrow).measures == {M.DWANGBEVEL}  # already held by `wide`
    adapter.release_hold(wide)
    assert _measures(adapter, "1") == {
        "LB-2023-00102": frozenset({M.KOSTEN}),
        "TV-2024-00101": frozenset({M.VERREKENING}),
    }
    adapter.release_hold(narrow)
    assert _measures(adapter, "1") == BEFORE_1


def test_concurrent_applies_of_one_hold_count_once(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    hold = _hold("3")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: adapter.apply_hold(hold), range(8)))
    assert all(r == results[0] for r in results)
    assert results[0].measures == {M.DWANGBEVEL, M.BESLAG_LOON, M.KOSTEN}
    assert _table(_db(sample), "SELECT count(*) FROM opschortingen") == [(1,)]


def test_hold_for_unknown_or_other_debtor_is_rejected(adapter: WerkEnInkomenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(_hold("4711"))
    hold = _hold("1")
    adapter.apply_hold(hold)
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(hold.model_copy(update={"debtor_id": "2"}))


# -- proposals --------------------------------------------------------------------------------


def test_proposal_writing_off_opzet_fraud_is_rejected(adapter: WerkEnInkomenAdapter) -> None:
    proposal = _proposal(
        ("TV-2023-00201", "5540.00", "12.50"),
        ("BB-2023-00202", "1250.00", "12.50"),
        ("TV-2024-00203", "312.40", "12.50"),
    )
    result = adapter.assess_proposal(FRAUD, proposal)
    assert result.decision == "reject"
    assert result.reason.startswith("Fraudevorderingen TV-2023-00201 en BB-2023-00202:")
    assert "kwijtschelding" in result.reason and "100%" in result.reason
    assert len(result.reason) <= 200


def test_proposal_writing_off_opzet_fraud_can_go_to_a_person(sample: SampleBackOffice) -> None:
    a = _adapter(sample.options, excluded_fraud_decision="manual")
    try:
        result = a.assess_proposal(FRAUD, _proposal(("TV-2023-00201", "5540.00", "0")))
        assert result.decision == "manual"
        assert "TV-2023-00201 may not be kwijtgescholden" in result.reason
    finally:
        a.close()


def test_fraud_claims_paid_in_full_are_no_obstacle(adapter: WerkEnInkomenAdapter) -> None:
    proposal = _proposal(
        ("TV-2023-00201", "5540.00", "100"),
        ("BB-2023-00202", "1250.00", "100.00"),
        ("TV-2024-00203", "312.40", "20"),
    )
    assert adapter.assess_proposal(FRAUD, proposal).decision == "accept"


def test_proposal_with_verwijtbaar_fraud_is_manual(adapter: WerkEnInkomenAdapter) -> None:
    result = adapter.assess_proposal(VERWIJTBAAR, _proposal(("TV-2024-00301", "2853.50", "35")))
    assert result.decision == "manual"
    assert "TV-2024-00301 is qualified verwijtbaar" in result.reason


def test_ordinary_proposal_is_accepted(adapter: WerkEnInkomenAdapter) -> None:
    proposal = _proposal(
        ("TV-2024-00101", "1525.00", "27.35"), ("lb 2023 00102", "1941.00", "27.35")
    )
    result = adapter.assess_proposal(ORDINARY, proposal)
    assert result.decision == "accept"
    # a zero-capacity regeling (SA, 0%) is a valid offer [NVVK-GEDRAGSCODE]
    sa = _proposal(("TV-2024-00101", "1525.00", "0"), kind="SA")
    assert adapter.assess_proposal(ORDINARY, sa).decision == "accept"
    # leaving the fraud claims out is the SHV's choice: they keep their own track
    only_ordinary = _proposal(("TV-2024-00203", "312.40", "10"))
    assert adapter.assess_proposal(FRAUD, only_ordinary).decision == "accept"


def test_unknown_factuurnummer_is_manual(adapter: WerkEnInkomenAdapter) -> None:
    proposal = _proposal(("TV-2024-00101", "1525.00", "30"), ("TV-2024-99999", "100.00", "30"))
    result = adapter.assess_proposal(ORDINARY, proposal)
    assert result.decision == "manual"
    assert result.reason == (
        "FactuurnummerSE TV-2024-99999 is not a claim of this debtor in the back-office"
    )
    # another client's claim is just as unknown for this debtor
    other = adapter.assess_proposal(ORDINARY, _proposal(("TV-2024-00203", "312.40", "30")))
    assert other.decision == "manual" and "TV-2024-00203 is not a claim" in other.reason


@pytest.mark.parametrize(
    ("debtor", "claims", "looptijd", "expected"),
    [
        (BETWIST, [("VH-2024-00601", "4100.00", "30")], 18, "VH-2024-00601 is betwist"),
        (COUPLE, [("TV-2024-00401", "3150.00", "30")], 18, "TV-2024-00401 is hoofdelijk"),
        (ORDINARY, [("TV-2022-00103", "960.00", "30")], 18, "TV-2022-00103 is afgelost"),
        (ORDINARY, [("TV-2024-00101", "1400.00", "30")], 18, "lower current amount"),
        (ORDINARY, [("TV-2024-00101", "1525.00", "30")], 36, "36 months is longer than 18"),
        (ORDINARY, [], 18, "the proposal lists no claims"),
        (
            ORDINARY,
            [("TV-2024-00101", "1525.00", "30"), ("TV.2024.00101", "1525.00", "30")],
            18,
            "TV.2024.00101 is listed twice",
        ),
    ],
)
def test_proposals_a_person_must_decide(
    adapter: WerkEnInkomenAdapter,
    debtor: Debtor,
    claims: list[tuple[str, str, str]],
    looptijd: int,
    expected: str,
) -> None:
    result = adapter.assess_proposal(debtor, _proposal(*claims, looptijd=looptijd))
    assert result.decision == "manual"
    assert expected in result.reason


def test_hoofdelijk_claim_in_full_is_accepted(adapter: WerkEnInkomenAdapter) -> None:
    result = adapter.assess_proposal(COUPLE, _proposal(("TV-2024-00401", "3150.00", "100")))
    assert result.decision == "accept"


def test_refusal_reason_fits_the_message() -> None:
    assert refusal_reason(["TV-2023-00201"]) == (
        "Fraudevordering TV-2023-00201: het college mag niet meewerken voor zover de regeling "
        "tot kwijtschelding leidt (Participatiewet); akkoord alleen bij 100% voor deze vordering."
    )
    many = refusal_reason([f"TV-2023-{n:05d}-EXTRA-LANG" for n in range(12)])
    assert many.startswith("Fraudevorderingen TV-2023-00000-EXTRA-LANG, TV-2023-00001-EXTRA-LANG")
    assert "en 10 andere" in many and len(many) <= 200


# -- arrangements -----------------------------------------------------------------------------


def test_arrangement_is_recorded_once(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    conversation = uuid.uuid4()
    arrangement = _arrangement(
        conversation,
        ("TV-2024-00203", "312.40", "20"),
        ("TV-2023-00201", "5540.00", "100"),
        ("TV-2099-00001", "10.00", "20"),
    )
    adapter.record_arrangement(FRAUD, arrangement)
    adapter.record_arrangement(FRAUD, arrangement)
    rows = _table(
        _db(sample), "SELECT conversation_id, client_id, type_schuldregeling FROM regelingen"
    )
    assert rows == [(str(conversation), 2, "SB")]
    assert _table(
        _db(sample),
        "SELECT besluitnummer FROM vorderingen WHERE regeling_id IS NOT NULL ORDER BY 1",
    ) == [("TV-2023-00201",), ("TV-2024-00203",)]
    assert _table(_db(sample), "SELECT onbekend FROM regelingen") == [('["TV-2099-00001"]',)]


def test_arrangement_with_other_terms_is_refused(adapter: WerkEnInkomenAdapter) -> None:
    conversation = uuid.uuid4()
    adapter.record_arrangement(
        ORDINARY, _arrangement(conversation, ("TV-2024-00101", "1525.00", "30"))
    )
    changed = _arrangement(conversation, ("TV-2024-00101", "1525.00", "40"))
    with pytest.raises(BackOfficeRejected, match="already recorded"):
        adapter.record_arrangement(ORDINARY, changed)
    with pytest.raises(BackOfficeRejected):
        adapter.record_arrangement(
            FRAUD, _arrangement(conversation, ("TV-2024-00101", "1525.00", "30"))
        )


# -- write-off --------------------------------------------------------------------------------


def test_write_off_refuses_opzet_and_grove_schuld_fraud(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    request = _write_off(FRAUD, "TV-2023-00201", "BB-2023-00202", "tv-2024-00203")
    result = adapter.write_off(FRAUD, request)
    assert result.write_off_id == request.write_off_id
    assert result.written_off == ("TV-2024-00203",)
    assert result.amount == D("312.40")
    assert "refused" in result.detail
    assert "TV-2023-00201 (fraude opzet: kwijtschelding excluded)" in result.detail
    assert "BB-2023-00202 (fraude grove_schuld: kwijtschelding excluded)" in result.detail

    assert _table(
        _db(sample),
        "SELECT besluitnummer, status, afboeking_id FROM vorderingen WHERE client_id = 2 "
        "ORDER BY 1",
    ) == [
        ("BB-2023-00202", "open", None),
        ("TV-2023-00201", "open", None),
        ("TV-2024-00203", "kwijtgescholden", str(request.write_off_id)),
    ]
    # the refused fraud claims stay payable, with their verrekening running
    assert _measures(adapter, "2") == {
        "BB-2023-00202": frozenset({M.VERREKENING}),
        "TV-2023-00201": frozenset({M.VERREKENING}),
    }
    assert _table(_db(sample), "SELECT write_off_id, client_id, bedrag FROM afboekingen") == [
        (str(request.write_off_id), 2, "312.40")
    ]


def test_write_off_is_idempotent(adapter: WerkEnInkomenAdapter, sample: SampleBackOffice) -> None:
    request = _write_off(ORDINARY, "TV-2024-00101", "LB-2023-00102")
    first = adapter.write_off(ORDINARY, request)
    assert first.written_off == ("TV-2024-00101", "LB-2023-00102")
    assert first.amount == D("3466.00")
    state = _table(_db(sample), "SELECT * FROM vorderingen ORDER BY 1")
    measures = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY 1")

    assert adapter.write_off(ORDINARY, request) == first
    assert _table(_db(sample), "SELECT * FROM vorderingen ORDER BY 1") == state
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY 1") == measures
    assert _table(_db(sample), "SELECT count(*) FROM afboekingen") == [(1,)]
    assert adapter.list_claims(ORDINARY) == []

    # another write-off id for the same claims writes nothing off twice
    again = adapter.write_off(ORDINARY, _write_off(ORDINARY, "TV-2024-00101", "XX-1"))
    assert again.written_off == () and again.amount == D("0.00")
    assert "not open: TV-2024-00101 (kwijtgescholden)" in again.detail
    assert "1 not claims of this debtor" in again.detail

    with pytest.raises(BackOfficeRejected):
        adapter.write_off(FRAUD, request.model_copy(update={"debtor_id": "2"}))


def test_write_off_of_verwijtbaar_fraud_is_allowed(adapter: WerkEnInkomenAdapter) -> None:
    result = adapter.write_off(VERWIJTBAAR, _write_off(VERWIJTBAAR, "TV-2024-00301"))
    assert result.written_off == ("TV-2024-00301",)
    assert result.amount == D("2853.50")
    assert adapter.list_claims(VERWIJTBAAR) == []


def test_write_off_without_numbers_takes_the_arrangements_claims(
    adapter: WerkEnInkomenAdapter,
) -> None:
    conversation = uuid.uuid4()
    adapter.record_arrangement(
        FRAUD,
        _arrangement(
            conversation, ("TV-2024-00203", "312.40", "20"), ("TV-2023-00201", "5540.00", "100")
        ),
    )
    result = adapter.write_off(FRAUD, _write_off(FRAUD, conversation_id=conversation))
    assert result.written_off == ("TV-2024-00203",)
    assert "TV-2023-00201 (fraude opzet" in result.detail
    nothing = adapter.write_off(ORDINARY, _write_off(ORDINARY))
    assert nothing.written_off == () and "no claims were listed" in nothing.detail


def test_write_off_of_a_hoofdelijk_claim_releases_only_this_debtor(
    adapter: WerkEnInkomenAdapter,
) -> None:
    result = adapter.write_off(COUPLE, _write_off(COUPLE, "TV-2024-00401"))
    assert result.written_off == () and result.amount == D("0.00")
    assert "partner stays liable for the remainder: TV-2024-00401" in result.detail
    assert [c.factuurnummer for c in adapter.list_claims(COUPLE)] == ["TV-2025-00402"]
    theirs = {c.factuurnummer: c for c in adapter.list_claims(PARTNER)}
    assert theirs["TV-2024-00401"].omschrijving == "Terugvordering Participatiewet 2024"
    assert theirs["TV-2024-00401"].openstaand == D("3150.00")
    assert theirs["TV-2024-00401"].measures == {M.BESLAG_LOON}


def test_write_off_of_a_whole_hoofdelijk_claim(sample: SampleBackOffice) -> None:
    a = _adapter(sample.options, hoofdelijk_write_off="whole_claim")
    try:
        result = a.write_off(PARTNER, _write_off(PARTNER, "TV-2024-00401"))
        assert result.written_off == ("TV-2024-00401",) and result.amount == D("3150.00")
        assert [c.factuurnummer for c in a.list_claims(COUPLE)] == ["TV-2025-00402"]
        assert [c.factuurnummer for c in a.list_claims(PARTNER)] == ["LB-2024-00501"]
    finally:
        a.close()


def test_write_off_for_another_debtor_is_rejected(adapter: WerkEnInkomenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.write_off(ORDINARY, _write_off(FRAUD, "TV-2024-00203"))


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
            a.find_debtor(DebtorQuery(klantnummer_se="200001"))
        assert err.value.retryable
        with pytest.raises(BackOfficeUnavailable):
            a.apply_hold(_hold("1"))
        with pytest.raises(BackOfficeUnavailable):
            a.write_off(ORDINARY, _write_off(ORDINARY, "TV-2024-00101"))
        with pytest.raises(BackOfficeUnavailable):
            a.assess_proposal(ORDINARY, _proposal(("TV-2024-00101", "1525.00", "30")))
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok and "locked" in connection.message
    finally:
        a.close()


def test_missing_database_is_unavailable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        with pytest.raises(BackOfficeUnavailable):
            a.find_debtor(DebtorQuery(klantnummer_se="200001"))
        with pytest.raises(BackOfficeUnavailable):
            a.record_arrangement(ORDINARY, _arrangement(uuid.uuid4()))
        assert not path.exists()
        checks = {r.aspect: r for r in a.check()}
        assert checks["settings"].ok
        assert not checks["connection"].ok and "does not exist" in checks["connection"].message
        assert checks["credentials"].ok
    finally:
        a.close()


def test_check_reports_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE clients (x)").connection.close()
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok
        assert connection.message.endswith(
            "vorderingen, maatregelen, opschortingen, regelingen, afboekingen"
        )
    finally:
        a.close()


def test_slow_statement_is_a_timeout(
    sample: SampleBackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_module, "_PROGRESS_STEPS", 1)
    a = _adapter(sample.options, timeout_seconds=1e-9)
    try:
        with pytest.raises(BackOfficeTimeout):
            a.list_claims(ORDINARY)
    finally:
        a.close()


def test_integrity_error_is_rejected_and_rolled_back(
    adapter: WerkEnInkomenAdapter, sample: SampleBackOffice
) -> None:
    with sqlite3.connect(_db(sample)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON afboekingen "
            "BEGIN SELECT RAISE(ABORT, 'write-offs are frozen'); END"
        )
    with pytest.raises(BackOfficeRejected, match="write-offs are frozen"):
        adapter.write_off(ORDINARY, _write_off(ORDINARY, "TV-2024-00101"))
    assert [c.factuurnummer for c in adapter.list_claims(ORDINARY)] == list(BEFORE_1)


def test_no_personal_data_in_logs_or_errors(
    sample: SampleBackOffice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's SQLite helper's too
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
                if found:
                    claims = a.list_claims(found)
                    hold = _hold(found.debtor_id)
                    a.apply_hold(hold)
                    a.release_hold(hold)
                    terms = [(c.factuurnummer, str(c.openstaand), "10") for c in claims]
                    a.assess_proposal(found, _proposal(*terms))
            debtor = a.find_debtor(DebtorQuery(klantnummer_se=d.klantnummer_se))
            assert debtor is not None
            conversation = uuid.uuid4()
            terms = [(f, "1.00", "10") for f in d.factuurnummers]
            a.record_arrangement(debtor, _arrangement(conversation, *terms))
            a.write_off(debtor, _write_off(debtor, conversation_id=conversation))
        a.close()  # its idle connections would keep the exclusive lock out (WAL)
        with exclusive_lock(_db(sample)):
            for d in sample.debtors:
                try:
                    a.find_debtor(DebtorQuery(bsn=d.person.bsn, achternaam=d.person.achternaam))
                except BackOfficeUnavailable as exc:
                    errors.append(exc)
    finally:
        a.close()
    assert len(errors) == len(sample.debtors)
    assert any(r.name == "skn_werk_en_inkomen" for r in caplog.records)

    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in errors]
    texts += [repr(e) for e in errors]
    secrets: list[str] = []
    for d in sample.debtors:
        people = [d.person] + ([d.partner] if d.partner else [])
        for p in people:
            assert p.bsn
            secrets += [p.bsn, p.achternaam, p.achternaam.split("-")[0], p.voornamen]
        secrets += [d.postcode, d.straatnaam]
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
