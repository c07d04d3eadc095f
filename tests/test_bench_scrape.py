"""bench/scrape.py works on a small store, and its store is what it claims (no timing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench import scrape
from skn_connector.config import load_deployment, load_settings
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


def test_the_rows_spread_over_creditors_and_the_indexes_of_0012(tmp_path: Path) -> None:
    mix = scrape.Mix(messages=1200, pending=30, creditors=3, without_creditor_indexes=True)
    database = tmp_path / "skn.db"
    scrape.fill(database, mix)
    settings = load_deployment(
        scrape.write_config(tmp_path, database, scrape.free_port(), mix.creditor_ids)
    ).creditors
    store = open_store(settings[0].store.url)
    try:
        with store.engine.connect() as connection:
            indexes = {
                name: sql
                for name, sql in connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
                )
            }
        figures = [status(store.scoped(s.creditor_id), s, datetime.now(UTC)) for s in settings]
    finally:
        store.close()
    assert "ix_inbox_creditor" not in indexes and "ix_holds_status" in indexes
    assert "creditor_id" not in indexes["ix_outbox_status"]
    assert [f.received for f in figures] == [400, 400, 400]
    assert all(f.answers_pending >= 10 and f.quarantine_open == 3 for f in figures)
    (tmp_path / "m").mkdir()
    timings = scrape.measure(tmp_path / "m", scrape.Mix(300, 10, creditors=2), repeat=1)
    assert [t.label for t in timings][-1] == "GET /metrics over HTTP"
