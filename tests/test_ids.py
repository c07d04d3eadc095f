"""The identifiers the connector mints are UUIDv7: valid in the catalog, time-ordered."""

from __future__ import annotations

import time
import uuid

from skn_connector.ids import new_id


def test_a_new_id_is_a_version_7_rfc_uuid_with_the_time_in_its_first_48_bits() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after
    # the catalog's UUID pattern: 8-4-4-4-12 hexadecimal digits
    assert [len(part) for part in str(made).split("-")] == [8, 4, 4, 4, 12]


def test_ids_minted_in_later_milliseconds_sort_after_earlier_ones() -> None:
    earlier = [new_id() for _ in range(50)]
    time.sleep(0.002)
    later = [new_id() for _ in range(50)]
    assert max(str(i) for i in earlier) < min(str(i) for i in later)
    assert len({*earlier, *later}) == 100


def test_an_answer_gets_a_minted_referentienummer() -> None:
    from datetime import UTC, datetime

    from skn_connector.engine.answers import reply_header
    from skn_connector.messages import message_from_json

    from .factories import saldoverzoek

    request = message_from_json(saldoverzoek())
    header = reply_header(request, "SaldoverzoekAntwoord", now=datetime.now(UTC))
    assert header.referentienummer.version == 7
    assert header.referentienummer != request.berichtheader.referentienummer
