"""doctor reports the state of the work as the metrics show it (operations.status), and fails
when a person must act: an overdue answer, an open quarantine entry, a task past its due
date, the node not polled within a working day. A store worked by `run --once` against the
simulated node, then changed where a case needs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.demo import CREDITOR_ID, write_config
from skn_connector.engine.deadlines import WorkingDays
from skn_connector.node.simulator import Simulator
from skn_connector.operations.doctor import DoctorReport, run_doctor
from skn_connector.store import open_store
from skn_connector.store.lease import StoreLease

from . import factories as f
from .test_conversations import about, new_conversation

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")


@dataclass
class Worked:
    config: Path
    store: Path

    def sql(self, statement: str, *args: object) -> None:
        with sqlite3.connect(self.store) as db:
            db.execute(statement, args)


def work(report: DoctorReport) -> dict[str, list[str]]:
    """The work lines of a report by status."""
    lines: dict[str, list[str]] = {}
    for check in report.checks:
        if check.area == "work":
            lines.setdefault(check.status, []).append(check.message)
    return lines


@pytest.fixture
def worked(tmp_path: Path) -> Iterator[Worked]:
    """One Saldoverzoek answered (a hold applied), one message quarantined (its task open)."""
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        debtor = next(d for d in sample.debtors if d.klantnummer_se == "100001")
        with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
            message = about(f.saldoverzoek(module="Schuldregeling"), debtor, new_conversation())
            assert admin.post("/_admin/messages", json=message).status_code == 201
            admin.post(
                "/_admin/raw", params={"ontvanger": str(CREDITOR_ID)}, content=b"not xml"
            ).raise_for_status()
            done = subprocess.run(
                [CLI, "run", "--once", "-c", str(config), "--max-wait", "5"],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=False,
            )
            assert "fetched 2, quarantined 1" in done.stdout, done.stdout + done.stderr
            yield Worked(config, tmp_path / "skn-connector.db")


def test_an_open_quarantine_entry_fails_and_the_rest_is_reported(worked: Worked) -> None:
    report = run_doctor(worked.config)
    lines = work(report)
    assert lines["fail"] == [
        "1 quarantined message not resolved: see 'skn-connector quarantine list'"
    ]
    assert not report.ok
    ok = lines["ok"]
    assert any(
        line.startswith("the node was last polled (or a message received) on ") for line in ok
    )
    assert "no answer is overdue or due within 2 working days (0 waiting)" in ok
    assert "1 open task (1 quarantined), none past its due date" in ok
    assert (
        "1 hold on enforcement in force; waiting for the back-office: 0 to apply, 0 to release"
        in ok
    )
    assert "no instance holds the store's lease (none is working it)" in ok
    # a person resolves it: nothing needs one any more
    worked.sql("UPDATE quarantine SET status = 'resolved'")
    worked.sql("UPDATE tasks SET status = 'resolved'")
    report = run_doctor(worked.config)
    assert report.ok and "fail" not in work(report), work(report)
    assert "no quarantined message waits for a person" in work(report)["ok"]


def test_an_overdue_answer_fails_and_one_due_soon_warns(worked: Worked) -> None:
    worked.sql("UPDATE quarantine SET status = 'resolved'")
    worked.sql("UPDATE tasks SET status = 'resolved'")
    worked.sql("UPDATE inbox SET status = 'pending', answer_due = '2026-01-05'")
    lines = work(run_doctor(worked.config))
    assert lines["fail"] == [
        "1 answer past the deadline and not delivered (of 1 waiting): see 'skn-connector "
        "messages list' and 'skn-connector tasks list'"
    ]
    soon = WorkingDays().add(datetime.now(UTC).date(), 1)
    worked.sql("UPDATE inbox SET answer_due = ?", soon.isoformat())
    report = run_doctor(worked.config)
    assert report.ok, work(report)
    assert work(report)["warn"] == [
        "1 answer due within 2 working days and not delivered (of 1 waiting): see "
        "'skn-connector tasks list'"
    ]


def test_a_task_past_its_due_date_fails(worked: Worked) -> None:
    worked.sql("UPDATE quarantine SET status = 'resolved'")
    worked.sql("UPDATE tasks SET due = '2026-01-05'")
    lines = work(run_doctor(worked.config))
    assert lines["fail"] == [
        "1 task past the due date, of 1 open task (1 quarantined): see 'skn-connector tasks list'"
    ]


def test_not_polled_within_a_working_day_fails(worked: Worked) -> None:
    worked.sql("UPDATE quarantine SET status = 'resolved'")
    worked.sql("UPDATE tasks SET status = 'resolved'")
    long_ago = datetime.now(UTC) - timedelta(days=6)
    worked.sql("UPDATE meta SET value = ? WHERE key = 'last_poll'", long_ago.isoformat())
    worked.sql("UPDATE inbox SET received_at = ?", long_ago.strftime("%Y-%m-%d %H:%M:%S.%f"))
    [line] = work(run_doctor(worked.config))["fail"]
    assert line.startswith("the node was last polled (or a message received) on ")
    assert "more than a working day ago: start the connector" in line


def test_the_lease_holder_and_the_json_report(worked: Worked) -> None:
    store = open_store(f"sqlite:///{worked.store}")
    try:
        with StoreLease(store) as lease:
            assert lease.acquire()
            result = subprocess.run(
                [CLI, "doctor", "-c", str(worked.config), "--json"],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=False,
            )
    finally:
        store.close()
    assert result.returncode == 1  # the quarantined message
    checks = [c for c in json.loads(result.stdout)["checks"] if c["area"] == "work"]
    assert {"area": "work", "status": "ok", "message": (
        f"the store's lease is held by process {os.getpid()}"
    )} in checks  # fmt: skip
    assert [c["status"] for c in checks].count("fail") == 1


def test_a_store_never_polled_warns(tmp_path: Path) -> None:
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, sample.options)
        open_store(f"sqlite:///{tmp_path / 'skn-connector.db'}").close()
        report = run_doctor(config)
    assert report.ok
    assert work(report)["warn"] == [
        "the node has not been polled from this store yet: start the connector (skn-connector run)"
    ]


def test_a_store_without_the_triggers_of_its_totals_fails(worked: Worked) -> None:
    assert not [
        c for c in run_doctor(worked.config).checks if c.status == "fail" and c.area == "store"
    ]
    worked.sql("DROP TRIGGER totals_outbox_sent")
    failed = [c.message for c in run_doctor(worked.config).checks if c.status == "fail"]
    assert any("lacks the triggers that keep its totals (totals_outbox_sent)" in m for m in failed)
