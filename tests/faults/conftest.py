"""The fault-injection tier: a quick, seeded sample runs with every ``pytest``; the full run
(marker ``faults_full``) only when asked for, by any of:

    pytest tests/faults -m faults_full        # the full run only
    pytest tests/faults --faults-full         # the quick sample and the full run
    SKN_FAULTS_FULL=1 pytest tests/faults     # the same, where options are awkward

``SKN_FAULTS_REPORT=FILE`` also writes the table of every tier's row to FILE (Markdown).
See docs/reliability.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .harness import ROWS, Row

FULL = "faults_full"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--faults-full",
        action="store_true",
        default=False,
        help="also run the full fault-injection tier (minutes; see docs/reliability.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FULL}: the full fault-injection run (minutes); "
        "run with -m faults_full, --faults-full or SKN_FAULTS_FULL=1",
    )


def _full_requested(config: pytest.Config) -> bool:
    return (
        bool(config.getoption("--faults-full", default=False))
        or FULL in (config.getoption("markexpr", default="") or "")
        or os.environ.get("SKN_FAULTS_FULL", "") not in ("", "0")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _full_requested(config):
        return
    # the full run is not skipped but left out of the default run (make faults runs it)
    full = [item for item in items if FULL in item.keywords]
    if full:
        config.hook.pytest_deselected(items=full)
        items[:] = [item for item in items if FULL not in item.keywords]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    lines = [Row.HEADER, Row.RULE, *(row.markdown() for row in ROWS)]
    terminalreporter.write_sep("=", "fault injection: effects counted end to end")
    for line in lines:
        terminalreporter.write_line(line)
    target = os.environ.get("SKN_FAULTS_REPORT")
    if target:
        Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
