"""The identifiers the connector mints: a Referentienummer for each answer, a hold id, a
write-off id.

They are UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits. The
catalog asks for a UUID of any version. Time-ordered keys keep the store's unique indexes on
them growing at their end: a random UUIDv4 key lands on a different index page for every
row once the index outgrows a batch, so each row rewrites a 4 KiB page of each such index
in the write-ahead log (at 20,000 messages that was a third of the bytes written a message).
Python 3.14 has ``uuid.uuid7``; this is the same layout for 3.11.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def new_id() -> uuid.UUID:
    """A new, time-ordered UUID (version 7, RFC 4122/9562 variant)."""
    milliseconds = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (milliseconds & ((1 << 48) - 1)) << 80 | random_bits
    return uuid.UUID(int=(value & _KEEP) | _VERSION_7 | _VARIANT_RFC)
