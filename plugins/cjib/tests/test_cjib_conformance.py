"""The cjib adapter passes the skn-connector conformance kit.

Run it with::

    pytest plugins/cjib/tests
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.testing import AdapterConformance


def _database(sample: SampleBackOffice) -> Path:
    return Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))


class TestCjib(AdapterConformance):
    # the entry-point name: this also checks the distribution declares it
    adapter = "cjib"

    # SQLAlchemy logs every result row at DEBUG on "sqlalchemy.engine" (rows hold BSNs);
    # the connector never enables that logger, and an operator who does chooses to see data.
    privacy_log_levels = {
        "sqlalchemy.engine": (logging.INFO, "SQLAlchemy logs result rows at DEBUG by design")
    }

    def unreachable_options(self, sample: SampleBackOffice, tmp_path: Path) -> dict[str, Any]:
        # a database file in a directory that does not exist: SQLite cannot open it
        missing = tmp_path / "not-there" / "cjib.db"
        return {**sample.options, "database_url": f"sqlite:///{missing}"}

    def slow_options(self, sample: SampleBackOffice, tmp_path: Path) -> Iterator[dict[str, Any]]:
        # another process holds an exclusive lock for the whole test; we wait 50 ms at most
        lock = sqlite3.connect(_database(sample), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            yield {**sample.options, "timeout_seconds": 0.05}
        finally:
            lock.execute("ROLLBACK")
            lock.close()
