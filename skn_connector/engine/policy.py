"""The enforcement policy: debt-help events -> holds on measure groups, as data.

The defaults live in ``rules/policy.toml``; the creditor's ``kind`` and ``covenant``
select layers of it and ``[policy]`` overrides them. Every layer cites its sources by id
(``rules/sources.toml``, see :mod:`.sources`); every effective rule keeps the citations
of the layers it came from, so ``skn-connector policy show`` can say on what ground.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..adapters.api import MeasureCode
from ..config import PolicySettings
from .sources import Source, SourceError, resolve_all

GROUPS = ("ESC", "NEWSEIZE", "RUNSEIZE", "SETOFF", "INT", "LIBERTY")
EFFECTS = ("stop", "lift", "allow")


class PolicyError(ValueError):
    """The policy table or an override is not valid; the message names the place."""


@dataclass(frozen=True)
class Citation:
    """One layer's part in a rule: which layer, why (``note``) and on what sources."""

    #: ``default``, ``kind cjib``, ``covenant model_2024``, ``[policy] saldo_hold_months``,
    #: ``[policy.events.E03] in the configuration``
    layer: str
    note: str
    sources: tuple[Source, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "note": self.note,
            "sources": [source.as_dict() for source in self.sources],
        }

    def summary(self) -> str:
        ids = ", ".join(source.id for source in self.sources)
        return f"{self.layer}: {self.note}" + (f" [{ids}]" if ids else "")


@dataclass(frozen=True)
class EventRule:
    event: str
    title: str
    hold_type: str | None
    basis: str
    months: int | None
    #: how the hold ends: months (a date), decision (the answer), end (an ending message)
    until: str
    releases_all: bool
    write_off: bool
    effects: Mapping[str, str]
    task: str | None
    #: the layers the rule came from, each with its sources
    citations: tuple[Citation, ...]
    active: bool = True

    @property
    def sources(self) -> tuple[Source, ...]:
        """Every source the rule rests on, each once, in the order cited."""
        seen: dict[str, Source] = {}
        for citation in self.citations:
            for source in citation.sources:
                seen.setdefault(source.id, source)
        return tuple(seen.values())

    def measures(self, groups: Mapping[str, frozenset[MeasureCode]]) -> frozenset[MeasureCode]:
        """Every measure the hold stops (stop and lift both stop)."""
        return frozenset(
            code
            for group, effect in self.effects.items()
            if effect in {"stop", "lift"}
            for code in groups[group]
        )

    def lifts(self, groups: Mapping[str, frozenset[MeasureCode]]) -> frozenset[MeasureCode]:
        return frozenset(
            code
            for group, effect in self.effects.items()
            if effect == "lift"
            for code in groups[group]
        )


@dataclass(frozen=True)
class Policy:
    kind: str
    covenant: str
    groups: Mapping[str, frozenset[MeasureCode]]
    precedence: tuple[str, ...]
    rules: Mapping[str, EventRule]
    settings: PolicySettings = field(default_factory=PolicySettings)

    def rule(self, event: str) -> EventRule:
        return self.rules[event]

    def needs_approval(self, berichttype: str) -> bool:
        """Whether an answer of this type waits for a person before it goes out."""
        wanted = self.settings.approve_before_sending
        return wanted == "all" or berichttype in wanted

    def rank(self, hold_type: str) -> int:
        """Lower is stronger."""
        return (
            self.precedence.index(hold_type)
            if hold_type in self.precedence
            else len(self.precedence)
        )

    def rows(self) -> list[dict[str, Any]]:
        """The table in force: one row per event; ``source`` in a line, ``sources`` in full."""
        rows: list[dict[str, Any]] = []
        for rule in self.rules.values():
            rows.append(
                {
                    "event": rule.event,
                    "title": rule.title,
                    "hold": rule.hold_type or "—",
                    "active": "yes" if rule.active else "no (no covenant)",
                    "duration": (
                        f"{rule.months} months"
                        if rule.until == "months"
                        else {"decision": "until the decision", "end": "until it ends"}.get(
                            rule.until, "—"
                        )
                    ),
                    **{g: rule.effects.get(g, "—") for g in GROUPS},
                    "releases": "all holds" if rule.releases_all else "—",
                    "write_off": "yes" if rule.write_off else "—",
                    "source": " + ".join(c.summary() for c in rule.citations),
                    "sources": [c.as_dict() for c in rule.citations],
                }
            )
        return rows


#: Keys of a layer that cite; they describe the rule, they do not change it.
CITING = ("note", "sources")


def _load_table() -> dict[str, Any]:
    text = (resources.files("skn_connector.engine") / "rules" / "policy.toml").read_text(
        encoding="utf-8"
    )
    return tomllib.loads(text)


def _citation(layer: str, raw: Mapping[str, Any], where: str) -> Citation:
    try:
        sources = resolve_all(raw.get("sources"), where)
    except SourceError as exc:
        raise PolicyError(str(exc)) from None
    return Citation(layer, str(raw.get("note", "")), sources)


def answer_types() -> frozenset[str]:
    """The Berichttypes the connector answers with: those of the conversation table."""
    text = (resources.files("skn_connector.engine") / "rules" / "conversations.toml").read_text(
        encoding="utf-8"
    )
    return frozenset(
        answer for rule in tomllib.loads(text).get("rule", []) for answer in rule["answers"]
    )


def check_citations(table: Mapping[str, Any]) -> dict[str, Citation]:
    """Every layer of the table (all kinds and covenants, not only this creditor's) cites
    known sources; PolicyError naming the rule and the id otherwise. By table path."""
    found: dict[str, Citation] = {}
    for event, raw in table.get("events", {}).items():
        found[f"events.{event}"] = _citation("default", raw, f"policy table: events.{event}")
    for kind, layer in table.get("kinds", {}).items():
        for event, raw in layer.items():
            path = f"kinds.{kind}.{event}"
            found[path] = _citation(f"kind {kind}", raw, f"policy table: {path}")
    for covenant, raw in table.get("covenants", {}).items():
        path = f"covenants.{covenant}"
        found[path] = _citation(f"covenant {covenant}", raw, f"policy table: {path}")
    return found


def load_policy(
    kind: str,
    covenant: str,
    settings: PolicySettings | None = None,
    *,
    table: Mapping[str, Any] | None = None,
) -> Policy:
    """The effective policy for this creditor: defaults, then kind, covenant, then [policy].
    ``table`` replaces the packaged policy.toml (tests)."""
    settings = settings or PolicySettings()
    table = dict(table) if table is not None else _load_table()
    citations = check_citations(table)
    groups: dict[str, frozenset[MeasureCode]] = {}
    for group in GROUPS:
        try:
            groups[group] = frozenset(MeasureCode(c) for c in table["groups"][group])
        except (KeyError, ValueError) as exc:
            raise PolicyError(f"policy table: group {group}: {exc}") from None
    covenant_terms = table.get("covenants", {}).get(covenant)
    if covenant_terms is None:
        raise PolicyError(f"policy table: no terms for covenant {covenant!r}")
    kind_layer = table.get("kinds", {}).get(kind, {})
    rules: dict[str, EventRule] = {}
    for event, base in table["events"].items():
        layer = {k: v for k, v in base.items() if k not in CITING}
        cited = [citations[f"events.{event}"]]
        if event in kind_layer:
            layer.update({k: v for k, v in kind_layer[event].items() if k not in CITING})
            cited.append(citations[f"kinds.{kind}.{event}"])
        override = settings.events.get(event)
        if override:
            layer.update(override)
            cited.append(
                Citation(f"[policy.events.{event}] in the configuration", "this creditor's choice")
            )
        months: int | None = None
        until = str(layer.get("until", "months" if "months" in layer else "none"))
        raw_months = layer.get("months")
        if isinstance(raw_months, str):
            configured = getattr(settings, raw_months, None)
            months = int(configured) if configured is not None else int(covenant_terms[raw_months])
            cited.append(
                Citation(f"[policy] {raw_months}", "this creditor's choice")
                if configured is not None
                else citations[f"covenants.{covenant}"]
            )
        elif isinstance(raw_months, int):
            months = raw_months
        effects = {g: str(layer[g]) for g in GROUPS if g in layer}
        for group, effect in effects.items():
            if effect not in EFFECTS:
                raise PolicyError(f"policy: {event}.{group}: {effect!r} is not stop, lift or allow")
        active = True
        if (
            layer.get("covenant_only")
            and covenant == "geen"
            and not settings.pause_without_covenant
        ):
            active = False
        rules[event] = EventRule(
            event=event,
            title=str(layer.get("title", event)),
            hold_type=layer.get("hold"),
            basis=str(layer.get("basis", "convenant")),
            months=months,
            until=until,
            releases_all=layer.get("releases") == "all",
            write_off=bool(layer.get("write_off", False)),
            effects=effects,
            task=layer.get("task"),
            citations=tuple(cited),
            active=active,
        )
    if settings.approve_before_sending != "all":
        known = answer_types()
        for name in settings.approve_before_sending:
            if name not in known:
                raise PolicyError(
                    f"[policy] approve_before_sending: {name!r} is not an answer the connector "
                    f'sends; use "all" or some of {", ".join(sorted(known))}'
                )
    for event in settings.events:
        if event not in rules:
            raise PolicyError(f"[policy.events.{event}]: unknown event; known: {', '.join(rules)}")
    return Policy(kind, covenant, groups, tuple(table.get("precedence", ())), rules, settings)
