"""The hostile-input tier: fuzzing and targeted attacks on the SOAP decoder and the CSV
importers. The counts of the session are printed at its end (see harness.py)."""

from __future__ import annotations

from typing import Any

from .harness import TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.cases:
        return
    terminalreporter.write_sep("-", "hostile inputs")
    terminalreporter.write_line(TALLY.summary())
    for crash in TALLY.crashes[:20]:
        terminalreporter.write_line(f"  crash: {crash}")
    for hang in TALLY.hangs[:20]:
        terminalreporter.write_line(f"  hang: {hang}")
