"""The gemeentebelastingen reference adapter against a real sample SQLite back-office."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from skn_gemeentebelastingen import adapter as adapter_module
from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter
from skn_gemeentebelastingen.backoffice import (
    elfproef,
    normalise_factuurnummer,
    synthetic_bsns,
    upgrade_database,
)
from skn_gemeentebelastingen.sample import main as sample_main

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
    HoldResult,
    MeasureCode,
    Proposal,
    ProposalAssessment,
    ProposalClaim,
    SampleBackOffice,
    SampleDebtor,
    WriteOff,
    WriteOffResult,
)
from skn_connector.adapters.registry import validate_adapter_class
from skn_connector.adapters.sqlite import exclusive_lock

M = MeasureCode
D = Decimal


def _adapter(options: dict[str, Any], **extra: Any) -> GemeentebelastingenAdapter:
    return GemeentebelastingenAdapter(
        GemeentebelastingenAdapter.Options.model_validate({**options, **extra})
    )


@pytest.fixture
def sample(tmp_path: Path) -> SampleBackOffice:
    return GemeentebelastingenAdapter.create_sample(tmp_path)


@pytest.fixture
def adapter(sample: SampleBackOffice) -> Iterator[GemeentebelastingenAdapter]:
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
        "measures": {M.AANMANING, M.DWANGBEVEL, M.RENTE, M.BESLAG_BANK, M.BESLAG_LOON},
        "reason": "KENNISGEVING",
        "basis": "convenant",
        "starts": date(2025, 7, 1),
        "ends": date(2026, 3, 1),
        "conversation_id": uuid.uuid4(),
    }
    values.update(kw)
    return Hold.model_validate(values)


def _measures(adapter: GemeentebelastingenAdapter, debtor_id: str) -> dict[str, frozenset[M]]:
    debtor = Debtor(debtor_id=debtor_id, klantnummer_se="x")
    return {c.factuurnummer: c.measures for c in adapter.list_claims(debtor)}


def _table(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:  # closed at once: an open connection to a WAL database keeps an exclusive lock out
        return list(conn.execute(sql))
    finally:
        conn.close()


# -- the sample -------------------------------------------------------------------------------


def test_sample_is_synthetic_deterministic_and_complete(tmp_path: Path) -> None:
    one = GemeentebelastingenAdapter.create_sample(tmp_path / "one")
    two = GemeentebelastingenAdapter.create_sample(tmp_path / "two")
    assert one.debtors == two.debtors
    dump = "SELECT * FROM debiteuren ORDER BY 1; SELECT * FROM aanslagen ORDER BY 1"
    for sql in [*dump.split("; "), "SELECT * FROM maatregelen ORDER BY 1"]:
        assert _table(_db(one), sql) == _table(_db(two), sql)

    assert [d.klantnummer_se for d in one.debtors] == ["100001", "100002", "100004", "100005"]
    bsns = [bsn for (bsn,) in _table(_db(one), "SELECT bsn FROM debiteuren")]
    # 5 known people + 20 for volume + 1 added later (100006), who takes a BSN after theirs
    assert len(bsns) == 26 == len(set(bsns))
    by_id = dict(_table(_db(one), "SELECT debiteur_id, bsn FROM debiteuren"))
    computed = synthetic_bsns()
    ids = [1, 2, 3, 4, 5, *range(101, 121), 6]  # the earlier debtors keep their BSNs
    assert [by_id[i] for i in ids] == computed[:26]
    assert all(elfproef(b) and b.startswith("99999") for b in bsns)
    names = [n for (n,) in _table(_db(one), "SELECT achternaam FROM debiteuren")]
    assert all(n.endswith("-Voorbeeld") for n in names)
    for d in one.debtors:
        assert d.person.bsn and elfproef(d.person.bsn)
    assert _known(one, "100002").partner is not None
    assert _known(one, "100002").partner.bsn in bsns  # type: ignore[union-attr]
    statuses = {s for (s,) in _table(_db(one), "SELECT DISTINCT status FROM aanslagen")}
    assert {"open", "betaald", "overgedragen", "betwist"} <= statuses


def test_elfproef() -> None:
    assert elfproef("111222333")
    assert not elfproef("111222334")
    assert not elfproef("12345678")


def test_seed_command_prints_options_as_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    assert sample_main(["seed", "--directory", str(tmp_path / "s")]) == 0
    config = tomllib.loads(capsys.readouterr().out)
    (entry,) = config["adapters"]
    assert entry["use"] == "gemeentebelastingen"
    url = entry["options"]["database_url"]
    assert url == f"sqlite:///{(tmp_path / 's' / 'gemeentebelastingen.db').resolve()}"
    a = _adapter(entry["options"])
    try:
        assert all(r.ok for r in a.check())
    finally:
        a.close()


# -- find_debtor ------------------------------------------------------------------------------


def test_find_by_bsn(adapter: GemeentebelastingenAdapter, sample: SampleBackOffice) -> None:
    known = _known(sample, "100004")
    assert known.person.bsn
    found = adapter.find_debtor(DebtorQuery(bsn=known.person.bsn))
    assert found == Debtor(debtor_id="4", klantnummer_se="100004")


def test_find_partner_by_bsn(adapter: GemeentebelastingenAdapter, sample: SampleBackOffice) -> None:
    partner = _known(sample, "100002").partner
    assert partner is not None and partner.bsn
    found = adapter.find_debtor(DebtorQuery(bsn=partner.bsn))
    assert found == Debtor(debtor_id="3", klantnummer_se="100003")


def test_find_by_klantnummer(adapter: GemeentebelastingenAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(klantnummer_se=" 100005 ")) == Debtor(
        debtor_id="5", klantnummer_se="100005"
    )


def test_klantnummer_prefix(sample: SampleBackOffice) -> None:
    a = _adapter(sample.options, klantnummer_prefix="BEL-")
    try:
        expected = Debtor(debtor_id="5", klantnummer_se="BEL-100005")
        assert a.find_debtor(DebtorQuery(klantnummer_se="bel-100005")) == expected
        assert a.find_debtor(DebtorQuery(klantnummer_se="100005")) == expected
    finally:
        a.close()


@pytest.mark.parametrize("written", ["2024.000101", "2024-000101", "2024 000 101", "2024000101"])
def test_find_by_factuurnummer_normalised(
    adapter: GemeentebelastingenAdapter, written: str
) -> None:
    found = adapter.find_debtor(DebtorQuery(factuurnummers=("9999.999999", written)))
    assert found == Debtor(debtor_id="1", klantnummer_se="100001")


def test_a_paid_aanslag_still_identifies_its_debtor(adapter: GemeentebelastingenAdapter) -> None:
    found = adapter.find_debtor(DebtorQuery(factuurnummers=("2025.000103",)))
    assert found is not None and found.debtor_id == "1"


def test_factuurnummers_of_two_debtors_are_ambiguous(adapter: GemeentebelastingenAdapter) -> None:
    query = DebtorQuery(factuurnummers=("2024.000101", "2024.000131"))
    assert adapter.find_debtor(query) is None


def test_find_by_name_and_address(adapter: GemeentebelastingenAdapter) -> None:
    base = {"geboortedatum": date(1985, 11, 2), "postcode": "2345 bc", "huisnummer": 7}
    expected = Debtor(debtor_id="2", klantnummer_se="100002")
    for name in ("Vries-Voorbeeld", "VRIES-VOORBEELD", "de Vries-Voorbeeld"):
        assert adapter.find_debtor(DebtorQuery(achternaam=name, **base)) == expected
    # every one of the four must match
    assert adapter.find_debtor(DebtorQuery(achternaam="Jansen-Voorbeeld", **base)) is None
    wrong_number = {**base, "huisnummer": 9}
    assert adapter.find_debtor(DebtorQuery(achternaam="Vries-Voorbeeld", **wrong_number)) is None
    three_of_four = {k: v for k, v in base.items() if k != "postcode"}
    assert adapter.find_debtor(DebtorQuery(achternaam="Vries-Voorbeeld", **three_of_four)) is None


def test_unknown_debtor_is_none(adapter: GemeentebelastingenAdapter) -> None:
    assert adapter.find_debtor(DebtorQuery(bsn="111222333")) is None
    assert adapter.find_debtor(DebtorQuery(klantnummer_se="999999")) is None
    assert adapter.find_debtor(DebtorQuery(factuurnummers=("2023.000139",))) is None
    assert adapter.find_debtor(DebtorQuery()) is None


def test_a_conflicting_bsn_vetoes_the_other_routes(adapter: GemeentebelastingenAdapter) -> None:
    # 111222333 passes the elfproef but is nobody's here; 100001 has another BSN
    query = DebtorQuery(bsn="111222333", klantnummer_se="100001")
    assert adapter.find_debtor(query) is None


# -- list_claims ------------------------------------------------------------------------------


def test_claims_and_amounts(adapter: GemeentebelastingenAdapter) -> None:
    claims = adapter.list_claims(Debtor(debtor_id="1", klantnummer_se="100001"))
    assert claims == [
        Claim(
            factuurnummer="2024.000101",
            omschrijving="OZB 2024",
            ontstaansdatum=date(2024, 2, 29),
            originele_vordering=D("412.37"),
            hoofdsom=D("312.37"),
            rente=D("8.15"),
            kosten=D("55.50"),
            openstaand=D("376.02"),
            status="open",
            measures=frozenset({M.DWANGBEVEL, M.BESLAG_BANK, M.RENTE}),
        ),
        Claim(
            factuurnummer="2025.000102",
            omschrijving="Afvalstoffenheffing 2025",
            ontstaansdatum=date(2025, 2, 28),
            originele_vordering=D("389.40"),
            hoofdsom=D("389.40"),
            rente=D("2.10"),
            kosten=D("7.50"),
            openstaand=D("399.00"),
            measures=frozenset({M.AANMANING, M.RENTE}),
        ),
        Claim(
            factuurnummer="2025.000104",
            omschrijving="OZB 2025",
            ontstaansdatum=date(2025, 2, 28),
            originele_vordering=D("455.80"),
            hoofdsom=D("305.80"),
            openstaand=D("305.80"),
        ),
    ]
    # the paid rioolheffing 2025.000103 is not a claim
    for claim in claims:
        assert claim.saneerbaar and not claim.fraude and not claim.preferent


def test_overgedragen_and_betwist_claims(adapter: GemeentebelastingenAdapter) -> None:
    d = adapter.list_claims(Debtor(debtor_id="5", klantnummer_se="100005"))
    assert [c.factuurnummer for c in d] == ["2023.000141", "2025.000142"]
    assert d[0].status == "overgedragen"
    assert d[0].overgedragen_aan == "Deurwaarderskantoor Voorbeeld & Partners (fictief)"
    assert d[0].openstaand == D("702.25")
    assert d[0].measures == {M.DWANGBEVEL, M.DEURWAARDER, M.KOSTEN, M.RENTE}
    assert d[1].status == "open" and d[1].overgedragen_aan is None

    b = adapter.list_claims(Debtor(debtor_id="2", klantnummer_se="100002"))
    assert [(c.factuurnummer, c.status, c.openstaand) for c in b] == [
        ("2025.000121", "open", D("267.10")),
        ("2025.000122", "betwist", D("132.00")),
    ]
    assert b[0].measures == {M.AANMANING, M.VERREKENING}


def test_paid_aanslagen_are_never_listed(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    rows = _table(_db(sample), "SELECT debiteur_id, aanslagnummer, status FROM aanslagen")
    paid = {nummer for _, nummer, status in rows if status in ("betaald", "kwijtgescholden")}
    assert len(paid) >= 5
    listed: set[str] = set()
    for debiteur_id in {r[0] for r in rows}:
        listed |= set(_measures(adapter, str(debiteur_id)))
    assert listed.isdisjoint(paid)
    assert listed == {nummer for _, nummer, status in rows} - paid


def test_partly_matching_invoice_numbers(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    known = _known(sample, "100004")
    debtor = adapter.find_debtor(DebtorQuery(factuurnummers=known.factuurnummers))
    assert debtor == Debtor(debtor_id="4", klantnummer_se="100004")
    # as an SHV may write them: other separators, and the unknown one first
    rewritten = DebtorQuery(factuurnummers=("2023 000139", "2024-000131"))
    assert adapter.find_debtor(rewritten) == debtor
    claims = {normalise_factuurnummer(c.factuurnummer): c for c in adapter.list_claims(debtor)}
    shv = [normalise_factuurnummer(f) for f in known.factuurnummers]
    matched = [f for f in shv if f in claims]
    assert matched == ["2024000131", "2025000132"]
    assert [f for f in shv if f not in claims] == ["2023000139"]
    assert claims["2024000131"].openstaand == D("525.80")
    assert claims["2024000131"].measures == {M.DWANGBEVEL, M.BESLAG_LOON, M.RENTE}


def test_unknown_debtor_id_is_rejected(adapter: GemeentebelastingenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="4711", klantnummer_se="x"))
    with pytest.raises(BackOfficeRejected):
        adapter.list_claims(Debtor(debtor_id="not-a-number", klantnummer_se="x"))


# -- holds ------------------------------------------------------------------------------------

BEFORE_A = {
    "2024.000101": frozenset({M.DWANGBEVEL, M.BESLAG_BANK, M.RENTE}),
    "2025.000102": frozenset({M.AANMANING, M.RENTE}),
    "2025.000104": frozenset(),
}


def test_apply_twice_is_apply_once(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    assert _measures(adapter, "1") == BEFORE_A
    hold = _hold("1")
    first = adapter.apply_hold(hold)
    assert first.applied and first.hold_id == hold.hold_id
    assert first.measures == {M.DWANGBEVEL, M.BESLAG_BANK, M.RENTE, M.AANMANING}
    after_first = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    assert _measures(adapter, "1") == dict.fromkeys(BEFORE_A, frozenset())

    second = adapter.apply_hold(hold)
    assert second == first
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == after_first
    assert _table(_db(sample), "SELECT hold_id, status FROM opschortingen") == [
        (str(hold.hold_id), "applied")
    ]
    # other debtors are untouched
    assert _measures(adapter, "4")["2024.000131"] == {M.DWANGBEVEL, M.BESLAG_LOON, M.RENTE}


def test_release_restores_and_twice_is_harmless(adapter: GemeentebelastingenAdapter) -> None:
    hold = _hold("1")
    adapter.apply_hold(hold)
    released = adapter.release_hold(hold)
    assert released.applied
    assert released.measures == {M.DWANGBEVEL, M.BESLAG_BANK, M.RENTE, M.AANMANING}
    assert _measures(adapter, "1") == BEFORE_A
    assert adapter.release_hold(hold) == released
    assert _measures(adapter, "1") == BEFORE_A
    # a late replay of the apply does not suspend again
    replay = adapter.apply_hold(hold)
    assert not replay.applied
    assert _measures(adapter, "1") == BEFORE_A


def test_release_of_an_unknown_hold_is_a_no_op(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    before = _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id")
    result = adapter.release_hold(_hold("1"))
    assert result.applied and result.measures == frozenset()
    assert _table(_db(sample), "SELECT * FROM maatregelen ORDER BY id") == before
    assert _table(_db(sample), "SELECT count(*) FROM opschortingen") == [(0,)]


def test_lifted_beslag_stays_lifted_after_release(adapter: GemeentebelastingenAdapter) -> None:
    hold = _hold("1", lift={M.BESLAG_BANK})
    result = adapter.apply_hold(hold)
    assert M.BESLAG_BANK in result.measures
    adapter.release_hold(hold)
    after = _measures(adapter, "1")
    assert after["2024.000101"] == {M.DWANGBEVEL, M.RENTE}  # a lifted beslag is not re-laid
    assert after["2025.000102"] == {M.AANMANING, M.RENTE}


def test_hold_on_named_factuurnummers_only(adapter: GemeentebelastingenAdapter) -> None:
    hold = _hold("1", factuurnummers=("2025-000102",))
    result = adapter.apply_hold(hold)
    assert result.measures == {M.AANMANING, M.RENTE}
    assert _measures(adapter, "1") == {**BEFORE_A, "2025.000102": frozenset()}


def test_overlapping_holds_keep_a_measure_held(adapter: GemeentebelastingenAdapter) -> None:
    wide = _hold("1")
    narrow = _hold("1", factuurnummers=("2024.000101",), measures={M.DWANGBEVEL})
    adapter.apply_hold(wide)
    assert adapter.apply_hold(narrow).measures == {M.DWANGBEVEL}  # already held by `wide`
    adapter.release_hold(wide)
    assert _measures(adapter, "1")["2024.000101"] == {M.BESLAG_BANK, M.RENTE}
    assert _measures(adapter, "1")["2025.000102"] == {M.AANMANING, M.RENTE}
    adapter.release_hold(narrow)
    assert _measures(adapter, "1") == BEFORE_A


def test_concurrent_applies_of_one_hold_count_once(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    hold = _hold("4")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: adapter.apply_hold(hold), range(8)))
    assert all(r == results[0] for r in results)
    assert results[0].measures == {M.DWANGBEVEL, M.BESLAG_LOON, M.RENTE}
    assert _table(_db(sample), "SELECT count(*) FROM opschortingen") == [(1,)]


def test_hold_for_unknown_or_other_debtor_is_rejected(adapter: GemeentebelastingenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(_hold("4711"))
    hold = _hold("1")
    adapter.apply_hold(hold)
    with pytest.raises(BackOfficeRejected):
        adapter.apply_hold(hold.model_copy(update={"debtor_id": "2"}))


def test_integrity_error_is_rejected(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    with sqlite3.connect(_db(sample)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON opschortingen "
            "BEGIN SELECT RAISE(ABORT, 'holds are frozen'); END"
        )
    with pytest.raises(BackOfficeRejected, match="holds are frozen"):
        adapter.apply_hold(_hold("1"))
    assert _measures(adapter, "1") == BEFORE_A  # rolled back


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
            a.find_debtor(DebtorQuery(klantnummer_se="100001"))
        assert err.value.retryable
        with pytest.raises(BackOfficeUnavailable):
            a.apply_hold(_hold("1"))
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok and "locked" in connection.message
    finally:
        a.close()


def test_missing_database_is_unavailable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        with pytest.raises(BackOfficeUnavailable):
            a.find_debtor(DebtorQuery(klantnummer_se="100001"))
        with pytest.raises(BackOfficeUnavailable):
            a.release_hold(_hold("1"))
        assert not path.exists()
        checks = {r.aspect: r for r in a.check()}
        assert checks["settings"].ok
        assert not checks["connection"].ok and "does not exist" in checks["connection"].message
        assert checks["credentials"].ok
    finally:
        a.close()


def test_check_reports_missing_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE debiteuren (x)").connection.close()
    a = _adapter({"database_url": f"sqlite:///{path}"})
    try:
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok
        assert connection.message.endswith("aanslagen, maatregelen, opschortingen")
        with pytest.raises(BackOfficeUnavailable, match="no such"):
            a.list_claims(Debtor(debtor_id="1", klantnummer_se="x"))
    finally:
        a.close()


def test_check_ok_on_the_sample(adapter: GemeentebelastingenAdapter) -> None:
    checks = adapter.check()
    assert [c.aspect for c in checks] == ["settings", "connection", "credentials"]
    assert all(c.ok for c in checks)


def test_slow_statement_is_a_timeout(
    sample: SampleBackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_module, "_PROGRESS_STEPS", 1)
    a = _adapter(sample.options, timeout_seconds=1e-9)
    try:
        with pytest.raises(BackOfficeTimeout):
            a.list_claims(Debtor(debtor_id="1", klantnummer_se="100001"))
    finally:
        a.close()


def test_no_personal_data_in_logs_or_errors(
    sample: SampleBackOffice, caplog: pytest.LogCaptureFixture, tmp_path: Path
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
                    a.list_claims(found)
                    hold = _hold(found.debtor_id)
                    a.apply_hold(hold)
                    a.release_hold(hold)
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
    assert any(r.name == "skn_gemeentebelastingen" for r in caplog.records)

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


def test_hold_result_round_trips(adapter: GemeentebelastingenAdapter) -> None:
    result = adapter.apply_hold(_hold("5", measures={M.DEURWAARDER, M.KOSTEN}))
    assert isinstance(result, HoldResult)
    assert result.measures == {M.DEURWAARDER, M.KOSTEN}
    assert _measures(adapter, "5")["2023.000141"] == {M.DWANGBEVEL, M.RENTE}


# -- proposals, arrangements and write-offs ---------------------------------------------------

ALL_CAPABILITIES = frozenset(
    {
        Capability.CLAIMS,
        Capability.HOLDS,
        Capability.PROPOSALS,
        Capability.ARRANGEMENTS,
        Capability.WRITE_OFF,
    }
)


def _debtor(debtor_id: str) -> Debtor:
    return Debtor(debtor_id=debtor_id, klantnummer_se=f"1000{int(debtor_id):02d}")


def _claim(nummer: str, bedrag: str, percentage: str = "12.50") -> ProposalClaim:
    eind = (D(bedrag) * D(percentage) / 100).quantize(D("0.01"))
    return ProposalClaim(
        factuurnummer=nummer,
        actueel_vorderingsbedrag=D(bedrag),
        afkooppercentage=D(percentage),
        prognose_eindbedrag=eind,
    )


def _proposal(*claims: ProposalClaim, type_: str = "SB") -> Proposal:
    return Proposal(type_schuldregeling=type_, looptijd_maanden=18, claims=claims)


def _arrangement(
    *claims: ProposalClaim, akkoord: date = date(2025, 10, 1), conversation: uuid.UUID | None = None
) -> Arrangement:
    return Arrangement(
        type_schuldregeling="SB",
        datum_akkoord=akkoord,
        claims=claims,
        conversation_id=conversation or uuid.uuid4(),
    )


def _write_off(
    debtor_id: str, *nummers: str, conversation: uuid.UUID | None = None, **kw: Any
) -> WriteOff:
    values: dict[str, Any] = {
        "write_off_id": uuid.uuid4(),
        "debtor_id": debtor_id,
        "factuurnummers": nummers,
        "reason": "SCHULDREGELING_GESLAAGD",
        "datum": date(2027, 4, 1),
        "conversation_id": conversation or uuid.uuid4(),
    }
    values.update(kw)
    return WriteOff.model_validate(values)


def _status(sample: SampleBackOffice) -> dict[str, tuple[str, str | None]]:
    rows = _table(_db(sample), "SELECT aanslagnummer, status, in_regeling FROM aanslagen")
    return {nummer: (status, regeling) for nummer, status, regeling in rows}


def test_the_adapter_declares_and_implements_the_new_capabilities() -> None:
    assert GemeentebelastingenAdapter.capabilities == ALL_CAPABILITIES
    validate_adapter_class(GemeentebelastingenAdapter)  # every promised call is implemented


def test_a_proposal_on_open_aanslagen_is_accepted(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    before = _table(_db(sample), "SELECT * FROM aanslagen ORDER BY 1")
    whole = _proposal(
        _claim("2024.000101", "376.02"),
        _claim("2025.000102", "399.00"),
        _claim("2025-000104", "305.80"),  # as an SHV may write it
    )
    assessment = adapter.assess_proposal(_debtor("1"), whole)
    assert assessment == ProposalAssessment(
        decision="accept", reason="all 3 claims are open aanslagen of this debtor"
    )
    part = adapter.assess_proposal(_debtor("1"), _proposal(_claim("2024.000101", "376.02")))
    assert part.decision == "accept"
    assert part.reason.endswith("; 2 other open aanslagen are not in the proposal")
    # an aanslag overgedragen to a deurwaarder is still the municipality's claim
    overgedragen = _proposal(_claim("2023.000141", "702.25"), _claim("2025.000142", "221.16"))
    assert adapter.assess_proposal(_debtor("5"), overgedragen).decision == "accept"
    # assessing writes nothing
    assert _table(_db(sample), "SELECT * FROM aanslagen ORDER BY 1") == before
    assert _table(_db(sample), "SELECT count(*) FROM regelingen") == [(0,)]


@pytest.mark.parametrize("type_", ["SA", "SB", "SK"])
def test_a_zero_percent_offer_is_not_refused(
    adapter: GemeentebelastingenAdapter, type_: str
) -> None:
    # type SA: no repayment capacity, 0 %, everything is written off at the end (4.28)
    proposal = _proposal(
        _claim("2024.000101", "376.02", "0"), _claim("2025.000102", "399.00", "0.00"), type_=type_
    )
    assert all(c.prognose_eindbedrag == 0 for c in proposal.claims)
    assert adapter.assess_proposal(_debtor("1"), proposal).decision == "accept"


@pytest.mark.parametrize(
    ("debtor_id", "nummers", "reason"),
    [
        # 100004: the SHV knows one number the back-office never issued
        (
            "4",
            ("2024.000131", "2025.000132", "2023.000139"),
            "2023.000139 is not an aanslag of this debtor",
        ),
        # another debtor's aanslag is unknown for this one
        ("4", ("2024.000131", "2024.000101"), "2024.000101 is not an aanslag of this debtor"),
        ("2", ("2025.000121", "2025.000122"), "2025.000122 is betwist (bezwaar or beroep pending)"),
        (
            "6",
            ("2024.000151", "2025.000152"),
            "2025.000152 has a kwijtscheldingsverzoek pending since 2025-04-03",
        ),
        ("1", ("2024.000101", "2025.000103"), "2025.000103 is betaald, not open"),
        ("1", ("2024.000101", "2024 000 101"), "2024.000101 is listed twice"),
        ("1", (), "the proposal lists no claims"),
    ],
)
def test_a_proposal_a_person_must_look_at_is_manual(
    adapter: GemeentebelastingenAdapter, debtor_id: str, nummers: tuple[str, ...], reason: str
) -> None:
    # a 0 % offer is never the reason: the same outcome at 0 % and at 100 %
    for percentage in ("0", "100"):
        proposal = _proposal(*(_claim(n, "100.00", percentage) for n in nummers))
        assessment = adapter.assess_proposal(_debtor(debtor_id), proposal)
        assert assessment.decision == "manual"
        assert assessment.reason == f"{reason}; a person decides"


def test_manual_reasons_name_every_problem(adapter: GemeentebelastingenAdapter) -> None:
    proposal = _proposal(
        _claim("2025.000121", "267.10"),
        _claim("2025.000122", "132.00"),
        _claim("2025.000123", "298.45"),  # the partner's own OZB
        _claim("2025.000121", "267.10", "-1"),
    )
    assessment = adapter.assess_proposal(_debtor("2"), proposal)
    assert assessment == ProposalAssessment(
        decision="manual",
        reason=(
            "2025.000122 is betwist (bezwaar or beroep pending); "
            "2025.000123 is not an aanslag of this debtor; "
            "2025.000121 is listed twice; a person decides"
        ),
    )
    negative = _proposal(_claim("2024.000101", "376.02", "-5"))
    assert adapter.assess_proposal(_debtor("1"), negative).reason.startswith(
        "2024.000101 has an afkooppercentage outside 0-100"
    )


def test_proposal_for_an_unknown_debtor_is_rejected(adapter: GemeentebelastingenAdapter) -> None:
    with pytest.raises(BackOfficeRejected):
        adapter.assess_proposal(_debtor("4711"), _proposal(_claim("2024.000101", "1.00")))


def test_record_arrangement_marks_its_aanslagen_once(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    conversation = uuid.uuid4()
    arrangement = _arrangement(
        _claim("2024.000101", "376.02", "20.00"),
        _claim("2025-000102", "399.00", "20.00"),
        _claim("2023.000139", "50.00", "20.00"),
        conversation=conversation,
    )
    claims_before = adapter.list_claims(_debtor("1"))
    assert adapter.record_arrangement(_debtor("1"), arrangement) is None

    (row,) = _table(
        _db(sample), "SELECT conversation_id, debiteur_id, type, datum_akkoord FROM regelingen"
    )
    assert row == (str(conversation), 1, "SB", "2025-10-01")
    ((stored,),) = _table(_db(sample), "SELECT claims FROM regelingen")
    assert json.loads(stored) == [
        {
            "factuurnummer": "2024.000101",
            "aanslagnummer": "2024.000101",
            "actueel_vorderingsbedrag": "376.02",
            "afkooppercentage": "20.00",
            "prognose_eindbedrag": "75.20",
            "opgenomen": True,
            "reden": "",
        },
        {
            "factuurnummer": "2025-000102",
            "aanslagnummer": "2025.000102",
            "actueel_vorderingsbedrag": "399.00",
            "afkooppercentage": "20.00",
            "prognose_eindbedrag": "79.80",
            "opgenomen": True,
            "reden": "",
        },
        {
            "factuurnummer": "2023.000139",
            "aanslagnummer": None,
            "actueel_vorderingsbedrag": "50.00",
            "afkooppercentage": "20.00",
            "prognose_eindbedrag": "10.00",
            "opgenomen": False,
            "reden": "not an aanslag of this debtor",
        },
    ]
    status = _status(sample)
    assert status["2024.000101"] == ("open", str(conversation))
    assert status["2025.000102"] == ("open", str(conversation))
    assert status["2025.000104"] == ("open", None)
    assert status["2025.000103"] == ("betaald", None)
    # the claims stay as they were: open, same amounts, same measures
    assert adapter.list_claims(_debtor("1")) == claims_before

    # the same conversation again, even with other contents: recorded once
    snapshot = _table(_db(sample), "SELECT * FROM regelingen")
    adapter.record_arrangement(_debtor("1"), arrangement)
    adapter.record_arrangement(
        _debtor("1"), _arrangement(_claim("2025.000104", "305.80"), conversation=conversation)
    )
    assert _table(_db(sample), "SELECT * FROM regelingen") == snapshot
    assert _status(sample) == status
    with pytest.raises(BackOfficeRejected, match="another debtor"):
        adapter.record_arrangement(_debtor("4"), arrangement)

    # an aanslag in a recorded regeling is not offered again without a person
    again = adapter.assess_proposal(_debtor("1"), _proposal(_claim("2024.000101", "376.02")))
    assert again == ProposalAssessment(
        decision="manual",
        reason="2024.000101 is already in a recorded regeling; a person decides",
    )
    # nor included in a second regeling
    other = uuid.uuid4()
    adapter.record_arrangement(
        _debtor("1"),
        _arrangement(
            _claim("2024.000101", "376.02"), _claim("2025.000104", "305.80"), conversation=other
        ),
    )
    assert _status(sample)["2024.000101"] == ("open", str(conversation))
    assert _status(sample)["2025.000104"] == ("open", str(other))


def test_a_new_aanslag_is_never_part_of_the_regeling(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    # 100006: the hondenbelasting 2025.000153 is dated 2025-08-29, after the akkoord
    conversation = uuid.uuid4()
    arrangement = _arrangement(
        _claim("2024.000151", "361.90", "0"),
        _claim("2025.000152", "301.20", "0"),
        _claim("2025.000153", "118.80", "0"),
        akkoord=date(2025, 6, 30),
        conversation=conversation,
    )
    adapter.record_arrangement(_debtor("6"), arrangement)
    status = _status(sample)
    assert status["2024.000151"] == ("open", str(conversation))
    # a pending kwijtscheldingsverzoek does not keep an agreed claim out of the regeling
    assert status["2025.000152"] == ("open", str(conversation))
    assert status["2025.000153"] == ("open", None)
    ((stored,),) = _table(_db(sample), "SELECT claims FROM regelingen")
    assert [(c["aanslagnummer"], c["reden"]) for c in json.loads(stored)] == [
        ("2024.000151", ""),
        ("2025.000152", ""),
        ("2025.000153", "assessed after the akkoord"),
    ]

    result = adapter.write_off(
        _debtor("6"),
        _write_off("6", "2024.000151", "2025.000152", "2025.000153", conversation=conversation),
    )
    assert result.written_off == ("2024.000151", "2025.000152")
    assert result.amount == D("663.10")  # 300.00 + 6.40 + 55.50, and 301.20
    assert result.detail == (
        "2 aanslagen written off, EUR 663.10; not written off: 2025.000153 (not in the regeling)"
    )
    # the new aanslag keeps its own, normal lifecycle
    (left,) = adapter.list_claims(_debtor("6"))
    assert (left.factuurnummer, left.status, left.openstaand) == (
        "2025.000153",
        "open",
        D("118.80"),
    )
    assert left.ontstaansdatum == date(2025, 8, 29)


def test_write_off_books_the_remainder_once(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    conversation = uuid.uuid4()
    adapter.record_arrangement(
        _debtor("1"),
        _arrangement(
            _claim("2024.000101", "376.02", "0"),
            _claim("2025.000102", "399.00", "0"),
            conversation=conversation,
        ),
    )
    request = _write_off(
        "1",
        "2024.000101",
        "2025-000102",
        "2025.000104",
        "2025.000103",
        "2023.000139",
        conversation=conversation,
    )
    result = adapter.write_off(_debtor("1"), request)
    assert result == WriteOffResult(
        write_off_id=request.write_off_id,
        written_off=("2024.000101", "2025.000102"),
        amount=D("775.02"),  # 376.02 + 399.00: hoofdsom, rente and kosten
        detail=(
            "2 aanslagen written off, EUR 775.02; not written off: "
            "2025.000104 (not in the regeling); 2025.000103 (already paid); "
            "2023.000139 (not an aanslag of this debtor)"
        ),
    )
    assert _table(
        _db(sample),
        "SELECT write_off_id, debiteur_id, conversation_id, aanslagnummers, bedrag, datum, "
        "reden, bedragen FROM afboekingen",
    ) == [
        (
            str(request.write_off_id),
            1,
            str(conversation),
            '["2024.000101", "2025.000102"]',
            "775.02",
            "2027-04-01",
            "SCHULDREGELING_GESLAAGD",
            '{"2024.000101": "376.02", "2025.000102": "399.00"}',
        )
    ]
    status = _status(sample)
    assert status["2024.000101"] == ("kwijtgescholden", str(conversation))
    assert status["2025.000102"] == ("kwijtgescholden", str(conversation))
    assert status["2025.000104"] == ("open", None)
    # amounts are not touched: the remainder is in afboekingen
    assert _table(
        _db(sample),
        "SELECT betaald, invorderingsrente, kosten FROM aanslagen WHERE aanslagnummer = "
        "'2024.000101'",
    ) == [("100.00", "8.15", "55.50")]
    # a written-off aanslag is no claim any more and is not enforced (the beslag ends)
    assert [c.factuurnummer for c in adapter.list_claims(_debtor("1"))] == ["2025.000104"]
    assert _table(
        _db(sample),
        "SELECT count(*) FROM maatregelen WHERE actief = 1 "
        "AND aanslagnummer IN ('2024.000101', '2025.000102')",
    ) == [(0,)]

    # the same write-off again: the same answer, nothing changes
    tables = ("aanslagen", "maatregelen", "afboekingen")
    snapshot = [_table(_db(sample), f"SELECT * FROM {t} ORDER BY 1") for t in tables]
    assert adapter.write_off(_debtor("1"), request) == result
    assert [_table(_db(sample), f"SELECT * FROM {t} ORDER BY 1") for t in tables] == snapshot
    # a new write-off of the same aanslagen finds nothing left
    second = adapter.write_off(
        _debtor("1"), _write_off("1", "2024.000101", conversation=conversation)
    )
    assert second.written_off == () and second.amount == D("0.00")
    assert second.detail == (
        "nothing written off; not written off: 2024.000101 (already written off)"
    )
    assert _table(_db(sample), "SELECT count(*) FROM afboekingen") == [(2,)]


def test_write_off_only_touches_the_debtors_own_aanslagen(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    before = _status(sample)
    result = adapter.write_off(_debtor("4"), _write_off("4", "2024.000101", "2025.000123"))
    assert result.written_off == () and result.amount == D("0.00")
    assert result.detail == (
        "nothing written off; not written off: "
        "2024.000101 (not an aanslag of this debtor); 2025.000123 (not an aanslag of this debtor)"
    )
    assert _status(sample) == before
    # without a recorded regeling the named open aanslagen are written off, overgedragen too
    result = adapter.write_off(_debtor("5"), _write_off("5", "2023.000141", "2025.000142"))
    assert result.written_off == ("2023.000141", "2025.000142")
    assert result.amount == D("923.41")  # 702.25 + 221.16
    assert adapter.list_claims(_debtor("5")) == []
    # an aanslag in another debtor's regeling or assessed after the write-off date stays
    conversation = uuid.uuid4()
    adapter.record_arrangement(
        _debtor("4"), _arrangement(_claim("2024.000131", "525.80"), conversation=conversation)
    )
    kept = adapter.write_off(
        _debtor("4"), _write_off("4", "2024.000131", "2025.000132", datum=date(2025, 1, 31))
    )
    assert kept.detail == (
        "nothing written off; not written off: 2024.000131 (in another regeling); "
        "2025.000132 (assessed after the write-off date)"
    )


def test_write_off_refuses_a_mismatched_or_reused_id(adapter: GemeentebelastingenAdapter) -> None:
    with pytest.raises(BackOfficeRejected, match="another debtor"):
        adapter.write_off(_debtor("1"), _write_off("4", "2024.000131"))
    with pytest.raises(BackOfficeRejected):
        adapter.write_off(_debtor("4711"), _write_off("4711", "2024.000101"))
    request = _write_off("1", "2025.000104")
    adapter.write_off(_debtor("1"), request)
    with pytest.raises(BackOfficeRejected, match="already recorded for another debtor"):
        adapter.write_off(_debtor("4"), request.model_copy(update={"debtor_id": "4"}))


def test_concurrent_write_offs_of_one_id_count_once(
    adapter: GemeentebelastingenAdapter, sample: SampleBackOffice
) -> None:
    request = _write_off("4", "2024.000131", "2025.000132")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: adapter.write_off(_debtor("4"), request), range(8)))
    assert all(r == results[0] for r in results)
    assert results[0].amount == D("915.20")  # 525.80 + 389.40
    assert _table(_db(sample), "SELECT count(*), bedrag FROM afboekingen") == [(1, "915.20")]


def test_a_release_after_a_write_off_resumes_nothing_on_it(
    adapter: GemeentebelastingenAdapter,
) -> None:
    hold = _hold("1")
    adapter.apply_hold(hold)
    adapter.write_off(_debtor("1"), _write_off("1", "2024.000101"))
    released = adapter.release_hold(hold)
    assert released.measures == {M.AANMANING, M.RENTE}  # of 2025.000102 only
    assert _measures(adapter, "1") == {
        "2025.000102": frozenset({M.AANMANING, M.RENTE}),
        "2025.000104": frozenset(),
    }


def test_no_personal_data_in_logs_or_errors_of_the_new_calls(
    sample: SampleBackOffice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    people = _table(
        _db(sample),
        "SELECT debiteur_id, bsn, voornamen, achternaam, postcode, straatnaam FROM debiteuren",
    )
    texts: list[str] = []
    a = _adapter(sample.options, timeout_seconds=0.1)
    try:
        for debiteur_id, *_ in people:
            debtor = _debtor(str(debiteur_id))
            claims = [
                _claim(c.factuurnummer, str(c.openstaand), "0") for c in a.list_claims(debtor)
            ]
            claims.append(_claim("2023.000139", "10.00"))
            texts.append(a.assess_proposal(debtor, _proposal(*claims)).reason)
            texts.append(a.assess_proposal(debtor, _proposal(*claims[:-1])).reason)
            conversation = uuid.uuid4()
            a.record_arrangement(debtor, _arrangement(*claims, conversation=conversation))
            request = _write_off(
                str(debiteur_id), *(c.factuurnummer for c in claims), conversation=conversation
            )
            texts.append(a.write_off(debtor, request).detail)
            texts.append(a.write_off(debtor, request).detail)
        errors: list[BaseException] = []
        for call in (
            lambda: a.assess_proposal(_debtor("4711"), _proposal()),
            lambda: a.write_off(_debtor("1"), _write_off("2", "2025.000121")),
        ):
            try:
                call()
            except BackOfficeRejected as exc:
                errors.append(exc)
        a.close()  # its idle connections would keep the exclusive lock out (WAL)
        with exclusive_lock(_db(sample)):
            for call in (
                lambda: a.assess_proposal(_debtor("6"), _proposal(_claim("2024.000151", "1"))),
                lambda: a.record_arrangement(_debtor("6"), _arrangement()),
                lambda: a.write_off(_debtor("6"), _write_off("6", "2024.000151")),
            ):
                try:
                    call()
                except BackOfficeUnavailable as exc:
                    errors.append(exc)
    finally:
        a.close()
    assert len(errors) == 5
    assert any(r.name == "skn_gemeentebelastingen" for r in caplog.records)
    texts += [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += _table(_db(sample), "SELECT detail FROM afboekingen")[0]
    secrets = [str(v) for row in people for v in row[1:]]
    for d in sample.debtors:
        secrets.append(d.person.achternaam.split("-")[0])
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


# -- an earlier schema ------------------------------------------------------------------------


def _downgrade(path: Path) -> None:
    """Make the sample look like one made before regelingen and afboekingen existed."""
    with sqlite3.connect(path) as conn:
        ((ddl,),) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'aanslagen'")
        added = ("kwijtschelding_aangevraagd", "in_regeling")
        first = "\n".join(line for line in ddl.splitlines() if not any(c in line for c in added))
        first = re.sub(r",\s*\)\s*$", "\n)", first)  # the last line left had a comma
        columns = ", ".join(
            r[1] for r in conn.execute("PRAGMA table_info(aanslagen)") if r[1] not in added
        )
        conn.executescript(
            f"""
            PRAGMA foreign_keys = OFF;
            {first.replace("CREATE TABLE aanslagen", "CREATE TABLE first", 1)};
            INSERT INTO first SELECT {columns} FROM aanslagen;
            DROP TABLE aanslagen;
            ALTER TABLE first RENAME TO aanslagen;
            DROP TABLE regelingen;
            DROP TABLE afboekingen;
            """
        )
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_an_earlier_database_keeps_claims_and_holds_and_can_be_upgraded(
    sample: SampleBackOffice, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _db(sample)
    _downgrade(path)
    a = _adapter(sample.options)
    try:
        connection = next(r for r in a.check() if r.aspect == "connection")
        assert not connection.ok
        assert connection.message == (
            "the database lacks the tables regelingen, afboekingen and the columns "
            "aanslagen.kwijtschelding_aangevraagd, aanslagen.in_regeling; it predates "
            "proposals, arrangements and write-offs: run skn-gemeentebelastingen upgrade "
            "--database on it"
        )
        assert [c.openstaand for c in a.list_claims(_debtor("1"))] == [
            D("376.02"),
            D("399.00"),
            D("305.80"),
        ]
        assert a.apply_hold(_hold("1")).applied
        with pytest.raises(BackOfficeUnavailable, match="no such"):
            a.assess_proposal(_debtor("1"), _proposal(_claim("2024.000101", "376.02")))

        assert sample_main(["upgrade", "--database", str(path)]) == 0
        assert capsys.readouterr().out == (
            "added: regelingen, afboekingen, aanslagen.kwijtschelding_aangevraagd, "
            "aanslagen.in_regeling\n"
        )
        assert upgrade_database(path) == []  # a second run changes nothing
        assert all(r.ok for r in a.check())
        assert a.assess_proposal(_debtor("1"), _proposal(_claim("2024.000101", "1"))).decision == (
            "accept"
        )
        conversation = uuid.uuid4()
        a.record_arrangement(
            _debtor("1"), _arrangement(_claim("2024.000101", "1"), conversation=conversation)
        )
        result = a.write_off(
            _debtor("1"), _write_off("1", "2024.000101", conversation=conversation)
        )
        assert result.amount == D("376.02")
    finally:
        a.close()


def test_upgrade_refuses_what_is_not_this_back_office(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE debiteuren (x)").connection.close()
    with pytest.raises(ValueError, match="lacks aanslagen, maatregelen, opschortingen"):
        upgrade_database(path)
    assert sample_main(["upgrade", "--database", str(path)]) == 1
    assert sample_main(["upgrade", "--database", str(tmp_path / "missing.db")]) == 1
    assert not (tmp_path / "missing.db").exists()
    assert "no database" in capsys.readouterr().err
