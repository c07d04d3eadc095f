"""The delivery of receive mode (P): the SOAP request by which the node hands us a message,
and our acknowledgement, built and read with the envelope helpers of ``soap.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .profile import (
    DELIVERY_ACKNOWLEDGEMENT,
    DELIVERY_REQUEST,
    MAX_HANDLE_CHARS,
    OP_DELIVER,
    SERVICE_NS,
)
from .soap import decode_payload, element, encode_payload, envelope, open_envelope


class DeliveryError(ValueError):
    """A request that is not a delivery we can take; the text says why, in one sentence
    without the message's content."""


@dataclass(frozen=True)
class Delivered:
    """A message as the node delivered it: its handle and its bytes."""

    handle: str
    payload: bytes


def delivery_request(handle: str, payload: bytes) -> bytes:
    """The envelope of a delivery (what the node sends)."""
    return envelope(
        element(SERVICE_NS, DELIVERY_REQUEST, [("Id", handle), ("Inhoud", encode_payload(payload))])
    )


def acknowledgement(handle: str) -> bytes:
    """Our answer once the delivered message is stored."""
    return envelope(element(SERVICE_NS, DELIVERY_ACKNOWLEDGEMENT, [("Id", handle)]))


def read_delivery(action: str | None, data: bytes) -> Delivered:
    """The delivery in a request with SOAPAction ``action`` and body ``data``.

    Raises DeliveryError for a request that is not one (another operation, a body that is not
    a delivery, no Id, Inhoud that is not base64), WireError for bytes that are not a SOAP
    envelope, SoapFault for a Fault sent to us.
    """
    action = (action or "").strip().strip('"')
    if action and action != OP_DELIVER:
        raise DeliveryError(f"the SOAPAction {action[:80]!r} is not an operation of this service")
    body = open_envelope(data)
    if body.tag != f"{{{SERVICE_NS}}}{DELIVERY_REQUEST}":
        found = str(body.tag).rsplit("}", 1)[-1][:80]
        raise DeliveryError(f"{OP_DELIVER} takes a {DELIVERY_REQUEST} element, not {found}")
    handle = _one(body, "Id").strip()
    if not handle or len(handle) > MAX_HANDLE_CHARS or not handle.isprintable():
        raise DeliveryError(f"the Id must be 1 to {MAX_HANDLE_CHARS} printable characters")
    content = _one(body, "Inhoud")
    return Delivered(handle, decode_payload("".join(content.split())))


def read_acknowledgement(data: bytes) -> str:
    """The Id our acknowledgement names (for the node's side: the simulator)."""
    body = open_envelope(data)
    if body.tag != f"{{{SERVICE_NS}}}{DELIVERY_ACKNOWLEDGEMENT}":
        raise DeliveryError(f"the answer is not a {DELIVERY_ACKNOWLEDGEMENT}")
    return _one(body, "Id").strip()


def _one(body: Any, name: str) -> str:
    found = body.findall(f"{{{SERVICE_NS}}}{name}")
    if len(found) != 1:
        raise DeliveryError(f"a {DELIVERY_REQUEST} holds exactly one {name}")
    return str(found[0].text or "")
