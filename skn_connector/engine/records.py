"""What the pipeline takes and gives: the node it talks to, our profile, a run's summary and
a delivery's outcome."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ..messages import Contactpersoon
from ..node.client import FetchedMessage, MessageboxEntry, NodeError


class NodePort(Protocol):
    """What the pipeline needs of the node (node.client.NodeClient, or a test double).

    A node that also has ``fetch_many`` and ``confirm_many`` (and ``send_many``), as
    NodeClient does, is used in batches: fewer calls, and a group commit per batch.
    """

    def list_messages(self, limit: int = 100) -> list[MessageboxEntry]: ...
    def fetch(self, message_id: str) -> FetchedMessage: ...
    def confirm(self, message_id: str) -> None: ...
    def send(self, payload: bytes) -> str: ...


@dataclass(frozen=True)
class CreditorProfile:
    """What the answers need to know about us."""

    participant_id: uuid.UUID
    contact: Contactpersoon
    vooraf_akkoord: bool = False


@dataclass
class RunSummary:
    fetched: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0
    #: holds applied or released and write-offs carried out
    effects: int = 0
    tasks_raised: int = 0
    delivered: int = 0
    delivery_failures: int = 0
    processing_failures: int = 0
    pending_inbox: int = 0
    pending_outbox: int = 0
    #: answers waiting for a person's approval ([policy] approve_before_sending)
    to_approve: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.pending_outbox and not self.pending_inbox


@dataclass
class Delivery:
    """What happened to a batch of answers sent to the node (``Pipeline.send_outbox``)."""

    #: (outbox id, Referentienummer, when): the node took them
    sent: list[tuple[int, str, datetime]] = field(default_factory=list)
    #: (outbox id, why): not taken; retried later unless the error is final
    failed: list[tuple[int, NodeError]] = field(default_factory=list)
    #: why the batch stopped early (the node is down, or TLS failed), if it did
    stopped: NodeError | None = None


class Intake(StrEnum):
    """What storing a fetched (or delivered) message came to."""

    ACCEPTED = "accepted"
    #: the same Referentienummer and bytes were stored before: no second effect
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    #: the same Referentienummer with other bytes: kept in quarantine with a task
    CONFLICT = "conflict"
    #: this node handle was stored before (a redelivery of the same fetch)
    KNOWN = "known"


class Outcome(StrEnum):
    """What working a received message came to."""

    #: decided and committed (also when the table asks no answer)
    ANSWERED = "answered"
    #: no rule of the conversation fits: kept, marked, a task
    UNEXPECTED = "unexpected"
    #: a retryable error: tried again later
    RETRY = "retry"
    #: a person must look (a task)
    FAILED = "failed"
    #: not pending (another worker got there first)
    SKIPPED = "skipped"
