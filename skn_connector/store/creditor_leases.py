"""Several instances on one PostgreSQL store share a deployment's creditors: a lease per
creditor, spread evenly over the live instances.

Each instance holds, on one connection kept for the purpose, a session-level advisory lock
of its own (``INSTANCE_SPACE``, a random number): the live instances are those locks, which
the server ends with their connection, also when an instance dies (kill -9: at once; a
machine that vanishes: after the TCP keepalive). A creditor's lease is the advisory lock
(``CREDITOR_SPACE``, a hash of its participant id) on that same connection.

``settle()``, at the start of every job, makes this instance's share fair: with ``n`` live
instances and ``c`` creditors each holds at most ``ceil(c / n)``; one that holds more gives
the extra back (an instance joined: rebalance), one that holds fewer takes free leases (an
instance died or gave some back: takeover), trying the creditors in an order of its own so
that instances do not all reach for the same. A creditor is worked only by the instance
that holds its lease, so one conversation is still worked by one instance at a time and
the exactly-once rules of the message path are unchanged. SQLite keeps its one lease per
store (``store.lease``).
"""

from __future__ import annotations

import logging
import math
import random
import zlib
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .db import Store

log = logging.getLogger(__name__)

#: the first key of the two-key advisory locks: 'skcr' (creditors) and 'skin' (instances)
CREDITOR_SPACE = int.from_bytes(b"skcr", "big", signed=True)
INSTANCE_SPACE = int.from_bytes(b"skin", "big", signed=True)

_TRY = text("SELECT pg_try_advisory_lock(:space, :key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:space, :key)")
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")
_HELD_HERE = text(
    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = :space AND pid = pg_backend_pid()"
)
_LIVE = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = :space"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _signed(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def creditor_key(creditor_id: str) -> int:
    """The second key of a creditor's lease: a 32-bit hash of its participant id."""
    return _signed(zlib.crc32(creditor_id.encode("ascii")))


def _unsigned(value: int) -> int:
    return value & 0xFFFF_FFFF


class CreditorLeases:
    """This instance's leases on the creditors of a deployment, on a PostgreSQL store."""

    def __init__(self, store: Store, creditor_ids: Sequence[str]) -> None:
        assert store.engine.dialect.name == "postgresql", "SQLite has one lease per store"
        keys = {creditor_key(c): c for c in creditor_ids}
        if len(keys) != len(creditor_ids):  # two participant ids of one hash: refuse, clearly
            raise ValueError("two creditors' participant ids share a lease key")
        self._store = store
        self._keys = keys
        self._creditors = tuple(creditor_ids)
        self._connection: Connection | None = None
        self._instance = 0
        #: this instance's order of trying the creditors
        self._order = list(creditor_ids)
        random.shuffle(self._order)
        self.held: frozenset[str] = frozenset()

    # -- the instance's own lock -----------------------------------------------------------

    def _connect(self) -> Connection:
        if self._connection is not None and self._alive(self._connection):
            return self._connection
        if self._connection is not None:
            log.warning("the leases' connection was lost, and the creditors' leases with it")
            self._close()
        connection = self._store.engine.connect()
        try:
            while True:
                self._instance = random.randint(-(2**31), 2**31 - 1)
                args = {"space": INSTANCE_SPACE, "key": self._instance}
                if connection.execute(_TRY, args).scalar():
                    break
            connection.commit()
        except Exception:
            connection.close()
            raise
        self._connection = connection
        self.held = frozenset()
        return connection

    def _alive(self, connection: Connection) -> bool:
        try:
            mine = {
                _signed(int(row[0]))
                for row in connection.execute(_HELD_HERE, {"space": _unsigned(INSTANCE_SPACE)})
            }
            connection.commit()
        except Exception:
            return False
        return self._instance in mine

    # -- the creditors' leases -------------------------------------------------------------

    def live_instances(self) -> int:
        connection = self._connect()
        count = int(connection.execute(_LIVE, {"space": _unsigned(INSTANCE_SPACE)}).scalar() or 0)
        connection.commit()
        return max(count, 1)

    def settle(self) -> frozenset[str]:
        """Give back what is more than a fair share, take free leases up to it; returns
        the creditors this instance works now."""
        connection = self._connect()
        fair = math.ceil(len(self._creditors) / self.live_instances())
        held = [
            self._keys[key]
            for row in connection.execute(_HELD_HERE, {"space": _unsigned(CREDITOR_SPACE)})
            if (key := _signed(int(row[0]))) in self._keys
        ]
        held.sort(key=self._order.index)
        for creditor in held[fair:]:  # an instance joined: the extra goes back
            connection.execute(_UNLOCK, {"space": CREDITOR_SPACE, "key": creditor_key(creditor)})
        mine = set(held[:fair])
        for creditor in self._order:
            if len(mine) >= fair:
                break
            if creditor in mine:
                continue
            args = {"space": CREDITOR_SPACE, "key": creditor_key(creditor)}
            if connection.execute(_TRY, args).scalar():
                mine.add(creditor)
        connection.commit()
        if mine != self.held:
            log.info(
                "working %d of %d creditors (%s)",
                len(mine),
                len(self._creditors),
                ", ".join(sorted(mine)) or "none",
            )
        self.held = frozenset(mine)
        return self.held

    def release(self) -> None:
        """Give every lease back, and the instance's own lock: the other instances see it
        at their next ``settle()``. The server would at the connection's end anyway, but
        that happens when the server process notices the closed socket, a moment after
        the close returns; an instance that stops gives its creditors over at once."""
        connection = self._connection
        if connection is not None:
            try:
                connection.execute(_UNLOCK_ALL)
                connection.commit()
            except Exception:
                log.debug("giving the leases back failed; the connection's end will", exc_info=True)
        self._close()
        self.held = frozenset()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                # not back into the pool: its session would keep the locks
                connection.invalidate()
                connection.close()
            except Exception:
                log.debug("closing the leases' connection failed", exc_info=True)

    def __enter__(self) -> CreditorLeases:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
