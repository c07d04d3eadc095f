"""A console account sees the work of its creditors alone (``users add --creditor``): on a
deployment of two creditors, an account of one lists, opens and decides that creditor's tasks
and gets nothing of the other's, not even by its id or by asking for that creditor; an
account of every creditor chooses one with ``?creditor=``; one of no creditor here sees
nothing. Starlette's test client on the console's routes, a real SQLite store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from skn_connector.actor import Actor
from skn_connector.config import Deployment, load_deployment
from skn_connector.http.console import Console
from skn_connector.operations import AccountRole, Operations
from skn_connector.store.schema import Task

from .test_console_security import PASSWORD, login

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
ADMIN = Actor.on_the_console("test")
A, B = "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c01", "3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c02"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

CONFIG = """
[node]
url = "http://127.0.0.1:9"
[store]
url = "sqlite:///{db}"
[console]
enabled = true
{creditors}
"""
CREDITOR = """
[[creditors]]
name = "Gemeente {name}, Belastingen"
participant_id = "{pid}"
kind = "gemeentebelastingen"
  [creditors.contact]
  naam = "Team Invordering"
  [[creditors.adapters]]
  name = "belastingen"
  use = "gemeentebelastingen"
    [creditors.adapters.options]
    database_url = "sqlite:///{bo}"
"""


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    from skn_connector.adapters.registry import resolve_adapter_class

    sample = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "bo")
    bo = sample.options["database_url"].removeprefix("sqlite:///")
    creditors = "".join(
        CREDITOR.format(name=name, pid=pid, bo=bo) for name, pid in (("Aadorp", A), ("Beekdam", B))
    )
    path = tmp_path / "skn-connector.toml"
    path.write_text(CONFIG.format(db=tmp_path / "skn.db", creditors=creditors))
    deployment = load_deployment(path)
    for settings, reasons in zip(deployment.creditors, (("A1", "A2"), ("B1", "B2")), strict=True):
        with Operations.on(settings) as ops, ops.store.transaction() as session:
            for reason in reasons:
                session.add(
                    Task(
                        kind="beoordeling", reason=f"reden {reason}", created_at=NOW, status="open"
                    )
                )
    with Operations.on(deployment.shared) as ops:
        ops.add_user(
            "anna", role=AccountRole.HANDLER, password=PASSWORD, actor=ADMIN, creditors=[A]
        )
        ops.add_user(
            "bert", role=AccountRole.HANDLER, password=PASSWORD, actor=ADMIN, creditors=[B]
        )
        ops.add_user("beheer", role=AccountRole.ADMIN, password=PASSWORD, actor=ADMIN)
        ops.add_user(
            "elders", role=AccountRole.ADMIN, password=PASSWORD, actor=ADMIN, creditors=["x-y"]
        )
    return deployment


def browser(deployment: Deployment, name: str) -> TestClient:
    console = Console(deployment.shared, creditors=deployment.creditors)
    client = TestClient(
        Starlette(routes=console.routes()),
        base_url="http://console.test",
        client=("127.0.0.1", 40000),
        follow_redirects=False,
    )
    assert login(client, name=name).status_code == 303
    return client


def task_ids(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/taken/(\d+)"', page)}


def test_an_account_sees_and_decides_its_creditors_work_alone(deployment: Deployment) -> None:
    anna, bert = browser(deployment, "anna"), browser(deployment, "bert")
    mine, theirs = task_ids(anna.get("/taken").text), task_ids(bert.get("/taken").text)
    assert len(mine) == len(theirs) == 2 and not mine & theirs
    for task in theirs:  # not by its id
        page = anna.get(f"/taken/{task}")
        assert page.status_code == 404 and "reden B" not in page.text
    assert "reden A" in anna.get(f"/taken/{min(mine)}").text
    # nor by asking for the other creditor
    assert anna.get(f"/taken?creditor={B}").status_code == 403
    assert anna.get(f"/berichten?creditor={B}").status_code == 403
    assert bert.get(f"/taken?creditor={B}").status_code == 200
    # deciding another's task: refused as a task that is not there, and it stays open
    page = anna.get("/taken")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    other = min(theirs)
    decided = anna.post(
        f"/taken/{other}/besluit", data={"csrf_token": csrf.group(1), "choice": "done"}
    )
    assert decided.status_code in (303, 404)
    assert other in task_ids(bert.get("/taken").text)


def test_an_account_of_every_creditor_chooses_one(deployment: Deployment) -> None:
    beheer = browser(deployment, "beheer")
    first, second = (task_ids(beheer.get(f"/taken?creditor={c}").text) for c in (A, B))
    assert first == task_ids(browser(deployment, "anna").get("/taken").text)
    assert second == task_ids(browser(deployment, "bert").get("/taken").text)
    # the choice is kept in the session: the next pages and forms work for that creditor
    page = beheer.get("/taken")
    assert task_ids(page.text) == second
    assert re.search(
        rf'<option value="{B}" selected>Gemeente Beekdam, Belastingen</option>', page.text
    )
    assert f'<option value="{A}">Gemeente Aadorp, Belastingen</option>' in page.text
    task = min(second)
    opened = beheer.get(f"/taken/{task}")  # no ?creditor: the kept choice
    assert opened.status_code == 200 and "reden B" in opened.text
    # a new login starts at the first creditor; an account of one sees its name, no choice
    assert task_ids(browser(deployment, "beheer").get("/taken").text) == first
    anna = browser(deployment, "anna").get("/taken").text
    assert 'id="creditor-choice" name="creditor"' not in anna
    assert "Gemeente Aadorp, Belastingen</output>" in anna


def test_an_account_of_no_creditor_here_sees_nothing(deployment: Deployment) -> None:
    elders = browser(deployment, "elders")
    for page in ("/", "/taken", "/berichten", "/audit", f"/taken?creditor={A}"):
        response = elders.get(page)
        assert response.status_code == 403, page
        assert "reden" not in response.text


def test_users_add_names_the_creditors(deployment: Deployment, tmp_path: Path) -> None:
    config = str(tmp_path / "skn-connector.toml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args, "-c", config],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    unknown = cli("users", "add", "carla", "--creditor", "Gemeente Elders")
    assert unknown.returncode == 2 and "has no creditor 'Gemeente Elders'" in unknown.stderr
    added = cli("users", "add", "carla", "--creditor", "Gemeente Beekdam, Belastingen")
    assert added.returncode == 0, added.stderr
    listed = cli("users", "list", "--json")
    carla = next(u for u in __import__("json").loads(listed.stdout) if u["username"] == "carla")
    assert carla["creditors"] == [B]
    assert task_ids(browser(deployment, "carla").get("/taken").text) == task_ids(
        browser(deployment, "bert").get("/taken").text
    )


def _trail_events(deployment: Deployment, creditor: str | None) -> list[tuple[str, str]]:
    """(event, the account it names) of one audit chain: a creditor's, or with None the
    deployment's own."""
    from skn_connector.operations.views import AuditFilter

    settings = deployment.shared if creditor is None else deployment.select(creditor)
    with Operations.on(settings) as ops:
        rows = ops.audit_page(AuditFilter(deployment=creditor is None)).rows
    return [(r["event"], str(r["detail"].get("account"))) for r in rows]


def test_accounts_and_logins_are_the_deployments_trail_not_a_creditors(
    deployment: Deployment, tmp_path: Path
) -> None:
    anna, beheer = browser(deployment, "anna"), browser(deployment, "beheer")
    ours = _trail_events(deployment, None)
    assert {"anna", "bert", "beheer", "elders"} <= {name for _, name in ours}
    assert ("login", "anna") in ours and ("login", "beheer") in ours
    # neither creditor's trail holds an account's name or a login: before, the first
    # creditor's trail held them all, the other creditor's people included
    for creditor in (A, B):
        page = _trail_events(deployment, creditor)
        assert not any("login" in event or event.startswith("account") for event, _ in page)
        creditor_page = (beheer.get(f"/audit?creditor={creditor}")).text
        assert "bert" not in creditor_page and "elders" not in creditor_page
    # an account of every creditor reads the deployment's trail; one of a creditor does not
    deployment_page = beheer.get("/audit?spoor=installatie")
    assert deployment_page.status_code == 200 and "elders" in deployment_page.text
    assert "spoor=installatie" in beheer.get("/audit").text
    assert "spoor=installatie" not in anna.get("/audit").text
    assert "elders" not in anna.get("/audit?spoor=installatie").text
    assert "klopt: " in beheer.get("/audit/controle?spoor=installatie").text
    # audit verify without --creditor checks every chain, the deployment's included
    config = str(tmp_path / "skn-connector.toml")
    verified = _cli("audit", "verify", "-c", config, "--json")
    assert verified.returncode == 0, verified.stderr
    assert __import__("json").loads(verified.stdout)["count"] == len(
        _every_entry(tmp_path / "skn.db")
    )
    import sqlite3

    with sqlite3.connect(tmp_path / "skn.db") as db:  # tamper with the deployment's chain
        db.execute(
            "UPDATE audit SET detail = replace(detail, 'elders', 'ELDERS') WHERE creditor_id = ''"
        )
    anchored = _cli("audit", "verify", "-c", config, "--expect-head", "1:" + "0" * 64)
    assert anchored.returncode == 2 and "add --creditor" in anchored.stderr
    assert "Traceback" not in anchored.stderr
    broken = _cli("audit", "verify", "-c", config)
    assert broken.returncode == 1, broken.stdout


def _every_entry(database: Path) -> list[tuple[int]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT id FROM audit"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
