"""The web-portal CSV, for a creditor without a system link: a download of Saldoverzoeken
taken into the inbox as the node's messages would be (the same adapters and policy answer
them), and the answers written to an upload file."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..messages import GeenMedewerking, SaldoverzoekAntwoord
from ..store.db import Store
from ..store.schema import InboxMessage, OutboxMessage
from ..store.status import Channel, OutboxStatus, TaskKind
from ..wire.portal_csv import read_portal_download, saldoverzoek_from_portal, write_answer_csv
from ..wire.soap import DecodeError, decode_message, encode_message
from .deadlines import dutch_day
from .failures import Failure, FinalTask, record_failure

#: The sender of messages taken from a portal download (the CSV names no sender) (P).
PORTAL_SENDER = uuid.UUID("00000000-0000-4000-8000-00000000504c")


class PortalDesk:
    def __init__(
        self,
        *,
        store: Store,
        participant_id: uuid.UUID,
        intake: Callable[..., str],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.participant_id = participant_id
        self.intake = intake
        self.clock = clock

    def today(self) -> date:
        return dutch_day(self.clock)

    def import_download(self, path: Path) -> dict[str, int]:
        """Take a portal download of Saldoverzoeken into the inbox as the node's messages would
        be; the same adapters and policy answer them. All-or-nothing: a file with an error is
        refused whole (PortalCsvError) before anything is stored."""
        requests = read_portal_download(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        outcomes: Counter[str] = Counter()
        for request in requests:
            message = saldoverzoek_from_portal(
                request, ontvanger=self.participant_id, afzender=PORTAL_SENDER
            )
            outcomes[
                self.intake(
                    f"portal:{digest}:{request.row}",
                    encode_message(message),
                    channel=Channel.PORTAL,
                )
            ] += 1
        return dict(outcomes)

    def export(self, path: Path) -> int:
        """Write the answers waiting for the portal to an upload file; mark them exported only
        after the file is written. Returns how many answers the file holds."""
        with self.store.transaction() as session:
            rows = list(
                session.execute(
                    select(OutboxMessage.id, OutboxMessage.payload, InboxMessage.raw)
                    .join(
                        InboxMessage,
                        InboxMessage.referentienummer == OutboxMessage.cross_referentienummer,
                    )
                    .where(
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.channel == Channel.PORTAL,
                    )
                    .order_by(OutboxMessage.id)
                )
            )
        pairs: list[tuple[Any, Any]] = []
        written: list[int] = []
        left: list[tuple[int, Failure]] = []
        conversations: set[str] = set()
        with tempfile.TemporaryDirectory() as scratch:
            for outbox_id, payload, raw in rows:
                try:
                    pair = self._portal_pair(raw, payload)
                    # a conversation's second answer waits for the next file; an answer the
                    # format cannot carry waits for a person, and the rest are written
                    conversation = str(pair[0].berichtheader.conversatie_referentienummer)
                    if conversation in conversations:
                        continue
                    write_answer_csv([pair], Path(scratch) / "one.csv")
                except (ValueError, DecodeError) as exc:
                    left.append((outbox_id, Failure.of(exc)))
                    continue
                conversations.add(conversation)
                pairs.append(pair)
                written.append(outbox_id)
        write_answer_csv(pairs, path)
        now = self.clock()
        with self.store.transaction() as session:
            for outbox_id in written:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None and row.status == OutboxStatus.PENDING:
                    row.status, row.sent_at = OutboxStatus.SENT, now
                    self.store.audit(
                        session,
                        "exported",
                        conversation_id=row.conversation_id,
                        referentienummer=row.referentienummer,
                        file=path.name,
                    )
            for outbox_id, failure in left:
                row = session.get(OutboxMessage, outbox_id)
                if row is not None and row.status == OutboxStatus.PENDING:
                    record_failure(
                        self.store,
                        session,
                        row,
                        failure,
                        retryable=False,
                        now=now,
                        event="export_failed",
                        task=FinalTask(
                            TaskKind.EXPORT_FAILED,
                            f"the answer {row.referentienummer} cannot be written to the "
                            "portal file; answer it in the portal by hand",
                        ),
                        referentienummer=row.referentienummer,
                    )
        return len(pairs)

    def _portal_pair(self, raw: bytes, payload: bytes) -> tuple[Any, Any]:
        """A portal question and its answer as the upload file takes them."""
        request, answer = decode_message(raw), decode_message(payload)
        if isinstance(answer, GeenMedewerking):
            # the portal's layout says "Klant onbekend = Ja" where the system link
            # answers GeenMedewerking KLANT_ONBEKEND
            answer = SaldoverzoekAntwoord(
                berichtheader=answer.berichtheader.model_copy(
                    update={"berichttype": "SaldoverzoekAntwoord"}
                ),
                contactpersoon=answer.contactpersoon,
                klant_onbekend=True,
                standaard_akkoord=False,
                datum=self.today(),
            )
        return request, answer
