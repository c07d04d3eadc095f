"""The store's migrations match its models; working days follow the Algemene termijnenwet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from skn_connector.config import SQLITE_CACHE_MIB
from skn_connector.engine.deadlines import WorkingDays
from skn_connector.store import open_store
from skn_connector.store.audit import GENESIS_HASH
from skn_connector.store.schema import AuditEntry, Base


def test_migration_matches_models_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'skn.db'}"
    store = open_store(url)
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        # the page cache that keeps the random-key indexes of a long backlog in memory
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_MIB * 1024
        # checkpoints less often than SQLite's default of 1,000 pages, the WAL cut back after
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 8_000
        assert connection.execute(text("PRAGMA journal_size_limit")).scalar() == 64 * 2**20
        indexed = {
            row[0]
            for row in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'")
            )
        }
        assert "ix_audit_conversation_id" not in indexed  # migration 0005
    store.close()
    open_store(url).close()  # a second open migrates nothing and does not fail


def test_the_page_cache_follows_the_setting(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}", sqlite_cache_mib=8)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -8 * 1024
    store.close()


def test_audit_entries_are_hash_chained(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'skn.db'}")
    with store.transaction() as session:
        first = store.audit(session, "received", referentienummer="a")
        second = store.audit(session, "answered", referentienummer="b", berichttype="X")
    with store.transaction() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [r.event for r in rows] == ["received", "answered"]
    assert [r.hash for r in rows] == [first, second]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == first != second
    assert rows[0].at.tzinfo is not None and rows[0].at <= datetime.now(UTC)
    store.close()


def test_working_days_skip_weekends_and_holidays() -> None:
    days = WorkingDays()
    # Friday 18 December 2026: Christmas (25, 26 Dec) and New Year are no working days.
    assert days.add(date(2026, 12, 18), 10) == date(2027, 1, 5)
    # 5 May counts every year, not only in lustrum years.
    assert not days.is_working_day(date(2026, 5, 5))
    assert not days.is_working_day(date(2027, 5, 5))
    assert not days.is_working_day(date(2026, 4, 27))  # King's Day
    assert days.is_working_day(date(2026, 4, 3))  # Good Friday is a setting, off by default
    assert not WorkingDays(good_friday=True).is_working_day(date(2026, 4, 3))
    assert days.between(date(2026, 12, 18), date(2027, 1, 5)) == 10
