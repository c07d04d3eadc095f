"""The quarantine: what cannot be accepted is kept, with its reason, for a person."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.db import Store
from ..store.schema import QuarantinedMessage
from ..store.status import QuarantineStatus, TaskKind
from .tasks import add_task

log = logging.getLogger(__name__)


def keep_in_quarantine(
    store: Store,
    task_at: datetime,
    session: Session,
    node_message_id: str,
    payload: bytes,
    digest: str,
    reason: str,
    referentienummer: str | None,
    now: datetime,
) -> None:
    """Keep a message that cannot be accepted in the quarantine with its reason, and a task
    for a person; the same bytes again while open count as one more occurrence."""
    same = session.scalars(
        select(QuarantinedMessage).where(
            QuarantinedMessage.sha256 == digest,
            QuarantinedMessage.status == QuarantineStatus.OPEN,
        )
    ).first()
    if same is not None:
        same.occurrences += 1
    else:
        kept = QuarantinedMessage(
            node_message_id=node_message_id,
            referentienummer=referentienummer,
            raw=payload,
            sha256=digest,
            reason=reason,
            received_at=now,
            status=QuarantineStatus.OPEN,
            occurrences=1,
        )
        session.add(kept)
        session.flush()  # the entry's id, for its task
        add_task(
            session,
            task_at,
            TaskKind.CONFLICT
            if referentienummer and "conflicting" in reason
            else TaskKind.QUARANTINED,
            f"message kept in quarantine: {reason}"[:2000],
            None,
            referentienummer,
            None,
            quarantine_id=kept.id,
        )
    store.audit(session, "quarantined", referentienummer=referentienummer, reason=reason)
    log.warning("message %s quarantined: %s", referentienummer or node_message_id, reason)
