"""Matching the SHV's invoice numbers to the creditor's claims in a saldo answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from skn_connector.adapters.api import Claim
from skn_connector.engine.answers import match_claims, saldo_answer
from skn_connector.messages import (
    Contactpersoon,
    OpgegevenVordering,
    Saldoverzoek,
    message_from_json,
)

from .factories import saldoverzoek

UNKNOWN = "onbekende schuld bij SE"


def _claim(factuurnummer: str, openstaand: str = "100.00") -> Claim:
    return Claim(
        factuurnummer=factuurnummer,
        omschrijving="Aanslag gemeentelijke belastingen",
        ontstaansdatum=date(2024, 3, 1),
        originele_vordering=Decimal(openstaand),
        hoofdsom=Decimal(openstaand),
        openstaand=Decimal(openstaand),
    )


CLAIMS = [_claim("2024.000101", "250.00"), _claim("2025.000102"), _claim("2025.000104")]


def _listed(entries: Iterable[OpgegevenVordering]) -> list[tuple[str | None, str, str | None]]:
    return [(e.factuurnummer_se_volgens_shv, e.schuldtype, e.factuurnummer_se) for e in entries]


def test_each_listed_number_is_answered_once_in_the_order_first_listed() -> None:
    shv = ["2024.000101", "2025.000102", "2024.000101", "2024-000101 ", "2024.000101"]
    entries, unmatched = match_claims(shv, CLAIMS)
    assert _listed(entries) == [
        ("2024.000101", "openstaande schuld", "2024.000101"),
        ("2025.000102", "openstaande schuld", "2025.000102"),
    ]
    assert entries[0].openstaand == Decimal("250.00")
    assert [c.factuurnummer for c in unmatched] == ["2025.000104"]


def test_a_repeat_written_otherwise_is_the_same_number() -> None:
    entries, _ = match_claims(["2024-000101 ", "2024.000101", "2024/000101", "2024_000101"], CLAIMS)
    # the SHV's spelling of its first listing is the one echoed (stripped, as every text)
    assert _listed(entries) == [("2024-000101", "openstaande schuld", "2024.000101")]


def test_an_unknown_number_listed_twice_gets_one_unknown_entry() -> None:
    entries, unmatched = match_claims(["2023.000999", "2025.000102", "2023-000999"], CLAIMS)
    assert _listed(entries) == [
        ("2023.000999", UNKNOWN, None),
        ("2025.000102", "openstaande schuld", "2025.000102"),
    ]
    assert [c.factuurnummer for c in unmatched] == ["2024.000101", "2025.000104"]


def test_a_saldo_answer_with_repeats_reports_every_claim_once() -> None:
    request = message_from_json(
        saldoverzoek(invoices=("2024.000101", "2024.000101", "2024-000101", "2023.000999"))
    )
    assert isinstance(request, Saldoverzoek)
    answer = saldo_answer(
        request,
        klantnummer_se="SE-778899",
        claims=CLAIMS,
        contact=Contactpersoon(naam="S. Invordering"),
        now=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        today=date(2026, 11, 30),
    )
    assert _listed(answer.vorderingen or ()) == [
        ("2024.000101", "openstaande schuld", "2024.000101"),
        ("2023.000999", UNKNOWN, None),
    ]
    assert answer.ongematchte_schulden is not None
    others = answer.ongematchte_schulden.openstaande_schulden or ()
    assert [c.factuurnummer_se for c in others] == ["2025.000102", "2025.000104"]
