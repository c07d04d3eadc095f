"""Store.keeping: a thread's core transactions on one kept connection, dropped when one fails."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text

from skn_connector.store import open_store
from skn_connector.store.schema import Meta


def _count(store_url: str) -> int:
    store = open_store(store_url)
    try:
        with store.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Meta)) or 0)
    finally:
        store.close()


def test_a_kept_connection_serves_each_transaction_until_one_fails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    before = _count(url)
    seen: list[Connection] = []
    try:
        with store.keeping():
            for number in range(3):
                with store.core_transaction() as connection:
                    seen.append(connection)
                    connection.execute(
                        Meta.__table__.insert(), {"key": f"kept-{number}", "value": "x"}
                    )
            with pytest.raises(RuntimeError), store.core_transaction() as connection:
                connection.execute(Meta.__table__.insert(), {"key": "rolled-back", "value": "x"})
                raise RuntimeError("a bug in the middle of a transaction")
            with store.core_transaction() as connection:
                after_failure = connection
                connection.execute(Meta.__table__.insert(), {"key": "after", "value": "x"})
        # another thread keeps nothing: its transactions take the pool's connections
        others: list[Connection] = []

        def elsewhere() -> None:
            with store.core_transaction() as connection:
                others.append(connection)
                connection.execute(text("SELECT 1"))

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    finally:
        store.close()
    assert seen[0] is seen[1] is seen[2]  # one connection for the three
    assert after_failure is not seen[0]  # the one that failed was closed, not used again
    assert seen[0].closed and after_failure.closed  # given back when the block ended
    assert others and others[0] is not after_failure
    # the three and the one after the failure are committed; the failed one is not
    assert _count(url) == before + 4
