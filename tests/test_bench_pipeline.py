"""bench/pipeline.py works on a tiny backlog, checks its own run, and reports (no timing)."""

from __future__ import annotations

from pathlib import Path

from bench import pipeline


def test_a_tiny_run_answers_and_holds_everything_and_reports(tmp_path: Path) -> None:
    result = pipeline.run_size(45, tmp_path)
    assert result.answers == 45 and not result.notes
    assert result.holds == 35  # 7 of every 9 messages are about a sample debtor
    assert result.transactions < 45  # group commits: fewer than one per message
    assert result.rate > 0 and result.floor_rate > 0
    assert 0 <= result.hold_p50 <= result.hold_p99 and result.answer_p99 >= 0
    assert result.timestamp_resolution_us == 1.0
    assert result.rss_peak >= result.rss_start > 0
    text = "\n".join(pipeline.report([result], [0.2, 0.3, 0.25], {45: [result.rate]}))
    assert "ours/floor" in text and "targets (issue 6)" in text and "--help" in text


def test_the_mix_is_realistic(tmp_path: Path) -> None:
    from skn_connector.adapters.api import SampleDebtor
    from skn_connector.adapters.registry import resolve_adapter_class

    cls = resolve_adapter_class("gemeentebelastingen")
    debtors: tuple[SampleDebtor, ...] = cls.create_sample(tmp_path).debtors
    mix = pipeline.templates(debtors)
    kinds = {t.berichttype for t in mix}
    assert kinds == {"Saldoverzoek", "KennisgevingPubliek"}
    assert sum(t.known for t in mix) == 7 and len(mix) == 9
    first, second = list(pipeline.payloads(mix, len(mix) + 1))[:: len(mix)]
    assert first != second  # each message its own Referentienummer and conversation
