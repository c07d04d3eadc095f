"""The log: ``[logging] format = "json"`` gives one JSON object a line (time, level, logger,
message, the exception), redacted as the text lines are; the daemon writes one info line per
round that did work and none for an idle round, and the scheduler says nothing at info.

The daemon runs as a subprocess against the simulated node; the JSON log is read from its
standard error, as the journal would get it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import ConfigError, LogFormat, load_settings
from skn_connector.demo import write_config
from skn_connector.logs import JsonLinesFormatter, configure, formatter
from skn_connector.node.simulator import Simulator
from skn_connector.redaction import personal_values

from . import factories as f
from .test_conversations import about, new_conversation
from .test_redaction_scan import (
    IBAN,
    KNOWN,
    UNKNOWN,
    adres,
    canaryfy,
    find_canaries,
    klant,
    saldoverzoek,
    store_texts,
)

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
KEYS = {"time", "level", "logger", "message"}


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of the log, each parsed (a line that is not JSON fails the test)."""
    entries = []
    for line in stderr.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict) and set(entry) >= KEYS, line
        assert set(entry) <= KEYS | {"exception", "stack"}, line
        entries.append(entry)
    return entries


def wait(until: Callable[[], object], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def daemon(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def as_json(config: Path, *, poll: str = "1s") -> None:
    text = config.read_text().replace(
        'poll_interval = "1m"', f'poll_interval = "{poll}"\ndeliver_interval = "1s"'
    )
    config.write_text(text + '\n[logging]\nformat = "json"\n')


# -- the formatter ---------------------------------------------------------------------------


def test_a_json_line_is_redacted_field_by_field() -> None:
    record_log = logging.getLogger("skn_connector.test")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLinesFormatter())
    record_log.addHandler(handler)
    record_log.propagate = False
    try:
        with personal_values(lambda: [KNOWN.achternaam]):
            try:
                raise KeyError(f"{KNOWN.achternaam}\n{KNOWN.bsn}")  # a BSN after a line break
            except KeyError:
                record_log.exception("looking up %s failed", KNOWN.bsn)
        record_log.warning("plain\nline with ünïcode")
    finally:
        record_log.removeHandler(handler)
        record_log.propagate = True
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "ERROR" and first["logger"] == "skn_connector.test"
    assert first["message"] == "looking up [BSN] failed"
    assert "Traceback (most recent call last)" in first["exception"]
    assert "KeyError" in first["exception"] and "[PERSOONSGEGEVEN]" in first["exception"]
    assert first["time"].endswith("+00:00")
    assert second == {**second, "level": "WARNING", "message": "plain\nline with ünïcode"}
    assert find_canaries([("json", out.getvalue())]) == []


def test_the_format_is_a_setting(tmp_path: Path) -> None:
    assert isinstance(formatter(LogFormat.JSON), JsonLinesFormatter)
    config = tmp_path / "skn.toml"
    source = (REPO / "config.example.toml").read_text()
    config.write_text(source.replace('format = "text"', 'format = "xml"'))
    with pytest.raises(ConfigError, match=r"logging\.format: Input should be 'text' or 'json'"):
        load_settings(config)
    configure(logging.INFO, LogFormat.TEXT)  # the scheduler's loggers stay quiet
    assert logging.getLogger("apscheduler.scheduler").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.WARNING


# -- the daemon ------------------------------------------------------------------------------


def test_one_line_per_working_round_none_for_idle_ones(tmp_path: Path) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    known = [d for d in sample.debtors if d.klantnummer_se in {"100001", "100002"}]
    with (
        Simulator(port=0, tls_dir=tmp_path / "tls") as node,
        httpx.Client(base_url=node.admin_url, timeout=10) as admin,
    ):
        config = write_config(tmp_path, node, sample.options)
        as_json(config)
        for debtor in known:  # answered, with a hold each
            message = about(f.saldoverzoek(module="Schuldregeling"), debtor, new_conversation())
            assert admin.post("/_admin/messages", json=message).status_code == 201
        unknown = f.saldoverzoek(module="Schuldregeling")  # GeenMedewerking
        assert admin.post("/_admin/messages", json=unknown).status_code == 201
        process = daemon(config)
        try:
            wait(lambda: len(admin.get("/_admin/sent").json()) == 3)
            idle_from = datetime.now(UTC) + timedelta(seconds=1)
            time.sleep(5)  # idle rounds: poll and delivery every second
            idle_to = datetime.now(UTC)
            late = f.saldoverzoek(module="Schuldregeling")
            assert admin.post("/_admin/messages", json=late).status_code == 201
            wait(lambda: len(admin.get("/_admin/sent").json()) == 4)
            time.sleep(3)
        finally:
            stderr = stop(process)
    entries = json_lines(stderr)
    rounds = [e["message"] for e in entries if " round: " in e["message"]]
    assert rounds == [
        "poll round: fetched 3, decided 3, answered 3 (GeenMedewerking 1, "
        "SaldoverzoekAntwoord 2), held 2, released 0, sent 3",
        "poll round: fetched 1, decided 1, answered 1 (GeenMedewerking 1), held 0, "
        "released 0, sent 1",
    ]
    assert all(e["level"] == "INFO" for e in entries if " round: " in e["message"])
    # quiet otherwise: nothing at all while the rounds had nothing to do
    idle = [e for e in entries if idle_from <= datetime.fromisoformat(e["time"]) <= idle_to]
    assert idle == []
    # the connector's own info lines: its start, the lease, the rounds, its stop
    mine = [
        e["message"]
        for e in entries
        if e["level"] == "INFO"
        and e["logger"].startswith("skn_connector")
        and " round: " not in e["message"]
    ]
    assert mine[0].startswith("adapter belastingen loaded (gemeentebelastingen")
    assert mine[1].startswith("skn-connector running: polling every 0:00:01")
    assert mine[2] == "holding the store's lease: this instance works"
    assert mine[3:] == ["received SIGTERM; stopping after the running job", "skn-connector stopped"]
    assert not [e for e in entries if e["logger"].startswith(("apscheduler", "uvicorn"))]
    # the rounds' figures are the store's
    with sqlite3.connect(tmp_path / "skn-connector.db") as db:
        assert db.execute("SELECT count(*) FROM holds WHERE status = 'applied'").fetchone() == (2,)


def test_json_lines_of_a_careless_adapter_carry_no_personal_data(tmp_path: Path) -> None:
    """Errors quoting the debtor (a KeyError on the BSN, a RuntimeError and a refused hold
    with the name, BSN and IBAN), logged with their tracebacks: as JSON lines, none of it."""
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    sample, debtor = canaryfy(sample)
    with (
        Simulator(port=0, tls_dir=tmp_path / "tls") as node,
        httpx.Client(base_url=node.admin_url, timeout=10) as admin,
    ):
        options = {**sample.options, "keyerror_bsn": UNKNOWN.bsn, "iban": IBAN}
        config = write_config(tmp_path, node, options)
        config.write_text(
            config.read_text().replace(
                'use = "gemeentebelastingen"', 'use = "tests.adapters_for_tests:LeakyTaxes"'
            )
        )
        as_json(config)
        kennisgeving = f.kennisgeving()
        kennisgeving["Klant"] = klant(KNOWN)
        kennisgeving["Adres"] = adres(KNOWN)
        for message in (
            saldoverzoek(UNKNOWN, ("2024.123456.01",)),
            kennisgeving,
            saldoverzoek(KNOWN, debtor.factuurnummers),
        ):
            assert admin.post("/_admin/messages", json=message).status_code == 201
        database = tmp_path / "skn-connector.db"

        def failures() -> int:
            if not database.exists():
                return 0
            try:
                with sqlite3.connect(database) as db:
                    return int(
                        db.execute(
                            "SELECT count(*) FROM audit WHERE event IN "
                            "('processing_failed', 'effect_failed')"
                        ).fetchone()[0]
                    )
            except sqlite3.OperationalError:  # being created
                return 0

        process = daemon(config)
        try:
            wait(lambda: failures() >= 3)
        finally:
            stderr = stop(process)
    entries = json_lines(stderr)
    exceptions = [e["exception"] for e in entries if "exception" in e]
    assert exceptions and any("KeyError" in text for text in exceptions)
    assert any("RuntimeError" in text for text in exceptions)
    assert all("Traceback (most recent call last)" in text for text in exceptions)
    texts = [("daemon stderr", stderr), *store_texts(database)]
    assert find_canaries(texts) == []


def test_text_lines_are_unchanged(tmp_path: Path) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(LogFormat.TEXT))
    logger = logging.getLogger(f"skn_connector.t{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("BSN %s", KNOWN.bsn)
    line = out.getvalue().strip()
    assert line.endswith(f"WARNING {logger.name}: BSN [BSN]")
