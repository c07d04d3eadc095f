"""The retention of personal data: the messages of conversations long ended are replaced by
references; the audit trail records each purge and still verifies."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select, text

from ..store.schema import (
    Conversation,
    InboxMessage,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)
from ..store.status import InboxStatus, OutboxStatus, TaskStatus

if TYPE_CHECKING:
    from ..store.db import Store

#: The default retention of personal data after a conversation ended: ``[retention]``.
DEFAULT_RETENTION_MONTHS: Final = 12
#: The conversation states after which nothing more happens (engine/rules/conversations.toml).
FINAL_STATES: Final = frozenset({"BEEINDIGD", "GEEN_MEDEWERKING", "AFGEROND", "BEWIND_BEEINDIGD"})
#: What a purged message's bytes start with; the rest names the original's digest.
PURGED_PREFIX: Final = b"skn-connector:purged\n"


# -- retention ------------------------------------------------------------------------------


def retention_period(months: int) -> timedelta:
    """``months`` as a period, rounded up to whole days (12 months: 366 days)."""
    return timedelta(days=math.ceil(months * 365.25 / 12))


def is_purged(raw: bytes) -> bool:
    """Whether stored message bytes are a purge marker instead of the message."""
    return raw.startswith(PURGED_PREFIX)


def purged_marker(original: bytes, purged_at: datetime) -> bytes:
    """The bytes a purged message is replaced with: its digest and when, nothing else."""
    digest = hashlib.sha256(original).hexdigest()
    return (
        PURGED_PREFIX
        + f"sha256={digest}\npurged_at={purged_at.astimezone(UTC).isoformat()}\n".encode()
    )


@dataclass
class PurgeReport:
    """What ``purge_personal_data`` purged (or would purge, on a dry run)."""

    cutoff: datetime
    dry_run: bool
    conversations: int = 0
    inbox_messages: int = 0
    outbox_messages: int = 0
    quarantined_messages: int = 0
    #: messages of a purged conversation still pending (left as they are)
    skipped_pending: int = 0
    #: conversations left alone because a task on them is still open
    skipped_open_tasks: int = 0
    #: quarantined messages left alone because their task is still open
    skipped_open_quarantine: int = 0

    @property
    def messages(self) -> int:
        return self.inbox_messages + self.outbox_messages + self.quarantined_messages

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        text = (
            f"{verb} the personal data of {self.conversations} ended conversation(s) and "
            f"quarantined messages from before {self.cutoff.date().isoformat()}: "
            f"{self.inbox_messages} received, {self.outbox_messages} sent and "
            f"{self.quarantined_messages} quarantined message(s)"
        )
        skipped = []
        if self.skipped_pending:
            skipped.append(f"{self.skipped_pending} message(s) still pending")
        if self.skipped_open_tasks:
            skipped.append(f"{self.skipped_open_tasks} conversation(s) with an open task")
        if self.skipped_open_quarantine:
            skipped.append(
                f"{self.skipped_open_quarantine} quarantined message(s) with an open task"
            )
        return text + (f"; left alone: {', '.join(skipped)}" if skipped else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        return data


def purge_personal_data(
    store: Store,
    older_than: timedelta = retention_period(DEFAULT_RETENTION_MONTHS),
    now: datetime | None = None,
    *,
    dry_run: bool = False,
) -> PurgeReport:
    """Replace the bytes of old messages by a marker keeping only references.

    Purged: the received and sent messages of conversations in a final state whose last
    update lies before ``now - older_than``, and quarantined messages received before then.
    Kept: Referentienummer, Berichttype, sha256 (in the row, and in the marker for a sent message),
    the conversation id, states, tasks and the audit trail, which gets one
    ``personal_data_purged`` entry per conversation (references only) and still verifies.
    Messages still pending, conversations with an open task and quarantined messages whose
    task is open are left alone: a person still has to look at them. On SQLite
    the freed bytes are overwritten (secure_delete) and the write-ahead log truncated.
    """
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    sqlite = store.engine.dialect.name == "sqlite"
    with store.transaction() as session:
        if sqlite and not dry_run:
            session.execute(text("PRAGMA secure_delete = ON"))
        ended = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.state.in_(FINAL_STATES))
                .where(Conversation.updated_at < cutoff)
                .order_by(Conversation.updated_at)
            )
        )
        for conversation in ended:
            open_tasks = session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.conversation_id == conversation.id, Task.status == TaskStatus.OPEN)
            )
            if open_tasks:
                report.skipped_open_tasks += 1
                continue
            inbox = list(
                session.scalars(
                    select(InboxMessage).where(InboxMessage.conversation_id == conversation.id)
                )
            )
            outbox = list(
                session.scalars(
                    select(OutboxMessage).where(OutboxMessage.conversation_id == conversation.id)
                )
            )
            purged_in: list[str] = []
            purged_out: list[dict[str, str]] = []
            for message in inbox:
                if message.status == InboxStatus.PENDING:
                    report.skipped_pending += 1
                elif not is_purged(message.raw):
                    purged_in.append(message.referentienummer)
                    if not dry_run:
                        message.raw = purged_marker(message.raw, now)
            for answer in outbox:
                if answer.status in (OutboxStatus.PENDING, OutboxStatus.TO_APPROVE):
                    report.skipped_pending += 1
                elif not is_purged(answer.payload):
                    purged_out.append(
                        {
                            "referentienummer": answer.referentienummer,
                            "sha256": hashlib.sha256(answer.payload).hexdigest(),
                        }
                    )
                    if not dry_run:
                        answer.payload = purged_marker(answer.payload, now)
            if not purged_in and not purged_out:
                continue
            report.conversations += 1
            report.inbox_messages += len(purged_in)
            report.outbox_messages += len(purged_out)
            if not dry_run:
                store.audit(
                    session,
                    "personal_data_purged",
                    conversation_id=conversation.id,
                    state=conversation.state,
                    last_update=conversation.updated_at.isoformat(),
                    received=purged_in,
                    sent=purged_out,
                )
        quarantined = list(
            session.scalars(
                select(QuarantinedMessage)
                .where(QuarantinedMessage.received_at < cutoff)
                .order_by(QuarantinedMessage.id)
            )
        )
        # a person still has to look at these: kept, as a conversation with an open task is
        still_open = set(
            session.scalars(
                select(Task.quarantine_id).where(
                    Task.quarantine_id.is_not(None), Task.status == TaskStatus.OPEN
                )
            )
        )
        for row in quarantined:
            if is_purged(row.raw):
                continue
            if row.id in still_open:
                report.skipped_open_quarantine += 1
                continue
            report.quarantined_messages += 1
            if not dry_run:
                row.raw = purged_marker(row.raw, now)
                store.audit(
                    session,
                    "personal_data_purged",
                    referentienummer=row.referentienummer,
                    quarantine_id=row.id,
                    sha256=row.sha256,
                )
    if sqlite and not dry_run and report.messages:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return report
