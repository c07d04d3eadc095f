"""Provisional wire choices (P): namespaces, operations, limits.

The SKN toolkit's WSDLs are not public. Everything the node's wire format fixes
and the public documentation does not is chosen here, in one place, so that a
creditor with the toolkit can replace it (docs/messages.md lists these choices).
"""

from __future__ import annotations

from typing import Final

from ..messages.provisional import LIST_ITEM_NAMES

#: Namespace of the SKN messages (P).
MESSAGE_NS: Final = "urn:skn-connector:berichten:2.0"
#: Namespace of the node's messagebox service (P).
SERVICE_NS: Final = "urn:skn-connector:berichtenbox:1.0"
SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"

#: SOAPAction of each node operation (P).
OP_LIST: Final = "BerichtenlijstOphalen"
OP_FETCH: Final = "BerichtOphalen"
OP_CONFIRM: Final = "BerichtBevestigen"
OP_SEND: Final = "BerichtVersturen"
#: Optional batched operations (P): fetch, confirm and send several messages in one call.
#: A node that does not offer them answers a Client fault; the client then uses the single
#: operations above.
OP_FETCH_MANY: Final = "BerichtenOphalen"
OP_CONFIRM_MANY: Final = "BerichtenBevestigen"
OP_SEND_MANY: Final = "BerichtenVersturen"
OPERATIONS: Final = (
    OP_LIST,
    OP_FETCH,
    OP_CONFIRM,
    OP_SEND,
    OP_FETCH_MANY,
    OP_CONFIRM_MANY,
    OP_SEND_MANY,
)
#: Receive mode (P): the node (or a gateway) delivers each message to the participant's
#: endpoint at RECEIVE_PATH with the operation OP_DELIVER, a DELIVERY_REQUEST carrying ``Id``
#: (the node's handle, as the messagebox lists it) and ``Inhoud`` (the message, base64, as a
#: fetch answer carries it). The participant answers, only once the message is stored, a
#: DELIVERY_ACKNOWLEDGEMENT naming the ``Id``; anything else (a fault, an HTTP error, no
#: answer) leaves the message with the node, which delivers it again.
OP_DELIVER: Final = "BerichtAfleveren"
DELIVERY_REQUEST: Final = "BerichtAfleverVraag"
DELIVERY_ACKNOWLEDGEMENT: Final = "BerichtAfleverAntwoord"
RECEIVE_PATH: Final = "/skn"
#: The longest node handle a delivery may carry (the messagebox's are UUIDs; the store keeps
#: 64 characters).
MAX_HANDLE_CHARS: Final = 64
#: The most messages one batched request may name.
MAX_BATCH: Final = 1000

#: The largest message we accept from the node or a file (bytes). A Toestemmingsverklaring
#: document travels base64-encoded in the header, hence the generous limit.
MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
#: The largest SOAP envelope (a fetch answer wraps one base64-encoded message).
MAX_ENVELOPE_BYTES: Final = MAX_MESSAGE_BYTES * 4 // 3 + 64 * 1024

__all__ = [
    "DELIVERY_ACKNOWLEDGEMENT",
    "DELIVERY_REQUEST",
    "LIST_ITEM_NAMES",
    "MAX_BATCH",
    "MAX_ENVELOPE_BYTES",
    "MAX_HANDLE_CHARS",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_NS",
    "OPERATIONS",
    "OP_CONFIRM",
    "OP_CONFIRM_MANY",
    "OP_DELIVER",
    "OP_FETCH",
    "OP_FETCH_MANY",
    "OP_LIST",
    "OP_SEND",
    "OP_SEND_MANY",
    "RECEIVE_PATH",
    "SERVICE_NS",
    "SOAP_ENV_NS",
]
