"""The console's words: every language has every text, and every text a template names is
there; the templates escape everything (autoescape) and hold no script and no style."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from skn_connector.http.console.texts import LANGUAGES, Texts

CONSOLE = Path(str(resources.files("skn_connector.http.console")))


def _keys(document: dict[str, object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in document.items():
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{key}.")
        else:
            found.add(prefix + key)
    return found


def test_every_language_has_the_same_texts() -> None:
    keys = {
        language: _keys(tomllib.loads((CONSOLE / "texts" / f"{language}.toml").read_text()))
        for language in LANGUAGES
    }
    assert keys["nl"] == keys["en"]


def test_every_text_a_template_names_exists() -> None:
    named = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        source = template.read_text()
        named |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_]+)["']""", source))
        assert "<script" not in source, template.name
        assert " style=" not in source, template.name
        assert "|safe" not in source and "Markup(" not in source, template.name
    for language in LANGUAGES:
        texts = Texts(language)
        for key in sorted(named):
            texts(key)  # raises KeyError when missing


def test_dates_in_dutch() -> None:
    texts = Texts("nl")
    assert texts.day("2026-12-03") == "3 december 2026"
    assert texts.moment("2026-12-03T13:05:00+00:00") == "3 december 2026, 14:05"
    assert texts.label("taskkind", "beoordeling") == "Voorstel beoordelen"
    assert texts.label("taskkind", "no-such-kind") == "no-such-kind"


def test_every_step_of_an_explanation_is_told_in_each_language() -> None:
    """The chain's sentences name their texts at run time (``explain.<event>``): a step of
    each kind and each back-office, answer and decision event is told in every language,
    from its facts, without falling back to the English summary."""
    from datetime import UTC, date, datetime

    from skn_connector.http.console.chain import tell
    from skn_connector.operations.explain import (
        Chain,
        Explanation,
        Step,
        StepKind,
        SubjectKind,
    )

    at = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    hold = {"hold_id": "h1", "adapter": "belastingen", "measures": ["DWANGBEVEL"]}
    steps = [
        Step(StepKind.MESSAGE, at, "", {"berichttype": "Saldoverzoek", "duplicates": 2}),
        Step(StepKind.RULE, at, "", {"rule": 3, "state_to": "SALDO_OPGEGEVEN"}),
        Step(
            StepKind.EVENT,
            at,
            "",
            {
                "event": "E04",
                "title": "t",
                "hold_type": "covenant",
                "stops": ["BESLAG"],
                "lifts": ["RENTE"],
                "active": False,
                "overrides": ["[policy.events.E04]"],
            },
        ),
        Step(StepKind.EVENT, at, "", {"event": "E99"}),
        Step(
            StepKind.HOLD,
            at,
            "",
            {**hold, "from": "2026-12-02", "until": None, "policy_now_stops": []},
        ),
        Step(
            StepKind.WRITE_OFF, at, "", {"claims": ["F1"], "date": "2026-12-02", "status": "done"}
        ),
        *(
            Step(StepKind.BACKOFFICE, at, "", {"event": e, **hold})
            for e in (
                "hold_applied",
                "hold_released",
                "hold_expired",
                "effect_failed",
                "written_off",
            )
        ),
        Step(StepKind.ANSWER, at, "", {"berichttype": "X", "cross_referentienummer": "r"}),
        *(
            Step(StepKind.ANSWER, at, "", {"event": e, "retryable": True})
            for e in ("delivered", "exported", "delivery_failed")
        ),
        Step(StepKind.TASK, at, "", {"task": 1, "task_kind": "deadline", "due": "2026-12-09"}),
        Step(StepKind.TASK, at, "", {"task": 2, "resolved_by": "p", "choice": "approve"}),
        *(
            Step(StepKind.DECISION, at, "", {"event": e, "by": "p", "note": True})
            for e in (
                "task_resolved",
                "answer_approved",
                "answer_withheld",
                "replayed",
                "personal_data_revealed",
                "quarantine_retried",
            )
        ),
        Step(StepKind.DEADLINE, date(2026, 12, 16), "", {"due": "2026-12-16", "answered": None}),
        Step(
            StepKind.DEADLINE,
            at,
            "",
            {"due": "2026-12-16", "answered": "2026-12-17", "met": False, "late_working_days": 1},
        ),
        Step(
            StepKind.DEADLINE, at, "", {"due": "2026-12-16", "answered": "2026-12-03", "met": True}
        ),
    ]
    chain = Chain("c", "Schuldregeling", "SALDO_OPGEGEVEN", None, None, tuple(steps))
    for language in LANGUAGES:
        told = tell(Explanation(SubjectKind.CONVERSATION, "c", (chain,), {}), Texts(language))
        [lines] = [c.steps for c in told.chains]
        assert all(line.lang is None and line.text for line in lines), language
        assert len({line.text for line in lines}) == len(lines), "two steps told alike"
    record = Step(StepKind.RECORD, at, "something else happened", {"event": "x"})
    [[other]] = [
        c.steps
        for c in tell(
            Explanation(
                SubjectKind.CONVERSATION, "c", (Chain("c", None, None, None, None, (record,)),), {}
            ),
            Texts("nl"),
        ).chains
    ]
    assert (other.text, other.lang) == ("something else happened", "en")


def test_a_day_is_told_from_a_date_or_from_a_moment_in_the_netherlands() -> None:
    nl = Texts("nl")
    assert nl.day("2026-12-01") == "1 december 2026"
    # half past eleven at night in UTC is the next day in Amsterdam
    assert nl.day("2026-12-01T23:30:00+00:00") == "2 december 2026"
