"""The console in a real browser: Debian's Chromium driven by Playwright, against the daemon
serving the console on loopback, its real store, and the simulated node where a message must
arrive.

One browser for the module, one context (its own cookies) per person: an admin, a handler, a
viewer and someone not logged in. The scenario is played through the simulator first: a
Saldoverzoek and then a Betaalvoorstel with Looptijd 36 that the gemeentebelastingen sample
leaves to a person, a Saldoverzoek whose Achternaam is markup and a Heroverweging whose
Toelichting is a script (hostile input), one about a canary person, and bytes that are no
message (quarantined). Each test then looks with a person's eyes:

- a handler logs in, resolves the proposal's task in the browser, and the answer arrives at
  the simulator (GET /_admin/sent);
- a viewer sees no resolve button, and a POST forged with the viewer's session and CSRF
  token is refused (403) with nothing changed;
- without a session every page leads to the login; a POST without the CSRF token is refused;
- the hostile values show as text (no dialog opens, no element is made of them);
- axe-core finds no violation of the WCAG 2.1 A and AA rules on any page, and a screenshot
  of every page is kept (the folder is printed; SKN_CONSOLE_ARTIFACTS chooses it, and
  SKN_CONSOLE_DOCS=1 also refreshes docs/console-*.png);
- no page, as any role, holds a canary BSN or name, until an admin reveals it with a reason.

axe-core is vendored (tests/vendor/axe.min.js, version 4.14.1 from the npm package, MPL-2.0):
it is evaluated in the page through the DevTools protocol, which the page's
Content-Security-Policy (no script at all) does not stop, so the pages are checked as they
are served.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from skn_connector.actor import Actor
from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import CREDITOR_ID, write_config
from skn_connector.node.simulator import Simulator
from skn_connector.operations import AccountRole, AuditFilter, MessageFilter, Operations, TaskFilter

from . import factories as f
from .test_conversations import about, new_conversation
from .test_redaction_scan import UNKNOWN, find_canaries

playwright_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "skn-connector")
CHROMIUM = os.environ.get("SKN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "een lang genoeg wachtwoord"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_NOTE = "<script>alert(1)</script>"
USERS = {
    "beheerder": AccountRole.ADMIN,
    "behandelaar": AccountRole.HANDLER,
    "lezer": AccountRole.VIEWER,
}

if not Path(CHROMIUM).exists():  # .ci/run installs Debian's chromium; a test never downloads one
    pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Console:
    """The daemon serving the console, the simulator, and what the scenario left behind."""

    url: str
    config: Path
    admin: httpx.Client
    artifacts: Path
    proposal_ref: str = ""
    proposal_conversation: str = ""
    kennisgeving_ref: str = ""
    approval_task: int = 0
    proposal_task: int = 0
    hostile_conversation: str = ""
    heroverweging_conversation: str = ""
    canary_conversation: str = ""
    quarantine_id: int = 0
    dialogs: list[str] = field(default_factory=list)

    def ops(self) -> Any:
        return Operations.on(load_settings(self.config))

    def sent(self) -> list[dict[str, Any]]:
        return list(self.admin.get("/_admin/sent").json())

    def queue(self, message: dict[str, Any]) -> str:
        response = self.admin.post("/_admin/messages", json=message)
        assert response.status_code == 201, response.text
        return str(response.json()["Referentienummer"])


def _wait(until: Callable[[], Any], seconds: float = 60, what: str = "it") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = until()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    workdir = tmp_path_factory.mktemp("console")
    artifacts = Path(os.environ.get("SKN_CONSOLE_ARTIFACTS") or workdir / "screenshots")
    artifacts.mkdir(parents=True, exist_ok=True)
    sample = resolve_adapter_class("gemeentebelastingen").create_sample(workdir / "bo")
    port = _free_port()
    with Simulator(port=0, tls_dir=workdir / "tls") as node:
        config = write_config(workdir, node, sample.options)
        config.write_text(
            config.read_text().replace(
                'poll_interval = "1m"', 'poll_interval = "1s"\ndeliver_interval = "1s"'
            )
            + f'\n[http]\nlisten = "127.0.0.1:{port}"\n\n[console]\nenabled = true\n'
            # a creditor's first weeks: its KennisgevingAntwoorden wait for a person
            + '\n[policy]\napprove_before_sending = ["KennisgevingAntwoord"]\n'
        )
        settings = load_settings(config)
        with Operations.on(settings) as ops:
            for name, role in USERS.items():
                ops.add_user(name, role=role, password=PASSWORD, actor=Actor.on_the_console("t"))
        daemon = subprocess.Popen(
            [CLI, "run", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            with httpx.Client(base_url=node.admin_url, timeout=10) as admin:
                world = Console(f"http://127.0.0.1:{port}", config, admin, artifacts)
                _wait(lambda: _live(world.url), what="the daemon's HTTP face")
                _play(world, sample)
                print(f"\nconsole screenshots: {artifacts}")
                yield world
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=30)
            assert "Traceback" not in stderr, stderr


def _live(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _play(world: Console, sample: Any) -> None:
    """The scenario, through the simulator; the daemon fetches and decides it."""
    debtor = next(d for d in sample.debtors if d.klantnummer_se == "100001")
    conversation = new_conversation()
    world.queue(about(f.saldoverzoek(module="Schuldregeling"), debtor, conversation))
    proposal = about(f.betaalvoorstel(), debtor, conversation)
    proposal["Looptijd"] = 36  # past the policy's 18 months: a person decides
    world.proposal_ref = world.queue(proposal)
    world.proposal_conversation = conversation
    other = next(d for d in sample.debtors if d.klantnummer_se != "100001")
    world.kennisgeving_ref = world.queue(about(f.kennisgeving(), other, new_conversation()))

    world.hostile_conversation = new_conversation()
    hostile = f.saldoverzoek(achternaam=HOSTILE_NAME)
    hostile["Berichtheader"]["ConversatieReferentienummer"] = world.hostile_conversation
    world.queue(hostile)
    world.heroverweging_conversation = new_conversation()
    heroverweging = f.heroverweging()
    heroverweging["Toelichting"] = HOSTILE_NOTE
    heroverweging["Berichtheader"]["ConversatieReferentienummer"] = world.heroverweging_conversation
    world.queue(heroverweging)

    world.canary_conversation = new_conversation()
    canary = f.saldoverzoek(bsn=UNKNOWN.bsn, achternaam=UNKNOWN.achternaam)
    canary["Klant"]["Voornamen"] = UNKNOWN.voornamen
    canary["Adres"]["Straatnaam"] = UNKNOWN.straatnaam
    canary["Adres"]["Woonplaats"] = UNKNOWN.woonplaats
    canary["Berichtheader"]["ConversatieReferentienummer"] = world.canary_conversation
    world.queue(canary)
    response = world.admin.post(
        "/_admin/raw", content=b"<geen-bericht/>", params={"ontvanger": str(CREDITOR_ID)}
    )
    assert response.status_code == 201, response.text

    def ready() -> bool:
        with world.ops() as ops:
            tasks = ops.task_page(TaskFilter(kind="beoordeling")).rows
            approvals = ops.task_page(TaskFilter(kind="approve_answer")).rows
            quarantined = ops.quarantine_page().rows
            if tasks and approvals and quarantined and len(world.sent()) >= 3:
                world.proposal_task = int(tasks[0]["id"])
                world.approval_task = int(approvals[0]["id"])
                world.quarantine_id = int(quarantined[0]["id"])
                return True
        return False

    _wait(ready, what="the scenario's task, quarantine and answers")


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def people(browser: Any, console: Console) -> Iterator[dict[str, Any]]:
    """A page per person, logged in through the form (the anonymous one is not)."""
    pages: dict[str, Any] = {}
    for name in (*USERS, "anoniem"):
        context = browser.new_context(base_url=console.url, locale="nl-NL")
        page = context.new_page()
        page.on("dialog", lambda dialog, who=name: _dialog(console, who, dialog))
        if name != "anoniem":
            login(page, name)
        pages[name] = page
    yield pages
    for page in pages.values():
        page.context.close()


def _dialog(console: Console, who: str, dialog: Any) -> None:
    console.dialogs.append(f"{who}: {dialog.message}")
    dialog.dismiss()


def login(page: Any, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Gebruikersnaam").fill(name)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def csrf_of(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))


# -- the tests ------------------------------------------------------------------------------


def test_a_handler_resolves_the_proposal_and_the_answer_arrives(
    console: Console, people: dict[str, Any]
) -> None:
    page = people["behandelaar"]
    page.goto("/taken?soort=beoordeling")
    page.get_by_role("link", name=f"Taak {console.proposal_task} openen").click()
    assert (
        page.get_by_role("heading", level=1)
        .inner_text()
        .startswith(f"Taak {console.proposal_task}")
    )
    assert "Looptijd" in page.content() and "18 maanden" in page.content()
    assert "De opschorting wegens beoordeling van een voorstel" in page.content()
    page.screenshot(path=str(console.artifacts / "taak-open.png"), full_page=True)
    assert "BetaalvoorstelAntwoord met Antwoord NIET_AKKOORD" in page.content()
    page.get_by_label("Voorstel afwijzen").check()
    page.get_by_label("Toelichting").fill("De looptijd is langer dan 18 maanden.")
    page.get_by_role("button", name="Besluit vastleggen").click()
    assert page.get_by_role("status").inner_text() == (
        f"Taak {console.proposal_task} is afgehandeld; het antwoord staat klaar om te verzenden."
    )
    answer = _wait(
        lambda: [
            m
            for m in console.sent()
            if m["Berichtheader"].get("CrossReferentienummer") == console.proposal_ref
        ],
        what="the answer at the simulator",
    )
    assert answer[0]["Berichtheader"]["Berichttype"] == "BetaalvoorstelAntwoord"
    assert answer[0]["Antwoord"] == "NIET_AKKOORD"
    assert answer[0]["Reden"] == "De looptijd is langer dan 18 maanden."
    with console.ops() as ops:
        task = ops.task(console.proposal_task).task
        assert task["status"] == "resolved" and task["resolved_by"] == "behandelaar"
        [entry] = [
            e
            for e in ops.audit_page(AuditFilter(person="behandelaar")).rows
            if e["event"] == "task_resolved"
        ]
        assert entry["actor"] == {"name": "behandelaar", "via": "console"}


def test_a_viewer_sees_no_resolve_button_and_a_forged_post_is_refused(
    console: Console, people: dict[str, Any]
) -> None:
    page = people["lezer"]
    with console.ops() as ops:
        [open_task] = [t for t in ops.task_page(TaskFilter(kind="unexpected_message")).rows][:1]
    page.goto(f"/taken/{open_task['id']}")
    assert page.get_by_role("button", name="Besluit vastleggen").count() == 0
    assert "Besluiten kan een behandelaar of beheerder." in page.content()
    forged = page.request.post(
        f"/taken/{open_task['id']}/besluit",
        form={"csrf_token": csrf_of(page), "choice": "done", "note": "vervalst"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "U mag dit niet doen met uw rol." in forged.text()
    quarantine = page.request.post(
        f"/quarantaine/{console.quarantine_id}/afgehandeld",
        form={"csrf_token": csrf_of(page), "reason": "vervalst"},
        max_redirects=0,
    )
    assert quarantine.status == 403
    reveal = page.request.post(
        f"/gesprekken/{console.canary_conversation}/tonen",
        form={"csrf_token": csrf_of(page), "reason": "vervalst"},
        max_redirects=0,
    )
    assert reveal.status == 403
    with console.ops() as ops:
        assert ops.task(open_task["id"]).task["status"] == "open"
        assert ops.quarantine_entry(console.quarantine_id)["status"] == "open"
        assert not [e for e in ops.audit_page(_person("lezer")).rows if e["event"] != "login"]


def test_a_hold_page_tells_why_step_by_step_with_its_sources(
    console: Console, people: dict[str, Any]
) -> None:
    page = people["lezer"]
    page.goto("/opschortingen?klantnummer=100001")
    # the debtor's page leads to the chain of each of its conversations
    page.locator("#h-why").locator("..").get_by_role("link").first.click()
    assert page.url.endswith("#h-why") and "/gesprekken/" in page.url
    assert "ontvangen van" in (page.locator("ol.chain").text_content() or "")
    page.goto("/opschortingen?klantnummer=100001")
    page.locator("article.hold h3 a").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Opschorting ")
    hold_id = page.url.rsplit("/", 1)[1]
    steps = page.locator("ol.chain li")
    told = steps.all_inner_texts()
    # the chain from the message to the stop, in the order it happened, in Dutch
    kinds = [c.split()[1] for c in (li.get_attribute("class") or "" for li in steps.all())]
    assert kinds.index("step-message") < kinds.index("step-rule") < kinds.index("step-hold")
    assert any("Saldoverzoek" in line and "ontvangen van" in line for line in told)
    assert any(line.count("Opschorting " + hold_id) for line in told)
    assert any("Het antwoord op" in line and "op tijd" in line for line in told), told
    # this hold stands out; every source a step cites is listed on the page, with its link
    assert page.locator("ol.chain li.this-hold").count() >= 1
    cited = {a.get_attribute("href") for a in page.locator("ol.chain a[href^='#bron-']").all()}
    assert "#bron-SKN-PROCESAFSPRAKEN-SE-2.3" in cited
    for anchor in cited:
        assert anchor is not None
        source = page.locator(f"li[id='{anchor[1:]}'] a")
        assert (source.get_attribute("href") or "").startswith("https://"), anchor
    assert page.locator("[lang=en]").count() == 0, "a step without Dutch words"
    page.goto("/opschortingen/bestaat-niet")
    assert page.get_by_role("heading", level=1).inner_text() != "Opschorting bestaat-niet"


def test_a_handler_approves_a_waiting_answer_and_it_goes_out(
    console: Console, people: dict[str, Any]
) -> None:
    assert not [
        m
        for m in console.sent()
        if m["Berichtheader"].get("CrossReferentienummer") == console.kennisgeving_ref
    ], "the KennisgevingAntwoord went out before anyone approved it"
    page = people["behandelaar"]
    page.goto("/taken?soort=approve_answer")
    page.get_by_role("link", name=f"Taak {console.approval_task} openen").click()
    assert "approve_before_sending" in page.content()
    assert "Het KennisgevingAntwoord gaat bij de volgende verzending" in page.content()
    page.get_by_label("Antwoord goedkeuren").check()
    page.get_by_role("button", name="Besluit vastleggen").click()
    assert page.get_by_role("status").inner_text().startswith(f"Taak {console.approval_task}")
    answer = _wait(
        lambda: [
            m
            for m in console.sent()
            if m["Berichtheader"].get("CrossReferentienummer") == console.kennisgeving_ref
        ],
        what="the approved answer at the simulator",
    )
    assert answer[0]["Berichtheader"]["Berichttype"] == "KennisgevingAntwoord"
    with console.ops() as ops:
        [entry] = [
            e
            for e in ops.audit_page(AuditFilter(person="behandelaar")).rows
            if e["event"] == "answer_approved"
        ]
        assert entry["actor"] == {"name": "behandelaar", "via": "console"}
        chain = ops.explain(console.kennisgeving_ref).chains[0]
        assert any(s.facts.get("event") == "answer_approved" for s in chain.steps)


def _person(name: str) -> AuditFilter:
    return AuditFilter(person=name)


PAGES = [
    "/",
    "/taken",
    "/taken?status=resolved",
    "/opschortingen",
    "/berichten",
    "/quarantaine",
    "/audit",
    "/beleid",
]


def test_without_a_session_every_page_leads_to_the_login(
    console: Console, people: dict[str, Any]
) -> None:
    page = people["anoniem"]
    for path in [
        *PAGES,
        f"/taken/{console.proposal_task}",
        f"/gesprekken/{console.canary_conversation}",
    ]:
        page.goto(path)
        assert page.url.startswith(f"{console.url}/login?next="), path
        assert page.get_by_role("heading", level=1).inner_text() == "Inloggen"
    no_session = page.request.post(
        f"/taken/{console.proposal_task}/besluit", form={"choice": "accept"}, max_redirects=0
    )
    assert no_session.status == 403
    # logged in, but without the form's token: refused too, nothing done
    handler = people["behandelaar"]
    for form in ({"choice": "done"}, {"choice": "done", "csrf_token": "not-the-token"}):
        refused = handler.request.post(
            f"/quarantaine/{console.quarantine_id}/afgehandeld",
            form={**form, "reason": "zonder token"},
            max_redirects=0,
        )
        assert refused.status == 403
        assert "Het formulier is verlopen" in refused.text()
    no_login_token = page.request.post(
        "/login", form={"username": "beheerder", "password": PASSWORD}, max_redirects=0
    )
    assert no_login_token.status == 403
    with console.ops() as ops:
        assert ops.quarantine_entry(console.quarantine_id)["status"] == "open"


def test_the_headers_of_a_page(console: Console, people: dict[str, Any]) -> None:
    response = people["lezer"].request.get("/taken")
    headers = response.headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    [cookie] = [c for c in people["lezer"].context.cookies() if c["name"] == "skn_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_hostile_values_show_as_text(console: Console, people: dict[str, Any]) -> None:
    page = people["beheerder"]
    for conversation, hostile in (
        (console.hostile_conversation, HOSTILE_NAME),
        (console.heroverweging_conversation, HOSTILE_NOTE),
    ):
        page.goto(f"/gesprekken/{conversation}")
        page.get_by_label("Reden om de persoonsgegevens te tonen").fill("test van de weergave")
        page.get_by_role("button", name="Tonen en vastleggen").click()
        assert hostile in page.locator("main").inner_text()  # shown, as text
        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
    page.goto("/taken?soort=unexpected_message")
    page.goto("/berichten")
    assert console.dialogs == []


def _pages_of(console: Console) -> list[tuple[str, str]]:
    """Every page to look at: (a name for its screenshot, its path)."""
    with console.ops() as ops:
        tasks = ops.task_page(TaskFilter(state=None)).rows
        klantnummers = [d["klantnummer_se"] for d in ops.debtors_with_holds().rows]
        holds = [h["hold_id"] for k in klantnummers for h in ops.debtor_holds(k)["holds"]]
    pages = [
        ("overzicht", "/"),
        ("taken", "/taken"),
        ("taken-afgehandeld", "/taken?status=resolved"),
        ("opschortingen", "/opschortingen"),
        ("berichten", "/berichten"),
        ("berichten-gefilterd", "/berichten?type=Saldoverzoek&richting=in"),
        ("quarantaine", "/quarantaine"),
        ("quarantainebericht", f"/quarantaine/{console.quarantine_id}"),
        ("audit", "/audit"),
        ("audit-controle", "/audit/controle"),
        ("beleid", "/beleid"),
        ("gesprek", f"/gesprekken/{console.canary_conversation}"),
        ("gesprek-voorstel", f"/gesprekken/{console.proposal_conversation}"),
        ("niet-gevonden", "/taken/999999"),
    ]
    pages += [(f"taak-{t['id']}", f"/taken/{t['id']}") for t in tasks]
    pages += [(f"klant-{k}", f"/opschortingen?klantnummer={k}") for k in klantnummers]
    pages += [(f"opschorting-{h}", f"/opschortingen/{h}") for h in holds]
    return pages


def _axe(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))",
        WCAG_TAGS,
    )
    return list(result)


def test_every_page_passes_axe_and_is_kept_as_a_screenshot(
    console: Console, people: dict[str, Any]
) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    anonymous = people["anoniem"]
    anonymous.goto("/login")
    seen["login"] = _axe(anonymous)
    anonymous.screenshot(path=str(console.artifacts / "login.png"), full_page=True)
    for who in ("behandelaar", "lezer"):
        page = people[who]
        for name, path in _pages_of(console):
            page.goto(path)
            seen[f"{who} {name}"] = _axe(page)
            if who == "behandelaar":
                page.screenshot(path=str(console.artifacts / f"{name}.png"), full_page=True)
    admin = people["beheerder"]
    admin.goto("/gebruikers")
    seen["beheerder gebruikers"] = _axe(admin)
    admin.screenshot(path=str(console.artifacts / "gebruikers.png"), full_page=True)
    admin.goto(f"/gesprekken/{console.canary_conversation}")
    seen["beheerder gesprek"] = _axe(admin)
    admin.get_by_label("Reden om de persoonsgegevens te tonen").fill("controle op toegankelijkheid")
    admin.get_by_role("button", name="Tonen en vastleggen").click()
    seen["beheerder gesprek-getoond"] = _axe(admin)
    admin.screenshot(path=str(console.artifacts / "gesprek-getoond.png"), full_page=True)
    (console.artifacts / "axe.json").write_text(json.dumps(seen, indent=2))
    violations = {page: found for page, found in seen.items() if found}
    assert violations == {}, json.dumps(violations, indent=2)
    print(f"\naxe-core 4.14.1 ({', '.join(WCAG_TAGS)}): {len(seen)} pages, 0 violations")
    if os.environ.get("SKN_CONSOLE_DOCS"):
        klant = "100001"
        for name, target in (
            ("overzicht", "overzicht"),
            ("taak-open", "taak"),
            (f"klant-{klant}", "klant"),
            ("gesprek", "gesprek"),
        ):
            shutil.copy(console.artifacts / f"{name}.png", REPO / "docs" / f"console-{target}.png")


def test_no_page_shows_a_canary_unless_an_admin_reveals_it(
    console: Console, people: dict[str, Any]
) -> None:
    texts: list[tuple[str, str]] = []
    for who in (*USERS, "anoniem"):
        page = people[who]
        for name, path in _pages_of(console):
            response = page.request.get(path)
            texts.append((f"{who} {name}", response.text()))
            texts.append((f"{who} {name} headers", _readable_headers(response.headers)))
        for referentienummer in _references(console):
            response = page.request.get(f"/berichten/{referentienummer}")
            texts.append((f"{who} message {referentienummer}", response.text()))
    assert find_canaries(texts) == []
    # the positive control: an admin who gives a reason sees the canary person
    admin = people["beheerder"]
    admin.goto(f"/gesprekken/{console.canary_conversation}")
    admin.get_by_label("Reden om de persoonsgegevens te tonen").fill("verzoek van de klant")
    admin.get_by_role("button", name="Tonen en vastleggen").click()
    assert UNKNOWN.achternaam in admin.content() and UNKNOWN.bsn in admin.content()
    # and it is not kept: the same page again is masked
    admin.goto(f"/gesprekken/{console.canary_conversation}")
    assert find_canaries([("again", admin.content())]) == []
    with console.ops() as ops:
        reveals = [
            e
            for e in ops.audit_page(_person("beheerder")).rows
            if e["event"] == "personal_data_revealed"
        ]
        assert any(e["detail"]["reason"] == "verzoek van de klant" for e in reveals)


def _readable_headers(headers: dict[str, str]) -> str:
    """The headers as text to scan, each session cookie's value told as what it carries (its
    payload, decoded) instead of its base64 and signature: random bytes in base64 spell a
    canary's fragment now and then (``...vzwxQ...`` once matched ``zwxq``), and the payload
    is where personal data would be."""
    told = dict(headers)
    if "set-cookie" in told:
        told["set-cookie"] = "\n".join(
            _cookie_carried(line) for line in told["set-cookie"].split("\n")
        )
    return json.dumps(told)


def _cookie_carried(line: str) -> str:
    name, _, rest = line.partition("=")
    value, semicolon, attributes = rest.partition(";")
    payload = value.split(".", 1)[0]
    try:
        carried = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        carried = value
    return f"{name}={carried}{semicolon}{attributes}"


def _references(console: Console) -> list[str]:
    with console.ops() as ops:
        return [m["referentienummer"] for m in ops.message_page(MessageFilter()).rows]
