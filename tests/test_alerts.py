"""deploy/alerts.yml: Prometheus's own promtool checks the rules and runs their unit tests
(deploy/alerts.test.yml), and checks the metrics the face serves. promtool must be installed:
without it these tests fail, saying how to install it."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from skn_connector.config import settings_from_dict
from skn_connector.http.face import AdapterChecks, Face, face_store
from skn_connector.http.server import HttpServer
from skn_connector.store import open_store

from .test_http_face import METRICS

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "alerts.test.yml"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed; on Debian or Ubuntu: apt-get install -y "
            "--no-install-recommends prometheus (.ci/run does so)",
            pytrace=False,
        )
    return subprocess.run(
        [found, *args], capture_output=True, text=True, input=stdin, timeout=120, check=False
    )


def alerts() -> list[str]:
    return re.findall(r"^\s*- alert: (\S+)$", RULES.read_text(), flags=re.MULTILINE)


def test_promtool_checks_the_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_is_tested_firing_and_not_firing() -> None:
    fires: set[str] = set()
    stays_quiet: set[str] = set()
    current = None
    for line in RULE_TESTS.read_text().splitlines():
        if match := re.match(r"\s*alertname: (\S+)$", line):
            current = match.group(1)
        elif current and re.match(r"\s*exp_alerts: \[\]", line):
            stays_quiet.add(current)
        elif current and re.match(r"\s*exp_alerts:$", line):
            fires.add(current)
    assert len(alerts()) == 8
    assert set(alerts()) == fires == stays_quiet


def test_the_rules_use_the_metrics_the_face_serves_and_say_what_to_do() -> None:
    text = RULES.read_text()
    used = set(re.findall(r"\bskn_[a-z_]+", text))
    served = set(METRICS) | {f"{name}_total" for name, kind in METRICS.items() if kind == "counter"}
    assert used and used <= served, used - served
    for rule in text.split("- alert: ")[1:]:
        assert "severity:" in rule and "summary:" in rule and "description:" in rule, rule
        # labels from fixed sets only: no label made of a value of the work
        assert "{{ $labels.instance }}" not in rule.split("annotations:")[0]


def test_promtool_accepts_the_metrics_the_face_serves(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {
            "node": {"url": "http://127.0.0.1:9/skn", "participant_id": str(uuid.uuid4())},
            "store": {"url": f"sqlite:///{tmp_path / 'skn.db'}"},
            "creditor": {"name": "C", "kind": "overig", "contact": {"naam": "Team"}},
            "adapters": [{"name": "a", "use": "gemeentebelastingen"}],
        }
    )
    open_store(settings.store.url).close()
    face = Face(settings, face_store(settings), lambda: True, AdapterChecks([]))
    try:
        with HttpServer(face, ("127.0.0.1", 0)) as server:
            server.node_metrics.observe("BerichtenlijstOphalen", "ok", 0.02)
            exposition = httpx.get(f"{server.url}/metrics", timeout=10).text
    finally:
        face.close()
    checked = promtool("check", "metrics", stdin=exposition)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == ""
