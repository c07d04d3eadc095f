"""The status values of the store's rows, as enums (their values are what the columns hold)."""

from __future__ import annotations

from enum import StrEnum


class InboxStatus(StrEnum):
    """A received message: waiting to be worked, worked, failed (a person must look), or
    kept because no rule of the conversation fits it (a task)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    UNEXPECTED = "unexpected"


class OutboxStatus(StrEnum):
    """An answer: waiting to be delivered (or exported), delivered, or refused for good; or
    waiting for a person's approval, or held back by one."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: waits for a person's approval before it goes out ([policy] approve_before_sending)
    TO_APPROVE = "to_approve"
    #: a person held it back: it is never sent, and its question is still watched
    WITHHELD = "withheld"


class HoldStatus(StrEnum):
    """A hold on enforcement: planned, carried out at the back-office, to be lifted, lifted;
    failed when the back-office refused it for good."""

    TO_APPLY = "to_apply"
    APPLIED = "applied"
    TO_RELEASE = "to_release"
    RELEASED = "released"
    FAILED = "failed"

    @classmethod
    def active(cls) -> tuple[HoldStatus, ...]:
        """The holds that stop enforcement now or are about to."""
        return (cls.TO_APPLY, cls.APPLIED)

    @classmethod
    def due(cls) -> tuple[HoldStatus, ...]:
        """The holds the back-office still has to carry out."""
        return (cls.TO_APPLY, cls.TO_RELEASE)


class WriteOffStatus(StrEnum):
    TO_APPLY = "to_apply"
    DONE = "done"
    FAILED = "failed"


class TaskStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class QuarantineStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Channel(StrEnum):
    """How a message came in or an answer goes out: the system link, or a portal CSV."""

    NODE = "node"
    PORTAL = "portal"


class TaskKind(StrEnum):
    """What a task asks of a person."""

    QUARANTINED = "quarantined"
    CONFLICT = "conflict"
    UNEXPECTED_MESSAGE = "unexpected_message"
    PROCESSING_FAILED = "processing_failed"
    DELIVERY_FAILED = "delivery_failed"
    EXPORT_FAILED = "export_failed"
    EFFECT_FAILED = "effect_failed"
    BEOORDELING = "beoordeling"
    WSNP = "wsnp"
    WSNP_EINDE = "wsnp_einde"
    BEWIND = "bewind"
    REGELING = "regeling"
    HOLD_BY_HAND = "hold_by_hand"
    WRITE_OFF = "write_off"
    DEADLINE = "deadline"
    APPROVE_ANSWER = "approve_answer"
    HOLD_NOT_APPLIED = "hold_not_applied"
    BACKOFFICE_UNAVAILABLE = "backoffice_unavailable"
    NODE_NOT_POLLED = "node_not_polled"


class AccountRole(StrEnum):
    """What a console account may do: a viewer reads masked data; a handler also decides
    tasks and handles the quarantine; an admin also manages accounts and may reveal personal
    data (with a reason)."""

    VIEWER = "viewer"
    HANDLER = "handler"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return (AccountRole.VIEWER, AccountRole.HANDLER, AccountRole.ADMIN).index(self)

    def may(self, needed: AccountRole) -> bool:
        """Whether this role does what ``needed`` may do."""
        return self.rank >= needed.rank
