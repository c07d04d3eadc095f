"""The gemeentebelastingen adapter passes the skn-connector conformance kit.

This is how a plugin author uses the kit: subclass ``AdapterConformance``, name the
adapter, and say how to make the back-office unreachable and slow. Run it with::

    pytest plugins/gemeentebelastingen/tests
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skn_connector.adapters.api import SampleBackOffice
from skn_connector.adapters.sqlite import locked_copy
from skn_connector.adapters.testing import AdapterConformance


def _database(sample: SampleBackOffice) -> Path:
    return Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))


class TestGemeentebelastingen(AdapterConformance):
    # the entry-point name: this also checks the distribution declares it
    adapter = "gemeentebelastingen"

    def unreachable_options(self, sample: SampleBackOffice, tmp_path: Path) -> dict[str, Any]:
        # a database file in a directory that does not exist: SQLite cannot open it
        missing = tmp_path / "not-there" / "gemeentebelastingen.db"
        return {**sample.options, "database_url": f"sqlite:///{missing}"}

    def slow_options(self, sample: SampleBackOffice, tmp_path: Path) -> Iterator[dict[str, Any]]:
        # a copy of the back-office that another connection holds an exclusive lock on for
        # the whole test (readers too: the file is in WAL mode); we wait 50 ms at most
        with locked_copy(_database(sample), tmp_path) as copy:
            yield {**sample.options, "database_url": f"sqlite:///{copy}", "timeout_seconds": 0.05}
