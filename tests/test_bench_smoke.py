"""bench/codec.py works with a tiny budget and its contenders agree on the data (no timing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench import codec

pytest.importorskip("zeep")  # in the dev extra; bench/codec.py imports it lazily


@pytest.fixture(scope="module")
def bench() -> codec.Bench:
    return codec.setup()


def test_the_messages_are_realistic(bench: codec.Bench) -> None:
    assert len(bench.request.vorderingen) == 4
    assert bench.request.partner is not None
    claims = [*(bench.answer.vorderingen or ())]
    unmatched = bench.answer.ongematchte_schulden
    assert unmatched is not None and unmatched.openstaande_schulden is not None
    claims += unmatched.openstaande_schulden
    assert len(claims) == 5
    assert {c.schuldtype for c in claims} == {
        "openstaande schuld",
        "overgedragen schuld",
        "onbekende schuld bij SE",
    }


def test_zeep_loads_our_xsds_through_the_wsdl(bench: codec.Bench) -> None:
    assert bench.zeep.name.startswith("zeep ")
    decoded = bench.zeep.decode(bench.request_bytes)
    assert decoded.Klant.Bsn == bench.request.klant.bsn
    assert [v.FactuurnummerSEVolgensSHV for v in decoded.Vorderingen.Vordering] == list(
        codec.INVOICES
    )


def test_the_contenders_agree_on_the_data(bench: codec.Bench) -> None:
    codec.check(bench)


def test_the_check_catches_a_contender_that_loses_data(bench: codec.Bench) -> None:
    def drop_last_claim(data: bytes) -> Any:
        decoded = codec.decode_message(data)
        return decoded.model_copy(update={"vorderingen": decoded.vorderingen[:-1]})

    broken = dataclasses.replace(bench.ours, decode=drop_last_claim)
    with pytest.raises(AssertionError, match="decoded another Saldoverzoek"):
        codec.check(dataclasses.replace(bench, ours=broken))


def test_measure_and_report_with_a_tiny_budget(bench: codec.Bench) -> None:
    codec.measure(bench, rounds=1, seconds=0.01)
    assert all(len(c.rates) == 1 and c.rates[0] > 0 for c in bench.contenders)
    text = "\n".join(codec.report(bench, rounds=1, seconds=0.01))
    assert "ours/zeep = " in text and "lxml/ours = " in text
    for contender in bench.contenders:
        assert contender.name in text


def test_the_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert codec.main(["--rounds", "1", "--seconds", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "messages/s" in out and "python: " in out
