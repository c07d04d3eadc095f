"""Many rows in one statement, handed to the driver as they are (one ``executemany``).

``connection.execute(statement, rows)`` builds every row's parameters anew in SQLAlchemy: a
dict per row, then each value through its type's bind processor (the UTC conversion and
SQLite's text form of a timestamp). The message path writes some ten rows a message, and
that rebuilding took a tenth of the connector's time. ``execute_many`` compiles a statement
once per dialect and set of row keys, turns each row straight into the driver's parameters,
and runs a processor once per distinct value: the timestamp a batch shares is converted
once, not once a row. The SQL, the values stored, the transaction and the commit are the
same as through ``connection.execute``; only the Python in between is less.

A statement this cannot prepare faithfully (a Python-side default computed per row, an IN
list, names the dialect must escape) goes through ``connection.execute`` as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from .scope import scoped_rows

_Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Prepared:
    sql: str
    positional: bool
    names: tuple[str, ...]
    #: per bind, in ``names`` order: the row's key it takes its value from, or None
    keys: tuple[str | None, ...]
    #: per bind: the value it always has (processed), where ``keys`` has None
    constants: tuple[Any, ...]
    processors: tuple[_Processor | None, ...]


#: (id of the statement, dialect name, the rows' keys) -> the statement (kept, so that its
#: id is not reused while cached) and its prepared form, or None: not preparable, use
#: ``connection.execute``. The message path's statements are module constants: a dozen
#: entries; statements built per call would each add one, hence the bound.
_PREPARED: dict[tuple[int, str, tuple[str, ...]], tuple[UpdateBase, _Prepared | None]] = {}
_MAX_PREPARED = 256


def execute_many(
    connection: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run an INSERT or UPDATE once for each of ``rows`` (dicts with the same keys)."""
    if not rows:
        return
    statement, rows = scoped_rows(statement, rows)
    keys = tuple(rows[0])
    cache_key = (id(statement), connection.dialect.name, keys)
    try:
        prepared = _PREPARED[cache_key][1]
    except KeyError:
        if len(_PREPARED) >= _MAX_PREPARED:
            _PREPARED.clear()
        prepared = _prepare(statement, connection.dialect, keys)
        _PREPARED[cache_key] = (statement, prepared)
    shape = rows[0].keys()
    if prepared is None or any(row.keys() != shape for row in rows):
        connection.execute(statement, list(rows))
        return
    connection.exec_driver_sql(prepared.sql, _parameters(prepared, rows))


def _parameters(prepared: _Prepared, rows: Sequence[Mapping[str, Any]]) -> Any:
    columns: list[list[Any]] = []
    for key, constant, processor in zip(
        prepared.keys, prepared.constants, prepared.processors, strict=True
    ):
        if key is None:
            columns.append([constant] * len(rows))
            continue
        values = [row[key] for row in rows]
        if processor is not None:
            # keyed by type too: equal values of two types (1 and True) may differ processed
            done: dict[tuple[type, Any], Any] = {}
            processed = []
            for value in values:
                try:
                    processed.append(done[type(value), value])
                except KeyError:
                    processed.append(done.setdefault((type(value), value), processor(value)))
                except TypeError:  # an unhashable value: processed each time
                    processed.append(processor(value))
            values = processed
        columns.append(values)
    if prepared.positional:
        return list(zip(*columns, strict=True))
    return [dict(zip(prepared.names, values, strict=True)) for values in zip(*columns, strict=True)]


def _prepare(statement: UpdateBase, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared | None:
    # as SQLAlchemy compiles it for executemany: no RETURNING of the new row's id
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or compiled.update_prefetch
        or compiled.returning
    ):
        return None
    defaults: dict[str, Any] = {}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None or not default.is_scalar:  # computed per row: SQLAlchemy does it
            return None
        defaults[column.key] = default.arg  # type: ignore[attr-defined]
    names = (
        tuple(compiled.positiontup)
        if dialect.positional and compiled.positiontup is not None
        else tuple(compiled.binds)
    )
    bind_keys: list[str | None] = []
    constants: list[Any] = []
    processors: list[_Processor | None] = []
    for name in names:
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in keys:
            bind_keys.append(name)
            constants.append(None)
            processors.append(processor)
            continue
        if name in defaults:
            value = defaults[name]
        elif bind.callable is None and not bind.required:
            value = bind.value
        else:  # a value this does not know
            return None
        bind_keys.append(None)
        constants.append(processor(value) if processor is not None else value)
        processors.append(None)
    return _Prepared(
        compiled.string,
        bool(dialect.positional),
        names,
        tuple(bind_keys),
        tuple(constants),
        tuple(processors),
    )


def is_prepared(statement: Executable, dialect: Dialect, keys: Sequence[str]) -> bool:
    """Whether ``execute_many`` runs ``statement`` for rows with ``keys`` through the driver
    (for tests: the message path's writes must)."""
    assert isinstance(statement, UpdateBase)
    return _prepare(statement, dialect, tuple(keys)) is not None
