"""The simulated node in-process: the simulator's own messagebox state (``NodeState``), called
directly instead of over mutual TLS, so that a year of traffic takes minutes; and down on
the days of a planned outage."""

from __future__ import annotations

import uuid

from ..node.client import FetchedMessage, MessageboxEntry, NodeRejected, NodeUnavailable
from ..node.simulator import ClientFaultError, NodeState


class InProcessNode:
    """A ``NodePort`` for one participant on a shared ``NodeState``."""

    def __init__(self, state: NodeState, participant: uuid.UUID) -> None:
        self.state = state
        self.participant = participant
        #: the node is unreachable (a planned outage)
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise NodeUnavailable("the node does not answer (a planned outage of the drill)")

    def list_messages(self, limit: int = 100) -> list[MessageboxEntry]:
        self._up()
        entries = self.state.list_entries(self.participant, limit)
        return [MessageboxEntry(handle, placed) for handle, placed in entries]

    def fetch(self, message_id: str) -> FetchedMessage:
        self._up()
        try:
            return FetchedMessage(message_id, self.state.fetch(self.participant, message_id))
        except ClientFaultError as exc:
            raise NodeRejected(exc.reason) from None

    def confirm(self, message_id: str) -> None:
        self._up()
        try:
            self.state.confirm(self.participant, message_id)
        except ClientFaultError as exc:
            raise NodeRejected(exc.reason) from None

    def send(self, payload: bytes) -> str:
        self._up()
        try:
            return self.state.send(self.participant, payload)
        except ClientFaultError as exc:
            raise NodeRejected(exc.reason) from None
