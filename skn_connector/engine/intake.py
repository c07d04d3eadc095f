"""Intake without an ORM session: the common case of storing messages, on a Core connection.

Most batches hold only new messages, redeliveries of a handle stored before and duplicates
of a Referentienummer stored before with the same bytes. Those need the inbox rows, a
duplicate count and an audit entry each: a handful of Core statements. Through an ORM
session they cost about twice the statements themselves, and the receive endpoint commits a
few deliveries at a time, so that cost is paid per delivery rather than per hundred. A batch
with anything to keep aside (a message that cannot be read or is not ours, a handle or a
Referentienummer seen before with other bytes) is left to ``Pipeline.intake_many``'s ORM
path, which quarantines and adds the task; nothing is written here for it. The rules are
the same: this path only does less work around them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..messages import Message
from ..store import statements as sql
from ..store.audit import Chain
from ..store.bulk import execute_many
from ..store.db import Store
from ..wire.soap import DecodeError, decode_message
from .records import Intake

log = logging.getLogger(__name__)

#: A delivery as intake takes it: node handle, bytes, the message (None: not readable) and
#: why it cannot be accepted (None: it can).
Decoded = tuple[str, bytes, Message | None, str | None]
#: Builds a new message's inbox row: (handle, bytes, sha256, message, now).
NewRow = Callable[[str, bytes, str, Message, datetime], dict[str, Any]]


def predecode(payload: bytes, handle: str = "") -> Message | str:
    """The message in ``payload``, or why it cannot be read (``Pipeline.intake_many``'s
    ``decoded``): the receive endpoint decodes beside the writer, not in it."""
    try:
        return decode_message(payload)
    except DecodeError as exc:
        return "; ".join(exc.errors)
    except Exception as exc:  # a decoder bug must not lose the message: it is quarantined
        log.exception("unexpected error while decoding node message %s", handle)
        return f"unexpected error while decoding: {type(exc).__name__}"


def store_plain(
    store: Store,
    decoded: Sequence[Decoded],
    now: datetime,
    new_row: NewRow,
    remember: Callable[[str, bytes, Message], None],
) -> list[Intake] | None:
    """Store ``decoded`` in one transaction when nothing in it goes to quarantine; each
    one's outcome. None, with nothing written, when something does."""
    if not decoded:
        return []
    if any(message is None or reason is not None for _, _, message, reason in decoded):
        return None
    with store.core_transaction() as connection:
        handles = [handle for handle, *_ in decoded]
        referentienummers = [str(m.berichtheader.referentienummer) for _, _, m, _ in decoded if m]
        known: dict[str, set[str]] = {}
        stored: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
        # one statement, not three: at a few deliveries a commit, each costs as much as a row
        found = connection.execute(
            sql.KNOWN_TO_INTAKE, {"handles": handles, "referentienummers": referentienummers}
        )
        for key, digest, conversation_id, kind in found:
            if kind == "handle":
                known.setdefault(key, set()).add(digest)
            else:
                stored[key] = (digest, conversation_id, None)
        outcomes: list[Intake] = []
        new_rows: list[dict[str, Any]] = []
        counted: list[dict[str, Any]] = []
        entries: list[tuple[str, dict[str, Any]]] = []
        messages: dict[str, Message] = {}
        for handle, payload, message, _ in decoded:
            assert message is not None
            digest = hashlib.sha256(payload).hexdigest()
            if digest in known.get(handle, ()):
                outcomes.append(Intake.KNOWN)
                continue
            if handle in known:  # other bytes under a handle stored before: quarantine
                return None
            referentienummer = str(message.berichtheader.referentienummer)
            existing = stored.get(referentienummer)
            if existing is not None:
                sha256, conversation_id, row = existing
                if sha256 != digest:  # a conflicting duplicate: quarantine and a task
                    return None
                if row is None:
                    counted.append({"duplicate_of": referentienummer})
                else:
                    row["duplicates"] += 1
                entries.append(
                    (
                        "duplicate_ignored",
                        {
                            "conversation_id": conversation_id,
                            "referentienummer": referentienummer,
                            "node_message_id": handle,
                        },
                    )
                )
                log.debug("duplicate delivery of message %s ignored", referentienummer)
                outcomes.append(Intake.DUPLICATE)
            else:
                row = new_row(handle, payload, digest, message, now)
                new_rows.append(row)
                messages[referentienummer] = message
                stored[referentienummer] = (digest, row["conversation_id"], row)
                entries.append(
                    (
                        "received",
                        {
                            "conversation_id": row["conversation_id"],
                            "referentienummer": referentienummer,
                            "berichttype": message.BERICHTTYPE,
                        },
                    )
                )
                outcomes.append(Intake.ACCEPTED)
            known.setdefault(handle, set()).add(digest)
        if new_rows:
            execute_many(connection, sql.INSERT_INBOX, new_rows)
        if counted:
            execute_many(connection, sql.COUNT_DUPLICATE, counted)
        if entries:
            chain = Chain.open(connection)
            for event_name, detail in entries:
                chain.add(event_name, **detail)
            chain.write(connection)
    for row in new_rows:  # so that deciding it soon after need not decode it again
        remember(row["referentienummer"], row["raw"], messages[row["referentienummer"]])
    return outcomes
