"""The explain chain in the console's words: one sentence per step, told from the step's
facts in the console's language.

``explain`` writes each step's summary in English for the CLI and the JSON form; a
functional administrator reads Dutch, so the console tells the same facts again with its own
texts (``[explain]`` in ``texts/*.toml``). A step it has no sentence for keeps the English
summary, marked as English for a screen reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...operations.explain import Explanation, Step, StepKind
from ...operations.views import source_view
from .texts import Texts


@dataclass(frozen=True)
class ToldStep:
    kind: StepKind
    at: str
    text: str
    #: "en" when the console had no sentence of its own and shows the English summary
    lang: str | None
    sources: tuple[str, ...]
    #: the hold a hold's step or a back-office step is about
    hold_id: str | None = None


@dataclass(frozen=True)
class ToldChain:
    conversation_id: str
    module: str | None
    state: str | None
    steps: tuple[ToldStep, ...]


@dataclass(frozen=True)
class ToldExplanation:
    chains: tuple[ToldChain, ...]
    sources: tuple[dict[str, Any], ...]


def tell(explanation: Explanation, t: Texts) -> ToldExplanation:
    teller = _Teller(t)
    chains = tuple(
        ToldChain(
            chain.conversation_id,
            chain.module,
            chain.state,
            tuple(teller.step(step) for step in chain.steps),
        )
        for chain in explanation.chains
    )
    return ToldExplanation(
        chains, tuple(source_view(source) for source in explanation.sources.values())
    )


class _Teller:
    def __init__(self, t: Texts) -> None:
        self.t = t
        self._by_kind: dict[StepKind, Callable[[Mapping[str, Any]], str | None]] = {
            StepKind.MESSAGE: self._message,
            StepKind.RULE: self._rule,
            StepKind.EVENT: self._event,
            StepKind.TASK: self._task,
            StepKind.DECISION: self._decision,
            StepKind.HOLD: self._hold,
            StepKind.WRITE_OFF: self._write_off,
            StepKind.BACKOFFICE: self._backoffice,
            StepKind.ANSWER: self._answer,
            StepKind.DEADLINE: self._deadline,
        }

    def step(self, step: Step) -> ToldStep:
        at = self.t.moment(step.at) if isinstance(step.at, datetime) else self.t.day(step.at)
        tell = self._by_kind.get(step.kind)
        text = tell(step.facts) if tell is not None else None
        hold = step.facts.get("hold_id")
        hold_id = str(hold) if hold is not None else None
        if text is None:
            return ToldStep(step.kind, at, step.summary, "en", step.sources, hold_id)
        return ToldStep(step.kind, at, text, None, step.sources, hold_id)

    # -- helpers ---------------------------------------------------------------------------

    def _list(self, section: str, codes: Sequence[Any] | None) -> str:
        if not codes:
            return self.t("explain.nothing")
        return ", ".join(self.t.label(section, str(code)) for code in codes)

    def _claims(self, claims: Sequence[Any] | None) -> str:
        return ", ".join(str(c) for c in claims) if claims else self.t("explain.every_claim")

    def _retry(self, facts: Mapping[str, Any]) -> str:
        return self.t("explain.retried" if facts.get("retryable") else "explain.look")

    # -- one sentence per kind -------------------------------------------------------------

    def _message(self, f: Mapping[str, Any]) -> str:
        text = self.t(
            "explain.message",
            berichttype=f.get("berichttype"),
            ref=f.get("referentienummer"),
            afzender=f.get("afzender"),
            channel=f.get("channel"),
            status=self.t.label("msgstate", f.get("status")),
        )
        if f.get("duplicates"):
            text += self.t("explain.duplicates", n=f["duplicates"])
        return text

    def _deadline(self, f: Mapping[str, Any]) -> str:
        text = self.t(
            "explain.deadline",
            ref=f.get("referentienummer"),
            due=self.t.day(f.get("due")),
            n=f.get("working_days"),
        )
        if f.get("answered") is None:
            return text + self.t("explain.not_answered")
        if f.get("met"):
            return text + self.t("explain.in_time", day=self.t.day(f["answered"]))
        return text + self.t(
            "explain.late", day=self.t.day(f["answered"]), n=f.get("late_working_days")
        )

    def _rule(self, f: Mapping[str, Any]) -> str:
        text = self.t(
            "explain.rule",
            rule=f.get("rule"),
            before=self.t.label("convstate", f.get("state_from") or "NEW"),
            after=self.t.label("convstate", f.get("state_to")),
        )
        if f.get("answer_type"):
            text += self.t("explain.rule_answer", type=f["answer_type"])
        return text

    def _event(self, f: Mapping[str, Any]) -> str:
        event = self.t.label("event", f.get("event"))
        if "title" not in f:
            return self.t("explain.event_unknown", event=event)
        if f.get("hold_type"):
            text = self.t(
                "explain.event_hold",
                event=event,
                type=self.t.label("holdtype", f["hold_type"]),
                measures=self._list("measure", f.get("stops")),
            )
            if f.get("lifts"):
                text += self.t("explain.lifting", measures=self._list("measure", f["lifts"]))
        else:
            text = self.t("explain.event_no_hold", event=event)
        if not f.get("active", True):
            text += self.t("explain.inactive")
        if f.get("overrides"):
            text += self.t("explain.overridden", layers=", ".join(map(str, f["overrides"])))
        return text

    def _hold(self, f: Mapping[str, Any]) -> str:
        until = self.t.day(f["until"]) if f.get("until") else self.t("explain.until_ground_ends")
        text = self.t(
            "explain.hold",
            id=f.get("hold_id"),
            type=self.t.label("holdtype", f.get("hold_type")),
            claims=self._claims(f.get("claims")),
            adapter=f.get("adapter"),
            measures=self._list("measure", f.get("measures")),
            start=self.t.day(f.get("from")),
            until=until,
            status=self.t.label("holdstate", f.get("status")),
        )
        if f.get("lifted"):
            text += self.t("explain.lifting", measures=self._list("measure", f["lifted"]))
        if "policy_now_stops" in f:
            text += self.t(
                "explain.policy_changed", measures=self._list("measure", f["policy_now_stops"])
            )
        return text

    def _write_off(self, f: Mapping[str, Any]) -> str:
        return self.t(
            "explain.write_off",
            id=f.get("write_off_id"),
            claims=self._claims(f.get("claims")),
            adapter=f.get("adapter"),
            day=self.t.day(f.get("date")),
            kept=len(f.get("kept") or []),
            status=self.t.label("writeoffstate", f.get("status")),
        )

    def _backoffice(self, f: Mapping[str, Any]) -> str | None:
        event = f.get("event")
        adapter = f.get("adapter") or self.t("explain.the_connector")
        if event in ("hold_applied", "hold_released", "hold_expired"):
            return self.t(
                f"explain.{event}",
                adapter=adapter,
                id=f.get("hold_id"),
                measures=self._list("measure", f.get("measures")),
            )
        if event == "effect_failed":
            return self.t(
                "explain.effect_failed",
                n=f.get("attempts"),
                error=f.get("error_class"),
                retry=self._retry(f),
            )
        if event == "written_off":
            return self.t(
                "explain.written_off", adapter=adapter, claims=self._claims(f.get("claims"))
            )
        return None

    def _answer(self, f: Mapping[str, Any]) -> str | None:
        event = f.get("event")
        if event is None:
            text = self.t(
                "explain.answer",
                berichttype=f.get("berichttype"),
                ref=f.get("referentienummer"),
                status=self.t.label("msgstate", f.get("status")),
            )
            if f.get("cross_referentienummer"):
                text += self.t("explain.answer_to", ref=f["cross_referentienummer"])
            return text
        if event in ("delivered", "exported"):
            return self.t(f"explain.{event}")
        if event == "delivery_failed":
            return self.t(
                "explain.delivery_failed",
                n=f.get("attempts"),
                error=f.get("error_class"),
                retry=self._retry(f),
            )
        return None

    def _task(self, f: Mapping[str, Any]) -> str:
        text = self.t(
            "explain.task", id=f.get("task"), kind=self.t.label("taskkind", f.get("task_kind"))
        )
        if f.get("due"):
            text += self.t("explain.task_due", day=self.t.day(f["due"]))
        if f.get("resolved_by"):
            text += self.t(
                "explain.task_resolved", by=f["resolved_by"], choice=f.get("choice") or ""
            )
        else:
            text += self.t("explain.task_state", state=self.t.label("taskstate", f.get("status")))
        return text

    def _decision(self, f: Mapping[str, Any]) -> str | None:
        event = f.get("event")
        known = (
            "task_resolved",
            "answer_approved",
            "answer_withheld",
            "replayed",
            "personal_data_revealed",
            "quarantine_retried",
        )
        if event not in known:
            return None
        key = "explain.task_resolved_by" if event == "task_resolved" else f"explain.{event}"
        text = self.t(
            key,
            by=f.get("by"),
            task=f.get("task"),
            kind=self.t.label("taskkind", f.get("kind")),
            choice=f.get("choice") or "",
            berichttype=f.get("berichttype"),
        )
        if f.get("note"):
            text += self.t("explain.with_note")
        return text
