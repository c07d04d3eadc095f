"""The store scoped by creditor: every row of the work carries its creditor's id, and every
statement run in a creditor's scope reads, changes and writes that creditor's rows alone.

A scope is set for the length of a transaction (``Store.transaction``) or a connection
(``Store.connect``) of a store opened for one creditor (``Store.scoped``). While it is set,
the engine's ``before_execute`` hook adds ``creditor_id = :scope`` to every SELECT (its
subqueries, joins and aliases included), UPDATE and DELETE of a scoped table, and the
creditor's id to every row an INSERT writes into one; ``bulk.execute_many`` (which hands rows
to the driver itself) does the same through ``scoped_rows``. The scope is a context
variable: a thread sees only the scope it set itself.

A store opened without a scope reads every creditor's rows and writes rows of no creditor
(``UNASSIGNED``): the tests' and the migrations' view; the connector's own work always runs
in a scope (``service.wiring``, ``operations``). The rows a single-creditor deployment wrote
before the scope existed are its own (migration 0010 and ``adopt_unassigned``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select, String, bindparam, event, select, update
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase
from sqlalchemy.sql.selectable import Alias, Join, TableClause

#: the tables whose rows belong to a creditor (all but meta, accounts and alembic's)
SCOPED_TABLES = frozenset(
    {"inbox", "quarantine", "conversations", "outbox", "tasks", "holds", "write_offs", "audit"}
)
#: the creditor of a row written without a scope (and of rows from before migration 0010,
#: where no creditor was named)
UNASSIGNED = ""
#: the scope of what is no creditor's but the deployment's own: the console's accounts and
#: logins. Its audit entries are the chain of creditor id '' (the rows of no creditor)
DEPLOYMENT = UNASSIGNED
COLUMN = "creditor_id"
#: the bound parameter of the added criteria (not a column name)
_PARAMETER = "skn_creditor_scope"
#: execution options of a statement that reads across the creditors on purpose (the audit
#: trail's check whether it is one creditor's alone)
UNSCOPED = {"skn_unscoped": True}

_SCOPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("skn_creditor", default=None)


def current() -> str | None:
    """The creditor whose scope this thread works in, or None."""
    return _SCOPE.get()


@contextmanager
def working_for(creditor_id: str | None) -> Iterator[None]:
    """Work in ``creditor_id``'s scope (None: no scope) until the block ends."""
    token = _SCOPE.set(creditor_id)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def meta_key(key: str) -> str:
    """A ``meta`` key of the current creditor's (``last_poll``, ``audit_head``): the key
    itself without a scope, as before creditors were scoped."""
    creditor = _SCOPE.get()
    return key if not creditor else f"{key}@{creditor}"


def _scoped_table(element: Any) -> Any:
    """``element`` when it is a scoped table or an alias of one, else None."""
    if isinstance(element, TableClause) and element.name in SCOPED_TABLES:
        return element
    if isinstance(element, Alias) and isinstance(element.element, TableClause):
        return element if element.element.name in SCOPED_TABLES else None
    return None


def _tables_of(froms: Sequence[Any]) -> Iterator[Any]:
    for element in froms:
        if isinstance(element, Join):
            yield from _tables_of((element.left, element.right))
        elif _scoped_table(element) is not None:
            yield element


def _criterion(table: Any) -> Any:
    return table.c[COLUMN] == bindparam(_PARAMETER, type_=String(36))


def _add_to_select(select: Select[Any]) -> None:
    seen: set[int] = set()
    criteria = []
    for table in _tables_of(select.get_final_froms()):
        if id(table) not in seen:
            seen.add(id(table))
            criteria.append(_criterion(table))
    if criteria:
        # the clone cloned_traverse made is this statement's own: adding to it in place
        select._where_criteria += tuple(criteria)


def _add_to_dml(statement: Update | Delete) -> None:
    table = _scoped_table(statement.table)
    if table is not None:
        statement._where_criteria += (_criterion(table),)


#: statement -> its scoped form (kept with the original, so that its id is not reused);
#: the message path's statements are module constants, built per call ones add one each
_SCOPED: dict[int, tuple[ClauseElement, ClauseElement]] = {}
_MAX_SCOPED = 512
#: ids of the scoped forms: a scoped statement run again is not scoped twice
_DONE: set[int] = set()


def scoped_statement(statement: ClauseElement) -> ClauseElement:
    """``statement`` with the creditor criteria on every scoped table it reads or changes
    (the value is the bound parameter ``skn_creditor_scope``); an INSERT as it is."""
    if id(statement) in _DONE or isinstance(statement, Insert):
        return statement
    cached = _SCOPED.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    scoped = visitors.cloned_traverse(
        statement,
        {},
        {"select": _add_to_select, "update": _add_to_dml, "delete": _add_to_dml},
    )
    if len(_SCOPED) >= _MAX_SCOPED:
        _SCOPED.clear()
        _DONE.clear()
    _SCOPED[id(statement)] = (statement, scoped)
    _DONE.add(id(scoped))
    return scoped


def _inserts_scoped_rows(statement: Any) -> bool:
    return isinstance(statement, Insert) and _scoped_table(statement.table) is not None


def _with_scope(
    statement: Any, rows: Sequence[Mapping[str, Any]], creditor: str
) -> list[dict[str, Any]]:
    if _inserts_scoped_rows(statement):
        return [row if COLUMN in row else {**row, COLUMN: creditor} for row in map(dict, rows)]
    return [{**row, _PARAMETER: creditor} for row in rows]


def scoped_rows(
    statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> tuple[UpdateBase, Sequence[Mapping[str, Any]]]:
    """An INSERT or UPDATE and its rows as the current scope runs them (``execute_many``)."""
    creditor = _SCOPE.get()
    if creditor is None:
        return statement, rows
    scoped = scoped_statement(statement)
    assert isinstance(scoped, UpdateBase)
    return scoped, _with_scope(scoped, rows, creditor)


def _before_execute(
    connection: Connection,
    statement: Any,
    multiparams: list[dict[str, Any]],
    params: dict[str, Any],
    execution_options: Any,
) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    creditor = _SCOPE.get()
    if (
        creditor is None
        or not isinstance(statement, ClauseElement)
        or execution_options.get("skn_unscoped")
        or getattr(statement, "_execution_options", {}).get("skn_unscoped")
    ):
        return statement, multiparams, params
    if _inserts_scoped_rows(statement):
        if multiparams:
            return statement, _with_scope(statement, multiparams, creditor), params
        if COLUMN not in params and COLUMN not in _insert_values(statement):
            return statement, multiparams, {**params, COLUMN: creditor}
        return statement, multiparams, params
    scoped = scoped_statement(statement)
    if scoped is statement and id(statement) not in _DONE:
        return statement, multiparams, params
    if multiparams:
        return scoped, [{**row, _PARAMETER: creditor} for row in multiparams], params
    return scoped, multiparams, {**params, _PARAMETER: creditor}


def _insert_values(statement: Any) -> set[str]:
    values: Mapping[Any, Any] = statement._values or {}
    return {str(getattr(key, "key", key)) for key in values}


def install(engine: Engine) -> None:
    """Scope every statement run on ``engine`` in a creditor's scope."""
    event.listen(engine, "before_execute", _before_execute, retval=True)


def adopt_unassigned(connection: Connection, creditor_id: str) -> int:
    """Give the rows of no creditor (written before creditors were scoped, or without a
    scope) to ``creditor_id``, the only creditor of its deployment, with the ``meta`` keys
    of its work; returns how many rows changed."""
    from .schema import Base, Meta

    audit = Base.metadata.tables["audit"]
    # the audit entries of no creditor are a chain of their own: they become the creditor's
    # chain only while it has none (two chains in one would no longer verify)
    chained = connection.scalar(select(audit.c.id).where(audit.c[COLUMN] == creditor_id).limit(1))
    changed = 0
    for name in sorted(SCOPED_TABLES - ({"audit"} if chained is not None else set())):
        table = Base.metadata.tables[name]
        result = connection.execute(
            update(table).where(table.c[COLUMN] == UNASSIGNED).values({COLUMN: creditor_id})
        )
        changed += result.rowcount or 0
    unassigned = connection.scalar(select(audit.c.id).where(audit.c[COLUMN] == UNASSIGNED).limit(1))
    for key in SCOPED_META_KEYS:
        if key == "audit_head" and unassigned is not None:
            continue  # the head of the chain of no creditor, still there
        mine = f"{key}@{creditor_id}"
        if connection.scalar(select(Meta.key).where(Meta.key == mine)) is None:
            connection.execute(update(Meta).where(Meta.key == key).values(key=mine))
    if changed:  # the store's triggers count a row for the creditor it was written for
        from .totals import recount

        recount(connection, {UNASSIGNED, creditor_id})
    return changed


#: the meta keys kept per creditor (``meta_key``)
SCOPED_META_KEYS = ("audit_head", "last_poll")
