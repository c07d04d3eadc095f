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


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "hostile_full: slow reproducers, run with HYPOTHESIS_PROFILE=faults (make faults)",
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    from .harness import FULL

    if FULL:
        return
    # left out of the default run, not skipped: `make faults` runs them
    slow = [item for item in items if "hostile_full" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "hostile_full" not in item.keywords]
