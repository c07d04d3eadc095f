"""bench/scrape.py works on a small store, and its store is what it claims (no timing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench import scrape
from skn_connector.config import load_settings
from skn_connector.operations.status import status
from skn_connector.store import open_store


def test_the_filled_store_holds_the_mix(tmp_path: Path) -> None:
    database = tmp_path / "skn.db"
    scrape.fill(database, scrape.Mix(messages=2000, pending=100))
    settings = load_settings(scrape.write_config(tmp_path, database, scrape.free_port()))
    store = open_store(settings.store.url)  # at the newest revision: nothing to migrate
    try:
        figures = status(store, settings, datetime.now(UTC))
    finally:
        store.close()
    assert figures.received == 2000
    assert figures.answers_pending >= 100 and figures.answers_overdue > 0
    assert 1500 < figures.answers_sent < 2000
    assert figures.holds_active > 0 and figures.holds_to_apply > 0
    assert figures.quarantined == 20 and figures.quarantine_open == 3
    assert figures.tasks_open_total > 0 and figures.backoffice_errors > 0


def test_measure_and_report_with_a_tiny_budget(tmp_path: Path) -> None:
    mix = scrape.Mix(messages=300, pending=10)
    timings = scrape.measure(tmp_path, mix, repeat=2)
    assert [t.label for t in timings][-1] == "GET /metrics over HTTP"
    assert all(len(t.seconds) == 2 and t.median_ms > 0 for t in timings)
    lines = scrape.report(mix, timings, 1.0)
    assert lines[0].startswith("store: 300 messages (10 not yet worked)")
