"""What a message shows without ``--reveal``: a whitelist read from the message models.

Every value is masked unless its element is an identifier, a code, an amount, a
percentage, a boolean or a process date. The rules come from the field types of the
catalog's models (amounts, Literals, booleans, dates), plus a short list of text elements
that are identifiers. A value shown in clear is still scanned for a BSN, an IBAN or an
e-mail address hidden in it (``redaction.mask_in_identifier``).
"""

from __future__ import annotations

import types
import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from .messages import CATALOG, Adres, Berichtheader
from .messages.common import Persoon
from .redaction import mask_in_identifier

MASK = "***"

#: Text and number elements that are identifiers or codes: their types (Tekst, int) do not
#: tell them from names and free text.
CLEAR_BY_NAME = frozenset(
    {
        "KlantnummerSE",
        "KlantnummerSHV",
        "KlantnummerSEVolgensSHV",
        "FactuurnummerSE",
        "FactuurnummerSEVolgensSHV",
        "Factuurnummers",
        "Betaalreferentie",
        "VorderingsType",
        "Uitbetaalmomenten",
        "Looptijd",
    }
)
#: Structures whose own values are all identifiers, codes or the time sent.
_CLEAR_STRUCTURES: tuple[type[BaseModel], ...] = (Berichtheader,)
#: Structures that are personal as a whole: a code there (Geslacht) is personal too.
_PERSONAL_STRUCTURES: tuple[type[BaseModel], ...] = (Persoon, Adres)


@dataclass(frozen=True)
class _Rule:
    """When a value of one element name is shown in clear."""

    always: bool = False
    #: otherwise only these values: the documented literals of an enumeration
    literals: frozenset[Any] = frozenset()

    def shows(self, value: Any) -> bool:
        return self.always or value in self.literals


_CLEAR = _Rule(always=True)
_MASKED = _Rule()


def _leaf_types(annotation: Any) -> Iterator[Any]:
    """The types a field holds, through ``X | None``, ``Annotated`` and ``tuple[X, ...]``."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated or origin is tuple:
        yield from _leaf_types(arguments[0])
    elif origin is typing.Union or origin is types.UnionType:
        for argument in arguments:
            if argument is not type(None):
                yield from _leaf_types(argument)
    else:
        yield annotation


def _is_structure(leaf: Any) -> bool:
    return isinstance(leaf, type) and issubclass(leaf, BaseModel)


def _rule_of(structure: type[BaseModel], element: str, leaf: Any) -> _Rule:
    if issubclass(structure, _PERSONAL_STRUCTURES):
        return _MASKED
    if typing.get_origin(leaf) is typing.Literal:
        return _Rule(literals=frozenset(typing.get_args(leaf)))
    if structure in _CLEAR_STRUCTURES or element in CLEAR_BY_NAME:
        return _CLEAR
    if leaf is Decimal or leaf is bool:
        return _CLEAR  # amounts, percentages and yes/no
    if leaf is date and element.startswith("Datum"):
        # the dates of the process; a Geboortedatum or an Ontstaansdatum is no such date
        return _CLEAR
    return _MASKED


def _element_rules(structure: type[BaseModel]) -> Iterator[tuple[str, _Rule]]:
    """(element name, rule) of each value of ``structure`` and the structures in it."""
    for name, field in structure.model_fields.items():
        element = field.alias or name
        for leaf in _leaf_types(field.annotation):
            if _is_structure(leaf):
                yield from _element_rules(leaf)
            else:
                yield element, _rule_of(structure, element, leaf)


def _combined(rules: list[_Rule]) -> _Rule:
    # A name that is a code in one structure and free text in another (Status: an
    # enumeration of the SE, free text of the SHV) shows only its documented literals.
    return _Rule(
        always=all(rule.always for rule in rules),
        literals=frozenset().union(*(rule.literals for rule in rules)),
    )


def build_rules(messages: Iterable[type[BaseModel]]) -> dict[str, _Rule]:
    """The rule of each element name that occurs in ``messages``; a name not here is masked."""
    found: dict[str, list[_Rule]] = defaultdict(list)
    for message in messages:
        for element, rule in _element_rules(message):
            found[element].append(rule)
    return {element: _combined(rules) for element, rules in found.items()}


RULES = build_rules(CATALOG.values())


def _masked(value: Any, element: str | None) -> Any:
    if isinstance(value, dict):
        return {key: _masked(item, key) for key, item in value.items()}
    if isinstance(value, list):
        # a list's items are ruled by the list's element (Factuurnummers, Uitbetaalmomenten)
        return [_masked(item, element) for item in value]
    rule = RULES.get(element, _MASKED) if element else _MASKED
    if not rule.shows(value):
        return MASK
    return mask_in_identifier(value, MASK) if isinstance(value, str) else value


def mask_personal_data(document: Any) -> Any:
    """A message's JSON form with every value masked that the rules do not show in clear."""
    return _masked(document, None)


def personal_values(document: Any) -> Iterator[str]:
    """The texts of a message in its JSON form that ``mask_personal_data`` masks, for
    redacting an error or a log line about the message (``redaction.personal_values``)."""
    yield from _personal(document, None)


def _personal(value: Any, element: str | None) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _personal(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _personal(item, element)
    elif isinstance(value, str):
        rule = RULES.get(element, _MASKED) if element else _MASKED
        if not rule.shows(value):
            yield value
        elif mask_in_identifier(value, MASK) != value:
            yield value  # an identifier that carries a BSN, an IBAN or an address
