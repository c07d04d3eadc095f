"""The kept totals (migration 0015, store/totals.py): each creditor's messages received,
quarantined and answers sent, counted from the rows by the upgrade and then kept by the
store's triggers as rows are written, however they are written. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, func, insert, select, text, update

from skn_connector.operations.status import status
from skn_connector.store import open_store
from skn_connector.store.totals import missing_triggers

from .test_migration_0006 import FIXTURE, TABLES, postgres_at
from .test_migration_0010 import _rows
from .test_migration_0013 import MINE, OTHER, _store_at_0012, _upgrade
from .test_status import settings

Totals = dict[str, tuple[int, int, int]]


def counted(engine: Engine) -> Totals:
    """Each creditor's (received, quarantined, sent), counted from its rows."""
    sql = {
        "received": "SELECT creditor_id, count(*) FROM inbox GROUP BY creditor_id",
        "quarantined": "SELECT creditor_id, count(*) FROM quarantine GROUP BY creditor_id",
        "sent": "SELECT creditor_id, count(*) FROM outbox WHERE status = 'sent'"
        " GROUP BY creditor_id",
    }
    found: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for position, statement in enumerate(sql.values()):
            for creditor, count in connection.execute(text(statement)):
                found.setdefault(creditor, [0, 0, 0])[position] = int(count)
    return {creditor: (r, q, s) for creditor, (r, q, s) in found.items()}


def kept(engine: Engine) -> Totals:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT creditor_id, received, quarantined, sent FROM totals")
        ).all()
    return {c: (int(r), int(q), int(s)) for c, r, q, s in rows if (r, q, s) != (0, 0, 0)}


def write_more(engine: Engine) -> None:
    """Rows written after the upgrade, for both creditors: new messages, a message kept in
    quarantine, answers sent (one sent twice: counted once), one stored as sent at once."""
    metadata = MetaData()
    metadata.reflect(engine, only=TABLES)
    inbox, quarantine, outbox = (metadata.tables[n] for n in ("inbox", "quarantine", "outbox"))
    with engine.begin() as connection:
        for creditor in (MINE, OTHER):
            model = dict(
                connection.execute(select(inbox).where(inbox.c.creditor_id == creditor).limit(1))
                .one()
                ._mapping
            )
            del model["id"]
            connection.execute(
                insert(inbox),
                [
                    {
                        **model,
                        "referentienummer": str(uuid.uuid4()),
                        "node_message_id": f"n{n}",
                    }
                    for n in range(3)
                ],
            )
            kept_aside = connection.execute(
                select(quarantine).where(quarantine.c.creditor_id == creditor).limit(1)
            ).one()
            row = dict(kept_aside._mapping)
            del row["id"]
            connection.execute(insert(quarantine), [{**row, "node_message_id": "q-new"}])
            unsent = (
                connection.execute(
                    select(outbox.c.id).where(
                        outbox.c.creditor_id == creditor, outbox.c.status != "sent"
                    )
                )
                .scalars()
                .all()
            )
            for outbox_id in unsent[:1]:
                for _ in range(2):  # marked sent twice (a second delivery's bookkeeping)
                    connection.execute(
                        update(outbox).where(outbox.c.id == outbox_id).values(status="sent")
                    )
            answer = connection.execute(
                select(outbox).where(outbox.c.creditor_id == creditor).limit(1)
            ).one()
            row = dict(answer._mapping)
            del row["id"]
            row.update(referentienummer=str(uuid.uuid4()), status="sent")
            connection.execute(insert(outbox), [row])


def _check(engine: Engine) -> None:
    upgraded = kept(engine)
    assert upgraded == counted(engine)
    assert set(upgraded) == {MINE, OTHER} and all(t[0] > 0 for t in upgraded.values())
    write_more(engine)
    after = kept(engine)
    assert after == counted(engine)
    for creditor in (MINE, OTHER):
        assert after[creditor][0] == upgraded[creditor][0] + 3
        assert after[creditor][1] == upgraded[creditor][1] + 1
        assert after[creditor][2] >= upgraded[creditor][2] + 1
    # doctor's check of the triggers
    with engine.begin() as connection:
        assert missing_triggers(connection) == []
        on = "" if engine.dialect.name == "sqlite" else " ON quarantine"
        connection.execute(text(f"DROP TRIGGER totals_quarantine_kept{on}"))
        assert missing_triggers(connection) == ["totals_quarantine_kept"]


def test_the_upgrade_counts_the_totals_and_the_triggers_keep_them(tmp_path: Path) -> None:
    engine = _store_at_0012(tmp_path)
    _upgrade(engine, "0014")
    before = counted(engine)
    _upgrade(engine, "0015")
    assert kept(engine) == before
    _check(engine)
    engine.dispose()


def test_the_totals_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    source = _store_at_0012(tmp_path)
    before = _rows(source)
    target = postgres_at(postgres_url, "0014", before)
    _upgrade(target, "0015")
    _check(target)
    target.dispose()


def test_rows_given_to_the_sole_creditor_take_their_totals_along(tmp_path: Path) -> None:
    path = tmp_path / "skn.db"
    path.write_bytes(FIXTURE.read_bytes())
    url = f"sqlite:///{path}"
    open_store(url).close()  # migrated without a creditor: its rows are of none
    engine = create_engine(url)
    of_none = kept(engine)
    assert set(of_none) == {""} and of_none == counted(engine)
    open_store(url, sole_creditor=MINE).close()
    assert kept(engine) == {MINE: of_none[""]} == counted(engine)
    engine.dispose()


def test_the_metrics_read_the_kept_totals(tmp_path: Path) -> None:
    """What status() reports as received is the kept total, not a count: a total set apart
    from the rows shows (a scrape no longer reads a creditor's history)."""
    path = tmp_path / "skn.db"
    path.write_bytes(FIXTURE.read_bytes())
    url = f"sqlite:///{path}"
    store = open_store(url, sole_creditor=MINE)
    try:
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE totals SET received = 123456, sent = 654321"))
            rows = connection.scalar(select(func.count()).select_from(text("inbox")))
        assert rows != 123456
        figures = status(store.scoped(MINE), settings(url), datetime.now(UTC))
        assert (figures.received, figures.answers_sent) == (123456, 654321)
    finally:
        store.close()
