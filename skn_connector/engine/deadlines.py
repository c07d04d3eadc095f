"""Dutch working days and the deadlines computed with them.

The SKN's process agreements count in werkdagen: answer within 10 [SKN-PROCESAFSPRAKEN-SE-2.3],
unfetched messages deleted after 5 [SKN-PROCESAFSPRAKEN-SE-2.1]. They do not define a
werkdag; the connector counts them with the holidays of the Algemene termijnenwet [ATW],
as set out in [SKN-CONNECTOR-CHOICE-WORKING-DAYS] (docs/sources.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

#: The Netherlands' time: a working day is a day there.
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def dutch_day(clock: Callable[[], datetime]) -> date:
    """Today in the Netherlands, by ``clock``."""
    return clock().astimezone(AMSTERDAM).date()


#: Holidays of the Algemene termijnenwet art. 3 lid 1 [ATW] as the ``holidays`` package
#: names them (Goede Vrijdag, which art. 3 lid 2 equates, only when asked for).
_ATW_NAMES = {
    "nieuwjaarsdag",
    "tweede paasdag",
    "hemelvaartsdag",
    "tweede pinksterdag",
    "eerste kerstdag",
    "tweede kerstdag",
    "koningsdag",
}
_GOOD_FRIDAY = "goede vrijdag"


class WorkingDays:
    """Working days: no weekends, no general holidays of the Algemene termijnenwet
    (art. 3 lid 1 [ATW]); Goede Vrijdag only with ``good_friday``
    [SKN-CONNECTOR-CHOICE-WORKING-DAYS].

    ``holidays.NL`` counts Bevrijdingsdag (5 May) only in lustrum years; the
    Algemene termijnenwet counts it every year, so it is added here.
    """

    def __init__(self, *, good_friday: bool = False) -> None:
        self.good_friday = good_friday

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a handful of years per process
    def holidays_in(self, year: int) -> frozenset[date]:
        days: set[date] = set()
        for day, name in holidays.country_holidays("NL", years=year, language="nl").items():
            lowered = name.lower()
            if lowered in _ATW_NAMES or (self.good_friday and lowered == _GOOD_FRIDAY):
                days.add(day)
        days.add(date(year, 5, 5))
        return frozenset(days)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays_in(day.year)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - every message asks for today's + 10
    def add(self, start: date, count: int) -> date:
        """The date ``count`` working days after ``start`` (``start`` itself not counted)."""
        day = start
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count
