"""The conversation state machine: the transition table as data, loaded and checked at start.

Every rule cites the sources it rests on by id (``rules/sources.toml``, see :mod:`.sources`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .sources import Source, SourceError, resolve_all

ANY_ACTIVE = "*"
SAME = "="
INTERNAL_EVENTS = frozenset({"Beoordeling"})
MODULES = frozenset(
    {"Schuldinventarisatie", "Betalingsregeling", "MeldingenBewindvoering", "Schuldregeling"}
)


class TableError(ValueError):
    """The transition table is not valid; the message names the rule and the problem."""


class UnexpectedMessage(Exception):
    """No rule fits: the message is kept, marked and given to a person; the state stays."""


@dataclass(frozen=True)
class Rule:
    number: int
    events: tuple[str, ...]
    modules: tuple[str, ...]
    from_states: tuple[str, ...]
    to_states: tuple[str, ...]
    answers: tuple[str, ...]
    note: str
    sources: tuple[Source, ...] = ()

    def applies(self, event: str, module: str, state: str, final: frozenset[str]) -> bool:
        if event not in self.events or module not in self.modules:
            return False
        if ANY_ACTIVE in self.from_states:
            return state not in final
        return state in self.from_states

    def allows(self, current: str, next_state: str) -> bool:
        return next_state in self.to_states or (SAME in self.to_states and next_state == current)


def event_name(berichttype: str, message: Any = None) -> str:
    """The table's event for a message: its Berichttype, MeldingBewind split by Gebeurtenis."""
    gebeurtenis = getattr(message, "gebeurtenis", None)
    if berichttype == "MeldingBewind" and gebeurtenis:
        return f"MeldingBewind:{gebeurtenis}"
    return berichttype


class TransitionTable:
    def __init__(
        self,
        rules: Sequence[Rule],
        states: Iterable[str],
        final: Iterable[str],
        initial: str,
        source: str,
    ) -> None:
        self.rules = tuple(rules)
        self.states = tuple(states)
        self.final = frozenset(final)
        self.initial = initial
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None, *, known_events: Iterable[str] = ()) -> TransitionTable:
        """Read and validate the table (the packaged one unless ``path`` is given)."""
        if path is None:
            text = (
                resources.files("skn_connector.engine") / "rules" / "conversations.toml"
            ).read_text(encoding="utf-8")
            source = "the packaged conversation table"
        else:
            text = path.read_text(encoding="utf-8")
            source = str(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TableError(f"{source}: not valid TOML: {exc}") from None
        return cls.from_dict(data, source=source, known_events=known_events)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, source: str = "table", known_events: Iterable[str] = ()
    ) -> TransitionTable:
        states = list(data.get("states", []))
        final = list(data.get("final", []))
        initial = data.get("initial", "NEW")
        declared = set(states)
        if initial not in declared:
            raise TableError(f"{source}: the initial state {initial!r} is not among the states")
        for state in final:
            if state not in declared:
                raise TableError(f"{source}: final state {state!r} is not among the states")
        known = set(known_events) | INTERNAL_EVENTS
        rules: list[Rule] = []
        for number, raw in enumerate(data.get("rule", []), start=1):
            where = f"{source}: rule {number}"
            try:
                rule = Rule(
                    number=number,
                    events=tuple(raw["on"]),
                    modules=tuple(raw["modules"]),
                    from_states=tuple(raw["from"]),
                    to_states=tuple(raw["to"]),
                    answers=tuple(raw.get("answers", ())),
                    note=str(raw.get("note", "")),
                    sources=resolve_all(raw.get("sources"), where),
                )
            except KeyError as exc:
                raise TableError(f"{where}: the key {exc.args[0]!r} is required") from None
            except SourceError as exc:
                raise TableError(str(exc)) from None
            for event in rule.events:
                base = event.split(":", 1)[0]
                if known and event not in known and base not in known:
                    raise TableError(f"{where}: {event!r} is not a message type of the catalog")
            for module in rule.modules:
                if module not in MODULES:
                    raise TableError(f"{where}: unknown module {module!r}")
            for state in rule.from_states:
                if state != ANY_ACTIVE and state not in declared:
                    raise TableError(f"{where}: unknown from-state {state!r}")
                if state in final:
                    raise TableError(f"{where}: a final state ({state}) has no way out")
            for state in rule.to_states:
                if state != SAME and state not in declared:
                    raise TableError(f"{where}: unknown to-state {state!r}")
            for answer in rule.answers:
                if known and answer not in known:
                    raise TableError(f"{where}: answer {answer!r} is not a message type")
            rules.append(rule)
        table = cls(rules, states, final, initial, source)
        table._check_unambiguous()
        return table

    def _check_unambiguous(self) -> None:
        seen: dict[tuple[str, str, str], int] = {}
        for rule in self.rules:
            starts = (
                [s for s in self.states if s not in self.final]
                if ANY_ACTIVE in rule.from_states
                else list(rule.from_states)
            )
            for event in rule.events:
                for module in rule.modules:
                    for state in starts:
                        key = (event, module, state)
                        if key in seen:
                            raise TableError(
                                f"{self.source}: rules {seen[key]} and {rule.number} both apply to "
                                f"{event} in {module} from {state}"
                            )
                        seen[key] = rule.number

    def rule_for(self, event: str, module: str, state: str | None) -> Rule:
        """The rule for this event, or UnexpectedMessage saying why none fits."""
        current = state or self.initial
        for rule in self.rules:
            if rule.applies(event, module, current, self.final):
                return rule
        if current in self.final:
            raise UnexpectedMessage(
                f"{event} arrived for a conversation that has ended ({current})"
            )
        if not any(event in rule.events for rule in self.rules):
            raise UnexpectedMessage(f"{event} is not a message a creditor expects")
        if not any(event in r.events and module in r.modules for r in self.rules):
            raise UnexpectedMessage(f"{event} does not belong to module {module}")
        expected = sorted(
            {s for r in self.rules if event in r.events for s in r.from_states if s != ANY_ACTIVE}
        )
        return self._raise_out_of_order(event, current, expected)

    @staticmethod
    def _raise_out_of_order(event: str, current: str, expected: list[str]) -> Rule:
        raise UnexpectedMessage(
            f"{event} does not fit conversation state {current} (expected in "
            f"{' or '.join(expected)}): out of order or unexpected"
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per rule; ``sources`` in full (id, title, where, version, URL, ...)."""
        return [
            {
                "rule": str(r.number),
                "on": ", ".join(r.events),
                "modules": ", ".join(r.modules),
                "from": ", ".join("any non-final" if s == ANY_ACTIVE else s for s in r.from_states),
                "to": ", ".join("unchanged" if s == SAME else s for s in r.to_states),
                "answers": ", ".join(r.answers) or "—",
                "note": r.note,
                "sources": [source.as_dict() for source in r.sources],
            }
            for r in self.rules
        ]
